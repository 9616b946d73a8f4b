import FlipSyncCore
import GRDB

/// One row of `shipping_quotes`: one rate quoted for an order line in a run. An unknown
/// marketplace or currency is an error naming the run, line and rate, never eBay or USD.
struct ShippingQuoteRow: Codable, LedgerRow {
    static let databaseTableName = "shipping_quotes"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["run_id", "marketplace", "order_id", "line_id", "source", "carrier", "service"]

    var runId: Int64
    var job: String
    var marketplace: Coded<MarketplaceName>
    var orderId: String
    var lineId: String
    var source: String
    var carrier: String
    var service: String
    var serviceKey: String
    var amountMicros: Int64
    var currency: CurrencyCode
    var deliveryDays: Int?
    var guaranteed: Bool
    var billableOz: Int?
    var rateId: String?
    var arrivesAt: Int64?
    var adequate: Bool
    var quotedAt: Int64

    /// A run's quotes, cheapest first within each line.
    static func quotes(_ db: Database, runID: Int64) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "run_id = ?", arguments: [runID])
            .order(sql: "marketplace, order_id, line_id, amount_micros, carrier, service, source"))
    }

    var record: ShippingQuoteRecord {
        ShippingQuoteRecord(
            marketplace: marketplace.value, orderID: orderId, lineID: lineId, source: source, carrier: carrier, service: service,
            serviceKey: serviceKey, amountMicros: amountMicros, currency: currency.code, deliveryDays: deliveryDays,
            deliveryDateGuaranteed: guaranteed, billableOunces: billableOz, rateID: rateId, arrivesAt: arrivesAt, adequate: adequate)
    }
}
