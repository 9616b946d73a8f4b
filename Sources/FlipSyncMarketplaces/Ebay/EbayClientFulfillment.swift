import FlipSyncCore
import Foundation
import Logging

extension EbayClient {
    // MARK: Fulfillment

    /// eBay serves at most this many orders per `getOrders` page.
    public static let ordersPageLimit = 200

    /// One page of our orders created at or after `createdSince` (milliseconds since the
    /// epoch; nil: eBay's default, the last 90 days). Start at `offset` 0 and add each page's
    /// order count while `hasNext`.
    ///
    /// `GET /sell/fulfillment/v1/order?filter=creationdate:[2024-01-01T00:00:00.000Z..]&limit=&offset=`;
    /// user token with `sell.fulfillment` or `sell.fulfillment.readonly`. `limit` is 1…200
    /// (eBay's default 50); `offset` is a record offset. Response `OrderSearchPagedCollection`:
    /// `orders[]`, `total`, `offset`, `limit`, `next`.
    /// References: eBay Fulfillment API, "getOrders"
    /// (https://developer.ebay.com/api-docs/sell/fulfillment/resources/order/methods/getOrders),
    /// types `OrderSearchPagedCollection`
    /// (https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:OrderSearchPagedCollection),
    /// `LineItem` (https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:LineItem),
    /// `LineItemFulfillmentInstructions`
    /// (https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:LineItemFulfillmentInstructions),
    /// `OrderFulfillmentStatus` (https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:OrderFulfillmentStatus)
    /// and `CancelStateEnum` (https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:CancelStateEnum).
    public func orders(createdSince: Int64?, offset: Int = 0, limit: Int = EbayClient.ordersPageLimit) async throws -> FulfillmentOrdersPage {
        guard (1...Self.ordersPageLimit).contains(limit) else { throw MarketplaceError.refused("orders page size must be 1…200, not \(limit)") }
        guard offset >= 0 else { throw MarketplaceError.refused("orders offset must not be negative") }
        var parameters: [(String, String)] = []
        if let createdSince { parameters.append(("filter", "creationdate:[\(EbayTimestamp.string(milliseconds: createdSince))..]")) }
        parameters += [("limit", String(limit)), ("offset", String(offset))]
        let operation = "fulfillment.getOrders"
        let url = configuration.baseURL + "/sell/fulfillment/v1/order?" + FormEncoding.encode(parameters)
        let response = try await authorized(operation, tokens: userTokens) { token in
            self.request(.get, url, token: token)
        }
        let wire = try StatusMapping.decode(WireOrdersResponse.self, response, operation: operation)
        let orders = try (wire.orders ?? []).map { order in
            guard let created = EbayTimestamp.milliseconds(order.creationDate) else {
                throw MarketplaceError.malformed("\(operation): order \(order.orderId) has no valid creationDate")
            }
            let start = order.fulfillmentStartInstructions?.first
            let address = start?.shippingStep?.shipTo?.contactAddress
            return FulfillmentOrder(
                orderID: order.orderId, creationDate: created, fulfillmentStatus: order.orderFulfillmentStatus,
                cancelState: order.cancelStatus?.cancelState,
                deliveryCost: try order.pricingSummary?.deliveryCost.map { try money($0, field: "delivery cost of order \(order.orderId)") },
                shipTo: address.map { FulfillmentOrder.Address(postalCode: $0.postalCode, city: $0.city, stateOrProvince: $0.stateOrProvince,
                                                               countryCode: $0.countryCode) },
                maxEstimatedDeliveryDate: try start?.maxEstimatedDeliveryDate.map { try timestamp($0, field: "delivery date of order \(order.orderId)") },
                lineItems: try (order.lineItems ?? []).map { line in
                    let field = "line \(line.lineItemId) of order \(order.orderId)"
                    return FulfillmentOrder.LineItem(
                        lineItemID: line.lineItemId, sku: line.sku, quantity: line.quantity,
                        lineItemCost: try line.lineItemCost.map { try money($0, field: "cost of \(field)") },
                        shippingCost: try line.deliveryCost?.shippingCost.map { try money($0, field: "shipping cost of \(field)") },
                        fulfillmentStatus: line.lineItemFulfillmentStatus,
                        maxEstimatedDeliveryDate: try line.lineItemFulfillmentInstructions?.maxEstimatedDeliveryDate
                            .map { try timestamp($0, field: "delivery date of \(field)") })
                })
        }
        return FulfillmentOrdersPage(orders: orders, total: wire.total ?? orders.count, offset: wire.offset ?? offset, hasNext: wire.next != nil)
    }
}
