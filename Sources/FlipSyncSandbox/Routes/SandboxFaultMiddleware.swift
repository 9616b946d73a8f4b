import FlipSyncCore
import Foundation
import Hummingbird
import NIOCore

/// Every injected fault (`/_admin/faults`, `SandboxState.inject`) and every production-limit
/// refusal is applied here, the one place, before the route's handler runs; handlers contain no
/// fault code. The middleware knows each endpoint's `SandboxRoute` from `endpoints` (by method
/// and the router's endpoint path) and answers in that provider's own error shape.
///
/// For a request to a known endpoint: `SandboxState.begin` counts it and applies the limits,
/// then the first applying fault; with one, in this order:
/// 1. `latencyMilliseconds`: the request is held (`SandboxState.hold`), counted as in flight.
/// 2. `expireTokens`: eBay and Amazon expire every issued token and go on (the handler then
///    refuses the token); Shopify answers its 401; the other providers ignore it.
/// 3. `status`: the provider's error (`Provider.error`), 429 with `Retry-After`.
/// 4. `redirectTo`: a 302 to that URL (not the Amazon document store).
/// 5. `malformed`: the handler runs, and a 2xx answer's body is replaced by cut-off JSON (the
///    endpoint's own prefix, status 200), or for Shopify cut in half (status and headers kept).
///    Not the Amazon document store.
struct SandboxFaultMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let state: SandboxState

    /// Whose error shape a fault answers in.
    enum Provider: Sendable {
        /// eBay's REST APIs: `{"errors":[{"errorId","domain","category","message"}]}`.
        case ebay
        /// eBay's Account API: eBay's body with errorId 2003/2004 always, and no `expireTokens`.
        case ebayAccount
        /// The SP-API: `{"errors":[{"code","message","details"}]}`, `x-amzn-RateLimit-Limit` on a 429.
        /// Due feeds are processed first (as Amazon processes them whether or not anyone polls).
        case amazon
        /// The presigned document URLs: S3's XML error; latency and status only.
        case amazonDocumentStore
        /// `{"errors": message}`; 429 with `Retry-After: N.0`; `expireTokens` is a 401.
        case shopify
        /// EasyPost's `{"error":{"code","message","errors"}}`.
        case carrier
        case ollama
        case openAI
    }

    /// How a `malformed` fault spoils a 2xx answer.
    enum Malformed: Sendable {
        /// Replaced by these bytes, status 200, `Content-Type: application/json` only.
        case prefix(String)
        /// The body cut in half, status and headers kept.
        case half
        /// Not applied.
        case none
    }

    struct Endpoint: Sendable {
        var provider: Provider
        var route: SandboxRoute
        var malformed: Malformed
        /// Routes decided by the request's body (eBay's token grant, Shopify's root field).
        var resolve: (@Sendable (_ body: [UInt8], _ state: SandboxState) -> Resolved)? = nil
    }

    /// A route decided by the request's body.
    struct Resolved: Sendable {
        var route: SandboxRoute
        var limitAs: SandboxRoute? = nil
        /// A Shopify GraphQL body as parsed for its route, handed on to the handler
        /// (`ShopifyGraphQLRequest.current`) so it is parsed once.
        var graphQL: ShopifyGraphQLRequest? = nil
    }

    func handle(_ input: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let path = context.endpointPath, let endpoint = Self.endpoints[Self.key(input.method, path)] else {
            return try await next(input, context)
        }
        var request = input
        var resolved = Resolved(route: endpoint.route)
        if let resolve = endpoint.resolve {
            // Collected into the request, so the handler reads the same body again.
            let buffer = try await request.collectBody(upTo: 1 << 20)
            resolved = resolve(Array(buffer.readableBytesView), state)
        }
        return try await ShopifyGraphQLRequest.$current.withValue(resolved.graphQL) {
            try await apply(endpoint, route: resolved.route, limitAs: resolved.limitAs, request, context: context, next: next)
        }
    }

    /// The endpoint's limits and first applying fault (see the type's comment), then `next`.
    private func apply(_ endpoint: Endpoint, route: SandboxRoute, limitAs: SandboxRoute?, _ request: Request, context: Context,
                       next: (Request, Context) async throws -> Response) async throws -> Response {
        if case .amazon = endpoint.provider { state.processDueAmazonFeeds() }
        guard let fault = state.begin(route, limitAs: limitAs) else { return try await next(request, context) }
        if let latency = fault.latencyMilliseconds, latency > 0 { await state.hold(route, milliseconds: latency) }
        if case .amazonDocumentStore = endpoint.provider {
            guard let status = fault.status else { return try await next(request, context) }
            return Self.error(.amazonDocumentStore, status: status, fault: fault)
        }
        if fault.expireTokens == true {
            switch endpoint.provider {
            case .ebay, .amazon: state.expireAllTokens()
            case .shopify: return ShopifyRoutes.unauthorized
            default: break
            }
        }
        if let status = fault.status { return Self.error(endpoint.provider, status: status, fault: fault) }
        if let location = fault.redirectTo { return Response(status: .found, headers: [.location: location]) }
        guard fault.malformed == true else { return try await next(request, context) }
        guard case .prefix(let prefix) = endpoint.malformed else {
            let response = try await next(request, context)
            guard case .half = endpoint.malformed, (200..<300).contains(response.status.code) else { return response }
            let bytes = try await Self.collect(response.body)
            var cut = response
            cut.body = ResponseBody(byteBuffer: ByteBuffer(bytes: bytes.prefix(bytes.count / 2)))
            return cut
        }
        // The answer is replaced, so what only the answer would hand out (a token, a feed
        // document, a feed) is not created: `answerDiscarded` tells the state.
        let response = try await Self.$answerDiscarded.withValue(true) { try await next(request, context) }
        return (200..<300).contains(response.status.code) ? JSON.raw(Array(prefix.utf8)) : response
    }

    /// True while a handler runs whose 2xx answer a `malformed` fault replaces with cut-off JSON:
    /// `SandboxState.issueToken` and the feed store's `createDocument`/`createFeed` then record
    /// nothing, as the client never learns what they made.
    @TaskLocal static var answerDiscarded = false

    /// The provider's answer to an injected (or limit's) `status`.
    static func error(_ provider: Provider, status: Int, fault: SandboxFault) -> Response {
        func withRetryAfter(_ response: Response) -> Response {
            var response = response
            if status == 429, let seconds = fault.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
            return response
        }
        switch provider {
        case .ebay:
            if status == 429 {
                var headers: HTTPFields = [:]
                if let seconds = fault.retryAfterSeconds { headers[.retryAfter] = String(seconds) }
                return JSON.ebayError(status: 429, errorId: fault.errorId ?? 2001, domain: "ACCESS", category: "REQUEST",
                                      message: fault.message ?? "Too many requests. The request limit has been reached for the resource.",
                                      headers: headers)
            }
            return JSON.ebayError(status: status, errorId: fault.errorId ?? (status >= 500 ? 2003 : 2004),
                                  category: status >= 500 ? "APPLICATION" : "REQUEST",
                                  message: fault.message ?? (status >= 500 ? "There was a problem with an eBay internal system or process."
                                                                            : "The request has errors."))
        case .ebayAccount:
            return withRetryAfter(JSON.ebayError(status: status, errorId: status >= 500 ? 2003 : 2004,
                                                 category: status >= 500 ? "APPLICATION" : "REQUEST",
                                                 message: fault.message ?? "The sandbox was asked to fail this request."))
        case .amazon:
            if status == 429 {
                var headers: HTTPFields = [:]
                if let seconds = fault.retryAfterSeconds { headers[.retryAfter] = String(seconds) }
                if let limit = fault.rateLimitLimit { headers[.init("x-amzn-RateLimit-Limit")!] = limit }
                return AmazonRoutes.error(status: 429, code: "QuotaExceeded",
                                          message: fault.message ?? "You exceeded your quota for the requested resource.",
                                          headers: headers)
            }
            return AmazonRoutes.error(status: status, code: status >= 500 ? "InternalFailure" : "InvalidInput",
                                      message: fault.message ?? (status >= 500 ? "We encountered an internal error. Please try again."
                                                                                : "The request has errors."))
        case .amazonDocumentStore:
            return AmazonRoutes.storeError(HTTPResponse.Status(code: status),
                                           status == 503 ? "SlowDown" : (status >= 500 ? "InternalError" : "AccessDenied"),
                                           fault.message ?? "The document store refused the request.")
        case .shopify:
            return ShopifyRoutes.faultResponse(status: status, fault: fault)
        case .carrier:
            return withRetryAfter(CarrierRoutes.error(
                status: status, code: status == 429 ? "RATE_LIMITED" : status >= 500 ? "INTERNAL_SERVER_ERROR" : "BAD_REQUEST",
                message: fault.message ?? (status == 429 ? "Too many requests." : "The sandbox was asked to fail this request.")))
        case .ollama:
            return withRetryAfter(JSON.response(["error": fault.message ?? "the sandbox was asked to fail this request"],
                                                status: HTTPResponse.Status(code: status)))
        case .openAI:
            return withRetryAfter(LLMRoutes.openAIError(
                status: status, type: status == 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error",
                code: status == 429 ? "rate_limit_exceeded" : nil, message: fault.message ?? "The sandbox was asked to fail this request."))
        }
    }

    private final class Collected: @unchecked Sendable {
        var bytes: [UInt8] = []
    }

    private struct CollectingWriter: ResponseBodyWriter {
        let into: Collected
        mutating func write(_ buffer: ByteBuffer) async throws { into.bytes += buffer.readableBytesView }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    private static func collect(_ body: ResponseBody) async throws -> [UInt8] {
        let collected = Collected()
        try await body.write(CollectingWriter(into: collected))
        return collected.bytes
    }

    static func key(_ method: HTTPRequest.Method, _ path: String) -> String { "\(method.rawValue) \(path)" }

    // MARK: Endpoints

    /// Every faultable endpoint, by `key(method, endpoint path)`; paths as registered.
    static let endpoints: [String: Endpoint] = {
        var table: [String: Endpoint] = [:]
        func add(_ method: HTTPRequest.Method, _ path: String, _ provider: Provider, _ route: SandboxRoute,
                 _ malformed: Malformed, resolve: (@Sendable ([UInt8], SandboxState) -> Resolved)? = nil) {
            table[key(method, RouterPath(path).description)] = Endpoint(provider: provider, route: route, malformed: malformed, resolve: resolve)
        }
        // eBay. The token endpoint's quotas are per grant type, so its body names the limit row.
        add(.post, "ebay/identity/v1/oauth2/token", .ebay, .token, .prefix(#"{"access_token":"#)) { body, _ in
            Resolved(route: .token,
                     limitAs: EbayRoutes.parseForm(String(decoding: body, as: UTF8.self))["grant_type"].map { SandboxRoute("token.\($0)") })
        }
        add(.get, "ebay/buy/browse/v1/item_summary/search", .ebay, .search,
            .prefix(#"{"itemSummaries":[{"itemId":"v1|1|0","price":{"value":"#))
        add(.get, "ebay/buy/browse/v1/item", .ebay, .getItems, .prefix(#"{"items":[{"itemId":"v1|1|0","price":{"value":"#))
        add(.get, "ebay/sell/inventory/v1/offer", .ebay, .offers, .prefix(#"{"offers":[{"offerId":5"#))
        add(.get, "ebay/sell/inventory/v1/inventory_item", .ebay, .inventoryItems, .prefix(#"{"inventoryItems":[{"sku":"#))
        add(.post, "ebay/sell/inventory/v1/bulk_update_price_quantity", .ebay, .bulkUpdate, .prefix(#"{"responses":[{"statusCode":"#))
        add(.get, "ebay/sell/fulfillment/v1/order", .ebay, .orders, .prefix(#"{"orders":[{"orderId":"#))
        add(.get, "ebay/sell/account/v1/fulfillment_policy", .ebayAccount, .ebayFulfillmentPolicy,
            .prefix(#"{"fulfillmentPolicies":[{"fulfillmentPolicyId":"#))
        add(.get, "ebay/sell/account/v1/fulfillment_policy/{id}", .ebayAccount, .ebayFulfillmentPolicy,
            .prefix(#"{"fulfillmentPolicies":[{"fulfillmentPolicyId":"#))
        // Amazon.
        add(.post, "amazon/auth/o2/token", .amazon, .amazonToken, .prefix(#"{"access_token":"#))
        add(.get, "amazon/products/pricing/v0/items/:asin/offers", .amazon, .amazonOffers, .prefix(#"{"payload":{"ASIN":"#))
        add(.post, "amazon/batches/products/pricing/v0/listingOffers", .amazon, .amazonListingOffersBatch,
            .prefix(#"{"responses":[{"status":"#))
        add(.get, "amazon/listings/2021-08-01/items/:sellerId", .amazon, .amazonListings,
            .prefix(#"{"numberOfResults":3,"items":[{"sku":"#))
        add(.patch, "amazon/listings/2021-08-01/items/:sellerId/:sku", .amazon, .amazonPatch, .prefix(#"{"sku":"#))
        add(.get, "amazon/orders/v0/orders", .amazon, .amazonOrders, .prefix(#"{"payload":{"Orders":[{"AmazonOrderId":"#))
        add(.get, "amazon/orders/v0/orders/:orderId/orderItems", .amazon, .amazonOrderItems,
            .prefix(#"{"payload":{"OrderItems":[{"ASIN":"#))
        let feeds = AmazonRoutes.feedsPath
        add(.post, feeds + "/documents", .amazon, .amazonCreateFeedDocument, .prefix(#"{"feedDocumentId":"#))
        add(.get, feeds + "/documents/:documentId", .amazon, .amazonGetFeedDocument, .prefix(#"{"feedDocumentId":"#))
        add(.post, feeds + "/feeds", .amazon, .amazonCreateFeed, .prefix(#"{"feedId":"#))
        add(.get, feeds + "/feeds", .amazon, .amazonGetFeeds, .prefix(#"{"feeds":[{"feedId":"#))
        add(.get, feeds + "/feeds/:feedId", .amazon, .amazonGetFeed, .prefix(#"{"feedId":"#))
        add(.put, "amazon-documents/:documentId", .amazonDocumentStore, .amazonFeedDocumentStore, .none)
        add(.get, "amazon-documents/:documentId", .amazonDocumentStore, .amazonFeedDocumentStore, .none)
        // Shopify: a GraphQL request's route is its first root field's, `shopify.<rootField>`.
        add(.post, String(ShopifyRoutes.basePath.dropFirst()) + "/graphql.json", .shopify, .shopifyGraphQL, .half) { body, state in
            let parsed = ShopifyGraphQLRequest(body: body, state: state)
            return Resolved(route: parsed.route, graphQL: parsed)
        }
        add(.get, "shopify/bulk/{file}", .shopify, .shopifyBulkFile, .half)
        // The carrier and the LLMs.
        add(.post, "easypost/v2/shipments", .carrier, .carrierRates, .prefix(#"{"id":"shp_1","rates":[{"carrier":"USPS","rate":"#))
        add(.post, "ollama/api/chat", .ollama, .ollamaChat, .prefix(#"{"model":"x","message":{"role":"assistant","content":"#))
        add(.post, "openai/v1/chat/completions", .openAI, .openAIChat, .prefix(#"{"id":"chatcmpl-1","choices":[{"message":{"content":"#))
        return table
    }()
}
