/// Stops a sweep before it applies a wave of deep price cuts — the mark of bad competitor data
/// (a mis-parsed price, a mismatched listing) rather than of a real market.
///
/// A decision is a *sharp drop* when it has a new price and `old − new > drop × old` (exact).
/// The breaker trips when sharp drops are more than `share` of **all** decisions evaluated,
/// holds included: the share measures how much of the catalogue would be cut, so a run where
/// one listing of a hundred drops sharply does not trip it. With no decisions it never trips.
public enum CircuitBreaker {
    /// Why the breaker tripped.
    public struct Trip: Sendable, Hashable, CustomStringConvertible {
        /// One sharp drop, for the operator to check first.
        public struct Example: Sendable, Hashable {
            public var sku: String
            public var marketplace: MarketplaceName
            public var oldPrice: Money
            public var newPrice: Money
            /// `(old − new) / old`, rounded down to a part per million.
            public var drop: Percent
        }

        public var sharpDrops: Int
        public var evaluated: Int
        public var share: Percent
        public var drop: Percent
        /// The deepest drops first (by `drop`, then SKU), at most `maxExamples`.
        public var worst: [Example]

        public var description: String {
            var text = "circuit breaker: \(sharpDrops) of \(evaluated) decisions would cut the price by more than \(drop) "
                + "(the limit is \(share) of decisions)"
            if !worst.isEmpty {
                text += "; deepest: " + worst.map { "\($0.sku) \($0.oldPrice) → \($0.newPrice) (−\($0.drop))" }
                    .joined(separator: ", ")
            }
            return text
        }
    }

    public static let maxExamples = 5

    /// The trip, or `nil` when the decisions may be applied.
    public static func evaluate(decisions: [PricingDecision], share: Percent, drop: Percent) -> Trip? {
        evaluate(decisions: decisions, evaluated: decisions.count, share: share, drop: drop)
    }

    /// The same, for a sweep whose decisions without a new price were counted, not read:
    /// `decisions` holds at least every decision with a new price, `evaluated` is how many
    /// decisions the sweep has in all.
    public static func evaluate(decisions: [PricingDecision], evaluated: Int, share: Percent, drop: Percent) -> Trip? {
        var tally = Tally(drop: drop)
        for d in decisions { tally.add(d) }
        return tally.trip(evaluated: evaluated, share: share)
    }

    /// The breaker's count over decisions told one at a time (a sweep's decisions read a page at
    /// a time): the sharp drops counted, only the deepest `maxExamples` kept.
    public struct Tally: Sendable {
        public let drop: Percent
        public private(set) var sharpDrops = 0
        /// The deepest drops so far, deepest first (by `drop`, then SKU).
        private var worst: [Trip.Example] = []

        public init(drop: Percent) {
            self.drop = drop
        }

        public mutating func add(_ d: PricingDecision) {
            let million: Int128 = 1_000_000  // parts per million in one whole
            guard let new = d.newPrice, d.oldPrice.micros > 0, new < d.oldPrice else { return }
            let cut = Int128((d.oldPrice - new).micros)
            let old = Int128(d.oldPrice.micros)
            guard cut * million > Int128(drop.partsPerMillion) * old else { return }
            sharpDrops += 1
            worst.append(Trip.Example(sku: d.sku, marketplace: d.marketplace, oldPrice: d.oldPrice, newPrice: new,
                                      drop: Percent(partsPerMillion: Int64(cut * million / old))))
            worst.sort { ($0.drop, $1.sku) > ($1.drop, $0.sku) }
            if worst.count > CircuitBreaker.maxExamples { worst.removeLast() }
        }

        /// The trip when the sharp drops are more than `share` of `evaluated` decisions.
        public func trip(evaluated: Int, share: Percent) -> Trip? {
            let million: Int128 = 1_000_000
            guard Int128(sharpDrops) * million > Int128(share.partsPerMillion) * Int128(evaluated) else { return nil }
            return Trip(sharpDrops: sharpDrops, evaluated: evaluated, share: share, drop: drop, worst: worst)
        }
    }
}
