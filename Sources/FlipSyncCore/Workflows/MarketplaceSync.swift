/// Cross-marketplace sync: one on-hand stock figure per SKU, orders applied exactly once,
/// available quantity (and optionally price) pushed to every channel.
public enum MarketplaceSync {
    public struct Parameters: Sendable, Hashable {
        public var marketplaces: [Located<MarketplaceName>]
        public var pushPrice: Bool
        /// Whose price is pushed to the others when `pushPrice` is on.
        public var priceSource: MarketplaceName?
        /// Units held back from every channel.
        public var safetyStock: Int
        public var correctDrift: Bool
        public var dryRun: Bool

        init?(reading r: inout TableReader) {
            let marketplaces = r.marketplaces(minimum: 2)
            let pushPrice = r.bool("push_price")
            let priceSource: Located<MarketplaceName>? = r.choice("price_source")
            let safetyStock = r.integer("safety_stock", in: 0...1_000_000)
            let drift = r.bool("correct_drift")
            let dryRun = r.bool("dry_run")
            r.finish()
            guard let marketplaces else { return nil }
            if pushPrice?.value == true {
                guard let priceSource else {
                    r.error(pushPrice!.line, "\"params.push_price\" needs \"params.price_source\": the marketplace whose prices are copied")
                    return nil
                }
                guard marketplaces.contains(where: { $0.value == priceSource.value }) else {
                    r.error(priceSource.line, "\"params.price_source\" \"\(priceSource.value.rawValue)\" is not among the marketplaces")
                    return nil
                }
            }
            if r.log.hasErrors { return nil }
            self.marketplaces = marketplaces
            self.pushPrice = pushPrice?.value ?? false
            self.priceSource = priceSource?.value
            self.safetyStock = safetyStock?.value ?? 0
            self.correctDrift = drift?.value ?? true
            self.dryRun = dryRun?.value ?? false
        }
    }
}
