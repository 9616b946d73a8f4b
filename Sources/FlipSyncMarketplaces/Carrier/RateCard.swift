import FlipSyncCore

/// Zones by ZIP3: the first entry whose origin and destination ranges hold the two ZIP3s
/// gives the zone (1…8); `fallbackZone` covers pairs no entry names (nil: not served).
public struct ZoneChart: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var origin: ClosedRange<Int>
        public var destination: ClosedRange<Int>
        public var zone: Int

        public init(origin: ClosedRange<Int>, destination: ClosedRange<Int>, zone: Int) {
            self.origin = origin
            self.destination = destination
            self.zone = zone
        }
    }

    public var entries: [Entry]
    public var fallbackZone: Int?

    public init(entries: [Entry], fallbackZone: Int? = nil) {
        self.entries = entries
        self.fallbackZone = fallbackZone
    }

    public func zone(fromZIP3 origin: Int, toZIP3 destination: Int) -> Int? {
        entries.first { $0.origin.contains(origin) && $0.destination.contains(destination) }?.zone ?? fallbackZone
    }
}

/// Which parcels a carrier bills by dimensional weight: `.always` (UPS and FedEx daily rates) or
/// `.overOneCubicFoot`, 1,728 cubic inches (USPS). The same words a rate-card file uses.
public typealias DimensionalRule = RateCardFile.DimensionalRule

/// One weight break: the prices, one per zone 1…8, for parcels up to `upTo` (inclusive).
/// `upTo` is whole ounces in a card's ounce breaks (16 standing for "up to 15.99 oz") and whole
/// pounds in its pound breaks.
public struct WeightBreak: Sendable, Hashable {
    public var upTo: Int
    public var prices: [Money]

    public init(upTo: Int, prices: [Money]) {
        self.upTo = upTo
        self.prices = prices
    }
}

/// A rate card in the card's own words, and which part of it is wrong (so a card read from a
/// file can be reported at that part's line).
public struct RateCardError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The part at fault; indexes count from 0 in the card's own arrays.
    public enum Part: Sendable, Hashable {
        case card, dimensionalDivisor, transitDays, ounceBreak(Int), poundBreak(Int), zoneEntry(Int), fallbackZone
    }

    public var card: String
    public var part: Part
    public var problem: String
    public var description: String { "rate card \(card): \(problem)" }
}

/// One carrier service's published prices, for quoting offline (no API call, no cost).
///
/// Billable weight: the actual weight rounded UP to the whole pound; where the card's
/// `dimensionalRule` applies, at least the dimensional weight L×W×H ÷ `dimensionalDivisor`
/// (dimensions exact to the tenth of an inch) rounded UP to the whole pound. A parcel under
/// 16 oz that is not billed by dimensions uses the ounce breaks, if the card has any, rounded
/// UP to the whole ounce. The price is the first break holding the billable weight, in the
/// zone of the origin and destination ZIP3s; a parcel heavier than the last break, or a pair
/// of ZIPs with no zone, gets no quote. Integer math throughout.
///
/// Built from plain arrays so a TOML table can build one; the initializer checks the shape.
public struct RateCard: Sendable, Hashable {
    public let carrier: String
    public let service: String
    public let zones: ZoneChart
    /// Cubic inches per pound: 139 for UPS/FedEx daily rates, 166 for USPS.
    public let dimensionalDivisor: Int
    public let dimensionalRule: DimensionalRule
    public let ounceBreaks: [WeightBreak]
    public let poundBreaks: [WeightBreak]
    /// Transit days by zone, 1…8, in business days (Mon–Fri), as shipping arbitrage counts them.
    public let transitDays: [Int]
    public let currency: Currency

    public init(carrier: String, service: String, zones: ZoneChart, dimensionalDivisor: Int, dimensionalRule: DimensionalRule,
                ounceBreaks: [WeightBreak] = [], poundBreaks: [WeightBreak], transitDays: [Int]) throws(RateCardError) {
        let name = "\(carrier) \(service)"
        func fail(_ part: RateCardError.Part, _ problem: String) -> RateCardError { RateCardError(card: name, part: part, problem: problem) }
        guard dimensionalDivisor > 0 else { throw fail(.dimensionalDivisor, "the dimensional divisor must be positive") }
        guard transitDays.count == 8, transitDays.allSatisfy({ $0 > 0 }) else {
            throw fail(.transitDays, "transit days must be 8 positive numbers, zones 1…8")
        }
        guard !(ounceBreaks.isEmpty && poundBreaks.isEmpty) else { throw fail(.card, "there are no weight breaks") }
        let first = ounceBreaks.isEmpty ? RateCardError.Part.poundBreak(0) : .ounceBreak(0)
        guard let currency = (ounceBreaks + poundBreaks).first?.prices.first?.currency else { throw fail(first, "a weight break has no prices") }
        for (kind, breaks, part) in [("ounce", ounceBreaks, RateCardError.Part.ounceBreak), ("pound", poundBreaks, RateCardError.Part.poundBreak)] {
            for (index, weightBreak) in breaks.enumerated() {
                guard weightBreak.prices.count == 8 else { throw fail(part(index), "\(kind) break \(weightBreak.upTo) needs 8 prices, zones 1…8") }
                guard weightBreak.prices.allSatisfy({ $0.currency == currency && $0.micros > 0 }) else {
                    throw fail(part(index), "\(kind) break \(weightBreak.upTo): every price must be positive and in \(currency)")
                }
                guard weightBreak.upTo > (index == 0 ? 0 : breaks[index - 1].upTo) else {
                    throw fail(part(index), "\(kind) breaks must be positive and increasing")
                }
            }
        }
        if let index = ounceBreaks.firstIndex(where: { $0.upTo > 16 }) {
            throw fail(.ounceBreak(index), "ounce breaks go up to 16 oz (15.99 oz) at most")
        }
        if let index = zones.entries.firstIndex(where: { !(1...8).contains($0.zone) }) { throw fail(.zoneEntry(index), "zones are numbered 1…8") }
        if let fallback = zones.fallbackZone, !(1...8).contains(fallback) { throw fail(.fallbackZone, "zones are numbered 1…8") }
        self.carrier = carrier
        self.service = service
        self.zones = zones
        self.dimensionalDivisor = dimensionalDivisor
        self.dimensionalRule = dimensionalRule
        self.ounceBreaks = ounceBreaks
        self.poundBreaks = poundBreaks
        self.transitDays = transitDays
        self.currency = currency
    }

    /// The card's dimensional-weight rule: its divisor and rule, billed by the ounce where it has
    /// ounce breaks.
    public var weightRule: DimensionalWeightRule {
        DimensionalWeightRule(divisor: dimensionalDivisor, onlyOverCubicFoot: dimensionalRule == .overOneCubicFoot,
                              ounceTier: !ounceBreaks.isEmpty)
    }

    /// Dimensional weight in whole pounds (rounded up), or nil where the card's rule does not
    /// apply to this parcel.
    public func dimensionalPounds(_ parcel: Parcel) -> Int? {
        weightRule.dimensionalPounds(parcel)
    }

    /// The weight this card bills `parcel` at: by the ounce up to its last ounce break.
    public func billableWeight(_ parcel: Parcel) -> BillableWeight {
        weightRule.billableWeight(parcel, ounceLimit: ounceBreaks.last?.upTo ?? 0)
    }

    /// This service's price for `shipment`, or nil when the card does not serve it.
    public func quote(_ shipment: Shipment) -> CarrierRate? {
        guard shipment.parcel.isValid, let origin = shipment.from.zip3, let destination = shipment.to.zip3,
              let zone = zones.zone(fromZIP3: origin, toZIP3: destination) else { return nil }
        let weightBreak: WeightBreak?
        switch billableWeight(shipment.parcel) {
        case .ounces(let oz): weightBreak = ounceBreaks.first { $0.upTo >= oz }
        case .pounds(let lb): weightBreak = poundBreaks.first { $0.upTo >= lb }
        }
        guard let weightBreak else { return nil }
        return CarrierRate(carrier: carrier, service: service, amount: weightBreak.prices[zone - 1],
                           deliveryDays: transitDays[zone - 1])
    }

}

/// The offline rate cards of every service we may ship with.
public struct RateCardSet: Sendable, Hashable {
    public var cards: [RateCard]

    public init(_ cards: [RateCard]) { self.cards = cards }

    /// Every card's quote for `shipment`, cheapest first (ties: by carrier, then service).
    /// Cards that do not serve the shipment are left out.
    public func quote(_ shipment: Shipment) -> [CarrierRate] {
        cards.compactMap { $0.quote(shipment) }.sorted {
            ($0.amount.micros, $0.carrier, $0.service) < ($1.amount.micros, $1.carrier, $1.service)
        }
    }
}
