import FlipSyncCore
import Foundation
import Hummingbird

extension ShopifyRoutes {
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
}
