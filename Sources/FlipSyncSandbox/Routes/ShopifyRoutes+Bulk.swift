import FlipSyncCore
import Foundation
import Hummingbird

extension ShopifyRoutes {
    // MARK: Bulk operations

    /// `bulkOperationRunQuery`: the query's one root connection (`productVariants` only), every
    /// node, one JSON object a line (nested objects inline, as Shopify writes them when the
    /// query has no nested connection).
    func runBulk(_ query: String) -> [String: Any] {
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
}
