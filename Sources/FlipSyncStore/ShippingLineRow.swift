import FlipSyncCore
import GRDB

/// One row of `shipping_lines`: an open order line a shipping job read. An unknown marketplace or
/// currency, an amount without its currency, or a postal code without a country is an error
/// naming the job, marketplace, order and line, never eBay, a dropped amount or "US".
struct ShippingLineRow: Codable, LedgerRow {
    static let databaseTableName = "shipping_lines"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["job", "marketplace", "order_id", "line_id"]

    var job: String
    var marketplace: Coded<MarketplaceName>
    var orderId: String
    var lineId: String
    var sku: String
    var quantity: Int
    var placedAt: Int64
    var itemPriceMicros: Int64?
    var itemCurrency: CurrencyCode?
    var shippingPaidMicros: Int64?
    var shippingCurrency: CurrencyCode?
    var postalCode: String?
    var country: String?
    var region: String?
    var deliverBy: Int64?
    var runId: Int64
    var recordedAt: Int64

    func check() throws {
        try pair(itemPriceMicros, itemCurrency, "item_price_micros")
        try pair(shippingPaidMicros, shippingCurrency, "shipping_paid_micros")
        if postalCode != nil, country == nil {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "postal_code without a country"))
        }
    }

    /// Lines a job read that have no recommendation yet.
    private static let pendingSQL = """
        SELECT l.* FROM shipping_lines l
        LEFT JOIN shipping_recommendations r
          ON r.job = l.job AND r.marketplace = l.marketplace AND r.order_id = l.order_id AND r.line_id = l.line_id
        WHERE r.job IS NULL AND l.job = ?
        """

    static func pending(_ db: Database, job: String) throws -> [Self] {
        try fetchAllNamed(db, sql: pendingSQL + " ORDER BY l.marketplace, l.order_id, l.line_id", arguments: [job])
    }

    static func pending(_ db: Database, job: String, marketplace: MarketplaceName, orderID: String, lineID: String) throws -> Self? {
        try fetchAllNamed(db, sql: pendingSQL + " AND l.marketplace = ? AND l.order_id = ? AND l.line_id = ?",
                          arguments: [job, marketplace.rawValue, orderID, lineID]).first
    }

    var line: OrderLine {
        OrderLine(
            marketplace: marketplace.value, orderID: orderId, lineID: lineId, sku: sku, quantity: quantity, placedAt: placedAt,
            itemPrice: money(itemPriceMicros, itemCurrency), shippingPaid: money(shippingPaidMicros, shippingCurrency),
            destination: postalCode.flatMap { postal in country.map { Destination(postalCode: postal, country: $0, region: region) } },
            deliverBy: deliverBy, open: true)
    }
}
