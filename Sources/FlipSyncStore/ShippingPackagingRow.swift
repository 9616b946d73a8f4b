import FlipSyncCore
import GRDB

/// One row of `shipping_packaging`: a SKU's packed size and weight, from the imported table.
struct ShippingPackagingRow: Codable, LedgerRow {
    static let databaseTableName = "shipping_packaging"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["sku"]

    var sku: String
    var weightTenthsOz: Int
    var lengthTenthsIn: Int
    var widthTenthsIn: Int
    var heightTenthsIn: Int
    var source: String
    var importedAt: Int64

    static func packaging(_ db: Database, sku: String) throws -> Self? { try fetchOneNamed(db, filter(key: sku)) }

    var size: ParcelSize {
        ParcelSize(lengthTenthsIn: lengthTenthsIn, widthTenthsIn: widthTenthsIn, heightTenthsIn: heightTenthsIn, weightTenthsOz: weightTenthsOz)
    }
}
