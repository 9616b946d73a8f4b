import FlipSyncCore
import Foundation
import Hummingbird

/// Orders v0 (`getOrders`, `getOrderItems`): see `AmazonRoutes`.
extension AmazonRoutes {
    // MARK: Orders v0

    func orders(_ request: Request) async -> Response {
        let rate = state.limiter.rateHeader(.amazonOrders) ?? AdvertisedRate.orders
        if let denied = authorize(request) { return denied }
        let query = request.uri.queryParameters
        let marketplaces = (query["MarketplaceIds"].map(String.init) ?? "").split(separator: ",").map(String.init)
        guard marketplaces.contains(SandboxState.amazonMarketplaceID) else {
            return Self.invalidInput("MarketplaceIds must include \(SandboxState.amazonMarketplaceID).", rate: rate)
        }
        var createdAfter: Int64
        var offset = 0
        var pageSize: Int
        if let token = query["NextToken"].map(String.init) {
            // A NextToken carries the original criteria; the others are ignored, as Amazon does.
            guard let decoded = Self.untoken(token, kind: "o"), decoded.count == 3 else {
                return Self.invalidInput("Invalid NextToken.", rate: rate)
            }
            (createdAfter, offset, pageSize) = (decoded[0], Int(decoded[1]), Int(decoded[2]))
        } else {
            guard let text = (query["CreatedAfter"] ?? query["LastUpdatedAfter"]).map(String.init) else {
                return Self.invalidInput("Either CreatedAfter or LastUpdatedAfter must be specified.", rate: rate)
            }
            guard let after = Self.milliseconds(text) else {
                return Self.invalidInput("\(text) is not a valid ISO 8601 date-time.", rate: rate)
            }
            guard let size = query["MaxResultsPerPage"].map({ Int(String($0)) }) ?? 100, (1...100).contains(size) else {
                return Self.invalidInput("MaxResultsPerPage must be between 1 and 100.", rate: rate)
            }
            (createdAfter, pageSize) = (after, size)
        }
        state.arriveDueOrders()
        let matching = state.orders.filter { $0.marketplace == .amazon && $0.placedAtMilliseconds >= createdAfter }
            .sorted { ($0.placedAtMilliseconds, $0.orderID) < ($1.placedAtMilliseconds, $1.orderID) }
        let page = matching.dropFirst(offset).prefix(pageSize)
        var payload: [String: Any] = [
            "Orders": page.map(orderJSON),
            "CreatedBefore": Self.iso8601(state.clock.wallMilliseconds() - 120_000),
        ]
        if offset + pageSize < matching.count {
            payload["NextToken"] = Self.token(kind: "o", [createdAfter, Int64(offset + pageSize), Int64(pageSize)])
        }
        return Self.answer(["payload": payload], rate: rate)
    }

    private func orderJSON(_ order: SandboxOrder) -> [String: Any] {
        [
            "AmazonOrderId": order.orderID, "PurchaseDate": Self.iso8601(order.placedAtMilliseconds),
            "LastUpdateDate": Self.iso8601(order.placedAtMilliseconds), "OrderStatus": "Unshipped",
            "FulfillmentChannel": "MFN", "SalesChannel": "Amazon.com", "ShipServiceLevel": "Std US D2D Dom",
            "OrderTotal": Self.orderMoney(order.itemTotalMicros + order.shippingPaidMicros),
            "NumberOfItemsShipped": 0, "NumberOfItemsUnshipped": order.quantity, "PaymentMethod": "Other",
            "MarketplaceId": SandboxState.amazonMarketplaceID, "ShipmentServiceLevelCategory": "Standard",
            "OrderType": "StandardOrder", "EarliestShipDate": Self.iso8601(order.placedAtMilliseconds),
            "LatestShipDate": Self.iso8601(order.placedAtMilliseconds + 86_400_000),
            "EarliestDeliveryDate": Self.iso8601(order.placedAtMilliseconds + 2 * 86_400_000),
            "LatestDeliveryDate": Self.iso8601(order.deliverByMilliseconds),
            "IsBusinessOrder": false, "IsPrime": false, "IsPremiumOrder": false, "IsGlobalExpressEnabled": false,
            "IsReplacementOrder": false, "IsSoldByAB": false, "IsISPU": false, "IsAccessPointOrder": false,
            "ShippingAddress": ["City": order.shipTo.city, "StateOrRegion": order.shipTo.region,
                                "PostalCode": order.shipTo.postalCode, "CountryCode": order.shipTo.country],
        ]
    }

    func orderItems(_ request: Request, orderID rawOrderID: String) async -> Response {
        let rate = state.limiter.rateHeader(.amazonOrderItems) ?? AdvertisedRate.orderItems
        if let denied = authorize(request) { return denied }
        let orderID = rawOrderID.removingPercentEncoding ?? rawOrderID
        guard let order = state.orders.first(where: { $0.marketplace == .amazon && $0.orderID == orderID }) else {
            return Self.notFound("Order \(orderID) was not found.", rate: rate)
        }
        let item: [String: Any] = [
            "ASIN": state.channelListing(.amazon, sku: order.sku)?.listingID ?? "", "SellerSKU": order.sku,
            "OrderItemId": order.lineID, "Title": state.product(sku: order.sku)?.title ?? order.sku,
            "QuantityOrdered": order.quantity, "QuantityShipped": 0, "ProductInfo": ["NumberOfItems": "1"],
            "ItemPrice": Self.orderMoney(order.itemTotalMicros), "ShippingPrice": Self.orderMoney(order.shippingPaidMicros),
            "IsGift": "false", "ConditionId": "New", "ConditionSubtypeId": "New", "IsTransparency": false,
        ]
        return Self.answer(["payload": ["AmazonOrderId": order.orderID, "OrderItems": [item]]], rate: rate)
    }
}
