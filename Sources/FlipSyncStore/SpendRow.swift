import FlipSyncCore
import GRDB

/// One row of the `spend` table: one metered call. Reads go through it; a row that does not
/// decode (a NULL where a value is required, an unknown currency) is an error naming the table
/// and the row id, never a default.
struct SpendRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "spend"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    var id: Int64
    var atMs: Int64
    var provider: String
    var operation: String
    var units: Int64
    var inputTokens: Int64
    var cachedInputTokens: Int64
    var outputTokens: Int64
    var costMicros: Int64
    var currency: String
    var job: String?
    var runId: Int64?
    var taskKey: String?
    var servedFromCache: Bool
    var status: Int?

    /// The recorded call, or an error naming the row when its currency is not one this build knows.
    func entry() throws(LedgerError) -> SpendEntry {
        guard let code = Currency(code: currency) else { throw .storage("spend row \(id): unknown currency \"\(currency)\"") }
        let call = MeteredCall(provider: provider, operation: operation, units: units,
                               cost: Money(micros: costMicros, currency: code), servedFromCache: servedFromCache, status: status,
                               inputTokens: inputTokens, cachedInputTokens: cachedInputTokens, outputTokens: outputTokens)
        return SpendEntry(at: atMs, job: job, runID: runId, taskKey: taskKey, call: call)
    }
}
