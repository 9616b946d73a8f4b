import FlipSyncCore
import Foundation

extension ShopifyClient {
    // MARK: Wire values

    func pageSize(_ size: Int) throws -> Int {
        guard (1...Self.maxPageSize).contains(size) else {
            throw MarketplaceError.refused("Shopify page size must be 1…\(Self.maxPageSize), not \(size)")
        }
        return size
    }

    func cursor(_ page: ShopifyWire.PageInfo, _ operation: String) throws -> String {
        guard let cursor = page.endCursor, !cursor.isEmpty else {
            throw MarketplaceError.malformed("\(operation): hasNextPage without an endCursor")
        }
        return cursor
    }

    static func gid(_ type: String, _ id: Int64) -> String { "gid://shopify/\(type)/\(id)" }

    /// The number at the end of `gid://shopify/{type}/{n}`.
    static func number(_ gid: String, _ type: String) throws -> Int64 {
        let prefix = "gid://shopify/\(type)/"
        guard gid.hasPrefix(prefix), let id = Int64(gid.dropFirst(prefix.count).prefix { $0 != "?" }) else {
            throw MarketplaceError.malformed("\"\(gid)\" is not a \(type) id")
        }
        return id
    }

    static let weightUnits = ["GRAMS": "g", "KILOGRAMS": "kg", "OUNCES": "oz", "POUNDS": "lb"]

    func variant(_ wire: ShopifyWire.Variant) throws -> ShopifyVariant {
        let id = try Self.number(wire.id, "ProductVariant")
        let item = wire.inventoryItem
        let weight = item?.measurement?.weight
        return ShopifyVariant(
            variantID: id, productID: try Self.number(wire.product.id, "Product"), productTitle: wire.product.title, sku: wire.sku,
            price: try money(wire.price, configuration.currency, field: "price of variant \(id)"),
            available: item?.inventoryLevel?.quantities.first { $0.name == "available" }?.quantity,
            inventoryItemID: try item.map { try Self.number($0.id, "InventoryItem") },
            unitCost: try item?.unitCost.map { try money($0, field: "unit cost of variant \(id)") },
            barcode: wire.barcode, weight: weight?.value, weightUnit: weight.flatMap { Self.weightUnits[$0.unit] })
    }

    func order(_ wire: ShopifyWire.Order, lines wireLines: [ShopifyWire.LineItem]) throws -> ShopifyOrder {
        let id = try Self.number(wire.id, "Order")
        let currency: Currency
        if let code = wire.currencyCode {
            guard let known = Currency(code: code) else { throw MarketplaceError.malformed("order \(id): unknown currency \(code)") }
            currency = known
        } else {
            currency = configuration.currency
        }
        func time(_ text: String, _ field: String) throws -> Int64 {
            guard let stamp = Timestamp(parsing: text) else { throw MarketplaceError.malformed("order \(id): \(field) is not ISO 8601") }
            return stamp.secondsSinceEpoch * 1000
        }
        _ = try time(wire.updatedAt, "updatedAt")
        let lines = try wireLines.map { line in
            let lineID = try Self.number(line.id, "LineItem")
            // The line's total (price × quantity) is computed from these: both bounded first.
            guard (0...OrdersPage.maxLineQuantity).contains(line.quantity) else {
                throw MarketplaceError.malformed("line \(lineID) of order \(id): quantity \(line.quantity) is outside 0…\(OrdersPage.maxLineQuantity)")
            }
            let price = try money(line.originalUnitPriceSet.shopMoney, field: "price of line \(lineID) of order \(id)")
            guard !price.micros.multipliedReportingOverflow(by: Int64(line.quantity)).overflow else {
                throw MarketplaceError.malformed("line \(lineID) of order \(id): \(price) × \(line.quantity) does not fit in an amount")
            }
            return ShopifyLineItem(id: lineID, variantID: nil, sku: line.sku, quantity: line.quantity, price: price,
                                   fulfillmentStatus: line.unfulfilledQuantity == 0 ? "fulfilled" : nil)
        }
        let shipping = try wire.totalShippingPriceSet.map { try money($0.shopMoney, field: "shipping of order \(id)") } ?? .zero(currency)
        let status = wire.displayFulfillmentStatus.flatMap { ["FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"][$0] }
        return ShopifyOrder(id: id, name: wire.name, createdAt: try time(wire.createdAt, "createdAt"), updatedAt: wire.updatedAt,
                            currency: currency, lineItems: lines, shipping: shipping,
                            shippingAddress: wire.shippingAddress.map {
                                ShopifyAddress(zip: $0.zip, provinceCode: $0.provinceCode, countryCode: $0.countryCodeV2, city: $0.city)
                            },
                            fulfillmentStatus: status, cancelledAt: try wire.cancelledAt.map { try time($0, "cancelledAt") })
    }

    func money(_ wire: ShopifyWire.MoneyV2, field: String) throws -> Money {
        guard let currency = Currency(code: wire.currencyCode) else { throw MarketplaceError.malformed("\(field): unknown currency \(wire.currencyCode)") }
        return try money(wire.amount, currency, field: field)
    }

    func money(_ decimal: String, _ currency: Currency, field: String) throws -> Money {
        do {
            return try Money(parsing: "\(decimal) \(currency.code)")
        } catch {
            throw MarketplaceError.malformed("\(field): \(error)")
        }
    }
}
