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
/// it throttles nothing and 429s come from faults. Faults (`SandboxFaultMiddleware`): 429
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

    // MARK: Auth, errors

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

    // MARK: Login with Amazon

    func token(_ request: Request) async throws -> Response {
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
        return JSON.response(["access_token": state.issueToken(kind: .amazon), "refresh_token": expected.refreshToken,
                              "token_type": "bearer", "expires_in": Int(state.tokenLifetime.seconds)])
    }
}
