/// What the repricer decided for one listing, with everything needed to explain it later:
/// the bounds, the competition it saw, the strategy and the reason, and what became of it.
/// The one decision type: the repricer makes it, the ledger stores it (a row it cannot read
/// back as one is an error naming the row), `flipsyncctl show --json` prints it (`Codable`, in
/// the keys below) and the circuit breaker judges it.
///
/// Invariants (for every decision with a `newPrice`; property-tested): `floor ≤ newPrice ≤
/// ceiling`; `|newPrice − oldPrice| ≤ max_change × oldPrice`, compared exactly; `newPrice` is a
/// whole number of minor units in `oldPrice`'s currency; `newPrice ≠ oldPrice` and
/// `|newPrice − oldPrice| ≥ change_threshold`. A decision that cannot keep them holds instead.
public struct PricingDecision: Sendable, Hashable {
    /// Where a decision is on its way to the marketplace.
    public enum State: String, Sendable, Hashable, Codable {
        /// No change: the price stays (the reason says why).
        case hold
        /// A change decided, not yet sent.
        case planned
        /// Written before the call that applies it: after a crash, the live price says whether it landed.
        case sending
        case applied
        case failed
        /// Decided in a dry run: never sent.
        case dryRun = "dry-run"
        /// Decided, but the circuit breaker stopped the run from applying anything.
        case blocked
    }

    /// Why the price changes or holds. The raw value is a stable code for storage and filters.
    /// README "Reason codes" lists the same codes with the same meanings.
    public enum Reason: String, Sendable, Hashable, CaseIterable, Codable {
        // A new price:
        /// The strategy's target, inside every bound (rounded down to the ending, if any).
        case followedCompetition = "followed-competition"
        /// No eligible competition and `when_alone = "ceiling"`: the ceiling, reached.
        case aloneCeiling = "alone-ceiling"
        /// The floor decided the price: the strategy's target was below the floor, or rounding
        /// down to the ending would have crossed the floor, so it rounded up.
        case atFloor = "at-floor"
        /// The target was above the ceiling: priced at the ceiling.
        case atCeiling = "at-ceiling"
        /// The `max_change` window decided the price: the move stopped at the window's edge, or
        /// rounding down to the ending would have crossed the window's lower edge, so it rounded up.
        case limitedByMaxChange = "max-change"
        /// The strategy holds (`alone-hold`, `no-buy-box`, `own-shipping-unknown`), but the current
        /// price is below the floor: raised toward the floor by the guardrail.
        case belowFloor = "below-floor"
        /// The strategy holds, but the current price is above the ceiling: cut toward the ceiling.
        case aboveCeiling = "above-ceiling"

        // Holds:
        /// The new price would equal the old one.
        case unchanged
        /// The change is smaller than `change_threshold`.
        case belowThreshold = "below-threshold"
        /// No eligible competition and `when_alone = "hold"`.
        case aloneHold = "alone-hold"
        /// `match-buy-box` with competition but no Buy Box.
        case noBuyBox = "no-buy-box"
        /// The strategy follows competition, but the shipping we charge the buyer is unknown: our
        /// own offer is not in the channel's offers and the listing does not say its shipping.
        case ownShippingUnknown = "own-shipping-unknown"
        /// The listing's quantity is 0: not repriced, and no competition is read.
        case outOfStock = "out-of-stock"
        /// No unit cost is known, so there is no floor: never repriced, and no competition is read.
        case noCost = "no-cost"

        // Holds that need an operator:
        /// The cost, fees, shipping or parameters are in another currency than the listing.
        case currencyMismatch = "currency-mismatch"
        /// No price earns the margin (the percentage fee is 100% or more).
        case floorUnreachable = "floor-unreachable"
        /// The floor is above the ceiling.
        case floorAboveCeiling = "floor-above-ceiling"
        /// No price within `max_change` of the old one lies between the floor and the ceiling.
        case outOfReach = "out-of-reach"

        /// True for the reasons that come with a new price.
        public var changesPrice: Bool {
            switch self {
            case .followedCompetition, .aloneCeiling, .atFloor, .atCeiling, .limitedByMaxChange, .belowFloor, .aboveCeiling: true
            default: false
            }
        }

        /// True for the holds whose strategy gave no target: the guardrails alone may move the price.
        public var isStrategyHold: Bool {
            switch self {
            case .aloneHold, .noBuyBox, .ownShippingUnknown: true
            default: false
            }
        }

        /// True for the holds an operator should look at: the inputs contradict each other.
        public var needsReview: Bool {
            switch self {
            case .currencyMismatch, .floorUnreachable, .floorAboveCeiling, .outOfReach: true
            default: false
            }
        }
    }

    public var sku: String
    public var marketplace: MarketplaceName
    public var listingID: String
    public var oldPrice: Money
    /// The price to set; `nil` means hold.
    public var newPrice: Money?
    /// The floor's price (`PriceFloor`); `nil` when it was not computed (a hold before the bounds).
    public var floor: Money?
    /// The ceiling's price (`Ceiling`); `nil` when it was not computed.
    public var ceiling: Money?
    public var lowestCompetitorLanded: Money?
    public var buyBox: Money?
    /// The shipping we charge the buyer, as used for the target (see `Repricer`): our own
    /// offer's shipping, else the listing's; `nil` when neither is known or it was not needed.
    public var shippingCharged: Money?
    public var offersConsidered: Int
    public var offersExcluded: [CompetitorFilter.ExclusionReason: Int]
    public var strategy: RepricingSweep.Strategy
    public var reason: Reason
    /// One line for an operator: the numbers behind the reason.
    public var explanation: String
    /// Where the decision is: made `hold` (no new price) or `planned`; the sweep moves it on.
    public var state: State
    /// What the marketplace said when the change was sent.
    public var apiResult: String?

    public init(sku: String, marketplace: MarketplaceName, listingID: String, oldPrice: Money, newPrice: Money?,
                floor: Money?, ceiling: Money?, lowestCompetitorLanded: Money?, buyBox: Money?,
                offersConsidered: Int, offersExcluded: [CompetitorFilter.ExclusionReason: Int],
                strategy: RepricingSweep.Strategy, reason: Reason, explanation: String, shippingCharged: Money? = nil,
                state: State? = nil, apiResult: String? = nil) {
        self.state = state ?? (newPrice == nil ? .hold : .planned)
        self.apiResult = apiResult
        self.sku = sku
        self.marketplace = marketplace
        self.listingID = listingID
        self.oldPrice = oldPrice
        self.newPrice = newPrice
        self.floor = floor
        self.ceiling = ceiling
        self.lowestCompetitorLanded = lowestCompetitorLanded
        self.buyBox = buyBox
        self.shippingCharged = shippingCharged
        self.offersConsidered = offersConsidered
        self.offersExcluded = offersExcluded
        self.strategy = strategy
        self.reason = reason
        self.explanation = explanation
    }

    /// The price after the decision: the new one, or the old one on a hold.
    public var resultingPrice: Money { newPrice ?? oldPrice }
}

extension PricingDecision: Codable {
    /// The keys `flipsyncctl show --json` has always printed: amounts in micro-units of `currency`,
    /// codes as their raw values (README "Reason codes").
    enum CodingKeys: String, CodingKey {
        case marketplace, sku, listingID, currency, oldPriceMicros, newPriceMicros, floorMicros, ceilingMicros
        case lowestCompetitorMicros, buyBoxMicros, shippingChargedMicros, offersConsidered, offersExcluded
        case strategy, reasonCode, reason, state, apiResult
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(marketplace, forKey: .marketplace)
        try c.encode(sku, forKey: .sku)
        try c.encode(listingID, forKey: .listingID)
        try c.encode(oldPrice.currency.code, forKey: .currency)
        try c.encode(oldPrice.micros, forKey: .oldPriceMicros)
        try c.encodeIfPresent(newPrice?.micros, forKey: .newPriceMicros)
        try c.encodeIfPresent(floor?.micros, forKey: .floorMicros)
        try c.encodeIfPresent(ceiling?.micros, forKey: .ceilingMicros)
        try c.encodeIfPresent(lowestCompetitorLanded?.micros, forKey: .lowestCompetitorMicros)
        try c.encodeIfPresent(buyBox?.micros, forKey: .buyBoxMicros)
        try c.encodeIfPresent(shippingCharged?.micros, forKey: .shippingChargedMicros)
        try c.encode(offersConsidered, forKey: .offersConsidered)
        try c.encode(Dictionary(uniqueKeysWithValues: offersExcluded.map { ($0.key.rawValue, $0.value) }), forKey: .offersExcluded)
        try c.encode(strategy.rawValue, forKey: .strategy)
        try c.encode(reason.rawValue, forKey: .reasonCode)
        try c.encode(explanation, forKey: .reason)
        try c.encode(state, forKey: .state)
        try c.encodeIfPresent(apiResult, forKey: .apiResult)
    }

    /// Every code must be one this build knows: an unknown currency, strategy, reason, state or
    /// exclusion is a `DecodingError`, never a default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func code<T: RawRepresentable>(_ type: T.Type, _ key: CodingKeys) throws -> T where T.RawValue == String {
            let text = try c.decode(String.self, forKey: key)
            guard let value = T(rawValue: text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "unknown \(key.stringValue) \"\(text)\"")
            }
            return value
        }
        let currencyCode = try c.decode(String.self, forKey: .currency)
        guard let currency = Currency(code: currencyCode) else {
            throw DecodingError.dataCorruptedError(forKey: .currency, in: c, debugDescription: "unknown currency \"\(currencyCode)\"")
        }
        func money(_ key: CodingKeys) throws -> Money? { try c.decodeIfPresent(Int64.self, forKey: key).map { Money(micros: $0, currency: currency) } }
        var excluded: [CompetitorFilter.ExclusionReason: Int] = [:]
        for (text, count) in try c.decode([String: Int].self, forKey: .offersExcluded) {
            guard let reason = CompetitorFilter.ExclusionReason(rawValue: text) else {
                throw DecodingError.dataCorruptedError(forKey: .offersExcluded, in: c, debugDescription: "unknown exclusion \"\(text)\"")
            }
            excluded[reason] = count
        }
        self.init(sku: try c.decode(String.self, forKey: .sku), marketplace: try c.decode(MarketplaceName.self, forKey: .marketplace),
                  listingID: try c.decode(String.self, forKey: .listingID),
                  oldPrice: Money(micros: try c.decode(Int64.self, forKey: .oldPriceMicros), currency: currency),
                  newPrice: try money(.newPriceMicros), floor: try money(.floorMicros), ceiling: try money(.ceilingMicros),
                  lowestCompetitorLanded: try money(.lowestCompetitorMicros), buyBox: try money(.buyBoxMicros),
                  offersConsidered: try c.decode(Int.self, forKey: .offersConsidered), offersExcluded: excluded,
                  strategy: try code(RepricingSweep.Strategy.self, .strategy), reason: try code(Reason.self, .reasonCode),
                  explanation: try c.decode(String.self, forKey: .reason), shippingCharged: try money(.shippingChargedMicros),
                  state: try c.decode(State.self, forKey: .state), apiResult: try c.decodeIfPresent(String.self, forKey: .apiResult))
    }
}
