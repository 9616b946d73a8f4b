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

    private static func serialise(_ reply: Reply) -> Response {
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

    // MARK: GraphQL

    /// The request's document as `SandboxFaultMiddleware` parsed it (`ShopifyGraphQLRequest.current`),
    /// parsed here only when no middleware did.
    func graphQL(_ request: Request) async throws -> Response {
        let body = try await JSON.body(request)
        let parsed = ShopifyGraphQLRequest.current ?? ShopifyGraphQLRequest(body: body, state: state)
        let variables = ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any])?["variables"] as? [String: Any] ?? [:]
        var document: GQLDocument?
        var syntaxError: GQLSyntaxError?
        switch parsed.document {
        case .success(let parsed)?: document = parsed
        case .failure(let error as GQLSyntaxError)?: syntaxError = error
        case .failure(let error)?: throw error
        case nil: break
        }
        guard request.headers[named: Self.accessTokenHeader] == state.shopifyAccessToken else { return Self.unauthorized }
        guard parsed.document != nil else {
            return Self.serialise(Reply(status: .badRequest, body: ["errors": ["query": "Required parameter missing or invalid"]]))
        }
        guard let document else {
            let error = syntaxError ?? GQLSyntaxError(message: "Parse error", line: 1, column: 1)
            return Self.serialise(Reply(body: ["errors": [GQLError(message: error.message, code: "syntaxError", line: error.line,
                                                                   column: error.column).json]]))
        }
        var merged = variables
        for (name, value) in document.variableDefaults where merged[name] == nil { merged[name] = value.resolved([:]) }
        let invalid = Self.schema.validate(document)
        if !invalid.isEmpty {
            let errors = invalid
            return Self.serialise(Reply(body: ["errors": errors.map(\.json)]))
        }
        let cost = Self.schema.cost(document, variables: merged)
        if cost > SandboxShopify.maxQueryCost {
            let status = state.shopifyCost.status
            return Self.serialise(Reply(body: [
                "errors": [GQLError(message: "Query cost is \(cost), which exceeds the single query max cost limit (\(SandboxShopify.maxQueryCost)).",
                                    code: "MAX_COST_EXCEEDED", extra: ["cost": cost, "maxCost": SandboxShopify.maxQueryCost]).json],
                "extensions": Self.costJSON(requested: cost, actual: nil, status),
            ]))
        }
        let (admitted, status) = state.shopifyCost.take(cost)
        guard admitted else {
            state.countShopifyThrottled()
            return Self.serialise(Reply(body: [
                "errors": [GQLError(message: "Throttled", code: "THROTTLED",
                                    extra: ["documentation": "https://shopify.dev/api/usage/rate-limits"]).json],
                "extensions": Self.costJSON(requested: cost, actual: nil, status),
            ]))
        }
        var data: [String: Any] = [:]
        var errors: [GQLError] = []
        for field in document.rootFields {
            do {
                let (value, typeName) = try resolveRoot(field, mutation: document.kind == "mutation", variables: merged, request: request)
                data[field.key] = try Self.schema.project(field.selections, value, typeName: typeName, variables: merged)
            } catch let error as GQLError {
                var located = error
                located.line = field.line
                located.column = field.column
                located.path = [field.key]
                errors.append(located)
                data[field.key] = NSNull()
            }
        }
        var reply: [String: Any] = ["data": data, "extensions": Self.costJSON(requested: cost, actual: cost, status)]
        if !errors.isEmpty { reply["errors"] = errors.map(\.json) }
        return Self.serialise(Reply(body: reply))
    }

    static func costJSON(requested: Int, actual: Int?, _ status: ShopifyCostBucket.Status) -> [String: Any] {
        ["cost": ["requestedQueryCost": requested, "actualQueryCost": actual.map { $0 as Any } ?? NSNull(),
                  "throttleStatus": ["maximumAvailable": status.maximumAvailable, "currentlyAvailable": status.currentlyAvailable,
                                     "restoreRate": status.restoreRate]] as [String: Any]]
    }

    private func resolveRoot(_ field: GQLField, mutation: Bool, variables: [String: Any], request: Request) throws -> (Any, String) {
        func argument(_ name: String) -> Any? { field.argument(name, variables) }
        switch (mutation, field.name) {
        case (false, "productVariants"): return (try productVariants(first: argument("first"), after: argument("after"), query: argument("query")),
                                                 "ProductVariantConnection")
        case (false, "productVariant"):
            return (Self.gidNumber(argument("id"), "ProductVariant").flatMap(shopifyListing(variantID:)).map(variantNode) ?? NSNull(), "ProductVariant")
        case (false, "inventoryItem"):
            let id = Self.gidNumber(argument("id"), "InventoryItem").map(String.init)
            let listing = id.flatMap(state.shopifyListing(inventoryItemID:))
            return (listing.map(itemNode) ?? NSNull(), "InventoryItem")
        case (false, "locations"):
            let first = try Self.pageSize(argument("first"))
            _ = first
            return (GQLSchema.connection(argument("after") == nil ? [(Self.cursor("l", [SandboxShopify.locationID]), Self.locationNode)] : [],
                                         hasNextPage: false), "LocationConnection")
        case (false, "orders"): return (try orders(first: argument("first"), after: argument("after"), query: argument("query"),
                                                   sortKey: argument("sortKey")), "OrderConnection")
        case (false, "order"):
            let id = Self.gidNumber(argument("id"), "Order")
            return (allOrders().first { $0.id == id }.map { orderNode($0.id, $0.number, $0.order) } ?? NSNull(), "Order")
        case (true, "productVariantsBulkUpdate"):
            return (try bulkUpdate(productID: argument("productId"), variants: argument("variants"),
                                   partial: argument("allowPartialUpdates") as? Bool ?? false), "ProductVariantsBulkUpdatePayload")
        case (true, "inventorySetQuantities"): return (try setQuantities(argument("input")), "InventorySetQuantitiesPayload")
        case (false, "deliveryProfiles"):
            let profiles = state.shopifyDelivery.profiles.map(Self.deliveryProfileNode)
            return (try Self.page(profiles, kind: "dp", first: argument("first"), after: argument("after")), "DeliveryProfileConnection")
        case (false, "deliveryProfile"):
            let id = argument("id") as? String
            let profile = state.shopifyDelivery.profiles.first { $0["id"] as? String == id }
            return (profile.map(Self.deliveryProfileNode) ?? NSNull(), "DeliveryProfile")
        case (false, "productVariantsCount"):
            return (["count": state.shopifyVariantCount, "precision": "EXACT"] as [String: Any], "Count")
        case (true, "bulkOperationRunQuery"): return (runBulk(argument("query") as? String ?? ""), "BulkOperationRunQueryPayload")
        case (false, "currentBulkOperation"):
            guard let (operation, done) = state.shopifyBulk.poll() else { return (NSNull(), "BulkOperation") }
            var authority = request.head.authority ?? "127.0.0.1"
            if let host = state.shopifyBulk.fileHost { authority = host + (authority.split(separator: ":").last.map { ":\($0)" } ?? "") }
            return ([
                "id": "gid://shopify/BulkOperation/\(operation.id)", "status": done ? "COMPLETED" : "RUNNING", "errorCode": NSNull(),
                "objectCount": String(done ? operation.lines.count : 0), "rootObjectCount": String(done ? operation.lines.count : 0),
                "url": done && !operation.lines.isEmpty ? "http://\(authority)/shopify/bulk/\(operation.id).jsonl" as Any : NSNull(),
                "partialDataUrl": NSNull(), "query": operation.query, "type": "QUERY",
                "createdAt": Timestamp(milliseconds: operation.createdAt).iso8601UTC,
                "completedAt": done ? Timestamp(milliseconds: state.clock.wallMilliseconds()).iso8601UTC as Any : NSNull(),
            ] as [String: Any], "BulkOperation")
        default:
            throw GQLError(message: "Field '\(field.name)' doesn't exist on type '\(mutation ? "Mutation" : "QueryRoot")'", code: "undefinedField")
        }
    }

    // MARK: Delivery profiles

    /// A profile of `state.shopifyDelivery.profiles` with its nested lists as
    /// GraphQL fields: `profileLocationGroups(locationGroupId:)` filters, `locationGroupZones`
    /// and `methodDefinitions` are connections paged by `first`/`after` (a bad cursor or page
    /// size is the root field's GraphQL error, not a null connection).
    static func deliveryProfileNode(_ profile: [String: Any]) -> [String: Any] {
        var node = profile
        let groups = (profile["profileLocationGroups"] as? [[String: Any]] ?? []).map { group -> [String: Any] in
            var group = group
            let zones = (group["locationGroupZones"] as? [[String: Any]] ?? []).map { zone -> [String: Any] in
                var zone = zone
                let methods = zone["methodDefinitions"] as? [[String: Any]] ?? []
                zone["methodDefinitions"] = GQLResolver { arguments in
                    try page(methods, kind: "md", first: arguments["first"], after: arguments["after"])
                }
                return zone
            }
            group["locationGroupZones"] = GQLResolver { arguments in
                try page(zones, kind: "lgz", first: arguments["first"], after: arguments["after"])
            }
            return group
        }
        node["profileLocationGroups"] = GQLResolver { arguments in
            guard let wanted = arguments["locationGroupId"], !(wanted is NSNull) else { return groups }
            return groups.filter { (($0["locationGroup"] as? [String: Any])?["id"] as? String) == wanted as? String }
        }
        return node
    }

    /// One page of `items` in their order: cursors are `kind` and the index.
    static func page(_ items: [[String: Any]], kind: String, first: Any?, after: Any?) throws -> [String: Any] {
        let limit = try pageSize(first)
        var start = 0
        if let after, !(after is NSNull) {
            guard let token = after as? String, let last = decodeCursor(token, kind).first else {
                throw GQLError(message: "Invalid cursor for current pagination sort.", code: "BAD_REQUEST")
            }
            start = Int(last) + 1
        }
        let slice = items.indices.dropFirst(start).prefix(limit)
        return GQLSchema.connection(slice.map { (cursor(kind, [Int64($0)]), items[$0]) }, hasNextPage: slice.last.map { $0 < items.count - 1 } ?? false,
                                    hasPreviousPage: start > 0)
    }

    // MARK: Bulk operations

    /// `bulkOperationRunQuery`: the query's one root connection (`productVariants` only), every
    /// node, one JSON object a line (nested objects inline, as Shopify writes them when the
    /// query has no nested connection).
    private func runBulk(_ query: String) -> [String: Any] {
        func refused(_ message: String, _ code: String) -> [String: Any] {
            ["bulkOperation": NSNull(), "userErrors": [Self.userError(["query"], message, code)]]
        }
        guard !state.shopifyBulk.running else {
            return refused("A bulk query operation for this app and shop is already in progress.", "OPERATION_IN_PROGRESS")
        }
        guard let document = try? GQLParser.parse(query), document.kind == "query" else { return refused("Invalid bulk query: it does not parse", "INVALID") }
        let invalid = Self.schema.validate(document, bulk: true)
        if let first = invalid.first { return refused("Invalid bulk query: \(first.message)", "INVALID") }
        guard document.rootFields.count == 1, let root = document.rootFields.first, root.name == "productVariants",
              let all = try? productVariants(first: Int.max, after: nil, query: root.argument("query", [:])) else {
            return refused("The sandbox runs bulk queries over one productVariants connection only", "INVALID")
        }
        let projected = (try? Self.schema.project(root.selections, all, typeName: "ProductVariantConnection", variables: [:])) as? [String: Any] ?? [:]
        var nodes = projected["nodes"] as? [Any] ?? []
        if nodes.isEmpty, let edges = projected["edges"] as? [[String: Any]] { nodes = edges.compactMap { $0["node"] } }
        let lines = nodes.map { Array((try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)) }
        let id = state.shopifyBulk.add(query: query, lines: lines, at: state.clock.wallMilliseconds())
        return ["bulkOperation": ["id": "gid://shopify/BulkOperation/\(id)", "status": "CREATED"] as [String: Any], "userErrors": [] as [Any]]
    }

    // MARK: Products, variants and inventory

    private func productVariants(first: Any?, after: Any?, query: Any?) throws -> [String: Any] {
        let limit = first as? Int == Int.max ? Int.max : try Self.pageSize(first)
        var listings = state.channelListings(.shopify).compactMap { listing in Int64(listing.listingID).map { ($0, listing) } }
        if let query = query as? String, !query.isEmpty {
            let filter = query.trimmingCharacters(in: .whitespaces)
            if filter == "product_status:active" || filter == "status:active" {
                // Every sandbox product is active.
            } else if filter.hasPrefix("product_id:"), let product = Int64(filter.dropFirst("product_id:".count)) {
                listings = listings.filter { $0.1.productID == String(product) }
            } else {
                throw GQLError(message: "The sandbox supports query: \"product_status:active\" or \"product_id:N\", not \"\(filter)\"",
                               code: "BAD_REQUEST")
            }
        }
        listings.sort { $0.0 < $1.0 }
        if let after {
            guard let token = after as? String, let last = Self.decodeCursor(token, "v").first else {
                throw GQLError(message: "Invalid cursor for current pagination sort.", code: "BAD_REQUEST")
            }
            listings = listings.filter { $0.0 > last }
        }
        let page = listings.prefix(limit)
        return GQLSchema.connection(page.map { (Self.cursor("v", [$0.0]), variantNode($0.1)) }, hasNextPage: listings.count > page.count,
                                    hasPreviousPage: after != nil)
    }

    private func shopifyListing(variantID: Int64) -> SandboxChannelListing? {
        state.shopifyListing(variantID: String(variantID))
    }

    private func productNode(_ listing: SandboxChannelListing) -> [String: Any] {
        let id = listing.productID ?? "0"
        let title = state.product(sku: listing.sku)?.title ?? listing.sku
        let big = listing.productID == "7900000000"
        return ["id": "gid://shopify/Product/\(id)", "legacyResourceId": id, "title": big ? "Sandbox Big Product" : title,
                "status": "ACTIVE", "handle": "product-\(id)"]
    }

    private func variantNode(_ listing: SandboxChannelListing) -> [String: Any] {
        let product = state.product(sku: listing.sku)
        let big = listing.productID == "7900000000"
        return [
            "id": "gid://shopify/ProductVariant/\(listing.listingID)", "legacyResourceId": listing.listingID, "sku": listing.sku,
            "title": big ? (product?.title.components(separatedBy: " - ").last ?? listing.sku) : "Default Title",
            "price": Self.decimal(listing.priceMicros), "compareAtPrice": NSNull(),
            "barcode": product.map { $0.gtin.isEmpty ? NSNull() : $0.gtin as Any } ?? NSNull(), "inventoryQuantity": listing.quantity,
            "product": productNode(listing), "inventoryItem": itemNode(listing),
        ]
    }

    private func itemNode(_ listing: SandboxChannelListing) -> [String: Any] {
        let item = listing.inventoryItemID ?? "0"
        let ounces = state.product(sku: listing.sku)?.weightOunces ?? 0
        let cost: Any = state.listing(sku: listing.sku).map { ["amount": Self.decimal($0.costMicros), "currencyCode": "USD"] as [String: Any] }
            ?? NSNull()
        let sku = listing.sku
        let state = state
        return [
            "id": "gid://shopify/InventoryItem/\(item)", "legacyResourceId": item, "sku": sku, "tracked": true, "unitCost": cost,
            "measurement": ["weight": ["unit": "OUNCES", "value": Double(ounces)] as [String: Any]],
            "inventoryLevel": GQLResolver { arguments in
                guard Self.gidNumber(arguments["locationId"], "Location") == SandboxShopify.locationID else { return nil }
                let quantity = state.channelListing(.shopify, sku: sku)?.quantity ?? 0
                return [
                    "id": "gid://shopify/InventoryLevel/\(item)?inventory_item_id=\(item)", "location": Self.locationNode,
                    "quantities": GQLResolver { arguments in
                        let names = arguments["names"] as? [Any] ?? []
                        return names.compactMap { $0 as? String }.map { name -> [String: Any] in
                            let value = ["available": quantity, "on_hand": quantity][name] ?? 0
                            return ["name": name, "quantity": value]
                        }
                    },
                ] as [String: Any]
            },
        ]
    }

    static var locationNode: [String: Any] {
        ["id": SandboxShopify.locationGID, "legacyResourceId": String(SandboxShopify.locationID), "name": "Sandbox Warehouse",
         "isActive": true, "fulfillsOnlineOrders": true]
    }

    private func bulkUpdate(productID: Any?, variants: Any?, partial: Bool) throws -> [String: Any] {
        guard let product = Self.gidNumber(productID, "Product"),
              let listings = Optional(state.shopifyListings(productID: String(product))), !listings.isEmpty else {
            return ["product": NSNull(), "productVariants": NSNull(),
                    "userErrors": [Self.userError(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")]]
        }
        guard let inputs = variants as? [Any] else { throw GQLError(message: "Variable $variants of type [ProductVariantsBulkInput!]! was provided invalid value", code: "INVALID_VARIABLE") }
        var errors: [[String: Any]] = []
        var valid: [(SandboxChannelListing, Int64?)] = []
        for (index, raw) in inputs.enumerated() {
            guard let input = raw as? [String: Any] else { continue }
            for key in input.keys where !["id", "price", "compareAtPrice", "barcode"].contains(key) {
                throw GQLError(message: "Variable $variants of type [ProductVariantsBulkInput!]! was provided invalid value for \(index).\(key) (Field is not defined on ProductVariantsBulkInput)",
                               code: "INVALID_VARIABLE")
            }
            guard let id = Self.gidNumber(input["id"], "ProductVariant"), let listing = listings.first(where: { $0.listingID == String(id) }) else {
                errors.append(Self.userError(["variants", String(index), "id"], "Product variant does not exist", "PRODUCT_VARIANT_DOES_NOT_EXIST"))
                continue
            }
            var price: Int64?
            if let text = input["price"] as? String {
                guard let money = try? Money(parsing: "\(text) USD", allowNegative: true) else {
                    errors.append(Self.userError(["variants", String(index), "price"], "Price is not a number", "INVALID_INPUT"))
                    continue
                }
                guard money.micros >= 0 else {
                    errors.append(Self.userError(["variants", String(index), "price"], "Price must be greater than or equal to 0",
                                                 "GREATER_THAN_OR_EQUAL_TO"))
                    continue
                }
                guard money.micros % 10_000 == 0 else {
                    errors.append(Self.userError(["variants", String(index), "price"], "Price must have at most two decimal places", "INVALID_INPUT"))
                    continue
                }
                price = money.micros
            }
            valid.append((listing, price))
        }
        if errors.isEmpty || partial {
            for (listing, price) in valid where price != nil {
                state.applyChannel(.shopify, sku: listing.sku, priceMicros: price, quantity: nil)
            }
        }
        let applied = errors.isEmpty || partial
        let updated = applied ? valid.compactMap { state.channelListing(.shopify, sku: $0.0.sku) }.map(variantNode) : []
        return ["product": productNode(listings[0]), "productVariants": updated, "userErrors": errors]
    }

    private func setQuantities(_ input: Any?) throws -> [String: Any] {
        guard let input = input as? [String: Any], let name = input["name"] as? String, let reason = input["reason"] as? String,
              let quantities = input["quantities"] as? [Any] else {
            throw GQLError(message: "Variable $input of type InventorySetQuantitiesInput! was provided invalid value", code: "INVALID_VARIABLE")
        }
        // shopify.dev/docs/api/usage/limits: "Input arguments that accept an array have a maximum size of 250".
        guard quantities.count <= 250 else {
            throw GQLError(message: "The input array size of \(quantities.count) is greater than the maximum allowed of 250.",
                           code: "MAX_INPUT_SIZE_EXCEEDED")
        }
        var errors: [[String: Any]] = []
        if name != "available" {
            errors.append(Self.userError(["input", "name"], "The quantity name must be available in the sandbox", "INVALID_NAME"))
        }
        let reasons: Set<String> = ["correction", "cycle_count_available", "damaged", "movement_created", "movement_updated", "movement_received",
                                    "movement_canceled", "other", "promotion", "quality_control", "received", "reservation_created",
                                    "reservation_deleted", "reservation_updated", "restock", "safety_stock", "shrinkage"]
        if !reasons.contains(reason) { errors.append(Self.userError(["input", "reason"], "The reason is invalid", "INVALID_REASON")) }
        let ignoreCompare = input["ignoreCompareQuantity"] as? Bool ?? false
        var items: [(sku: String, compare: Int?, quantity: Int)] = []
        for (index, raw) in quantities.enumerated() {
            let path = ["input", "quantities", String(index)]
            guard let entry = raw as? [String: Any], let quantity = Self.int(entry["quantity"]) else {
                errors.append(Self.userError(path + ["quantity"], "The quantity is invalid", "INVALID_QUANTITY_TOO_LOW"))
                continue
            }
            let item = Self.gidNumber(entry["inventoryItemId"], "InventoryItem").map(String.init)
            guard let listing = item.flatMap(state.shopifyListing(inventoryItemID:)) else {
                errors.append(Self.userError(path + ["inventoryItemId"], "The specified inventory item could not be found.", "INVALID_INVENTORY_ITEM"))
                continue
            }
            guard Self.gidNumber(entry["locationId"], "Location") == SandboxShopify.locationID else {
                errors.append(Self.userError(path + ["locationId"], "The specified location could not be found.", "INVALID_LOCATION"))
                continue
            }
            // The sandbox's listings never hold a negative quantity.
            guard quantity >= 0 else {
                errors.append(Self.userError(path + ["quantity"], "The quantity can't be lower than 0.", "INVALID_QUANTITY_TOO_LOW"))
                continue
            }
            let compare = Self.int(entry["compareQuantity"])
            if compare == nil && !ignoreCompare {
                errors.append(Self.userError(path + ["compareQuantity"], "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.",
                                             "COMPARE_QUANTITY_REQUIRED"))
                continue
            }
            items.append((listing.sku, ignoreCompare ? nil : compare, quantity))
        }
        guard errors.isEmpty else { return ["inventoryAdjustmentGroup": NSNull(), "userErrors": errors] }
        let before = items.map { state.channelListing(.shopify, sku: $0.sku)?.quantity ?? 0 }
        if let stale = state.setShopifyQuantities(items) {
            return ["inventoryAdjustmentGroup": NSNull(), "userErrors": stale.map { entry in
                Self.userError(["input", "quantities", String(entry.index), "compareQuantity"],
                               "The compareQuantity argument no longer matches the persisted quantity.", "COMPARE_QUANTITY_STALE")
            }]
        }
        let changes: [[String: Any]] = zip(items, before).map { item, old in
            let listing = state.channelListing(.shopify, sku: item.sku)
            return ["name": "available", "delta": item.quantity - old, "quantityAfterChange": item.quantity,
                    "item": listing.map(itemNode) ?? NSNull(), "location": Self.locationNode]
        }
        return ["inventoryAdjustmentGroup": ["id": "gid://shopify/InventoryAdjustmentGroup/\(state.updates.count)", "reason": reason,
                                             "changes": changes] as [String: Any],
                "userErrors": [] as [Any]]
    }

    static func userError(_ field: [String], _ message: String, _ code: String) -> [String: Any] {
        ["field": field, "message": message, "code": code]
    }

    // MARK: Orders

    private func allOrders() -> [(id: Int64, number: Int, order: SandboxOrder)] {
        state.arriveDueOrders()
        return state.orders.enumerated().compactMap { index, order in
            guard order.marketplace == .shopify, let id = Int64(order.orderID) else { return nil }
            return (id, index + 1, order)
        }
    }

    private func orders(first: Any?, after: Any?, query: Any?, sortKey: Any?) throws -> [String: Any] {
        let limit = try Self.pageSize(first)
        var minSeconds: Int64?
        if let query = query as? String, !query.isEmpty {
            let filter = query.trimmingCharacters(in: .whitespaces)
            guard filter.hasPrefix("updated_at:>="),
                  let stamp = Timestamp(parsing: filter.dropFirst("updated_at:>=".count).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))) else {
                throw GQLError(message: "The sandbox supports query: \"updated_at:>='ISO 8601'\", not \"\(filter)\"", code: "BAD_REQUEST")
            }
            minSeconds = stamp.secondsSinceEpoch
        }
        let key = sortKey as? String ?? "ID"
        guard ["ID", "UPDATED_AT", "CREATED_AT", "PROCESSED_AT"].contains(key) else {
            throw GQLError(message: "Argument 'sortKey' on Field 'orders' has an invalid value (\(key)).", code: "argumentLiteralsIncompatible")
        }
        // The sandbox's orders never change after they are placed: updated_at is created_at.
        var selected = allOrders().filter { entry in minSeconds.map { entry.order.placedAtMilliseconds / 1000 >= $0 } ?? true }
        func sortKeyOf(_ entry: (id: Int64, number: Int, order: SandboxOrder)) -> [Int64] {
            key == "ID" ? [entry.id] : [entry.order.placedAtMilliseconds / 1000, entry.id]
        }
        selected.sort { sortKeyOf($0).lexicographicallyPrecedes(sortKeyOf($1)) }
        if let after {
            guard let token = after as? String, case let last = Self.decodeCursor(token, "o"), !last.isEmpty else {
                throw GQLError(message: "Invalid cursor for current pagination sort.", code: "BAD_REQUEST")
            }
            selected = selected.filter { last.lexicographicallyPrecedes(sortKeyOf($0)) }
        }
        let page = selected.prefix(limit)
        return GQLSchema.connection(page.map { (Self.cursor("o", sortKeyOf($0)), orderNode($0.id, $0.number, $0.order)) },
                                    hasNextPage: selected.count > limit, hasPreviousPage: after != nil)
    }

    private func orderNode(_ id: Int64, _ number: Int, _ order: SandboxOrder) -> [String: Any] {
        let listing = state.channelListing(.shopify, sku: order.sku)
        let unitMicros = order.itemTotalMicros / Int64(max(order.quantity, 1))
        let line: [String: Any] = [
            "id": "gid://shopify/LineItem/\(id * 10 + 1)", "sku": order.sku, "title": state.product(sku: order.sku)?.title ?? order.sku,
            "quantity": order.quantity, "currentQuantity": order.quantity, "unfulfilledQuantity": order.quantity,
            "variant": listing.map(variantNode) ?? NSNull(), "originalUnitPriceSet": Self.moneyBag(unitMicros),
        ]
        let time = Timestamp(milliseconds: order.placedAtMilliseconds).iso8601UTC
        return [
            "id": "gid://shopify/Order/\(id)", "legacyResourceId": String(id), "name": "#\(1000 + number)", "createdAt": time, "updatedAt": time,
            "cancelledAt": NSNull(), "closed": false, "displayFulfillmentStatus": "UNFULFILLED", "displayFinancialStatus": "PAID",
            "currencyCode": "USD", "subtotalPriceSet": Self.moneyBag(order.itemTotalMicros),
            "totalPriceSet": Self.moneyBag(order.itemTotalMicros + order.shippingPaidMicros),
            "totalShippingPriceSet": Self.moneyBag(order.shippingPaidMicros),
            "shippingAddress": ["city": order.shipTo.city, "zip": order.shipTo.postalCode, "provinceCode": order.shipTo.region,
                                "countryCodeV2": order.shipTo.country] as [String: Any],
            "lineItems": GQLResolver { arguments in
                let first = Self.int(arguments["first"]) ?? 0
                let start = (arguments["after"] as? String).flatMap { Self.decodeCursor($0, "li").first } ?? 0
                let nodes = start < 1 && first > 0 ? [(Self.cursor("li", [1]), line)] : []
                return GQLSchema.connection(nodes, hasNextPage: false, hasPreviousPage: start > 0)
            },
        ]
    }

    static func moneyBag(_ micros: Int64) -> [String: Any] {
        let money: [String: Any] = ["amount": decimal(micros), "currencyCode": "USD"]
        return ["shopMoney": money, "presentmentMoney": money]
    }

    // MARK: Values

    /// `first`: 1…250, as Shopify requires.
    static func pageSize(_ value: Any?) throws -> Int {
        guard let first = int(value), (1...250).contains(first) else {
            throw GQLError(message: "The 'first' argument must be between 1 and 250.", code: "BAD_REQUEST")
        }
        return first
    }

    static func int(_ value: Any?) -> Int? {
        switch value {
        case let v as Int: return v
        case let v as Int64: return Int(v)
        case let v as Double: return v == v.rounded() ? Int(v) : nil
        case let v as NSNumber: return v.intValue
        default: return nil
        }
    }

    /// The number at the end of `gid://shopify/{type}/{n}` (nil for another type or a bad id).
    static func gidNumber(_ value: Any?, _ type: String) -> Int64? {
        guard let text = value as? String, text.hasPrefix("gid://shopify/\(type)/") else { return nil }
        return Int64(text.dropFirst("gid://shopify/\(type)/".count).prefix { $0 != "?" })
    }

    /// Opaque cursors: base64url of `kind:n1:n2…`.
    static func cursor(_ kind: String, _ values: [Int64]) -> String {
        Data(([kind] + values.map(String.init)).joined(separator: ":").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decodeCursor(_ token: String, _ kind: String) -> [Int64] {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return [] }
        let parts = String(decoding: data, as: UTF8.self).split(separator: ":")
        guard parts.first.map(String.init) == kind else { return [] }
        let values = parts.dropFirst().compactMap { Int64($0) }
        return values.count == parts.count - 1 ? values : []
    }

    /// Micro-units as Shopify's decimal string, two places: `12.99` (`Money.fixedDecimalString`).
    static func decimal(_ micros: Int64) -> String {
        Money(micros: micros, currency: .usd).fixedDecimalString
    }

    // MARK: Schema

    /// Exactly the types and fields the sandbox serves (a subset of Shopify's 2025-01 schema).
    static let schema: GQLSchema = {
        func f(_ type: GQLFieldType, _ arguments: String...) -> GQLSchemaField { GQLSchemaField(type: type, arguments: Set(arguments)) }
        let s = f(.scalar)
        return GQLSchema.build([
            "QueryRoot": [
                "productVariants": f(.connection("ProductVariant"), "first", "after", "last", "before", "query", "sortKey", "reverse"),
                "productVariant": f(.object("ProductVariant"), "id"),
                "inventoryItem": f(.object("InventoryItem"), "id"),
                "locations": f(.connection("Location"), "first", "after", "last", "before", "query", "includeInactive", "includeLegacy"),
                "orders": f(.connection("Order"), "first", "after", "last", "before", "query", "sortKey", "reverse"),
                "order": f(.object("Order"), "id"),
                "productVariantsCount": f(.object("Count"), "query", "limit"),
                "deliveryProfiles": f(.connection("DeliveryProfile"), "first", "after", "last", "before", "reverse", "merchantOwnedOnly"),
                "deliveryProfile": f(.object("DeliveryProfile"), "id"),
                "currentBulkOperation": f(.object("BulkOperation"), "type"),
            ],
            "Mutation": [
                "productVariantsBulkUpdate": f(.object("ProductVariantsBulkUpdatePayload"), "productId", "variants", "allowPartialUpdates"),
                "inventorySetQuantities": f(.object("InventorySetQuantitiesPayload"), "input"),
                "bulkOperationRunQuery": f(.object("BulkOperationRunQueryPayload"), "query", "groupObjects"),
            ],
            "Count": ["count": s, "precision": s],
            "DeliveryProfile": ["id": s, "name": s, "default": s,
                                "profileLocationGroups": f(.list("DeliveryProfileLocationGroup"), "locationGroupId")],
            "DeliveryProfileLocationGroup": ["locationGroup": f(.object("DeliveryLocationGroup")),
                                             "locationGroupZones": f(.connection("DeliveryLocationGroupZone"), "first", "after", "last", "before", "reverse")],
            "DeliveryLocationGroup": ["id": s],
            "DeliveryLocationGroupZone": ["zone": f(.object("DeliveryZone")),
                                          "methodDefinitions": f(.connection("DeliveryMethodDefinition"), "first", "after", "last", "before", "reverse",
                                                                 "eligible", "type", "sortKey")],
            "DeliveryZone": ["id": s, "name": s, "countries": f(.list("DeliveryCountry"))],
            "DeliveryCountry": ["id": s, "name": s, "code": f(.object("DeliveryCountryCodeOrRestOfWorld")), "provinces": f(.list("DeliveryProvince"))],
            "DeliveryCountryCodeOrRestOfWorld": ["countryCode": s, "restOfWorld": s],
            "DeliveryProvince": ["id": s, "name": s, "code": s],
            "DeliveryMethodDefinition": ["id": s, "name": s, "active": s, "description": s, "rateProvider": f(.object("DeliveryRateProvider")),
                                         "methodConditions": f(.list("DeliveryCondition"))],
            "DeliveryRateDefinition": ["id": s, "price": f(.object("MoneyV2"))],
            "DeliveryParticipant": ["id": s, "fixedFee": f(.object("MoneyV2")), "percentageOfRateFee": s, "adaptToNewServicesFlag": s],
            "DeliveryCondition": ["id": s, "field": s, "operator": s, "conditionCriteria": f(.object("DeliveryConditionCriteria"))],
            "BulkOperation": ["id": s, "status": s, "errorCode": s, "objectCount": s, "rootObjectCount": s, "url": s, "partialDataUrl": s,
                              "query": s, "type": s, "createdAt": s, "completedAt": s],
            "BulkOperationRunQueryPayload": ["bulkOperation": f(.object("BulkOperation")), "userErrors": f(.list("BulkOperationUserError"))],
            "BulkOperationUserError": ["field": s, "message": s, "code": s],
            "ProductVariant": ["id": s, "legacyResourceId": s, "sku": s, "title": s, "price": s, "compareAtPrice": s, "barcode": s,
                               "inventoryQuantity": s, "product": f(.object("Product")), "inventoryItem": f(.object("InventoryItem"))],
            "Product": ["id": s, "legacyResourceId": s, "title": s, "status": s, "handle": s],
            "InventoryItem": ["id": s, "legacyResourceId": s, "sku": s, "tracked": s, "unitCost": f(.object("MoneyV2")),
                              "measurement": f(.object("InventoryItemMeasurement")), "inventoryLevel": f(.object("InventoryLevel"), "locationId")],
            "InventoryItemMeasurement": ["weight": f(.object("Weight"))],
            "Weight": ["unit": s, "value": s],
            "InventoryLevel": ["id": s, "location": f(.object("Location")), "quantities": f(.list("InventoryQuantity"), "names")],
            "InventoryQuantity": ["name": s, "quantity": s],
            "Location": ["id": s, "legacyResourceId": s, "name": s, "isActive": s, "fulfillsOnlineOrders": s],
            "MoneyV2": ["amount": s, "currencyCode": s],
            "MoneyBag": ["shopMoney": f(.object("MoneyV2")), "presentmentMoney": f(.object("MoneyV2"))],
            "MailingAddress": ["zip": s, "provinceCode": s, "countryCodeV2": s, "city": s],
            "Order": ["id": s, "legacyResourceId": s, "name": s, "createdAt": s, "updatedAt": s, "cancelledAt": s, "closed": s,
                      "displayFulfillmentStatus": s, "displayFinancialStatus": s, "currencyCode": s,
                      "subtotalPriceSet": f(.object("MoneyBag")), "totalPriceSet": f(.object("MoneyBag")),
                      "totalShippingPriceSet": f(.object("MoneyBag")), "shippingAddress": f(.object("MailingAddress")),
                      "lineItems": f(.connection("LineItem"), "first", "after", "last", "before")],
            "LineItem": ["id": s, "sku": s, "title": s, "quantity": s, "currentQuantity": s, "unfulfilledQuantity": s,
                         "variant": f(.object("ProductVariant")), "originalUnitPriceSet": f(.object("MoneyBag"))],
            "ProductVariantsBulkUpdatePayload": ["product": f(.object("Product")), "productVariants": f(.list("ProductVariant")),
                                                 "userErrors": f(.list("ProductVariantsBulkUpdateUserError"))],
            "ProductVariantsBulkUpdateUserError": ["field": s, "message": s, "code": s],
            "InventorySetQuantitiesPayload": ["inventoryAdjustmentGroup": f(.object("InventoryAdjustmentGroup")),
                                              "userErrors": f(.list("InventorySetQuantitiesUserError"))],
            "InventorySetQuantitiesUserError": ["field": s, "message": s, "code": s],
            "InventoryAdjustmentGroup": ["id": s, "reason": s, "changes": f(.list("InventoryChange"))],
            "InventoryChange": ["name": s, "delta": s, "quantityAfterChange": s, "item": f(.object("InventoryItem")),
                                "location": f(.object("Location"))],
        ], unions: ["DeliveryRateProvider": ["DeliveryRateDefinition", "DeliveryParticipant"], "DeliveryConditionCriteria": ["MoneyV2", "Weight"]])
    }()
}

extension HTTPFields {
    /// A header by name, for the ones `HTTPField.Name` has no constant for.
    subscript(named name: String) -> String? {
        get { self[.init(name)!] }
        set { self[.init(name)!] = newValue }
    }
}
