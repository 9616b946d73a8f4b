import FlipSyncCore
import Foundation
import Hummingbird

/// Amazon's routes (fault injection names).
extension SandboxRoute {
    public static let amazonToken = SandboxRoute("amazon.token")
    public static let amazonOffers = SandboxRoute("amazon.offers")
    public static let amazonListingOffersBatch = SandboxRoute("amazon.listing_offers_batch")
    public static let amazonListings = SandboxRoute("amazon.listings")
    public static let amazonPatch = SandboxRoute("amazon.patch")
    public static let amazonOrders = SandboxRoute("amazon.orders")
    public static let amazonOrderItems = SandboxRoute("amazon.order_items")
}

extension SandboxState {
    /// The selling partner id the sandbox's Amazon listings belong to (the `{sellerId}` of the
    /// Listings Items paths, and `SellerId` of our offers).
    public static let amazonSellerID = "A1SANDBOXSELLER"
    /// The one marketplace the sandbox serves: amazon.com.
    public static let amazonMarketplaceID = "ATVPDKIKX0DER"
}

/// The Selling Partner API under `/amazon`, with Amazon's paths, JSON shapes and error bodies,
/// over `SandboxState`:
///
/// - `POST /amazon/auth/o2/token`: Login with Amazon, refresh-token grant (form body), against
///   `state.amazonCredentials`; errors `{"error","error_description"}`.
/// - `GET /amazon/products/pricing/v0/items/{Asin}/offers`: Product Pricing v0 `getItemOffers`.
///   Offers are derived from the eBay-style competitor offers with our product's GTIN (seller
///   ids hashed from their user names; eBay's "used" is Amazon's "very good"; for-parts offers
///   are not sellable on Amazon and left out), plus our own offer (`MyOffer`) when it is in
///   stock. The Buy Box goes to the lowest landed price among sellers with at least 95%
///   positive feedback (ties: the lower seller id); nobody wins when no seller qualifies.
/// - `POST /amazon/batches/products/pricing/v0/listingOffers`: `getListingOffersBatch`, 1…20
///   requests of `uri` `/products/pricing/v0/listings/{SellerSKU}/offers`, `method` `GET`,
///   `MarketplaceId`, `ItemCondition`: each entry's `body.payload` is what `getItemOffers`
///   gives for that SKU's ASIN (with `SKU` and `Identifier.SellerSKU`), our offer `MyOffer`
///   with its shipping; a SKU that is not ours is a 404 `NotFound` inside its entry, a
///   malformed entry a 400 `InvalidInput` inside its entry; a body that is not such a list is
///   a 400 for the whole request. Route name `amazon.listing_offers_batch`.
/// - `GET /amazon/listings/2021-08-01/items/{sellerId}`: `searchListingsItems`, SKU order,
///   `pageSize` 1…20, opaque `pageToken`s.
/// - `PATCH /amazon/listings/2021-08-01/items/{sellerId}/{sku}`: `patchListingsItem` for
///   `/attributes/purchasable_offer` (`our_price`) and `/attributes/fulfillment_availability`
///   (channel `DEFAULT`); a bad value answers `INVALID` with issues (codes are the sandbox's
///   own) and changes nothing; `ACCEPTED` is applied at once (Amazon applies it within minutes).
/// - Feeds API 2021-06-30 under `/amazon/feeds/2021-06-30` and its document store: see
///   `AmazonFeedRoutes.swift` (processing: `SandboxAmazonFeeds`).
/// - `GET /amazon/orders/v0/orders` (`CreatedAfter` or `LastUpdatedAfter`, `MaxResultsPerPage`
///   1…100, `NextToken`) and `GET /amazon/orders/v0/orders/{orderId}/orderItems`: Orders v0.
///
/// Requests carry the LWA token in `x-amz-access-token`; a missing, unknown or expired one is
/// refused with 403 and `{"errors":[{"code":"Unauthorized","message":"Access to requested
/// resource is denied.","details":"The access token you provided has expired."}]}` (details
/// vary as Amazon's do). Answers from the handlers carry `x-amzn-RateLimit-Limit`: Amazon's
/// default rate for the operation times 100, so clients that honour the header
/// slow down in Amazon's proportions without making tests and demos wait minutes (getOrders'
/// 0.0167/s would be one call a minute). Under `--limits production` the header is Amazon's own
/// rate and the sandbox throttles each operation to it (`SandboxLimits.production`); otherwise
/// it throttles nothing and 429s come from faults. Faults apply like eBay's (`EbayRoutes`): 429
/// answers `QuotaExceeded`, other statuses `InternalFailure` (5xx) or `InvalidInput` (4xx), with
/// the fault's `message`; `errorId` is eBay's and ignored here.
struct AmazonRoutes: Sendable {
    let state: SandboxState

    /// Our own seller feedback, as `getItemOffers` shows it.
    static let ourFeedbackTenths = 980
    static let ourFeedbackCount = 1_250
    /// The least positive feedback (in tenths of a percent) that competes for the Buy Box.
    static let buyBoxFeedbackTenths = 950

    /// `x-amzn-RateLimit-Limit` values: Amazon's documented defaults (getItemOffers 0.5,
    /// searchListingsItems 5, patchListingsItem 5, getOrders 0.0167, getOrderItems 0.5) × 100.
    enum AdvertisedRate {
        static let itemOffers = "50"
        static let listingOffersBatch = "50"
        static let searchListings = "500"
        static let patchListing = "500"
        static let orders = "1.67"
        static let orderItems = "50"
    }

    func register(on router: Router<BasicRequestContext>) {
        let amazon = router.group("amazon")
        amazon.post("auth/o2/token") { request, _ in try await self.token(request) }
        amazon.get("products/pricing/v0/items/:asin/offers") { request, context in
            await self.itemOffers(request, asin: context.parameters.get("asin") ?? "")
        }
        amazon.post("batches/products/pricing/v0/listingOffers") { request, _ in
            try await self.listingOffersBatch(request)
        }
        amazon.get("listings/2021-08-01/items/:sellerId") { request, context in
            await self.searchListings(request, sellerID: context.parameters.get("sellerId") ?? "")
        }
        amazon.patch("listings/2021-08-01/items/:sellerId/:sku") { request, context in
            try await self.patchListing(request, sellerID: context.parameters.get("sellerId") ?? "",
                                        sku: context.parameters.get("sku") ?? "")
        }
        amazon.get("orders/v0/orders") { request, _ in await self.orders(request) }
        registerFeeds(on: router)
        amazon.get("orders/v0/orders/:orderId/orderItems") { request, context in
            await self.orderItems(request, orderID: context.parameters.get("orderId") ?? "")
        }
    }

    // MARK: Faults, auth, errors

    /// Applies the route's fault, if any: the response to send instead, or nil to go on.
    /// `malformed` is returned separately because it replaces only a successful body.
    func fault(_ route: SandboxRoute) async -> (response: Response?, malformed: Bool) {
        // Feeds are processed on the sandbox's clock, whoever calls next (as Amazon processes
        // them whether or not anyone polls).
        state.processDueAmazonFeeds()
        guard let fault = state.begin(route) else { return (nil, false) }
        if let latency = fault.latencyMilliseconds, latency > 0 { await state.hold(route, milliseconds: latency) }
        if fault.expireTokens == true { state.expireAllTokens() }
        if let status = fault.status {
            if status == 429 {
                var headers: HTTPFields = [:]
                if let seconds = fault.retryAfterSeconds { headers[.retryAfter] = String(seconds) }
                if let limit = fault.rateLimitLimit { headers[.init("x-amzn-RateLimit-Limit")!] = limit }
                return (Self.error(status: 429, code: "QuotaExceeded",
                                   message: fault.message ?? "You exceeded your quota for the requested resource.",
                                   headers: headers), false)
            }
            return (Self.error(status: status, code: status >= 500 ? "InternalFailure" : "InvalidInput",
                               message: fault.message ?? (status >= 500 ? "We encountered an internal error. Please try again."
                                                                         : "The request has errors.")), false)
        }
        if let location = fault.redirectTo {
            return (Response(status: .found, headers: [.location: location]), false)
        }
        return (nil, fault.malformed == true)
    }

    /// Checks `x-amz-access-token` against the LWA tokens issued.
    func authorize(_ request: Request) -> Response? {
        func denied(_ details: String) -> Response {
            Self.error(status: 403, code: "Unauthorized", message: "Access to requested resource is denied.", details: details)
        }
        guard let token = request.headers[.init("x-amz-access-token")!], !token.isEmpty else {
            return denied("Access token is missing in the request header.")
        }
        switch state.check(bearer: "Bearer " + token) {
        case .valid(.amazon): return nil
        case .expired: return denied("The access token you provided has expired.")
        case .valid, .missing, .invalid: return denied("The access token you provided is revoked, malformed or invalid.")
        }
    }

    /// Amazon's `ErrorList`: `{"errors":[{"code","message","details"}]}`.
    static func error(status: Int, code: String, message: String, details: String = "", headers: HTTPFields = [:]) -> Response {
        JSON.response(["errors": [["code": code, "message": message, "details": details]]],
                      status: HTTPResponse.Status(code: status), headers: headers)
    }

    /// `x-amzn-RateLimit-Limit: rate`.
    static func rateHeaders(_ rate: String) -> HTTPFields {
        var headers: HTTPFields = [:]
        headers[.init("x-amzn-RateLimit-Limit")!] = rate
        return headers
    }

    /// A handler's answer, with the operation's rate in `x-amzn-RateLimit-Limit`.
    static func answer(_ object: Any, rate: String, status: HTTPResponse.Status = .ok) -> Response {
        JSON.response(object, status: status, headers: rateHeaders(rate))
    }

    static func invalidInput(_ message: String, rate: String) -> Response {
        error(status: 400, code: "InvalidInput", message: message, headers: rateHeaders(rate))
    }

    static func notFound(_ message: String, rate: String) -> Response {
        error(status: 404, code: "NotFound", message: message, headers: rateHeaders(rate))
    }

    static func malformed(_ prefix: String) -> Response { JSON.raw(Array(prefix.utf8)) }

    // MARK: Login with Amazon

    func token(_ request: Request) async throws -> Response {
        let (faulted, malformed) = await fault(.amazonToken)
        if let faulted { return faulted }
        func oauthError(_ status: HTTPResponse.Status, _ error: String, _ description: String) -> Response {
            JSON.response(["error": error, "error_description": description], status: status)
        }
        let form = EbayRoutes.parseForm(String(decoding: try await JSON.body(request), as: UTF8.self))
        let expected = state.amazonCredentials
        guard form["client_id"] == expected.clientID, form["client_secret"] == expected.clientSecret else {
            return oauthError(.unauthorized, "invalid_client", "Client authentication failed")
        }
        guard form["grant_type"] == "refresh_token" else {
            return oauthError(.badRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server")
        }
        guard form["refresh_token"] == expected.refreshToken else {
            return oauthError(.badRequest, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
        }
        if malformed { return Self.malformed(#"{"access_token":"#) }
        return JSON.response(["access_token": state.issueToken(kind: .amazon), "refresh_token": expected.refreshToken,
                              "token_type": "bearer", "expires_in": Int(state.tokenLifetime.seconds)])
    }

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
        let (faulted, malformed) = await fault(.amazonOffers)
        if let faulted { return faulted }
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
        if malformed { return Self.malformed(#"{"payload":{"ASIN":"#) }
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
        let (faulted, malformed) = await fault(.amazonListingOffersBatch)
        if let faulted { return faulted }
        if let denied = authorize(request) { return denied }
        let bytes = try await JSON.body(request)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let requests = object["requests"] as? [[String: Any]] else {
            return Self.invalidInput("The body must be a GetListingOffersBatchRequest: {\"requests\":[…]}.", rate: rate)
        }
        guard (1...20).contains(requests.count) else {
            return Self.invalidInput("requests must have 1…20 items, not \(requests.count).", rate: rate)
        }
        if malformed { return Self.malformed(#"{"responses":[{"status":"#) }
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

    // MARK: Listings Items 2021-08-01

    static let includedDataSets: Set<String> = ["summaries", "attributes", "issues", "offers", "fulfillmentAvailability",
                                                "procurement", "relationships", "productTypes"]
    /// Every sandbox listing was created on this day.
    static let listingCreated: Int64 = 1_704_067_200_000  // 2024-01-01T00:00:00Z

    func searchListings(_ request: Request, sellerID: String) async -> Response {
        let rate = state.limiter.rateHeader(.amazonListings) ?? AdvertisedRate.searchListings
        let (faulted, malformed) = await fault(.amazonListings)
        if let faulted { return faulted }
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
        if malformed { return Self.malformed(#"{"numberOfResults":3,"items":[{"sku":"#) }
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
        let (faulted, malformed) = await fault(.amazonPatch)
        if let faulted { return faulted }
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
        if malformed { return Self.malformed(#"{"sku":"#) }
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

    // MARK: Orders v0

    func orders(_ request: Request) async -> Response {
        let rate = state.limiter.rateHeader(.amazonOrders) ?? AdvertisedRate.orders
        let (faulted, malformed) = await fault(.amazonOrders)
        if let faulted { return faulted }
        if let denied = authorize(request) { return denied }
        let query = request.uri.queryParameters
        let marketplaces = (query["MarketplaceIds"].map(String.init) ?? "").split(separator: ",").map(String.init)
        guard marketplaces.contains(SandboxState.amazonMarketplaceID) else {
            return Self.invalidInput("MarketplaceIds must include \(SandboxState.amazonMarketplaceID).", rate: rate)
        }
        var createdAfter: Int64
        var offset = 0
        var pageSize: Int
        if let token = query["NextToken"].map(String.init) {
            // A NextToken carries the original criteria; the others are ignored, as Amazon does.
            guard let decoded = Self.untoken(token, kind: "o"), decoded.count == 3 else {
                return Self.invalidInput("Invalid NextToken.", rate: rate)
            }
            (createdAfter, offset, pageSize) = (decoded[0], Int(decoded[1]), Int(decoded[2]))
        } else {
            guard let text = (query["CreatedAfter"] ?? query["LastUpdatedAfter"]).map(String.init) else {
                return Self.invalidInput("Either CreatedAfter or LastUpdatedAfter must be specified.", rate: rate)
            }
            guard let after = Self.milliseconds(text) else {
                return Self.invalidInput("\(text) is not a valid ISO 8601 date-time.", rate: rate)
            }
            guard let size = query["MaxResultsPerPage"].map({ Int(String($0)) }) ?? 100, (1...100).contains(size) else {
                return Self.invalidInput("MaxResultsPerPage must be between 1 and 100.", rate: rate)
            }
            (createdAfter, pageSize) = (after, size)
        }
        state.arriveDueOrders()
        let matching = state.orders.filter { $0.marketplace == .amazon && $0.placedAtMilliseconds >= createdAfter }
            .sorted { ($0.placedAtMilliseconds, $0.orderID) < ($1.placedAtMilliseconds, $1.orderID) }
        if malformed { return Self.malformed(#"{"payload":{"Orders":[{"AmazonOrderId":"#) }
        let page = matching.dropFirst(offset).prefix(pageSize)
        var payload: [String: Any] = [
            "Orders": page.map(orderJSON),
            "CreatedBefore": Self.iso8601(state.clock.wallMilliseconds() - 120_000),
        ]
        if offset + pageSize < matching.count {
            payload["NextToken"] = Self.token(kind: "o", [createdAfter, Int64(offset + pageSize), Int64(pageSize)])
        }
        return Self.answer(["payload": payload], rate: rate)
    }

    private func orderJSON(_ order: SandboxOrder) -> [String: Any] {
        [
            "AmazonOrderId": order.orderID, "PurchaseDate": Self.iso8601(order.placedAtMilliseconds),
            "LastUpdateDate": Self.iso8601(order.placedAtMilliseconds), "OrderStatus": "Unshipped",
            "FulfillmentChannel": "MFN", "SalesChannel": "Amazon.com", "ShipServiceLevel": "Std US D2D Dom",
            "OrderTotal": Self.orderMoney(order.itemTotalMicros + order.shippingPaidMicros),
            "NumberOfItemsShipped": 0, "NumberOfItemsUnshipped": order.quantity, "PaymentMethod": "Other",
            "MarketplaceId": SandboxState.amazonMarketplaceID, "ShipmentServiceLevelCategory": "Standard",
            "OrderType": "StandardOrder", "EarliestShipDate": Self.iso8601(order.placedAtMilliseconds),
            "LatestShipDate": Self.iso8601(order.placedAtMilliseconds + 86_400_000),
            "EarliestDeliveryDate": Self.iso8601(order.placedAtMilliseconds + 2 * 86_400_000),
            "LatestDeliveryDate": Self.iso8601(order.deliverByMilliseconds),
            "IsBusinessOrder": false, "IsPrime": false, "IsPremiumOrder": false, "IsGlobalExpressEnabled": false,
            "IsReplacementOrder": false, "IsSoldByAB": false, "IsISPU": false, "IsAccessPointOrder": false,
            "ShippingAddress": ["City": order.shipTo.city, "StateOrRegion": order.shipTo.region,
                                "PostalCode": order.shipTo.postalCode, "CountryCode": order.shipTo.country],
        ]
    }

    func orderItems(_ request: Request, orderID rawOrderID: String) async -> Response {
        let rate = state.limiter.rateHeader(.amazonOrderItems) ?? AdvertisedRate.orderItems
        let (faulted, malformed) = await fault(.amazonOrderItems)
        if let faulted { return faulted }
        if let denied = authorize(request) { return denied }
        let orderID = rawOrderID.removingPercentEncoding ?? rawOrderID
        guard let order = state.orders.first(where: { $0.marketplace == .amazon && $0.orderID == orderID }) else {
            return Self.notFound("Order \(orderID) was not found.", rate: rate)
        }
        if malformed { return Self.malformed(#"{"payload":{"OrderItems":[{"ASIN":"#) }
        let item: [String: Any] = [
            "ASIN": state.channelListing(.amazon, sku: order.sku)?.listingID ?? "", "SellerSKU": order.sku,
            "OrderItemId": order.lineID, "Title": state.product(sku: order.sku)?.title ?? order.sku,
            "QuantityOrdered": order.quantity, "QuantityShipped": 0, "ProductInfo": ["NumberOfItems": "1"],
            "ItemPrice": Self.orderMoney(order.itemTotalMicros), "ShippingPrice": Self.orderMoney(order.shippingPaidMicros),
            "IsGift": "false", "ConditionId": "New", "ConditionSubtypeId": "New", "IsTransparency": false,
        ]
        return Self.answer(["payload": ["AmazonOrderId": order.orderID, "OrderItems": [item]]], rate: rate)
    }

    // MARK: Values

    /// Whole cents as a decimal string: `12.99` (`Money.fixedDecimalString`).
    static func decimalText(_ micros: Int64) -> String {
        Money(micros: micros, currency: .usd).fixedDecimalString
    }

    /// The same amount as an exact JSON number.
    static func decimal(_ micros: Int64) -> Decimal { Decimal(string: decimalText(micros))! }

    /// Product Pricing's `MoneyType`: `{"CurrencyCode":"USD","Amount":12.99}` (a number).
    static func numberMoney(_ micros: Int64) -> [String: Any] { ["CurrencyCode": "USD", "Amount": decimal(micros)] }

    /// Orders' `Money`: `{"CurrencyCode":"USD","Amount":"12.99"}` (a string).
    static func orderMoney(_ micros: Int64) -> [String: Any] { ["CurrencyCode": "USD", "Amount": decimalText(micros)] }

    static func iso8601(_ milliseconds: Int64) -> String {
        Timestamp(secondsSinceEpoch: milliseconds / 1000).iso8601UTC
    }

    static func milliseconds(_ text: String) -> Int64? {
        ISO8601.milliseconds(text)
    }

    /// An opaque paging token: the kind and numbers, base64url.
    static func token(kind: String, _ numbers: [Int64]) -> String {
        Data(([kind] + numbers.map(String.init)).joined(separator: ":").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func untoken(_ token: String, kind: String) -> [Int64]? {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else { return nil }
        let parts = String(decoding: data, as: UTF8.self).split(separator: ":").map(String.init)
        guard parts.first == kind else { return nil }
        let numbers = parts.dropFirst().map { Int64($0) }
        guard numbers.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        return numbers.compactMap { $0 }
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
