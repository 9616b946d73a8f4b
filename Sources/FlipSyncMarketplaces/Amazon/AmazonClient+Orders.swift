import FlipSyncCore
import Foundation

/// SP-API Orders v0: orders (`getOrders`) and their items (`getOrderItems`).
extension AmazonClient {
    /// One page of orders created at or after `createdAfter` (milliseconds since the epoch).
    /// Start with `nextToken` nil, then pass the page's `nextToken` (Amazon then ignores the
    /// other criteria).
    ///
    /// `GET /orders/v0/orders?MarketplaceIds=&CreatedAfter=&MaxResultsPerPage=&NextToken=`.
    /// Reference: Orders API v0, "getOrders" (usage plan 0.0167 requests/s, burst 20;
    /// https://developer-docs.amazon.com/sp-api/docs/orders-api-v0-reference#getorders), types
    /// `OrdersList` (`Orders`, `NextToken`), `Order` (`AmazonOrderId`, `PurchaseDate`,
    /// `OrderStatus`, `LatestDeliveryDate`, `ShippingAddress`, `OrderTotal`), `Money` (`Amount` a
    /// decimal string); model github.com/amzn/selling-partner-api-models/models/orders-api-model/ordersV0.json.
    public func orders(createdAfter: Int64, nextToken: String? = nil, maxResultsPerPage: Int = 100) async throws -> AmazonOrdersPage {
        guard (1...100).contains(maxResultsPerPage) else {
            throw MarketplaceError.refused("orders page size must be 1…100, not \(maxResultsPerPage)")
        }
        let operation = AmazonOperation.getOrders
        var parameters = [("MarketplaceIds", configuration.marketplaceID), ("CreatedAfter", Self.iso8601(createdAfter)),
                          ("MaxResultsPerPage", String(maxResultsPerPage))]
        if let nextToken { parameters.append(("NextToken", nextToken)) }
        let url = configuration.baseURL + "/orders/v0/orders?" + FormEncoding.encode(parameters)
        let response = try await authorized(operation) { self.request(.get, url, token: $0) }
        guard let payload = try decode(AmazonWireOrdersResponse.self, response, operation: operation).payload else {
            throw MarketplaceError.malformed("\(operation.rawValue): the response has no payload")
        }
        let orders = try payload.Orders.map { order in
            let field = "\(operation.rawValue) order \(order.AmazonOrderId)"
            return AmazonOrder(
                orderID: order.AmazonOrderId, purchasedAt: try Self.milliseconds(order.PurchaseDate, field: "\(field) PurchaseDate"),
                status: order.OrderStatus,
                latestDeliveryAt: try order.LatestDeliveryDate.map { try Self.milliseconds($0, field: "\(field) LatestDeliveryDate") },
                shippingAddress: order.ShippingAddress.map {
                    AmazonAddress(postalCode: $0.PostalCode, city: $0.City, stateOrRegion: $0.StateOrRegion, countryCode: $0.CountryCode)
                },
                orderTotal: try order.OrderTotal.map { try Self.money($0, field: "\(field) OrderTotal") })
        }
        return AmazonOrdersPage(orders: orders, nextToken: payload.NextToken)
    }

    /// Every line of one order, following `NextToken`.
    ///
    /// `GET /orders/v0/orders/{orderId}/orderItems[?NextToken=]`.
    /// Reference: Orders API v0, "getOrderItems" (usage plan 0.5 requests/s, burst 30;
    /// https://developer-docs.amazon.com/sp-api/docs/orders-api-v0-reference#getorderitems), types
    /// `OrderItemsList` (`OrderItems`, `NextToken`), `OrderItem` (`OrderItemId`, `SellerSKU`,
    /// `ASIN`, `QuantityOrdered`, `ItemPrice`, `ShippingPrice`).
    public func orderItems(orderID: String) async throws -> [AmazonOrderItem] {
        let operation = AmazonOperation.getOrderItems
        var items: [AmazonOrderItem] = []
        var nextToken: String?
        repeat {
            let path = configuration.baseURL + "/orders/v0/orders/\(FormEncoding.escape(orderID))/orderItems"
            let url = nextToken.map { path + "?" + FormEncoding.encode([("NextToken", $0)]) } ?? path
            let response = try await authorized(operation) { self.request(.get, url, token: $0) }
            guard let payload = try decode(AmazonWireOrderItemsResponse.self, response, operation: operation).payload else {
                throw MarketplaceError.malformed("\(operation.rawValue): the response has no payload")
            }
            items += try payload.OrderItems.map { item in
                let field = "\(operation.rawValue) order \(orderID) item \(item.OrderItemId)"
                return AmazonOrderItem(orderItemID: item.OrderItemId, sku: item.SellerSKU ?? "", asin: item.ASIN,
                                       quantityOrdered: item.QuantityOrdered,
                                       itemPrice: try item.ItemPrice.map { try Self.money($0, field: "\(field) ItemPrice") },
                                       shippingPrice: try item.ShippingPrice.map { try Self.money($0, field: "\(field) ShippingPrice") })
            }
            guard payload.NextToken == nil || payload.NextToken != nextToken else {
                throw MarketplaceError.malformed("\(operation.rawValue): NextToken did not advance")
            }
            nextToken = payload.NextToken
        } while nextToken != nil
        return items
    }
}
