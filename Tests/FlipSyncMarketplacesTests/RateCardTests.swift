import FlipSyncCore
import FlipSyncMarketplaces
import Testing

/// Rate cards built the way a config file would describe them.
enum TestCards {
    static func usd(_ cents: Int64) -> Money { Money(minorUnits: cents, currency: .usd) }

    /// Zone 2 within the West Coast block (ZIP3 900–961), 8 to the North East (005–199), else 5.
    static let zones = ZoneChart(entries: [.init(origin: 900...961, destination: 900...961, zone: 2),
                                           .init(origin: 900...961, destination: 5...199, zone: 8)],
                                 fallbackZone: 5)

    /// Prices rising by zone: `base` in zone 1, plus `step` cents per zone.
    static func prices(_ base: Int64, step: Int64 = 25) -> [Money] { (0..<8).map { usd(base + step * $0) } }

    static let uspsGroundAdvantage = try! RateCard(
        carrier: "USPS", service: "GroundAdvantage", zones: zones, dimensionalDivisor: 166, dimensionalRule: .overOneCubicFoot,
        ounceBreaks: [.init(upTo: 4, prices: prices(450)), .init(upTo: 8, prices: prices(520)), .init(upTo: 12, prices: prices(600)),
                      .init(upTo: 16, prices: prices(700))],
        poundBreaks: [.init(upTo: 1, prices: prices(800)), .init(upTo: 2, prices: prices(900)), .init(upTo: 5, prices: prices(1200)),
                      .init(upTo: 20, prices: prices(2500)), .init(upTo: 70, prices: prices(6000))],
        transitDays: [2, 2, 3, 3, 4, 4, 5, 5])

    static let upsGround = try! RateCard(
        carrier: "UPS", service: "Ground", zones: zones, dimensionalDivisor: 139, dimensionalRule: .always,
        poundBreaks: [.init(upTo: 1, prices: prices(1000)), .init(upTo: 2, prices: prices(1100)), .init(upTo: 5, prices: prices(1400)),
                      .init(upTo: 20, prices: prices(2800)), .init(upTo: 150, prices: prices(9000))],
        transitDays: [1, 2, 2, 3, 3, 4, 5, 5])

    static func shipment(from: String = "94105", to: String = "94110", _ parcel: Parcel) -> Shipment {
        Shipment(from: ShippingAddress(zip: from), to: ShippingAddress(zip: to), parcel: parcel)
    }
}

@Suite("Offline rate cards", .timeLimit(.minutes(2)))
struct RateCardTests {
    struct WeightCase: Sendable, CustomTestStringConvertible {
        var name: String
        var card: RateCard
        var parcel: Parcel
        var expected: BillableWeight
        var testDescription: String { name }
    }

    static let weightCases: [WeightCase] = [
        WeightCase(name: "USPS light small parcel: ounces, rounded up (5.2 oz → 6 oz)", card: TestCards.uspsGroundAdvantage,
                   parcel: Parcel(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 52), expected: .ounces(6)),
        WeightCase(name: "USPS 15.9 oz is still the ounce tier (16 oz break)", card: TestCards.uspsGroundAdvantage,
                   parcel: Parcel(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 159), expected: .ounces(16)),
        WeightCase(name: "USPS 16.0 oz is one pound", card: TestCards.uspsGroundAdvantage,
                   parcel: Parcel(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 160), expected: .pounds(1)),
        WeightCase(name: "USPS 16.1 oz rounds up to two pounds", card: TestCards.uspsGroundAdvantage,
                   parcel: Parcel(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 161), expected: .pounds(2)),
        WeightCase(name: "USPS exactly one cubic foot (12×12×12) is not billed by dimensions", card: TestCards.uspsGroundAdvantage,
                   parcel: Parcel(inches: 12, 12, 12, ounces: 8), expected: .ounces(8)),
        WeightCase(name: "USPS just over one cubic foot: 1,742.4 in³ / 166 = 10.5 → 11 lb", card: TestCards.uspsGroundAdvantage,
                   parcel: Parcel(lengthTenthsIn: 120, widthTenthsIn: 120, heightTenthsIn: 121, weightTenthsOz: 80), expected: .pounds(11)),
        WeightCase(name: "USPS big light box: 8,000 in³ / 166 = 48.2 → 49 lb", card: TestCards.uspsGroundAdvantage,
                   parcel: Parcel(inches: 20, 20, 20, ounces: 16), expected: .pounds(49)),
        WeightCase(name: "UPS always bills dimensions: 320 in³ / 139 = 2.3 → 3 lb for a 5.2 oz parcel", card: TestCards.upsGround,
                   parcel: Parcel(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 52), expected: .pounds(3)),
        WeightCase(name: "UPS big light box: 8,000 in³ / 139 = 57.6 → 58 lb", card: TestCards.upsGround,
                   parcel: Parcel(inches: 20, 20, 20, ounces: 16), expected: .pounds(58)),
        WeightCase(name: "UPS actual weight above dimensional wins", card: TestCards.upsGround,
                   parcel: Parcel(inches: 20, 20, 20, ounces: 960), expected: .pounds(60)),
        WeightCase(name: "UPS exactly 139 in³ is 1 lb, not rounded past", card: TestCards.upsGround,
                   parcel: Parcel(lengthTenthsIn: 1390, widthTenthsIn: 10, heightTenthsIn: 10, weightTenthsOz: 10), expected: .pounds(1)),
        WeightCase(name: "UPS 139.1 in³ rounds up to 2 lb", card: TestCards.upsGround,
                   parcel: Parcel(lengthTenthsIn: 1391, widthTenthsIn: 10, heightTenthsIn: 10, weightTenthsOz: 10), expected: .pounds(2)),
    ]

    @Test("billable weight: divisor, rounding up, the USPS cubic-foot rule", arguments: weightCases)
    func billableWeight(_ c: WeightCase) {
        #expect(c.card.billableWeight(c.parcel) == c.expected)
    }

    @Test("a quote takes the first break holding the billable weight, in the shipment's zone")
    func quotePicksBreakAndZone() throws {
        let west = try #require(TestCards.uspsGroundAdvantage.quote(TestCards.shipment(Parcel(inches: 10, 8, 4, ounces: 10))))
        #expect(west.amount == TestCards.usd(600 + 25))  // 12 oz break, zone 2
        #expect(west.deliveryDays == 2)
        let east = try #require(TestCards.uspsGroundAdvantage.quote(TestCards.shipment(to: "10001", Parcel(inches: 10, 8, 4, ounces: 10))))
        #expect(east.amount == TestCards.usd(600 + 7 * 25))  // zone 8
        #expect(east.deliveryDays == 5)
        let elsewhere = try #require(TestCards.upsGround.quote(TestCards.shipment(from: "60601", to: "30301", Parcel(inches: 6, 6, 6, ounces: 40))))
        #expect(elsewhere.amount == TestCards.usd(1400 + 4 * 25))  // 3 lb → 5 lb break, fallback zone 5
    }

    @Test("no quote above the heaviest break or for a ZIP without a zone")
    func notServed() throws {
        #expect(TestCards.uspsGroundAdvantage.quote(TestCards.shipment(Parcel(inches: 10, 8, 4, ounces: 71 * 16))) == nil)
        let noFallback = try RateCard(carrier: "UPS", service: "Ground", zones: ZoneChart(entries: TestCards.zones.entries),
                                      dimensionalDivisor: 139, dimensionalRule: .always,
                                      poundBreaks: [.init(upTo: 5, prices: TestCards.prices(900))], transitDays: [1, 1, 2, 2, 3, 3, 4, 4])
        #expect(noFallback.quote(TestCards.shipment(from: "60601", to: "30301", Parcel(inches: 6, 6, 6, ounces: 16))) == nil)
        #expect(noFallback.quote(TestCards.shipment(to: "ABC", Parcel(inches: 6, 6, 6, ounces: 16))) == nil)
    }

    @Test("a card set quotes every service that serves the shipment, cheapest first")
    func cardSetCheapestFirst() {
        let set = RateCardSet([TestCards.upsGround, TestCards.uspsGroundAdvantage])
        let small = set.quote(TestCards.shipment(Parcel(inches: 10, 8, 4, ounces: 10)))
        #expect(small.map(\.service) == ["GroundAdvantage", "Ground"])
        #expect(small[0].amount < small[1].amount)
        // 100 lb: only UPS takes it.
        #expect(set.quote(TestCards.shipment(Parcel(inches: 20, 20, 20, ounces: 1600))).map(\.carrier) == ["UPS"])
    }

    @Test("cards with the wrong shape are refused with the card's name")
    func validation() {
        func attempt(ounces: [WeightBreak] = [], pounds: [WeightBreak], days: [Int] = [1, 1, 2, 2, 3, 3, 4, 4], divisor: Int = 139) -> RateCardError? {
            do {
                _ = try RateCard(carrier: "X", service: "Y", zones: TestCards.zones, dimensionalDivisor: divisor, dimensionalRule: .always,
                                 ounceBreaks: ounces, poundBreaks: pounds, transitDays: days)
                return nil
            } catch { return error }
        }
        #expect(attempt(pounds: [.init(upTo: 1, prices: Array(TestCards.prices(100).prefix(7)))])?.problem.contains("8 prices") == true)
        #expect(attempt(pounds: [.init(upTo: 2, prices: TestCards.prices(100)), .init(upTo: 2, prices: TestCards.prices(200))]) != nil)
        #expect(attempt(ounces: [.init(upTo: 17, prices: TestCards.prices(100))], pounds: []) != nil)
        #expect(attempt(pounds: [.init(upTo: 1, prices: TestCards.prices(100))], days: [1, 2]) != nil)
        #expect(attempt(pounds: [.init(upTo: 1, prices: TestCards.prices(100))], divisor: 0)?.description.hasPrefix("rate card X Y:") == true)
        #expect(attempt(pounds: [.init(upTo: 1, prices: TestCards.prices(100))]) == nil)
    }
}
