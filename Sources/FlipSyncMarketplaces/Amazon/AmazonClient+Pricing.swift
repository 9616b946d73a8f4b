import FlipSyncCore
import Foundation

/// SP-API Product Pricing v0: one ASIN's offers (`getItemOffers`) and many SKUs' at once
/// (`getListingOffersBatch`).
extension AmazonClient {
    /// The offers on one ASIN in one condition, with the summary's Buy Box and lowest prices.
    ///
    /// `GET /products/pricing/v0/items/{Asin}/offers?MarketplaceId=&ItemCondition=`.
    /// Reference: Product Pricing API v0, "getItemOffers" (usage plan 0.5 requests/s, burst 1;
    /// https://developer-docs.amazon.com/sp-api/docs/product-pricing-api-v0-reference#getitemoffers),
    /// types `GetOffersResult`, `Summary` (`LowestPrices`, `BuyBoxPrices` of `LandedPrice`,
    /// `ListingPrice`, `Shipping` as `MoneyType {CurrencyCode, Amount}`), `OfferDetail`
    /// (`SellerId`, `SubCondition`, `SellerFeedbackRating`, `ListingPrice`, `Shipping`,
    /// `IsBuyBoxWinner`, `MyOffer`, `IsFulfilledByAmazon`); model
    /// github.com/amzn/selling-partner-api-models/models/product-pricing-api-model/productPricingV0.json.
    public func itemOffers(asin: String, condition: AmazonItemCondition = .new) async throws -> AmazonItemOffers {
        let operation = AmazonOperation.getItemOffers
        let url = configuration.baseURL + "/products/pricing/v0/items/\(FormEncoding.escape(asin))/offers?"
            + FormEncoding.encode([("MarketplaceId", configuration.marketplaceID), ("ItemCondition", condition.rawValue)])
        let response = try await authorized(operation) { self.request(.get, url, token: $0) }
        guard let payload = try decode(AmazonWireOffersResponse.self, response, operation: operation).payload else {
            throw MarketplaceError.malformed("\(operation.rawValue): the response has no payload")
        }
        return try Self.offers(payload, asin: asin, condition: condition, field: operation.rawValue)
    }

    /// The offers on up to 20 of our SKUs, each in its own condition, in one request.
    ///
    /// `POST /batches/products/pricing/v0/listingOffers` with `{"requests":[{"uri":
    /// "/products/pricing/v0/listings/{SellerSKU}/offers","method":"GET","MarketplaceId",
    /// "ItemCondition","CustomerType":"Consumer"}]}`; the answer's `responses[]` each carry
    /// `status.statusCode`, `request.SellerSKU` and a `body` that is `getListingOffers`'s
    /// (`payload` as `GetOffersResult`, or `errors`). One entry's failure (an unknown SKU is a
    /// 404 inside the batch) is returned in that entry, not thrown; a failure of the whole
    /// request is thrown as for any call. Entries are matched to requests by
    /// `request.SellerSKU`, else `payload.SKU`, else position.
    /// Reference: Product Pricing API v0, "getListingOffersBatch" (usage plan 0.5 requests/s,
    /// burst 1; https://developer-docs.amazon.com/sp-api/docs/product-pricing-api-v0-reference#getlistingoffersbatch),
    /// types `GetListingOffersBatchRequest`, `ListingOffersRequest` (`BatchRequest` +
    /// `BatchOffersRequestParams`), `GetListingOffersBatchResponse`, `ListingOffersResponse`
    /// (`GetOffersHttpStatusLine`, `GetOffersResponse`, `ListingOffersRequestParams`); model
    /// github.com/amzn/selling-partner-api-models/models/product-pricing-api-model/productPricingV0.json.
    public func listingOffersBatch(_ requests: [AmazonListingOffersRequest]) async throws -> [AmazonListingOffersEntry] {
        let operation = AmazonOperation.getListingOffersBatch
        guard (1...Self.listingOffersBatchLimit).contains(requests.count) else {
            throw MarketplaceError.refused("getListingOffersBatch takes 1…\(Self.listingOffersBatchLimit) SKUs, not \(requests.count)")
        }
        let wireRequest = AmazonWireListingOffersBatchRequest(requests: requests.map { r in
            .init(uri: "/products/pricing/v0/listings/\(FormEncoding.escape(r.sku))/offers", method: "GET",
                  MarketplaceId: configuration.marketplaceID, ItemCondition: r.condition.rawValue, CustomerType: "Consumer")
        })
        let body = try JSONEncoder().encode(wireRequest)
        let url = configuration.baseURL + "/batches/products/pricing/v0/listingOffers"
        let response = try await authorized(operation) { self.request(.post, url, token: $0, body: Array(body)) }
        let wire = try decode(AmazonWireListingOffersBatchResponse.self, response, operation: operation)
        guard wire.responses.count == requests.count else {
            throw MarketplaceError.malformed("\(operation.rawValue): \(wire.responses.count) responses to \(requests.count) requests")
        }
        let asked = Set(requests.map(\.sku))
        var entries: [String: AmazonListingOffersEntry] = [:]
        for (index, entry) in wire.responses.enumerated() {
            let sku = entry.request?.SellerSKU ?? entry.body.payload?.SKU ?? requests[index].sku
            guard asked.contains(sku), entries[sku] == nil else {
                throw MarketplaceError.malformed("\(operation.rawValue): responses[\(index)] is for SKU \(sku), which was not asked or is repeated")
            }
            let request = requests.first { $0.sku == sku }!
            let status = entry.status?.statusCode ?? (entry.body.payload != nil ? 200 : 500)
            let field = "\(operation.rawValue) responses[\(index)] (SKU \(sku))"
            if (200...299).contains(status), let payload = entry.body.payload {
                entries[sku] = AmazonListingOffersEntry(
                    sku: sku, status: status,
                    offers: try Self.offers(payload, asin: payload.ASIN ?? "", condition: request.condition, field: field), error: nil)
            } else {
                let errors = (entry.body.errors ?? []).map { "Amazon error \($0)" }.joined(separator: "; ")
                entries[sku] = AmazonListingOffersEntry(sku: sku, status: status, offers: nil,
                                                        error: errors.isEmpty ? "HTTP \(status) without an Amazon error body" : errors)
            }
        }
        return requests.map { entries[$0.sku]! }
    }

    /// The most SKUs one `getListingOffersBatch` request may carry.
    public static let listingOffersBatchLimit = 20

    /// A `GetOffersResult` (of `getItemOffers`, or of one `getListingOffersBatch` entry) as offers.
    static func offers(_ payload: AmazonWireOffersResponse.Payload, asin: String, condition: AmazonItemCondition,
                       field prefix: String) throws -> AmazonItemOffers {
        let offers = try payload.Offers.enumerated().map { index, offer in
            let field = "\(prefix) Offers[\(index)]"
            let feedback = try offer.SellerFeedbackRating?.SellerPositiveFeedbackRating.map { rating in
                do { return try Percent(parsing: "\(rating)%") } catch {
                    throw MarketplaceError.malformed("\(field): SellerPositiveFeedbackRating is not a percentage")
                }
            }
            return AmazonOffer(sellerID: offer.SellerId ?? "", subCondition: offer.SubCondition.lowercased(),
                               positiveFeedback: feedback, feedbackCount: offer.SellerFeedbackRating?.FeedbackCount,
                               listingPrice: try Self.money(offer.ListingPrice, field: "\(field).ListingPrice"),
                               shipping: try Self.money(offer.Shipping, field: "\(field).Shipping"),
                               isBuyBoxWinner: offer.IsBuyBoxWinner ?? false, isMyOffer: offer.MyOffer ?? false,
                               isFulfilledByAmazon: offer.IsFulfilledByAmazon)
        }
        func prices(_ list: [AmazonWireOffersResponse.Payload.Summary.Price]?, _ name: String) throws -> [AmazonSummaryPrice] {
            try (list ?? []).enumerated().map { index, price in
                let field = "\(prefix) Summary.\(name)[\(index)]"
                let listing = try Self.money(price.ListingPrice, field: "\(field).ListingPrice")
                let shipping = try Self.money(price.Shipping, field: "\(field).Shipping")
                let landed = try price.LandedPrice.map { try Self.money($0, field: "\(field).LandedPrice") } ?? listing + shipping
                return AmazonSummaryPrice(condition: price.condition ?? "", landed: landed, listing: listing, shipping: shipping)
            }
        }
        return AmazonItemOffers(asin: payload.ASIN ?? asin, condition: condition, offers: offers,
                                buyBoxPrices: try prices(payload.Summary.BuyBoxPrices, "BuyBoxPrices"),
                                lowestPrices: try prices(payload.Summary.LowestPrices, "LowestPrices"),
                                totalOfferCount: payload.Summary.TotalOfferCount ?? offers.count)
    }
}
