import FlipSyncCore
import Foundation

extension ShopifyClient {
    // MARK: Orders

    static let orderFields = """
        id name createdAt updatedAt cancelledAt displayFulfillmentStatus currencyCode
        totalShippingPriceSet { shopMoney { amount currencyCode } }
        shippingAddress { zip provinceCode countryCodeV2 city }
        lineItems(first: \(linesPerOrder)) {
          nodes { id sku quantity unfulfilledQuantity originalUnitPriceSet { shopMoney { amount currencyCode } } }
          pageInfo { hasNextPage endCursor }
        }
        """

    static let ordersQuery = """
        query FlipSyncOrders($first: Int!, $after: String, $query: String) {
          orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
            nodes { \(orderFields) }
            pageInfo { hasNextPage endCursor }
          }
        }
        """

    static let orderLinesQuery = """
        query FlipSyncOrderLines($id: ID!, $after: String) {
          order(id: $id) {
            lineItems(first: 100, after: $after) {
              nodes { id sku quantity unfulfilledQuantity originalUnitPriceSet { shopMoney { amount currencyCode } } }
              pageInfo { hasNextPage endCursor }
            }
          }
        }
        """

    /// One page of orders of any status updated at or after `updatedAtMin` (ISO 8601; every
    /// order when nil), oldest change first. Start with `after` nil, then pass `nextCursor`
    /// until it is nil. An order with more lines than `linesPerOrder` has the rest read with
    /// `order(id:) { lineItems(after:) }`.
    ///
    /// `orders(first:after:query: "updated_at:>='…'", sortKey: UPDATED_AT)`.
    /// Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/orders (the
    /// `updated_at` filter), Order (https://shopify.dev/docs/api/admin-graphql/2025-01/objects/Order)
    /// and LineItem (https://shopify.dev/docs/api/admin-graphql/2025-01/objects/LineItem).
    public func orders(updatedAtMin: String?, after: String? = nil) async throws -> ShopifyOrdersPage {
        let query: Any = updatedAtMin.map { "updated_at:>='\($0)'" } ?? NSNull()
        let data = try await graphQL("orders", Self.ordersQuery,
                                     ["first": try pageSize(configuration.orderPageSize), "after": after ?? NSNull(), "query": query],
                                     as: ShopifyWire.OrdersData.self)
        var orders: [ShopifyOrder] = []
        for wire in data.orders.nodes {
            var lines = wire.lineItems.nodes
            var page = wire.lineItems.pageInfo
            while page.hasNextPage {
                let more = try await graphQL("order", Self.orderLinesQuery,
                                             ["id": wire.id, "after": try cursor(page, "order.lineItems")], as: ShopifyWire.OrderLinesData.self)
                guard let connection = more.order?.lineItems else { throw MarketplaceError.malformed("order \(wire.id) vanished while its lines were read") }
                lines += connection.nodes
                page = connection.pageInfo
            }
            orders.append(try order(wire, lines: lines))
        }
        return ShopifyOrdersPage(orders: orders, nextCursor: data.orders.pageInfo.hasNextPage ? try cursor(data.orders.pageInfo, "orders") : nil)
    }
}
