import FlipSyncCore
import GRDB

/// The tables holding a listing's shipping verdicts, which share their columns.
protocol ShippingVerdictTable: Sendable {
    static var name: String { get }
    static var keyColumns: [String] { get }
}

/// `shipping_listing_verdicts`: one verdict per listing and sweep.
enum ShippingListingVerdicts: ShippingVerdictTable {
    static let name = "shipping_listing_verdicts"
    static let keyColumns = ["sweep_id", "marketplace", "listing_id"]
}

/// `shipping_listing_destinations`: the verdict per destination behind a listing's verdict.
enum ShippingListingDestinations: ShippingVerdictTable {
    static let name = "shipping_listing_destinations"
    static let keyColumns = ["sweep_id", "marketplace", "listing_id", "postal_code"]
}

/// One row of `shipping_listing_verdicts`.
typealias ShippingListingVerdictRow = ShippingVerdictRow<ShippingListingVerdicts>
/// One row of `shipping_listing_destinations`.
typealias ShippingListingDestinationRow = ShippingVerdictRow<ShippingListingDestinations>

/// One row of a verdict table: what a sweep judged of a listing's shipping (to one destination,
/// in `shipping_listing_destinations`). An unknown marketplace, status or currency is an error
/// naming the table, sweep, marketplace and listing (and destination), never eBay, `skipped` or USD.
/// `RunStore.saveListingVerdict` writes one at a time through it (`INSERT OR REPLACE`).
struct ShippingVerdictRow<Table: ShippingVerdictTable>: Codable, LedgerRow, PersistableRecord {
    static var databaseTableName: String { Table.name }
    static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
    static var keyColumns: [String] { Table.keyColumns }

    var sweepId: Int64
    var marketplace: Coded<MarketplaceName>
    var listingId: String
    var postalCode: String?
    var sku: String
    var status: ShippingRecommendation.Status
    var reason: String
    var handlingDays: Int?
    var promiseDays: Int?
    var carrier: String?
    var service: String?
    var serviceKey: String?
    var source: String?
    var deliveryDays: Int?
    var billableOz: Int?
    var currency: String
    var chargedMicros: Int64?
    var labelMicros: Int64?
    var marginMicros: Int64?
    var defaultService: String?
    var defaultMicros: Int64?
    var savingMicros: Int64?
    var actionable: Bool
    var runId: Int64
    var decidedAt: Int64

    init(_ v: ListingShippingVerdict, sweep: Int64, runID: Int64, at: Int64) {
        sweepId = sweep
        marketplace = Coded(v.marketplace)
        listingId = v.listingID
        postalCode = v.destinationPostalCode
        sku = v.sku
        status = v.status
        reason = v.reason
        handlingDays = v.handlingDays
        promiseDays = v.promiseDays
        carrier = v.carrier
        service = v.service
        serviceKey = v.serviceKey
        source = v.source
        deliveryDays = v.deliveryDays
        billableOz = v.billableOunces
        currency = v.currency
        chargedMicros = v.chargedMicros
        labelMicros = v.labelMicros
        marginMicros = v.marginMicros
        defaultService = v.defaultService
        defaultMicros = v.defaultMicros
        savingMicros = v.savingMicros
        actionable = v.actionable
        runId = runID
        decidedAt = at
    }

    /// The currency is one this build knows (the verdict keeps it as its code).
    func check() throws {
        guard Currency(code: currency) != nil else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unknown currency \"\(currency)\""))
        }
    }

    /// A sweep's verdicts, by marketplace and listing (and destination).
    static func verdicts(_ db: Database, sweep: Int64) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "sweep_id = ?", arguments: [sweep]).order(sql: Table.keyColumns.dropFirst().joined(separator: ", ")))
    }

    var verdict: ListingShippingVerdict {
        ListingShippingVerdict(
            marketplace: marketplace.value, listingID: listingId, sku: sku, destinationPostalCode: postalCode, status: status,
            reason: reason, handlingDays: handlingDays, promiseDays: promiseDays, carrier: carrier, service: service,
            serviceKey: serviceKey, source: source, deliveryDays: deliveryDays, billableOunces: billableOz, currency: currency,
            chargedMicros: chargedMicros, labelMicros: labelMicros, marginMicros: marginMicros, defaultService: defaultService,
            defaultMicros: defaultMicros, savingMicros: savingMicros, actionable: actionable)
    }
}
