import FlipSyncCore
import Foundation
import Hummingbird

/// Listings Items 2021-08-01 (`searchListingsItems`, `patchListingsItem`): see `AmazonRoutes`.
extension AmazonRoutes {
    // MARK: Listings Items 2021-08-01

    static let includedDataSets: Set<String> = ["summaries", "attributes", "issues", "offers", "fulfillmentAvailability",
                                                "procurement", "relationships", "productTypes"]
    /// Every sandbox listing was created on this day.
    static let listingCreated: Int64 = 1_704_067_200_000  // 2024-01-01T00:00:00Z

    func searchListings(_ request: Request, sellerID: String) async -> Response {
        let rate = state.limiter.rateHeader(.amazonListings) ?? AdvertisedRate.searchListings
        if let denied = authorize(request) { return denied }
        guard sellerID == SandboxState.amazonSellerID else {
            return Self.error(status: 403, code: "Unauthorized", message: "Access to requested resource is denied.")
        }
        let query = request.uri.queryParameters
        guard query["marketplaceIds"].map(String.init) == SandboxState.amazonMarketplaceID else {
            return Self.invalidInput("Invalid marketplaceIds: the sandbox serves \(SandboxState.amazonMarketplaceID) only.", rate: rate)
        }
        let included = Set((query["includedData"].map(String.init) ?? "summaries").split(separator: ",").map(String.init))
        guard included.isSubset(of: Self.includedDataSets) else {
            return Self.invalidInput("includedData has an unknown data set.", rate: rate)
        }
        guard let pageSize = query["pageSize"].map({ Int(String($0)) }) ?? 10, (1...20).contains(pageSize) else {
            return Self.invalidInput("pageSize must be between 1 and 20.", rate: rate)
        }
        var offset = 0
        if let token = query["pageToken"].map(String.init) {
            guard let decoded = Self.untoken(token, kind: "l"), decoded.count == 1 else {
                return Self.invalidInput("Invalid pageToken.", rate: rate)
            }
            offset = Int(decoded[0])
        }
        let listings = state.channelListings(.amazon)
        let updates = state.updates
        let page = listings.dropFirst(offset).prefix(pageSize)
        var pagination: [String: Any] = [:]
        if offset + pageSize < listings.count { pagination["nextToken"] = Self.token(kind: "l", [Int64(offset + pageSize)]) }
        if offset > 0 { pagination["previousToken"] = Self.token(kind: "l", [Int64(max(0, offset - pageSize))]) }
        var body: [String: Any] = [
            "numberOfResults": listings.count,
            "items": page.map { listing in
                listingItem(listing, included: included,
                            lastUpdated: updates.last { $0.marketplace == .amazon && $0.sku == listing.sku }?.atMilliseconds)
            },
        ]
        if !pagination.isEmpty { body["pagination"] = pagination }
        return Self.answer(body, rate: rate)
    }

    private func listingItem(_ listing: SandboxChannelListing, included: Set<String>, lastUpdated: Int64?) -> [String: Any] {
        let marketplace = SandboxState.amazonMarketplaceID
        let product = state.product(sku: listing.sku)
        let conditionType = state.listing(sku: listing.sku).map { Self.conditionType($0.condition) } ?? "new_new"
        var item: [String: Any] = ["sku": listing.sku]
        if included.contains("summaries") {
            item["summaries"] = [[
                "marketplaceId": marketplace, "asin": listing.listingID, "productType": "PRODUCT", "conditionType": conditionType,
                "status": listing.quantity > 0 ? ["BUYABLE", "DISCOVERABLE"] : ["DISCOVERABLE"],
                "itemName": product?.title ?? listing.sku, "createdDate": Self.iso8601(Self.listingCreated),
                "lastUpdatedDate": Self.iso8601(lastUpdated ?? Self.listingCreated),
            ]]
        }
        if included.contains("attributes") {
            var attributes: [String: Any] = [
                "condition_type": [["value": conditionType, "marketplace_id": marketplace]],
                "purchasable_offer": [["marketplace_id": marketplace, "currency": "USD", "audience": "ALL",
                                       "our_price": [["schedule": [["value_with_tax": Self.decimal(listing.priceMicros)]]]]]],
                "fulfillment_availability": [["fulfillment_channel_code": "DEFAULT", "quantity": listing.quantity]],
            ]
            if let product {
                attributes["item_name"] = [["value": product.title, "language_tag": "en_US", "marketplace_id": marketplace]]
                attributes["externally_assigned_product_identifier"] = [["type": "upc", "value": product.gtin,
                                                                         "marketplace_id": marketplace]]
            }
            item["attributes"] = attributes
        }
        if included.contains("offers") {
            item["offers"] = [["marketplaceId": marketplace, "offerType": "B2C",
                               "price": ["currencyCode": "USD", "amount": Self.decimalText(listing.priceMicros)],
                               "audience": ["value": "ALL", "displayName": "Sell on Amazon"]]]
        }
        if included.contains("fulfillmentAvailability") {
            item["fulfillmentAvailability"] = [["fulfillmentChannelCode": "DEFAULT", "quantity": listing.quantity]]
        }
        if included.contains("issues") { item["issues"] = [] as [Any] }
        return item
    }

    /// `ListingsItemPatchRequest`.
    private struct PatchRequest: Decodable {
        var productType: String?
        var patches: [SandboxAmazonPatch]?
    }

    func patchListing(_ request: Request, sellerID: String, sku rawSKU: String) async throws -> Response {
        let rate = state.limiter.rateHeader(.amazonPatch) ?? AdvertisedRate.patchListing
        if let denied = authorize(request) { return denied }
        guard sellerID == SandboxState.amazonSellerID else {
            return Self.error(status: 403, code: "Unauthorized", message: "Access to requested resource is denied.")
        }
        guard request.uri.queryParameters["marketplaceIds"].map(String.init) == SandboxState.amazonMarketplaceID else {
            return Self.invalidInput("Invalid marketplaceIds: the sandbox serves \(SandboxState.amazonMarketplaceID) only.", rate: rate)
        }
        let sku = rawSKU.removingPercentEncoding ?? rawSKU
        guard state.channelListing(.amazon, sku: sku) != nil else {
            return Self.notFound("SKU \(sku) is not listed by seller \(sellerID).", rate: rate)
        }
        guard let body = JSON.decode(PatchRequest.self, try await JSON.body(request)), let productType = body.productType,
              !productType.isEmpty, let patches = body.patches, !patches.isEmpty else {
            return Self.invalidInput("The body must be a ListingsItemPatchRequest: productType and at least one patch.", rate: rate)
        }
        var issues: [[String: Any]] = []
        func issue(_ code: String, _ message: String, attribute: String, category: String) {
            issues.append(["code": code, "message": message, "severity": "ERROR", "attributeNames": [attribute],
                           "categories": [category]])
        }
        var priceMicros: Int64?
        var quantity: Int?
        for patch in patches {
            guard let op = patch.op, ["add", "replace", "merge"].contains(op) else {
                return Self.invalidInput("Patch op must be add, replace or merge in the sandbox (delete is not supported).", rate: rate)
            }
            switch patch.path {
            case "/attributes/purchasable_offer":
                guard let offer = patch.value?.first, let amount = offer.our_price?.first?.schedule?.first?.value_with_tax else {
                    issue("SANDBOX_MISSING_PRICE", "'purchasable_offer' needs our_price[0].schedule[0].value_with_tax.",
                          attribute: "purchasable_offer", category: "MISSING_PRICE")
                    continue
                }
                if let currency = offer.currency, currency != "USD" {
                    issue("SANDBOX_INVALID_CURRENCY", "Currency \(currency) is not accepted in marketplace \(SandboxState.amazonMarketplaceID); use USD.",
                          attribute: "purchasable_offer", category: "INVALID_PRICE")
                } else if let marketplace = offer.marketplace_id, marketplace != SandboxState.amazonMarketplaceID {
                    issue("SANDBOX_INVALID_MARKETPLACE", "marketplace_id \(marketplace) does not match the request's marketplace.",
                          attribute: "purchasable_offer", category: "INVALID_ATTRIBUTE")
                } else if let money = try? Money(parsing: "\(amount) USD", allowNegative: true), money.micros > 0,
                          money.micros % 10_000 == 0 {
                    if let minimum = state.amazonFeeds.minimumPriceMicros, money.micros < minimum {
                        issue("SANDBOX_PRICE_BELOW_MINIMUM", "The price \(amount) is below the minimum \(Self.decimalText(minimum)) allowed for this listing.",
                              attribute: "purchasable_offer", category: "INVALID_PRICE")
                    } else {
                        priceMicros = money.micros
                    }
                } else {
                    issue("SANDBOX_INVALID_PRICE", "The price \(amount) is not valid: it must be greater than 0 with at most 2 decimal places.",
                          attribute: "purchasable_offer", category: "INVALID_PRICE")
                }
            case "/attributes/fulfillment_availability":
                guard let availability = patch.value?.first, availability.fulfillment_channel_code == "DEFAULT" else {
                    issue("SANDBOX_INVALID_CHANNEL", "fulfillment_channel_code must be DEFAULT (merchant fulfilled) in the sandbox.",
                          attribute: "fulfillment_availability", category: "INVALID_ATTRIBUTE")
                    continue
                }
                guard let value = availability.quantity, value >= 0 else {
                    issue("SANDBOX_INVALID_QUANTITY", "quantity must be a whole number of 0 or more.",
                          attribute: "fulfillment_availability", category: "INVALID_ATTRIBUTE")
                    continue
                }
                quantity = value
            default:
                return Self.invalidInput("The sandbox patches /attributes/purchasable_offer and /attributes/fulfillment_availability only.",
                                         rate: rate)
            }
        }
        let accepted = issues.isEmpty
        if accepted { state.applyChannel(.amazon, sku: sku, priceMicros: priceMicros, quantity: quantity) }
        return Self.answer(["sku": sku, "status": accepted ? "ACCEPTED" : "INVALID",
                            "submissionId": Self.submissionID(sku: sku, sequence: state.updates.count), "issues": issues],
                           rate: rate)
    }

    /// A UUID-shaped submission id, stable for a SKU and the update log's length.
    static func submissionID(sku: String, sequence: Int) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in sku.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var rng = SeededGenerator(seed: hash ^ UInt64(sequence))
        let hex = String(rng.next(), radix: 16).leftPadded(16) + String(rng.next(), radix: 16).leftPadded(16)
        let c = Array(hex)
        return [String(c[0..<8]), String(c[8..<12]), String(c[12..<16]), String(c[16..<20]), String(c[20..<32])].joined(separator: "-")
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// One `PatchOperation` of `patchListingsItem` and of a `JSON_LISTINGS_FEED` message, with both
/// supported attributes' keys in one value shape.
struct SandboxAmazonPatch: Decodable {
    struct Value: Decodable {
        struct OurPrice: Decodable {
            struct Schedule: Decodable { var value_with_tax: Decimal? }
            var schedule: [Schedule]?
        }
        var marketplace_id: String?
        var currency: String?
        var our_price: [OurPrice]?
        var fulfillment_channel_code: String?
        var quantity: Int?
    }
    var op: String?
    var path: String?
    var value: [Value]?
}
