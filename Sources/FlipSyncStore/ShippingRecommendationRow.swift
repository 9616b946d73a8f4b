import FlipSyncCore
import GRDB

/// One row of `shipping_recommendations`: what a shipping job recommends for one order line. An
/// unknown marketplace, status or currency is an error naming the job, marketplace, order and
/// line, never eBay, `skipped` or USD. `RunStore.saveRecommendation` writes one at a time
/// through it (`INSERT OR REPLACE`).
struct ShippingRecommendationRow: Codable, LedgerRow, PersistableRecord {
    static let databaseTableName = "shipping_recommendations"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["job", "marketplace", "order_id", "line_id"]

    var job: String
    var marketplace: Coded<MarketplaceName>
    var orderId: String
    var lineId: String
    var runId: Int64
    var sku: String
    var quantity: Int
    var postalCode: String?
    var shipAt: Int64?
    var deliverBy: Int64?
    var status: ShippingRecommendation.Status
    var reason: String
    var parcels: Int
    var carrier: String?
    var service: String?
    var serviceKey: String?
    var source: String?
    var deliveryDays: Int?
    var billableOz: Int?
    var currency: String
    var labelMicros: Int64?
    var buyerPaidMicros: Int64?
    var marginMicros: Int64?
    var defaultService: String?
    var defaultMicros: Int64?
    var savingMicros: Int64?
    var actionable: Bool
    var decidedAt: Int64

    init(_ r: ShippingRecommendation, job: String, runID: Int64, at: Int64) {
        self.job = job
        marketplace = Coded(r.marketplace)
        orderId = r.orderID
        lineId = r.lineID
        runId = runID
        sku = r.sku
        quantity = r.quantity
        postalCode = r.destinationPostalCode
        shipAt = r.shipAt
        deliverBy = r.deliverBy
        status = r.status
        reason = r.reason
        parcels = r.parcels
        carrier = r.carrier
        service = r.service
        serviceKey = r.serviceKey
        source = r.source
        deliveryDays = r.deliveryDays
        billableOz = r.billableOunces
        currency = r.currency
        labelMicros = r.labelMicros
        buyerPaidMicros = r.buyerPaidMicros
        marginMicros = r.marginMicros
        defaultService = r.defaultService
        defaultMicros = r.defaultMicros
        savingMicros = r.savingMicros
        actionable = r.actionable
        decidedAt = at
    }

    /// The currency is one this build knows (the recommendation keeps it as its code).
    func check() throws {
        guard Currency(code: currency) != nil else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unknown currency \"\(currency)\""))
        }
    }

    static func recommendations(_ db: Database, runID: Int64) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "run_id = ?", arguments: [runID]).order(sql: "marketplace, order_id, line_id"))
    }

    var recommendation: ShippingRecommendation {
        ShippingRecommendation(
            marketplace: marketplace.value, orderID: orderId, lineID: lineId, sku: sku, quantity: quantity,
            destinationPostalCode: postalCode, shipAt: shipAt, deliverBy: deliverBy, status: status, reason: reason, parcels: parcels,
            carrier: carrier, service: service, serviceKey: serviceKey, source: source, deliveryDays: deliveryDays,
            billableOunces: billableOz, currency: currency, labelMicros: labelMicros, buyerPaidMicros: buyerPaidMicros,
            marginMicros: marginMicros, defaultService: defaultService, defaultMicros: defaultMicros, savingMicros: savingMicros,
            actionable: actionable)
    }
}
