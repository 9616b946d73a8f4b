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
        /// Off: a listing the sync finds lower than it should be (an operator paused it, say) is
        /// recorded as drift but never raised; quantities are only lowered, which cannot oversell.
        public var correctDrift: Bool
        public var dryRun: Bool
        /// The channel whose live quantity seeds a SKU's on-hand stock the first time the SKU is
        /// seen (default: the first marketplace listed). Afterwards only orders change on-hand.
        public var stockSource: MarketplaceName

        init?(reading r: inout TableReader) {
            let marketplaces = r.marketplaces(minimum: 2)
            let pushPrice = r.bool("push_price")
            let priceSource: Located<MarketplaceName>? = r.choice("price_source")
            let safetyStock = r.integer("safety_stock", in: 0...1_000_000)
            let drift = r.bool("correct_drift")
            let dryRun = r.bool("dry_run")
            let stockSource: Located<MarketplaceName>? = r.choice("stock_source")
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
            if let stockSource, !marketplaces.contains(where: { $0.value == stockSource.value }) {
                r.error(stockSource.line, "\"params.stock_source\" \"\(stockSource.value.rawValue)\" is not among the marketplaces")
                return nil
            }
            if r.log.hasErrors { return nil }
            self.marketplaces = marketplaces
            self.pushPrice = pushPrice?.value ?? false
            self.priceSource = priceSource?.value
            self.safetyStock = safetyStock?.value ?? 0
            self.correctDrift = drift?.value ?? true
            self.dryRun = dryRun?.value ?? false
            self.stockSource = stockSource?.value ?? marketplaces[0].value
        }
    }
}
