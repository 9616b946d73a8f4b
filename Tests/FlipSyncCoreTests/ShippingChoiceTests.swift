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

    @Test("ship date is order time plus handling days, or now when that has passed")
    func shipDate() {
        #expect(ShippingChoice.shipAt(placedAt: Self.placed, handlingDays: 2, now: Self.placed + 1) == Self.placed + 2 * Self.day)
        #expect(ShippingChoice.shipAt(placedAt: Self.placed, handlingDays: 1, now: Self.placed + 3 * Self.day) == Self.placed + 3 * Self.day)
    }

    @Test("adequate: arrives by the promised date, to the millisecond; without days it is not, unless nothing was promised")
    func adequacy() {
        let shipAt = Self.placed + Self.day
        let deliverBy = shipAt + 5 * Self.day
        #expect(ShippingChoice.isAdequate(Self.quote("USPS", "GroundAdvantage", cents: 500, days: 5), shipAt: shipAt, deliverBy: deliverBy))
        #expect(!ShippingChoice.isAdequate(Self.quote("USPS", "GroundAdvantage", cents: 500, days: 5), shipAt: shipAt + 1, deliverBy: deliverBy))
        #expect(!ShippingChoice.isAdequate(Self.quote("USPS", "GroundAdvantage", cents: 500, days: nil), shipAt: shipAt, deliverBy: deliverBy))
        #expect(ShippingChoice.isAdequate(Self.quote("USPS", "GroundAdvantage", cents: 500, days: nil), shipAt: shipAt, deliverBy: nil))
    }

    // MARK: The choice

    @Test("the cheapest quote that meets the promise wins over a cheaper one that does not, and over a dearer one")
    func cheapestAdequate() {
        let line = Self.line()
        let shipAt = Self.placed + Self.day  // 5 days left
        let quotes = [Self.quote("USPS", "GroundAdvantage", cents: 450, days: 6), Self.quote("UPS", "Ground", cents: 980, days: 4),
                      Self.quote("USPS", "Priority", cents: 870, days: 3), Self.quote("FedEx", "Economy", cents: 300, days: nil)]
        let r = ShippingChoice.recommend(line: line, quotes: quotes, shipAt: shipAt, defaultService: "usps-ground-advantage",
                                         minSaving: nil, currency: .usd)
        #expect(r.status == .recommended)
        #expect(r.serviceKey == "usps-priority")
        #expect(r.labelMicros == Self.usd(870).micros)
        // The default (Ground Advantage) misses the promise: the adequate label costs more.
        #expect(r.savingMicros == Self.usd(450 - 870).micros)
        #expect(!r.actionable)
        #expect(r.marginMicros == Self.usd(599 - 870).micros)
        #expect(r.losesMoney)
    }

    @Test("equal prices: the faster service is chosen")
    func tieGoesToTheFaster() {
        let quotes = [Self.quote("UPS", "Ground", cents: 700, days: 4), Self.quote("USPS", "Priority", cents: 700, days: 2)]
        let r = ShippingChoice.recommend(line: Self.line(), quotes: quotes, shipAt: Self.placed + Self.day, defaultService: nil,
                                         minSaving: nil, currency: .usd)
        #expect(r.serviceKey == "usps-priority")
        #expect(r.savingMicros == nil)
    }

    @Test("no quote arrives in time: no adequate rate, nothing chosen, not counted as losing money")
    func noAdequateRate() {
        let r = ShippingChoice.recommend(line: Self.line(deliverBy: Self.placed + 2 * Self.day),
                                         quotes: [Self.quote("USPS", "GroundAdvantage", cents: 450, days: 3)],
                                         shipAt: Self.placed + Self.day, defaultService: nil, minSaving: nil, currency: .usd)
        #expect(r.status == .noAdequateRate)
        #expect(r.labelMicros == nil && r.carrier == nil)
        #expect(!r.losesMoney)
        #expect(r.reason.contains("promised date"))
    }

    @Test("quotes in another currency are never compared")
    func otherCurrencyIgnored() throws {
        let eur = try #require(Currency(code: "EUR"))
        let quotes = [RateQuote(source: "x", carrier: "DHL", service: "Paket", amount: Money(minorUnits: 100, currency: eur), deliveryDays: 1),
                      Self.quote("USPS", "Priority", cents: 800, days: 2)]
        let r = ShippingChoice.recommend(line: Self.line(), quotes: quotes, shipAt: Self.placed + Self.day, defaultService: nil,
                                         minSaving: nil, currency: .usd)
        #expect(r.serviceKey == "usps-priority")
    }

    @Test("savings and margins are exact and multiply by the boxes (one per unit); min_saving gates actionable")
    func savingsExact() {
        // 3 boxes at 4.33 against a default of 5.10 and a buyer payment of 12.00.
        let quotes = [Self.quote("USPS", "GroundAdvantage", cents: 510, days: 3), Self.quote("UPS", "Ground", cents: 433, days: 3)]
        let r = ShippingChoice.recommend(line: Self.line(quantity: 3, paid: Self.usd(1200)), quotes: quotes, shipAt: Self.placed + Self.day,
                                         defaultService: "usps-ground-advantage", minSaving: Self.usd(231), currency: .usd)
        #expect(r.parcels == 3)
        #expect(r.labelMicros == 12_990_000)
        #expect(r.defaultMicros == 15_300_000)
        #expect(r.savingMicros == 2_310_000)
        #expect(r.marginMicros == -990_000)
        #expect(r.actionable)  // 2.31 ≥ 2.31
        let below = ShippingChoice.recommend(line: Self.line(quantity: 3, paid: Self.usd(1200)), quotes: quotes,
                                             shipAt: Self.placed + Self.day, defaultService: "usps-ground-advantage",
                                             minSaving: Self.usd(232), currency: .usd)
        #expect(!below.actionable)
    }

    @Test("the run summary sums actionable savings exactly and lists every line that loses money")
    func summaryExact() {
        // 5,000 × 0.10 + 5,000 × 0.20: exactly 1,500.00, which a Double sum would miss.
        var rows: [ShippingRecommendation] = []
        for i in 0..<10_000 {
            let saving: Int64 = i % 2 == 0 ? 100_000 : 200_000
            rows.append(ShippingRecommendation(
                marketplace: .ebay, orderID: "o\(i)", lineID: "l\(i)", sku: "S", quantity: 1, destinationPostalCode: "94103",
                shipAt: 0, deliverBy: nil, status: .recommended, reason: "", parcels: 1, currency: "USD", labelMicros: 1_000_000,
                buyerPaidMicros: i < 3 ? 0 : 2_000_000, marginMicros: i < 3 ? -1_000_000 : 1_000_000,
                savingMicros: saving, actionable: true))
        }
        rows.append(ShippingChoice.skipped(Self.line(), reason: "no packaging data for FS-00001", currency: .usd))
        let summary = ShippingRunSummary(rows, currency: .usd)
        #expect(summary.totalSaving == Money(micros: 1_500_000_000, currency: .usd))
        #expect(summary.recommended == 10_000 && summary.skipped == 1 && summary.actionable == 10_000)
        #expect(summary.losingLines.map(\.orderID) == ["o0", "o1", "o2"])
        #expect(summary.text.contains("saving 1500.00 USD"))
        #expect(summary.text.contains("3 losing money: ebay o0/l0 S short 1.00 USD"))
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
