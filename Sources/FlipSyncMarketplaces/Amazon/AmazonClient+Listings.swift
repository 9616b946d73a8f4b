import FlipSyncCore
import Foundation

/// SP-API Listings Items 2021-08-01: the seller's listings (`searchListingsItems`) and price
/// or quantity changes (`patchListingsItem`).
extension AmazonClient {
    /// One page of our listings, with summaries, attributes, offers and fulfillment availability.
    /// Start with `pageToken` nil, then pass the page's `nextPageToken`.
    ///
    /// `GET /listings/2021-08-01/items/{sellerId}?marketplaceIds=&includedData=&pageSize=&pageToken=`;
    /// `pageSize` is 1…20 (Amazon's maximum); at most 1,000 listings can be paged through.
    /// Reference: Listings Items API 2021-08-01, "searchListingsItems" (usage plan 5 requests/s,
    /// burst 5; https://developer-docs.amazon.com/sp-api/docs/listings-items-api-v2021-08-01-reference#searchlistingsitems),
    /// types `ItemSearchResults` (`numberOfResults`, `pagination.nextToken`, `items`), `Item`,
    /// `ItemSummaryByMarketplace`, `ItemOfferByMarketplace`, `FulfillmentAvailability`, `Money`
    /// (`amount` a decimal string); model
    /// github.com/amzn/selling-partner-api-models/models/listings-items-api-model/listingsItems_2021-08-01.json.
    public func listings(pageToken: String? = nil, pageSize: Int = 20) async throws -> AmazonListingsPage {
        guard (1...20).contains(pageSize) else { throw MarketplaceError.refused("listings page size must be 1…20, not \(pageSize)") }
        let operation = AmazonOperation.searchListingsItems
        var parameters = [("marketplaceIds", configuration.marketplaceID),
                          ("includedData", "summaries,attributes,offers,fulfillmentAvailability"),
                          ("pageSize", String(pageSize))]
        if let pageToken { parameters.append(("pageToken", pageToken)) }
        let url = configuration.baseURL + "/listings/2021-08-01/items/\(FormEncoding.escape(configuration.sellerID))?"
            + FormEncoding.encode(parameters)
        let response = try await authorized(operation) { self.request(.get, url, token: $0) }
        let wire = try decode(AmazonWireListingsResponse.self, response, operation: operation)
        let items = try wire.items.map { item in
            let summary = item.summaries?.first { $0.marketplaceId == configuration.marketplaceID }
            let offer = item.offers?.first { $0.marketplaceId == configuration.marketplaceID && $0.offerType == "B2C" }
            let price = try offer.map { offer in
                do { return try Money(parsing: "\(offer.price.amount) \(offer.price.currencyCode)") } catch {
                    throw MarketplaceError.malformed("\(operation.rawValue): price of SKU \(item.sku): \(error)")
                }
            }
            return AmazonListingItem(
                sku: item.sku, asin: summary?.asin, title: summary?.itemName, productType: summary?.productType,
                conditionType: summary?.conditionType, status: summary?.status ?? [], price: price,
                quantity: item.fulfillmentAvailability?.first { $0.fulfillmentChannelCode == "DEFAULT" }?.quantity,
                gtin: item.attributes?.externally_assigned_product_identifier?.first { $0.value?.isEmpty == false }?.value)
        }
        return AmazonListingsPage(items: items, numberOfResults: wire.numberOfResults, nextPageToken: wire.pagination?.nextToken)
    }

    /// Sets a listing's price (`purchasable_offer`'s `our_price`) and/or merchant-fulfilled
    /// quantity (`fulfillment_availability`, channel `DEFAULT`) in one PATCH.
    ///
    /// `PATCH /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=` with a
    /// `ListingsItemPatchRequest` of `replace` operations. Amazon answers 200 with `status`
    /// `ACCEPTED` (queued for processing) or `INVALID` with `issues`; both are returned, not thrown.
    /// `productType` is the listing's Amazon product type; `PRODUCT` is accepted for offer-only changes.
    /// References: Listings Items API 2021-08-01, "patchListingsItem" (usage plan 5 requests/s,
    /// burst 5, as `listingsItems_2021-08-01.json`'s usage-plan table gives it; https://developer-docs.amazon.com/sp-api/docs/listings-items-api-v2021-08-01-reference#patchlistingsitem),
    /// types `ListingsItemPatchRequest`, `PatchOperation`, `ListingsItemSubmissionResponse`, `Issue`;
    /// tutorial "Manage purchasable offer" (https://developer-docs.amazon.com/sp-api/docs/manage-purchasable-offer)
    /// for the `purchasable_offer` value (`marketplace_id`, `currency`, `audience`,
    /// `our_price[].schedule[].value_with_tax`).
    public func patchListing(sku: String, price: Money? = nil, quantity: Int? = nil,
                             productType: String = "PRODUCT") async throws -> AmazonSubmission {
        let operation = AmazonOperation.patchListingsItem
        let patches = try self.patches(sku: sku, price: price, quantity: quantity)
        let body = try JSONEncoder().encode(AmazonWirePatchRequest(productType: productType, patches: patches))
        let url = configuration.baseURL
            + "/listings/2021-08-01/items/\(FormEncoding.escape(configuration.sellerID))/\(FormEncoding.escape(sku))?"
            + FormEncoding.encode([("marketplaceIds", configuration.marketplaceID)])
        let response = try await authorized(operation) { self.request(.patch, url, token: $0, body: Array(body)) }
        let wire = try decode(AmazonWireSubmission.self, response, operation: operation)
        let status: AmazonSubmission.Status
        switch wire.status {
        case "ACCEPTED": status = .accepted
        case "INVALID": status = .invalid
        case "VALID": status = .valid
        default: status = .other(wire.status)
        }
        return AmazonSubmission(sku: wire.sku, status: status, submissionID: wire.submissionId,
                                issues: (wire.issues ?? []).map {
                                    AmazonListingIssue(code: $0.code, message: $0.message, severity: $0.severity,
                                                       attributeNames: $0.attributeNames ?? [])
                                })
    }
}
