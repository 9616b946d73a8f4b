import FlipSyncCore
import GRDB

extension FetchableRecord where Self: TableRecord {
    /// Every record `request` selects. A row that does not decode (an unknown status, a NULL
    /// where a value is required) is an error naming the table and the row's `key` columns,
    /// never a default.
    static func fetchAllNamed(_ db: Database, _ request: QueryInterfaceRequest<Self>, key: [String]) throws -> [Self] {
        try Row.fetchAll(db, request).map { row in
            do {
                return try Self(row: row)
            } catch {
                let named = key.map { "\($0) \(row[$0] as DatabaseValue)" }.joined(separator: ", ")
                throw LedgerError.storage("\(databaseTableName) row (\(named)) does not decode: \(error)")
            }
        }
    }
}
