import FlipSyncCore
import Foundation
import Hummingbird

/// Product Pricing v0 (`getItemOffers`, `getListingOffersBatch`): see `AmazonRoutes`.
extension AmazonRoutes {
    // MARK: Product Pricing v0

    /// One offer on an ASIN, as the sandbox derives it.
    struct Offer {
        var sellerID: String
        var subCondition: String
        var priceMicros: Int64
        var shippingMicros: Int64
        var feedbackTenths: Int
        var feedbackCount: Int
        var fulfilledByAmazon: Bool
        var mine: Bool
        var landedMicros: Int64 { priceMicros + shippingMicros }
    }

    /// An eBay condition as Amazon's pricing condition and sub-condition; nil where Amazon has
    /// no such condition (for parts).
    static func pricingCondition(_ condition: ListingCondition) -> (condition: String, subCondition: String)? {
        switch condition.id {
        case ListingCondition.new.id: return ("New", "new")
        case ListingCondition.newOther.id: return ("New", "open box")
        case ListingCondition.usedExcellent.id: return ("Used", "very good")
        default: return nil
        }
    }

    /// Our own offer's pricing condition and sub-condition: the same as our listing's
    /// `conditionType` says (`used_acceptable` for anything Amazon has no condition for), so
    /// every listing Amazon sells shows our offer (`MyOffer`) in its condition.
    static func ownPricingCondition(_ condition: ListingCondition) -> (condition: String, subCondition: String) {
        pricingCondition(condition) ?? ("Used", "acceptable")
    }

    /// The Listings Items `conditionType` of one of our listings.
    static func conditionType(_ condition: ListingCondition) -> String {
        switch condition.id {
        case ListingCondition.new.id: return "new_new"
        case ListingCondition.newOther.id: return "new_open_box"
        case ListingCondition.usedExcellent.id: return "used_very_good"
        default: return "used_acceptable"
        }
    }

    /// A stable Amazon-style seller id (`A` and 13 upper-case letters and digits) for a user name.
    static func sellerID(for username: String) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in username.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var id = "A"
        for _ in 0..<13 {
            id.append(alphabet[Int(hash % 36)])
            hash /= 36
            if hash == 0 { hash = 0x9E37_79B9_7F4A_7C15 }
        }
        return id
    }

    /// Amazon's offers on `asin` in `condition`, cheapest landed first, and the Buy Box winner's index.
    func offers(asin: String, condition: String) -> (offers: [Offer], winner: Int?)? {
        guard let ours = state.channelListings(.amazon).first(where: { $0.listingID == asin }),
              let product = state.product(sku: ours.sku) else { return nil }
        var offers: [Offer] = state.competitors(gtin: product.gtin).compactMap { competitor in
            guard competitor.gtin == product.gtin, let mapped = Self.pricingCondition(competitor.condition),
                  mapped.condition == condition else { return nil }
            let tenths = Int(competitor.feedbackPercentage.replacingOccurrences(of: ".", with: "")) ?? 0
            let seller = Self.sellerID(for: competitor.sellerUsername)
            return Offer(sellerID: seller, subCondition: mapped.subCondition, priceMicros: competitor.priceMicros,
                         shippingMicros: competitor.shippingMicros, feedbackTenths: tenths, feedbackCount: competitor.feedbackScore,
                         fulfilledByAmazon: seller.utf8.last.map { $0 % 3 == 0 } ?? false, mine: false)
        }
        if ours.quantity > 0, let listing = state.listing(sku: ours.sku), case let mapped = Self.ownPricingCondition(listing.condition),
           mapped.condition == condition {
            offers.append(Offer(sellerID: SandboxState.amazonSellerID, subCondition: mapped.subCondition,
                                priceMicros: ours.priceMicros, shippingMicros: product.shippingChargedMicros,
                                feedbackTenths: Self.ourFeedbackTenths, feedbackCount: Self.ourFeedbackCount,
                                fulfilledByAmazon: false, mine: true))
        }
        offers.sort { ($0.landedMicros, $0.sellerID) < ($1.landedMicros, $1.sellerID) }
        // Amazon returns at most the 20 lowest offers.
        offers = Array(offers.prefix(20))
        let winner = offers.indices.first { offers[$0].feedbackTenths >= Self.buyBoxFeedbackTenths }
        return (offers, winner)
    }

    func itemOffers(_ request: Request, asin: String) async -> Response {
        let rate = state.limiter.rateHeader(.amazonOffers) ?? AdvertisedRate.itemOffers
        if let denied = authorize(request) { return denied }
        let query = request.uri.queryParameters
        guard query["MarketplaceId"].map(String.init) == SandboxState.amazonMarketplaceID else {
            return Self.invalidInput("Invalid MarketplaceId: the sandbox serves \(SandboxState.amazonMarketplaceID) only.", rate: rate)
        }
        let conditions = ["New", "Used", "Collectible", "Refurbished", "Club"]
        guard let condition = query["ItemCondition"].map(String.init), conditions.contains(condition) else {
            return Self.invalidInput("ItemCondition is required: one of \(conditions.joined(separator: ", ")).", rate: rate)
        }
        guard let found = self.offers(asin: asin, condition: condition) else {
            return Self.notFound("ASIN \(asin) is not in the sandbox's catalog.", rate: rate)
        }
        return Self.answer(["payload": payload(found, asin: asin, sku: nil, condition: condition)], rate: rate)
    }

    /// A `GetOffersResult`: the offers on `asin` in `condition`, identified by ASIN
    /// (`getItemOffers`) or also by our SKU (`getListingOffers`, in a batch).
    func payload(_ found: (offers: [Offer], winner: Int?), asin: String, sku: String?, condition: String) -> [String: Any] {
        let (offers, winner) = found
        let lower = condition.lowercased()
        func price(_ offer: Offer) -> [String: Any] {
            ["LandedPrice": Self.numberMoney(offer.landedMicros), "ListingPrice": Self.numberMoney(offer.priceMicros),
             "Shipping": Self.numberMoney(offer.shippingMicros)]
        }
        var counts: [String: Int] = [:]
        var lowest: [String: Offer] = [:]
        for offer in offers {
            let channel = offer.fulfilledByAmazon ? "Amazon" : "Merchant"
            counts[channel, default: 0] += 1
            if lowest[channel] == nil { lowest[channel] = offer }
        }
        var summary: [String: Any] = [
            "TotalOfferCount": offers.count,
            "NumberOfOffers": counts.keys.sorted().map { ["condition": lower, "fulfillmentChannel": $0, "OfferCount": counts[$0]!] },
            "LowestPrices": lowest.keys.sorted().map { channel in
                price(lowest[channel]!).merging(["condition": lower, "fulfillmentChannel": channel]) { a, _ in a }
            },
            "BuyBoxEligibleOffers": [["condition": lower, "fulfillmentChannel": "Merchant",
                                      "OfferCount": offers.filter { $0.feedbackTenths >= Self.buyBoxFeedbackTenths }.count]],
        ]
        if let winner { summary["BuyBoxPrices"] = [price(offers[winner]).merging(["condition": lower]) { a, _ in a }] }
        var identifier: [String: Any] = ["MarketplaceId": SandboxState.amazonMarketplaceID, "ASIN": asin, "ItemCondition": condition]
        var payload: [String: Any] = [
            "ASIN": asin, "status": "Success", "ItemCondition": condition, "MarketplaceID": SandboxState.amazonMarketplaceID,
            "Summary": summary,
            "Offers": offers.enumerated().map { index, offer -> [String: Any] in
                var item: [String: Any] = [
                    "SellerId": offer.sellerID, "SubCondition": offer.subCondition,
                    "SellerFeedbackRating": ["SellerPositiveFeedbackRating": Decimal(offer.feedbackTenths) / 10,
                                             "FeedbackCount": offer.feedbackCount],
                    "ShippingTime": ["minimumHours": 24, "maximumHours": 48, "availabilityType": "NOW"],
                    "ListingPrice": Self.numberMoney(offer.priceMicros), "Shipping": Self.numberMoney(offer.shippingMicros),
                    "IsFulfilledByAmazon": offer.fulfilledByAmazon, "IsBuyBoxWinner": index == winner,
                    "IsFeaturedMerchant": offer.feedbackTenths >= Self.buyBoxFeedbackTenths, "MyOffer": offer.mine,
                ]
                if !offer.fulfilledByAmazon { item["ShipsFrom"] = ["State": "NY", "Country": "US"] }
                return item
            },
        ]
        if let sku {
            payload["SKU"] = sku
            payload["marketplaceId"] = SandboxState.amazonMarketplaceID
            identifier["SellerSKU"] = sku
        }
        payload["Identifier"] = identifier
        return payload
    }

    /// `getListingOffersBatch`: each request answered in its own entry, as Amazon does.
    func listingOffersBatch(_ request: Request) async throws -> Response {
        let rate = state.limiter.rateHeader(.amazonListingOffersBatch) ?? AdvertisedRate.listingOffersBatch
        if let denied = authorize(request) { return denied }
        let bytes = try await JSON.body(request)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let requests = object["requests"] as? [[String: Any]] else {
            return Self.invalidInput("The body must be a GetListingOffersBatchRequest: {\"requests\":[…]}.", rate: rate)
        }
        guard (1...20).contains(requests.count) else {
            return Self.invalidInput("requests must have 1…20 items, not \(requests.count).", rate: rate)
        }
        let conditions = ["New", "Used", "Collectible", "Refurbished", "Club"]
        let prefix = "/products/pricing/v0/listings/", suffix = "/offers"
        var responses: [[String: Any]] = []
        for entry in requests {
            let uri = entry["uri"] as? String ?? ""
            let escaped = uri.hasPrefix(prefix) && uri.hasSuffix(suffix) && uri.count > prefix.count + suffix.count
                ? String(uri.dropFirst(prefix.count).dropLast(suffix.count)) : nil
            let sku = escaped.flatMap { $0.removingPercentEncoding }
            let condition = entry["ItemCondition"] as? String ?? ""
            var echoed: [String: Any] = ["MarketplaceId": entry["MarketplaceId"] as? String ?? "", "ItemCondition": condition,
                                         "CustomerType": entry["CustomerType"] as? String ?? "Consumer"]
            if let sku { echoed["SellerSKU"] = sku }
            func failed(_ status: Int, _ phrase: String, _ code: String, _ message: String) {
                responses.append(["status": ["statusCode": status, "reasonPhrase": phrase],
                                  "headers": ["x-amzn-RequestId": "sandbox-\(responses.count)"],
                                  "body": ["errors": [["code": code, "message": message, "details": ""]]], "request": echoed])
            }
            guard let sku, !sku.isEmpty, entry["method"] as? String == "GET" else {
                failed(400, "Bad Request", "InvalidInput", "uri must be \(prefix){SellerSKU}\(suffix) and method GET."); continue
            }
            guard entry["MarketplaceId"] as? String == SandboxState.amazonMarketplaceID else {
                failed(400, "Bad Request", "InvalidInput", "Invalid MarketplaceId: the sandbox serves \(SandboxState.amazonMarketplaceID) only.")
                continue
            }
            guard conditions.contains(condition) else {
                failed(400, "Bad Request", "InvalidInput", "ItemCondition is required: one of \(conditions.joined(separator: ", ")).")
                continue
            }
            guard let ours = state.channelListings(.amazon).first(where: { $0.sku == sku }),
                  let found = offers(asin: ours.listingID, condition: condition) else {
                failed(404, "Not Found", "NotFound", "SKU \(sku) is not one of seller \(SandboxState.amazonSellerID)'s listings.")
                continue
            }
            responses.append(["status": ["statusCode": 200, "reasonPhrase": "OK"],
                              "headers": ["x-amzn-RequestId": "sandbox-\(responses.count)"],
                              "body": ["payload": payload(found, asin: ours.listingID, sku: sku, condition: condition)],
                              "request": echoed])
        }
        return Self.answer(["responses": responses], rate: rate)
    }
}
