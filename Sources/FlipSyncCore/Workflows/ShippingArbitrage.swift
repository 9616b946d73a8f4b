/// Shipping arbitrage: the cheapest label that still meets the delivery promise, compared with
/// what the buyer paid for shipping and with the seller's default service. The run is
/// `ShippingArbitragePlan`; this type holds the job file's parameters.
public enum ShippingArbitrage {
    public enum RateSource: String, CaseIterable, Sendable, Hashable {
        /// A rate-shopping API (EasyPost shape): each quote is a paid call.
        case api
        /// Offline rate cards: free, no I/O.
        case rateCards = "rate-cards"
    }

    public struct Parameters: Sendable, Hashable {
        public var marketplaces: [Located<MarketplaceName>]
        public var rateSources: [RateSource]
        /// Days from the order to the parcel leaving (0…30).
        public var handlingDays: Int
        public var originPostalCode: String
        /// The seller's usual service as a service key (`usps-ground-advantage`), to measure savings against.
        public var defaultService: String?
        /// Savings smaller than this are recorded but not counted as recommendations to act on.
        public var minSaving: Located<Money>?
        /// The packaging file (`sku,weight_oz,length_in,width_in,height_in`), resolved against the
        /// job file's directory.
        public var packaging: Located<String>

        init?(reading r: inout TableReader) {
            let marketplaces = r.marketplaces(minimum: 1)
            // Listings carry no destination to quote to, and no label-buying step exists: both
            // are refused rather than silently ignored.
            if let listings = r.bool("include_listings"), listings.value {
                r.error(listings.line, "\"params.include_listings\" = true is not supported yet: only open orders are quoted; remove it or set it to false")
            }
            if let buy = r.bool("buy_labels"), buy.value {
                r.error(buy.line, "\"params.buy_labels\" = true is not supported: this build only quotes and never buys labels; remove it or set it to false")
            }
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
            if let defaultService, !Self.isServiceKey(defaultService.value) {
                r.error(defaultService.line, "\"params.default_service\" \"\(defaultService.value)\" is not a service key like \"usps-ground-advantage\" (carrier, then the service, lower case, hyphens)")
            }
            let minSaving = r.money("min_saving")
            if let minSaving, minSaving.value.micros < 0 {
                r.error(minSaving.line, "\"params.min_saving\" must not be negative")
            }
            let packaging = r.string("packaging", required: true)
            r.finish()
            guard let marketplaces, let origin, let packaging, !r.log.hasErrors else { return nil }
            self.marketplaces = marketplaces
            self.rateSources = sources.isEmpty ? [.api] : sources
            self.handlingDays = handling?.value ?? 1
            self.originPostalCode = origin.value
            self.defaultService = defaultService?.value
            self.minSaving = minSaving
            self.packaging = Located(value: FileSystem.resolve(packaging.value, against: FileSystem.directory(of: r.file)),
                                     line: packaging.line)
        }

        /// Lower-case letters and digits in at least two hyphenated words: `ups-ground`.
        static func isServiceKey(_ text: String) -> Bool {
            let words = text.split(separator: "-", omittingEmptySubsequences: false)
            return words.count >= 2 && words.allSatisfy { word in
                !word.isEmpty && word.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isLowercase || $0.properties.numericType != nil) }
            }
        }

        static func isPostalCode(_ text: String) -> Bool {
            (3...10).contains(text.count) && text.unicodeScalars.allSatisfy {
                ($0.properties.isASCIIHexDigit || $0.properties.isAlphabetic) && $0.isASCII || $0 == " " || $0 == "-"
            }
        }
    }
}
