import FlipSyncCore
import Foundation
import Hummingbird

extension ShopifyRoutes {
    // MARK: Orders

    func allOrders() -> [(id: Int64, number: Int, order: SandboxOrder)] {
        state.arriveDueOrders()
        return state.orders.enumerated().compactMap { index, order in
            guard order.marketplace == .shopify, let id = Int64(order.orderID) else { return nil }
            return (id, index + 1, order)
        }
    }

    func orders(first: Any?, after: Any?, query: Any?, sortKey: Any?) throws -> [String: Any] {
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

    func orderNode(_ id: Int64, _ number: Int, _ order: SandboxOrder) -> [String: Any] {
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
}
