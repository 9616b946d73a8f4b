import FlipSyncCore
import Foundation
import Hummingbird

extension ShopifyRoutes {
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

    func resolveRoot(_ field: GQLField, mutation: Bool, variables: [String: Any], request: Request) throws -> (Any, String) {
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
}
