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
        /// Business days from the order to the parcel leaving (0…30).
        public var handlingDays: Int
        /// Business days from the order to delivery, the promise for an order whose channel gives
        /// no delivery date (Shopify) (1…30, default 5).
        public var defaultPromiseDays: Int
        public var originPostalCode: String
        /// The seller's usual service as a service key (`usps-ground-advantage`), to measure savings against.
        public var defaultService: String?
        /// Savings smaller than this are recorded but not counted as recommendations to act on.
        public var minSaving: Located<Money>?
        /// The packaging file (`sku,weight_oz,length_in,width_in,height_in`), resolved against the
        /// job file's directory.
        public var packaging: Located<String>
        /// Also judge every active listing's shipping settings (eBay, Shopify).
        public var includeListings: Bool
        /// US postal codes listings are quoted to (a listing has no buyer yet); each listing is
        /// judged by its worst destination.
        public var listingDestinations: [String]
        /// Days from sale to delivery a listing promises; nil: the listing's handling time plus
        /// the transit of its advertised service (or `default_service`) to each destination.
        public var listingPromiseDays: Int?

        init?(reading r: inout TableReader) {
            let marketplaces = r.marketplaces(minimum: 1)
            let includeListings = r.bool("include_listings")
            if let includeListings, includeListings.value, let marketplaces {
                // Amazon's SP-API reads a listing's shipping *template name* at most, never the
                // template's rates: there is nothing honest to compare a label with.
                for amazon in marketplaces where amazon.value == .amazon {
                    r.error(amazon.line, "\"params.include_listings\" = true cannot include amazon: the Selling Partner API has no read "
                        + "of a shipping template's rates (only its name), so what Amazon buyers are charged for shipping is not known; "
                        + "list amazon in another shipping-arbitrage job without include_listings")
                }
            }
            // A listing has no buyer yet: it is quoted to these destinations and judged by the worst.
            var destinations: [String] = []
            if let list = r.strings("listing_destinations") {
                for item in list.value {
                    if !Self.isPostalCode(item.value) {
                        r.error(item.line, "\"params.listing_destinations\" entry \"\(item.value)\" is not a postal code")
                    } else if destinations.contains(item.value) {
                        r.error(item.line, "\"params.listing_destinations\" lists \"\(item.value)\" twice")
                    } else {
                        destinations.append(item.value)
                    }
                }
                if list.value.count > 20 { r.error(list.line, "\"params.listing_destinations\" has \(list.value.count) entries; at most 20") }
                if includeListings?.value != true {
                    r.error(list.line, "\"params.listing_destinations\" is only used with \"params.include_listings\" = true")
                }
            } else if let includeListings, includeListings.value {
                r.error(includeListings.line, "\"params.include_listings\" = true needs \"params.listing_destinations\" "
                    + "(postal codes to quote listings to, e.g. [\"10001\", \"60601\", \"94105\"])")
            }
            let promise = r.integer("listing_promise_days", in: 1...60)
            if let promise, includeListings?.value != true {
                r.error(promise.line, "\"params.listing_promise_days\" is only used with \"params.include_listings\" = true")
            }
            // No label-buying step exists: refused rather than silently ignored.
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
            let defaultPromise = r.integer("default_promise_days", in: 1...30)
            if let defaultPromise, defaultPromise.value <= (handling?.value ?? 1) {
                r.error(defaultPromise.line, "\"params.default_promise_days\" = \(defaultPromise.value) must be more than "
                    + "\"params.handling_days\" (\(handling?.value ?? 1)): no label could arrive by such a promise")
            }
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
            self.defaultPromiseDays = defaultPromise?.value ?? 5
            self.originPostalCode = origin.value
            self.defaultService = defaultService?.value
            self.minSaving = minSaving
            self.includeListings = includeListings?.value ?? false
            self.listingDestinations = destinations
            self.listingPromiseDays = promise?.value
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
