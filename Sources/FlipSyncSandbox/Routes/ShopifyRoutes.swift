import FlipSyncCore
import Foundation
import Hummingbird
import Synchronization

/// Shopify's routes, for faults and request counts. GraphQL requests count under the route of
/// their (first) root field, `shopify.<rootField>`; a body that is not a GraphQL request under
/// `shopify.graphql`.
extension SandboxRoute {
    public static let shopifyGraphQL = SandboxRoute("shopify.graphql")
    public static let shopifyProductVariants = SandboxRoute("shopify.productVariants")
    public static let shopifyProductVariant = SandboxRoute("shopify.productVariant")
    public static let shopifyInventoryItem = SandboxRoute("shopify.inventoryItem")
    public static let shopifyLocations = SandboxRoute("shopify.locations")
    public static let shopifyOrders = SandboxRoute("shopify.orders")
    public static let shopifyOrder = SandboxRoute("shopify.order")
    public static let shopifyProductVariantsBulkUpdate = SandboxRoute("shopify.productVariantsBulkUpdate")
    public static let shopifyInventorySetQuantities = SandboxRoute("shopify.inventorySetQuantities")
    public static let shopifyProductVariantsCount = SandboxRoute("shopify.productVariantsCount")
    public static let shopifyBulkOperationRunQuery = SandboxRoute("shopify.bulkOperationRunQuery")
    public static let shopifyCurrentBulkOperation = SandboxRoute("shopify.currentBulkOperation")
    /// `GET /shopify/bulk/{id}.jsonl`: a bulk operation's result file (no token, like Shopify's signed URLs).
    public static let shopifyBulkFile = SandboxRoute("shopify.bulk_file")
    /// `deliveryProfiles`: the shop's delivery profiles and their location groups.
    public static let shopifyDeliveryProfiles = SandboxRoute("shopify.deliveryProfiles")
    /// `deliveryProfile(id:)`: one profile, its location groups' zones and their rates.
    public static let shopifyDeliveryProfile = SandboxRoute("shopify.deliveryProfile")
}

/// The sandbox shop's fixed facts.
public enum SandboxShopify {
    /// The one API version served: `/shopify/admin/api/2025-01/graphql.json`.
    public static let apiVersion = "2025-01"
    /// The shop's only location (the warehouse every channel ships from).
    public static let locationID: Int64 = 68_000_000_001
    public static var locationGID: String { "gid://shopify/Location/\(locationID)" }
    /// The GraphQL cost bucket: 2,000 points, 100 restored a second; one query may request at most 1,000.
    public static let maximumAvailable: Double = 2000
    public static let restoreRate: Double = 100
    public static let maxQueryCost = 1000
    /// The shop's UTC offset in REST times, fixed.
    public static let utcOffsetSeconds = -4 * 3600
}

/// Shopify's GraphQL Admin API (version 2025-01) at `POST /shopify/admin/api/2025-01/graphql.json`,
/// over `SandboxState`'s Shopify listings, products, costs and orders, and the shop's delivery
/// profiles (`SandboxShippingPolicies.shopifyDeliveryProfiles`). No REST resource is served.
///
/// - A hand-rolled engine (`ShopifyGraphQL.swift`) parses the document, validates it against
///   a schema of exactly the fields served (an unknown field or argument is answered HTTP 200
///   with `{"errors":[{"message":"Field 'x' doesn't exist on type 'Y'","extensions":{"code":"undefinedField",…}}]}`,
///   before anything runs), computes the requested cost, and projects the resolved values.
/// - Root fields: `productVariants` (`first` ≤ 250, `after`, `query`: `product_status:active`
///   or `product_id:N`), `productVariant(id:)`, `inventoryItem(id:)`, `locations`, `orders`
///   (`query: "updated_at:>='ISO 8601'"`, `sortKey: UPDATED_AT|ID`), `order(id:)`; mutations
///   `productVariantsBulkUpdate` (per-variant `userErrors`, applied only when all are valid
///   unless `allowPartialUpdates`) and `inventorySetQuantities` (`name: "available"`; a
///   `compareQuantity` that is not the quantity now answers `userErrors` code
///   `COMPARE_QUANTITY_STALE` and changes nothing); `deliveryProfiles` (`first`, `after`) and
///   `deliveryProfile(id:)`, whose `profileLocationGroups(locationGroupId:)`,
///   `locationGroupZones(first:after:)` and `methodDefinitions(first:after:)` page like the
///   rest; the unions `DeliveryRateProvider` and `DeliveryConditionCriteria` are answered through
///   inline fragments (a field selected on the union itself is `undefinedField`).
/// - Cost: every answer carries `extensions.cost` (`requestedQueryCost`, `actualQueryCost`,
///   `throttleStatus`); a query over 1,000 points is `MAX_COST_EXCEEDED`; one that does not fit
///   the bucket is answered HTTP 200 with `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}]}`
///   and the cost, as Shopify does. The sandbox charges the requested cost (no refund).
/// - Auth: `X-Shopify-Access-Token` must equal `state.shopifyAccessToken`, else 401 with
///   Shopify's `{"errors":"[API] Invalid API key or access token …"}`.
/// - Faults, by route `shopify.<rootField>`: `SandboxFaultMiddleware` (`expireTokens` is a 401;
///   `status` `{"errors": message}`, 429 with `Retry-After: N.0`; `malformed` cuts a successful body in half).
struct ShopifyRoutes: Sendable {
    let state: SandboxState

    init(state: SandboxState) {
        self.state = state
    }

    static let accessTokenHeader = "X-Shopify-Access-Token"
    static let callLimitHeader = "X-Shopify-Shop-Api-Call-Limit"
    static let basePath = "/shopify/admin/api/\(SandboxShopify.apiVersion)"

    func register(on router: Router<BasicRequestContext>) {
        let api = router.group(RouterPath(String(Self.basePath.dropFirst())))
        api.post("graphql.json") { request, _ in try await self.graphQL(request) }
        router.get("shopify/bulk/{file}") { request, context in
            guard let name = context.parameters.get("file"), name.hasSuffix(".jsonl"), let id = Int(name.dropLast(6)),
                  let bytes = self.state.shopifyBulk.file(id: id) else {
                return JSON.response(["errors": "Not Found"], status: .notFound)
            }
            return Response(status: .ok, headers: [.contentType: "application/jsonl"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// What a handler answers; serialised with sorted keys.
    struct Reply {
        var status: HTTPResponse.Status = .ok
        var body: Any
        var headers: HTTPFields = [:]
    }

    // MARK: Faults and auth

    static func serialise(_ reply: Reply) -> Response {
        let bytes = Array((try? JSONSerialization.data(withJSONObject: reply.body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8))
        return JSON.raw(bytes, status: reply.status, headers: reply.headers)
    }

    static let throttledMessage = "Exceeded 2 calls per second for api client. "
        + "Reduce request rates to resume uninterrupted service."

    static var unauthorized: Response {
        JSON.response(["errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"], status: .unauthorized)
    }

    static func faultResponse(status: Int, fault: SandboxFault) -> Response {
        if status == 429 {
            var headers: HTTPFields = [:]
            if let seconds = fault.retryAfterSeconds { headers[.retryAfter] = "\(seconds).0" }
            return JSON.response(["errors": fault.message ?? throttledMessage], status: .tooManyRequests, headers: headers)
        }
        let fallback = status >= 500 ? "Internal Server Error" : status == 404 ? "Not Found" : "Bad Request"
        return JSON.response(["errors": fault.message ?? fallback], status: HTTPResponse.Status(code: status))
    }
}

extension HTTPFields {
    /// A header by name, for the ones `HTTPField.Name` has no constant for.
    subscript(named name: String) -> String? {
        get { self[.init(name)!] }
        set { self[.init(name)!] = newValue }
    }
}
