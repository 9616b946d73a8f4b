/// Shipping arbitrage: the cheapest label that still meets the delivery promise, compared with
/// what the buyer paid for shipping and with the seller's default service.
public enum ShippingArbitrage {
    public enum RateSource: String, CaseIterable, Sendable, Hashable {
        /// A rate-shopping API (EasyPost/Shippo shape).
        case api
        /// The offline rate cards in the config.
        case rateCards = "rate-cards"
    }

    public struct Parameters: Sendable, Hashable {
        public var marketplaces: [Located<MarketplaceName>]
        public var includeListings: Bool
        public var rateSources: [RateSource]
        public var handlingDays: Int
        public var originPostalCode: String
        public var defaultService: String?
        public var minSaving: Located<Money>?
        public var buyLabels: Bool

        init?(reading r: inout TableReader) {
            let marketplaces = r.marketplaces(minimum: 1)
            let includeListings = r.bool("include_listings")
            var sources: [RateSource] = []
            if let list = r.strings("rate_sources") {
                for item in list.value {
                    guard let source = RateSource(rawValue: item.value) else {
                        r.error(item.line, Suggestion.unknown("rate source", item.value, options: RateSource.allCases.map(\.rawValue)))
                        continue
                    }
                    if !sources.contains(source) { sources.append(source) }
                }
            }
            let handling = r.integer("handling_days", in: 0...30)
            let origin = r.string("origin_postal_code", required: true)
            if let origin, !Self.isPostalCode(origin.value) {
                r.error(origin.line, "\"params.origin_postal_code\" \"\(origin.value)\" is not a postal code")
            }
            let defaultService = r.string("default_service")
            let minSaving = r.money("min_saving")
            let buyLabels = r.bool("buy_labels")
            r.finish()
            guard let marketplaces, let origin, !r.log.hasErrors else { return nil }
            self.marketplaces = marketplaces
            self.includeListings = includeListings?.value ?? false
            self.rateSources = sources.isEmpty ? [.rateCards] : sources
            self.handlingDays = handling?.value ?? 1
            self.originPostalCode = origin.value
            self.defaultService = defaultService?.value
            self.minSaving = minSaving
            self.buyLabels = buyLabels?.value ?? false
        }

        static func isPostalCode(_ text: String) -> Bool {
            (3...10).contains(text.count) && text.unicodeScalars.allSatisfy {
                ($0.properties.isASCIIHexDigit || $0.properties.isAlphabetic) && $0.isASCII || $0 == " " || $0 == "-"
            }
        }
    }
}
