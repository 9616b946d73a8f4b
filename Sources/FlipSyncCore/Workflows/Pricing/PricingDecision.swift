/// What the repricer decided for one listing, with everything needed to explain it later:
/// the bounds, the competition it saw, the strategy and the reason.
///
/// Invariants (for every decision with a `newPrice`; property-tested): `floor ≤ newPrice ≤
/// ceiling`; `|newPrice − oldPrice| ≤ max_change × oldPrice`, compared exactly; `newPrice` is a
/// whole number of minor units in `oldPrice`'s currency; `newPrice ≠ oldPrice` and
/// `|newPrice − oldPrice| ≥ change_threshold`. A decision that cannot keep them holds instead.
public struct PricingDecision: Sendable, Hashable {
    /// Why the price changes or holds. The raw value is a stable code for storage and filters.
    /// README "Reason codes" lists the same codes with the same meanings.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
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
    /// `nil` only when the floor could not be computed (`currencyMismatch`, `floorUnreachable`).
    public var floor: PriceFloor?
    /// `nil` only when the inputs' currencies disagree.
    public var ceiling: Ceiling?
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

    public init(sku: String, marketplace: MarketplaceName, listingID: String, oldPrice: Money, newPrice: Money?,
                floor: PriceFloor?, ceiling: Ceiling?, lowestCompetitorLanded: Money?, buyBox: Money?,
                offersConsidered: Int, offersExcluded: [CompetitorFilter.ExclusionReason: Int],
                strategy: RepricingSweep.Strategy, reason: Reason, explanation: String, shippingCharged: Money? = nil) {
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
