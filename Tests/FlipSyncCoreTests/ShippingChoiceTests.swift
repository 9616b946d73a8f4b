import FlipSyncCore
import Testing

/// The shipping decision as pure math: billable weight, the promise, the cheapest adequate
/// service, exact savings and margins, the packaging file.
@Suite("Shipping choice", .timeLimit(.minutes(2)))
struct ShippingChoiceTests {
    static func usd(_ cents: Int64) -> Money { Money(minorUnits: cents, currency: .usd) }
    static let day = ShippingChoice.dayMilliseconds
    static let placed: Int64 = 1_790_000_000_000

    static func quote(_ carrier: String, _ service: String, cents: Int64, days: Int?, source: String = "easypost") -> RateQuote {
        RateQuote(source: source, carrier: carrier, service: service, amount: usd(cents), deliveryDays: days)
    }

    static func line(quantity: Int = 1, paid: Money? = usd(599), deliverBy: Int64? = placed + 6 * day) -> OrderLine {
        OrderLine(marketplace: .ebay, orderID: "12-34", lineID: "12-34-1", sku: "FS-00001", quantity: quantity, placedAt: placed,
                  shippingPaid: paid, destination: Destination(postalCode: "94103", country: "US"), deliverBy: deliverBy)
    }

    // MARK: Billable weight

    struct WeightCase: Sendable, CustomTestStringConvertible {
        var name: String
        var carrier: String
        var service: String
        var size: ParcelSize
        var ounces: Int
        var testDescription: String { name }
    }

    static let weightCases: [WeightCase] = [
        WeightCase(name: "USPS Ground Advantage 5.2 oz small box: by the ounce, rounded up to 6 oz", carrier: "USPS",
                   service: "GroundAdvantage", size: ParcelSize(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 52),
                   ounces: 6),
        WeightCase(name: "USPS Priority 5.2 oz: no ounce tier, one pound", carrier: "USPS", service: "Priority",
                   size: ParcelSize(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 52), ounces: 16),
        WeightCase(name: "USPS 16.1 oz rounds up to 2 lb", carrier: "USPS", service: "GroundAdvantage",
                   size: ParcelSize(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 161), ounces: 32),
        WeightCase(name: "USPS exactly one cubic foot is billed by actual weight", carrier: "USPS", service: "GroundAdvantage",
                   size: ParcelSize(inches: 12, 12, 12, ounces: 8), ounces: 8),
        WeightCase(name: "USPS 12×12×12.1 in: 1,742.4 in³ ÷ 166 = 10.5 → 11 lb", carrier: "USPS", service: "GroundAdvantage",
                   size: ParcelSize(lengthTenthsIn: 120, widthTenthsIn: 120, heightTenthsIn: 121, weightTenthsOz: 80), ounces: 176),
        WeightCase(name: "UPS always by dimensions: 320 in³ ÷ 139 = 2.3 → 3 lb for 5.2 oz", carrier: "UPS", service: "Ground",
                   size: ParcelSize(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 52), ounces: 48),
        WeightCase(name: "FedEx exactly 139 in³ is 1 lb", carrier: "FedEx", service: "GROUND_HOME_DELIVERY",
                   size: ParcelSize(lengthTenthsIn: 1390, widthTenthsIn: 10, heightTenthsIn: 10, weightTenthsOz: 10), ounces: 16),
        WeightCase(name: "FedEx 139.1 in³ rounds up to 2 lb", carrier: "FedEx", service: "GROUND_HOME_DELIVERY",
                   size: ParcelSize(lengthTenthsIn: 1391, widthTenthsIn: 10, heightTenthsIn: 10, weightTenthsOz: 10), ounces: 32),
        WeightCase(name: "UPS heavy small box: actual 60 lb beats 58 lb dimensional", carrier: "UPS", service: "Ground",
                   size: ParcelSize(inches: 20, 20, 20, ounces: 960), ounces: 960),
    ]

    @Test("billable weight: the larger of actual and dimensional, each carrier's divisor and rounding", arguments: weightCases)
    func billableWeight(_ c: WeightCase) throws {
        let rule = try #require(DimensionalWeightRule.published(carrier: c.carrier, service: c.service))
        #expect(rule.billableOunces(c.size) == c.ounces)
    }

    @Test("a carrier whose rules are unknown has no published rule")
    func unknownCarrier() {
        #expect(DimensionalWeightRule.published(carrier: "DHLeCommerce", service: "Parcel") == nil)
    }

    @Test("service keys: carrier, then the service's words, lower case and hyphenated",
          arguments: [("USPS", "GroundAdvantage", "usps-ground-advantage"), ("USPS", "Priority", "usps-priority"),
                      ("UPS", "Ground", "ups-ground"), ("FedEx", "GROUND_HOME_DELIVERY", "fedex-ground-home-delivery"),
                      ("UPS", "NextDayAirSaver", "ups-next-day-air-saver")])
    func serviceKeys(_ carrier: String, _ service: String, _ key: String) {
        #expect(RateQuote.serviceKey(carrier: carrier, service: service) == key)
    }

    // MARK: The promise

    /// Milliseconds of an ISO 8601 UTC time.
    static func at(_ text: String) -> Int64 { Timestamp(parsing: text)!.secondsSinceEpoch * 1000 }

    static func recommend(_ line: OrderLine, _ quotes: [RateQuote], shipAt: Int64, defaultService: String? = nil,
                          minSaving: Money? = nil) -> ShippingRecommendation {
        ShippingChoice.recommend(line: line, quotes: quotes, shipAt: shipAt, deliverBy: line.deliverBy, defaultService: defaultService,
                                 minSaving: minSaving, currency: .usd)
    }

    @Test("business days: Mon–Fri in UTC, no holidays; Friday + 2 is Tuesday, a weekend start counts from Monday", arguments: [
        ("2026-12-04T15:00:00Z", 2, "2026-12-08T15:00:00Z"),   // Friday + 2 → Tuesday
        ("2026-12-04T15:00:00Z", 0, "2026-12-04T15:00:00Z"),   // Friday + 0 → Friday
        ("2026-12-05T09:00:00Z", 0, "2026-12-07T09:00:00Z"),   // Saturday + 0 → Monday
        ("2026-12-05T09:00:00Z", 1, "2026-12-08T09:00:00Z"),   // Saturday + 1 → Tuesday
        ("2026-12-06T23:59:59Z", 1, "2026-12-08T23:59:59Z"),   // Sunday + 1 → Tuesday
        ("2026-12-02T10:00:00Z", 5, "2026-12-09T10:00:00Z"),   // Wednesday + 5 → next Wednesday
        ("2026-12-02T10:00:00Z", 8, "2026-12-14T10:00:00Z"),   // Wednesday + 8 → Monday after next
        ("2026-12-31T10:00:00Z", 1, "2027-01-01T10:00:00Z"),   // no holidays: New Year's Day counts
    ])
    func businessDays(_ from: String, _ n: Int, _ to: String) {
        #expect(BusinessDays.add(n, to: Self.at(from)) == Self.at(to))
    }

    @Test("ship date: order time plus handling business days, or now when later, moved off a weekend to Monday")
    func shipDate() {
        // Thursday 10:00 + 1 business day → Friday 10:00.
        #expect(ShippingChoice.shipAt(placedAt: Self.at("2026-12-03T10:00:00Z"), handlingDays: 1, now: Self.at("2026-12-03T11:00:00Z"))
                == Self.at("2026-12-04T10:00:00Z"))
        // Friday + 1 → Monday (not Saturday).
        #expect(ShippingChoice.shipAt(placedAt: Self.at("2026-12-04T10:00:00Z"), handlingDays: 1, now: Self.at("2026-12-04T11:00:00Z"))
                == Self.at("2026-12-07T10:00:00Z"))
        // Handling long past: now, a Saturday, moves to Monday at the same time.
        #expect(ShippingChoice.shipAt(placedAt: Self.at("2026-11-20T10:00:00Z"), handlingDays: 1, now: Self.at("2026-12-05T16:00:00Z"))
                == Self.at("2026-12-07T16:00:00Z"))
    }

    @Test("the worked example: shipped Friday, 2 business days in transit, arrives Tuesday; adequate for a Tuesday promise at any hour, not for Monday")
    func workedExample() {
        let friday = Self.at("2026-12-04T15:00:00Z")
        let twoDays = Self.quote("UPS", "Ground", cents: 900, days: 2)
        #expect(ShippingChoice.arrival(of: twoDays, shipAt: friday) == Self.at("2026-12-08T15:00:00Z"))
        #expect(ShippingChoice.isAdequate(twoDays, shipAt: friday, deliverBy: Self.at("2026-12-08T00:00:00Z")))  // same date
        #expect(!ShippingChoice.isAdequate(twoDays, shipAt: friday, deliverBy: Self.at("2026-12-07T23:59:59Z")))  // Monday
        // Counted in calendar days (the old rule) it would have arrived Sunday and passed a Monday promise.
    }

    @Test("adequate: the arrival's date is on or before the promise's date; without days it is not, unless nothing was promised")
    func adequacy() {
        let shipAt = Self.at("2026-12-01T10:00:00Z")            // Tuesday
        let deliverBy = Self.at("2026-12-08T06:00:00Z")         // next Tuesday: 5 business days
        #expect(ShippingChoice.isAdequate(Self.quote("USPS", "GroundAdvantage", cents: 500, days: 5), shipAt: shipAt, deliverBy: deliverBy))
        #expect(!ShippingChoice.isAdequate(Self.quote("USPS", "GroundAdvantage", cents: 500, days: 6), shipAt: shipAt, deliverBy: deliverBy))
        #expect(!ShippingChoice.isAdequate(Self.quote("USPS", "GroundAdvantage", cents: 500, days: nil), shipAt: shipAt, deliverBy: deliverBy))
        #expect(ShippingChoice.isAdequate(Self.quote("USPS", "GroundAdvantage", cents: 500, days: nil), shipAt: shipAt, deliverBy: nil))
    }

    @Test("no delivery date from the channel (Shopify): the promise is the order + default_promise_days business days, so a 6-day label is not chosen for a 3-day default")
    func defaultPromise() {
        let monday = Self.at("2026-11-30T09:00:00Z")
        let shopify = OrderLine(marketplace: .shopify, orderID: "5500000003", lineID: "1", sku: "FS-00001", quantity: 1, placedAt: monday,
                                shippingPaid: Self.usd(800), destination: Destination(postalCode: "94103", country: "US"), deliverBy: nil)
        let promise = ShippingChoice.promise(of: shopify, defaultPromiseDays: 3)
        #expect(promise == Self.at("2026-12-03T09:00:00Z"))  // Thursday
        let shipAt = ShippingChoice.shipAt(placedAt: monday, handlingDays: 1, now: monday)  // Tuesday
        let quotes = [Self.quote("USPS", "GroundAdvantage", cents: 450, days: 6), Self.quote("USPS", "Priority", cents: 870, days: 2),
                      Self.quote("UPS", "Ground", cents: 990, days: 3)]
        let r = ShippingChoice.recommend(line: shopify, quotes: quotes, shipAt: shipAt, deliverBy: promise, defaultService: nil,
                                         minSaving: nil, currency: .usd)
        #expect(r.status == .recommended)
        #expect(r.serviceKey == "usps-priority")
        #expect(r.deliverBy == promise)
        // A channel's own date wins over the default.
        var ebay = shopify
        ebay.deliverBy = Self.at("2026-12-10T09:00:00Z")
        #expect(ShippingChoice.promise(of: ebay, defaultPromiseDays: 3) == ebay.deliverBy)
    }

    // MARK: The choice

    @Test("the cheapest quote that meets the promise wins over a cheaper one that does not, and over a dearer one")
    func cheapestAdequate() {
        let line = Self.line()                       // placed Monday; promise 6 calendar days later, Sunday
        let shipAt = Self.placed + Self.day          // Tuesday: 3 business days to Friday
        let quotes = [Self.quote("USPS", "GroundAdvantage", cents: 450, days: 4), Self.quote("UPS", "Ground", cents: 980, days: 3),
                      Self.quote("USPS", "Priority", cents: 870, days: 2), Self.quote("FedEx", "Economy", cents: 300, days: nil)]
        let r = Self.recommend(line, quotes, shipAt: shipAt, defaultService: "ups-ground")
        #expect(r.status == .recommended)
        #expect(r.serviceKey == "usps-priority")
        #expect(r.labelMicros == Self.usd(870).micros)
        #expect(r.defaultMicros == Self.usd(980).micros)
        #expect(r.savingMicros == Self.usd(980 - 870).micros)
        #expect(r.actionable)
        #expect(r.marginMicros == Self.usd(599 - 870).micros)
        #expect(r.losesMoney)
    }

    @Test("the default service's only quote misses the promise: default-inadequate, saving 0 (never negative), not actionable")
    func defaultInadequate() {
        let quotes = [Self.quote("USPS", "GroundAdvantage", cents: 450, days: 4), Self.quote("USPS", "Priority", cents: 870, days: 2)]
        let r = Self.recommend(Self.line(), quotes, shipAt: Self.placed + Self.day, defaultService: "usps-ground-advantage")
        #expect(r.status == .defaultInadequate)
        #expect(r.serviceKey == "usps-priority")
        #expect(r.labelMicros == Self.usd(870).micros)
        #expect(r.defaultMicros == Self.usd(450).micros)
        #expect(r.savingMicros == 0)
        #expect(!r.actionable)
        #expect(r.reason.contains("misses the promise"))
        // Two quotes of the default service, one adequate: measured against the adequate one.
        let both = quotes + [Self.quote("USPS", "GroundAdvantage", cents: 990, days: 2, source: "rate-cards")]
        let measured = Self.recommend(Self.line(), both, shipAt: Self.placed + Self.day, defaultService: "usps-ground-advantage")
        #expect(measured.status == .recommended)
        #expect(measured.defaultMicros == Self.usd(990).micros && measured.savingMicros == Self.usd(120).micros)
        // Never a negative saving, whatever the quotes.
        for days in 1...6 {
            let r = Self.recommend(Self.line(), [Self.quote("USPS", "GroundAdvantage", cents: 300, days: days),
                                                 Self.quote("UPS", "Ground", cents: 700, days: 1)],
                                   shipAt: Self.placed + Self.day, defaultService: "usps-ground-advantage")
            #expect((r.savingMicros ?? 0) >= 0)
        }
    }

    @Test("equal prices: the faster service is chosen")
    func tieGoesToTheFaster() {
        let quotes = [Self.quote("UPS", "Ground", cents: 700, days: 3), Self.quote("USPS", "Priority", cents: 700, days: 2)]
        let r = Self.recommend(Self.line(), quotes, shipAt: Self.placed + Self.day)
        #expect(r.serviceKey == "usps-priority")
        #expect(r.savingMicros == nil)
    }

    @Test("quotes exist but none arrives in time: no-adequate-rate records the fastest quote and its lateness, no margin, not losing")
    func noAdequateRate() {
        // Placed Monday, promise Wednesday; shipped Tuesday.
        let line = Self.line(paid: Self.usd(100), deliverBy: Self.placed + 2 * Self.day)
        let quotes = [Self.quote("USPS", "GroundAdvantage", cents: 450, days: 5), Self.quote("UPS", "Ground", cents: 990, days: 3),
                      Self.quote("USPS", "Priority", cents: 900, days: 3), Self.quote("FedEx", "Economy", cents: 100, days: nil)]
        let r = Self.recommend(line, quotes, shipAt: Self.placed + Self.day, defaultService: "ups-ground")
        #expect(r.status == .noAdequateRate)
        // Fastest: 3 days (Friday), the cheaper of the two.
        #expect(r.serviceKey == "usps-priority" && r.labelMicros == Self.usd(900).micros && r.deliveryDays == 3)
        #expect(r.marginMicros == nil && r.savingMicros == nil && r.defaultMicros == nil && !r.actionable)
        #expect(!r.losesMoney)
        #expect(r.reason.contains("none of 4 quotes arrives by"), "\(r.reason)")
        #expect(r.reason.contains("2 days late"), "\(r.reason)")
        let summary = ShippingRunSummary([r], currency: .usd)
        #expect(summary.tally.count(.noAdequateRate) == 1 && summary.tally.losing.isEmpty && summary.tally.totalSaving.micros == 0)
        #expect(summary.text.contains("1 without an adequate rate"))
    }

    @Test("no quote at all, or none in the config's currency: no-rate")
    func noRate() throws {
        let none = Self.recommend(Self.line(), [], shipAt: Self.placed + Self.day)
        #expect(none.status == .noRate && none.labelMicros == nil)
        let eur = try #require(Currency(code: "EUR"))
        let foreign = Self.recommend(Self.line(), [RateQuote(source: "x", carrier: "DHL", service: "Paket",
                                                            amount: Money(minorUnits: 100, currency: eur), deliveryDays: 1)],
                                     shipAt: Self.placed + Self.day)
        #expect(foreign.status == .noRate)
        #expect(foreign.reason.contains("no quote in USD"))
    }

    @Test("a quote whose labels for every parcel pass one billion (or overflow) is not counted, never a trap; run totals saturate")
    func hugeQuotesAreNotCounted() throws {
        let huge = RateQuote(source: "x", carrier: "UPS", service: "Ground", amount: Money(micros: 4_000_000_000_000_000_000, currency: .usd),
                             deliveryDays: 2)
        let alone = Self.recommend(Self.line(quantity: 3), [huge], shipAt: Self.placed + Self.day, defaultService: huge.serviceKey)
        #expect(alone.status == .noRate && alone.labelMicros == nil && alone.defaultMicros == nil)
        #expect(alone.reason.contains("between 0 and"), "\(alone.reason)")
        let cheap = Self.quote("USPS", "Priority", cents: 800, days: 2)
        let both = Self.recommend(Self.line(quantity: 3), [huge, cheap], shipAt: Self.placed + Self.day, defaultService: huge.serviceKey)
        #expect(both.status == .recommended && both.labelMicros == 3 * 8_000_000 && both.defaultMicros == nil)
        #expect(Int64.max.saturatingAdd(1) == .max && Int64.min.saturatingAdd(-1) == .min && Int64(2).saturatingAdd(-5) == -3)
    }

    @Test("quotes in another currency are never compared")
    func otherCurrencyIgnored() throws {
        let eur = try #require(Currency(code: "EUR"))
        let quotes = [RateQuote(source: "x", carrier: "DHL", service: "Paket", amount: Money(minorUnits: 100, currency: eur), deliveryDays: 1),
                      Self.quote("USPS", "Priority", cents: 800, days: 2)]
        let r = Self.recommend(Self.line(), quotes, shipAt: Self.placed + Self.day)
        #expect(r.serviceKey == "usps-priority")
    }

    @Test("savings and margins are exact and multiply by the boxes (one per unit); min_saving gates actionable")
    func savingsExact() {
        // 3 boxes at 4.33 against a default of 5.10 and a buyer payment of 12.00.
        let quotes = [Self.quote("USPS", "GroundAdvantage", cents: 510, days: 3), Self.quote("UPS", "Ground", cents: 433, days: 3)]
        let r = Self.recommend(Self.line(quantity: 3, paid: Self.usd(1200)), quotes, shipAt: Self.placed + Self.day,
                               defaultService: "usps-ground-advantage", minSaving: Self.usd(231))
        #expect(r.parcels == 3)
        #expect(r.labelMicros == 12_990_000)
        #expect(r.defaultMicros == 15_300_000)
        #expect(r.savingMicros == 2_310_000)
        #expect(r.marginMicros == -990_000)
        #expect(r.actionable)  // 2.31 ≥ 2.31
        let below = Self.recommend(Self.line(quantity: 3, paid: Self.usd(1200)), quotes, shipAt: Self.placed + Self.day,
                                   defaultService: "usps-ground-advantage", minSaving: Self.usd(232))
        #expect(!below.actionable)
    }

    static func losing(_ i: Int, shortCents: Int64) -> ShippingRecommendation {
        ShippingRecommendation(marketplace: .ebay, orderID: "o\(i)", lineID: "l\(i)", sku: "S", quantity: 1, destinationPostalCode: "94103",
                               shipAt: 0, deliverBy: nil, status: .recommended, reason: "", parcels: 1, currency: "USD",
                               labelMicros: 1_000_000 + shortCents * 10_000, buyerPaidMicros: 1_000_000, marginMicros: -shortCents * 10_000)
    }

    @Test("the run summary sums actionable savings exactly and names every losing line when at most 20, worst first, 'N of N shown'")
    func summaryExact() {
        // 5,000 × 0.10 + 5,000 × 0.20: exactly 1,500.00, which a Double sum would miss.
        var rows: [ShippingRecommendation] = []
        for i in 0..<10_000 {
            let saving: Int64 = i % 2 == 0 ? 100_000 : 200_000
            rows.append(ShippingRecommendation(
                marketplace: .ebay, orderID: "o\(i)", lineID: "l\(i)", sku: "S", quantity: 1, destinationPostalCode: "94103",
                shipAt: 0, deliverBy: nil, status: .recommended, reason: "", parcels: 1, currency: "USD", labelMicros: 1_000_000,
                buyerPaidMicros: i < 3 ? Int64(i) * 100_000 : 2_000_000, marginMicros: i < 3 ? Int64(i) * 100_000 - 1_000_000 : 1_000_000,
                savingMicros: saving, actionable: true))
        }
        rows.append(ShippingChoice.skipped(Self.line(), reason: "no packaging data for FS-00001", currency: .usd))
        let summary = ShippingRunSummary(rows, currency: .usd, runID: 7)
        #expect(summary.tally.totalSaving == Money(micros: 1_500_000_000, currency: .usd))
        #expect(summary.tally.count(.recommended) == 10_000 && summary.tally.count(.skipped) == 1 && summary.tally.actionable == 10_000)
        #expect(summary.tally.losing.map(\.orderID) == ["o0", "o1", "o2"])
        #expect(summary.text.contains("saving 1500.00 USD"))
        #expect(summary.text.contains("3 losing money, 2.70 USD short in all (3 of 3 shown, worst first): ebay o0/l0 S short 1.00 USD, "
                                      + "ebay o1/l1 S short 0.90 USD, ebay o2/l2 S short 0.80 USD"), "\(summary.text)")
        #expect(!summary.text.contains("show 7 --json"))
    }

    @Test("26 losing lines: the 20 worst are named, '20 of 26 shown', and the summary points at show --json's shipping.losing_lines")
    func summaryPointsAtTheRest() {
        // Shortfalls 0.01 … 0.26; the worst (61.06) is last in order-id order, as in the run.
        var rows = (1...25).map { Self.losing($0, shortCents: Int64($0)) }
        rows.append(Self.losing(99, shortCents: 6106))
        let summary = ShippingRunSummary(rows, currency: .usd, runID: 42)
        #expect(summary.tally.losing.count == 26)
        #expect(summary.tally.losing.first?.orderID == "o99")
        let text = summary.text
        #expect(text.contains("26 losing money"))
        #expect(text.contains("(20 of 26 shown, worst first; all in `flipsyncctl show 42 --json`, field `shipping.losing_lines`)"), "\(text)")
        #expect(text.contains("ebay o99/l99 S short 61.06 USD"))
        // The 20 named are the 20 largest shortfalls: 61.06, then 0.25 down to 0.07.
        for i in 7...25 { #expect(text.contains("o\(i)/l\(i) "), "o\(i)") }
        for i in 1...6 { #expect(!text.contains("o\(i)/l\(i) "), "o\(i)") }
        #expect(summary.tally.totalShortfall == Money(micros: (6106 + (1...25).reduce(0, +)) * 10_000, currency: .usd))
    }

    @Test("listings: at most 20 losing listings named, worst first, with 'N of M shown' and the pointer to shipping.losing_listings")
    func listingSummaryPointsAtTheRest() {
        let verdicts = (1...22).map { i in
            ListingShippingVerdict(marketplace: .ebay, listingID: "L\(i)", sku: "S\(i)", destinationPostalCode: "94103", status: .recommended,
                                   reason: "", currency: "USD", chargedMicros: 0, labelMicros: Int64(i) * 10_000, marginMicros: -Int64(i) * 10_000)
        }
        let summary = ListingShippingSummary(verdicts, currency: .usd, runID: 9)
        #expect(summary.tally.losing.first?.listingID == "L22")
        #expect(summary.text.contains("(20 of 22 shown, worst first; all in `flipsyncctl show 9 --json`, field `shipping.losing_listings`)"),
                "\(summary.text)")
        #expect(!summary.text.contains("L1 ") && !summary.text.contains("L2 ") && summary.text.contains("L3 "))
    }

    // MARK: Packaging file

    @Test("the packaging file: header, tenths exact, comments and blank lines ignored, round trip")
    func packagingParses() throws {
        let text = "# boxes\nsku,weight_oz,length_in,width_in,height_in\nFS-00001,12.5,10,8,4\n\nFS-00002,160,24,18,14.2\n"
        let items = try PackagingFile.parse(text, file: "p.csv")
        #expect(items == [PackedItem(sku: "FS-00001", size: ParcelSize(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 125)),
                          PackedItem(sku: "FS-00002", size: ParcelSize(lengthTenthsIn: 240, widthTenthsIn: 180, heightTenthsIn: 142, weightTenthsOz: 1600))])
        #expect(try PackagingFile.parse(PackagingFile.render(items), file: "p.csv") == items)
    }

    @Test("a bad packaging file names its line", arguments: [
        ("sku,weight,length_in,width_in,height_in\n", 1, "header"),
        ("sku,weight_oz,length_in,width_in,height_in\nA,1,2,3\n", 2, "expected 5 fields"),
        ("sku,weight_oz,length_in,width_in,height_in\nA,1,2,3,4\nA,1,2,3,4\n", 3, "listed twice"),
        ("sku,weight_oz,length_in,width_in,height_in\nA,0,2,3,4\n", 2, "weight_oz \"0\""),
        ("sku,weight_oz,length_in,width_in,height_in\nA,1.25,2,3,4\n", 2, "one decimal place"),
        ("sku,weight_oz,length_in,width_in,height_in\nA,1,-2,3,4\n", 2, "length_in"),
        ("", 1, "empty"),
    ])
    func packagingProblems(_ text: String, _ line: Int, _ fragment: String) {
        #expect {
            try PackagingFile.parse(text, file: "p.csv")
        } throws: { error in
            guard let problem = error as? PackagingFile.Problem else { return false }
            return problem.line == line && problem.description.contains(fragment)
        }
    }
}
