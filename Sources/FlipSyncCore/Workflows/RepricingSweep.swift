/// Repricing sweep: for each active listing, gather competitor offers and decide a new price
/// within the floor, the ceiling and the maximum change per run.
public enum RepricingSweep {
    public enum Strategy: String, CaseIterable, Sendable, Hashable {
        /// Undercut the lowest landed competitor price by `undercut`.
        case beatLowest = "beat-lowest"
        /// Match the lowest landed competitor price.
        case matchLowest = "match-lowest"
        /// Match the Buy Box price (Amazon only).
        case matchBuyBox = "match-buy-box"
    }

    /// What to do with a listing that has no eligible competition.
    public enum WhenAlone: String, CaseIterable, Sendable, Hashable {
        /// Move toward the ceiling, by at most `max_change`.
        case ceiling
        /// Leave the price alone.
        case hold
    }

    /// How a new price is rounded (always downwards, never below the floor).
    public enum Rounding: String, CaseIterable, Sendable, Hashable {
        case none
        case cents99 = ".99"
        case cents95 = ".95"
        case cents49 = ".49"
        case whole = ".00"
    }

    /// An undercut by a share of the price or by a fixed amount.
    public enum Adjustment: Sendable, Hashable {
        case percent(Percent)
        case amount(Money)
    }

    public struct Parameters: Sendable, Hashable {
        public var marketplaces: [Located<MarketplaceName>]
        public var strategy: Strategy
        public var undercut: Located<Adjustment>
        public var minMargin: Percent
        public var maxChange: Percent
        public var ceilingMarkup: Percent?
        public var whenAlone: WhenAlone
        public var minSellerFeedback: Percent
        public var changeThreshold: Located<Money>
        public var rounding: Rounding
        public var breakerShare: Percent
        public var breakerDrop: Percent
        public var llmMatching: Bool
        public var dryRun: Bool
        /// What shipping one order costs us (a label), counted in the floor. Nil: zero.
        public var shippingCost: Money? = nil
        /// The channel whose item costs (Shopify's inventory item `cost`) are the unit costs.
        /// Nil: only costs already in the ledger are used.
        public var costSource: MarketplaceName? = nil
        /// At most this many listings per marketplace are checked by one run (never checked
        /// first, then the longest since checked, then by SKU); the rest are carried to the
        /// next run. Nil: every listing.
        public var maxListingsPerRun: Int? = nil
        /// eBay: a GTIN searched within this many days has its remembered competitors refreshed
        /// with getItems instead of being searched again (new competitors are found only by a
        /// search). Default 7.
        public var researchDays: Int = 7

        static let oneHundredPercent: Int64 = 1_000_000

        init?(reading r: inout TableReader) {
            let marketplaces = r.marketplaces(minimum: 1)
            let strategy: Located<Strategy>? = r.choice("strategy")
            let undercut: Located<Adjustment>? = r.parsed("undercut") { (text) throws(ValueError) -> Adjustment in
                if text.hasSuffix("%") {
                    let p = try Percent(parsing: text)
                    guard p.partsPerMillion >= 0 && p.partsPerMillion <= 500_000 else {
                        throw ValueError("an undercut of \(p) is outside 0%…50%")
                    }
                    return .percent(p)
                }
                do {
                    return .amount(try Money(parsing: text))
                } catch {
                    throw ValueError("expected a percentage like \"1%\" or an amount like \"0.25 USD\", found \"\(text)\"")
                }
            }
            let minMargin = r.percent("min_margin", in: 0...5 * Self.oneHundredPercent)
            let maxChange = r.percent("max_change", in: 1...Self.oneHundredPercent)
            let ceilingMarkup = r.percent("ceiling_markup", in: 1...100 * Self.oneHundredPercent)
            let whenAlone: Located<WhenAlone>? = r.choice("when_alone")
            let feedback = r.percent("min_seller_feedback", in: 0...Self.oneHundredPercent)
            let threshold = r.money("change_threshold")
            let rounding: Located<Rounding>? = r.choice("rounding")
            let breakerShare = r.percent("breaker_share", in: 1...Self.oneHundredPercent)
            let breakerDrop = r.percent("breaker_drop", in: 1...Self.oneHundredPercent)
            let llm = r.bool("llm_matching")
            let dryRun = r.bool("dry_run")
            let shippingCost = r.money("shipping_cost")
            let costSource: Located<MarketplaceName>? = r.choice("cost_source")
            let maxListings = r.integer("max_listings_per_run", in: 1...10_000_000)
            let researchDays = r.integer("research_days", in: 0...90)
            r.finish()
            guard let marketplaces else { return nil }
            if strategy?.value == .matchBuyBox, !marketplaces.contains(where: { $0.value == .amazon }) {
                r.error(strategy!.line, "strategy \"match-buy-box\" needs \"amazon\" among the marketplaces (only Amazon has a Buy Box)")
                return nil
            }
            if r.log.hasErrors { return nil }
            self.marketplaces = marketplaces
            self.strategy = strategy?.value ?? .beatLowest
            self.undercut = undercut ?? Located(value: .percent(Percent(partsPerMillion: 10_000)), line: r.line)
            self.minMargin = minMargin?.value ?? Percent(partsPerMillion: 100_000)
            self.maxChange = maxChange?.value ?? Percent(partsPerMillion: 100_000)
            self.ceilingMarkup = ceilingMarkup?.value
            self.whenAlone = whenAlone?.value ?? .ceiling
            self.minSellerFeedback = feedback?.value ?? Percent(partsPerMillion: 950_000)
            self.changeThreshold = threshold ?? Located(value: Money(micros: 10_000, currency: .usd), line: r.line)
            self.rounding = rounding?.value ?? .none
            self.breakerShare = breakerShare?.value ?? Percent(partsPerMillion: 200_000)
            self.breakerDrop = breakerDrop?.value ?? Percent(partsPerMillion: 250_000)
            self.llmMatching = llm?.value ?? false
            self.dryRun = dryRun?.value ?? false
            self.shippingCost = shippingCost?.value
            self.costSource = costSource?.value
            self.maxListingsPerRun = maxListings?.value
            self.researchDays = researchDays?.value ?? 7
        }
    }
}
