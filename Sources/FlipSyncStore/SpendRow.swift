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

extension SpendRow {
    /// Reads go through here, column by column, never through `Codable`.
    init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        atMs = try row.decode(forColumn: "at_ms")
        provider = try row.decode(forColumn: "provider")
        operation = try row.decode(forColumn: "operation")
        units = try row.decode(forColumn: "units")
        inputTokens = try row.decode(forColumn: "input_tokens")
        cachedInputTokens = try row.decode(forColumn: "cached_input_tokens")
        outputTokens = try row.decode(forColumn: "output_tokens")
        costMicros = try row.decode(forColumn: "cost_micros")
        currency = try row.decode(forColumn: "currency")
        job = try row.decode(forColumn: "job")
        runId = try row.decode(forColumn: "run_id")
        taskKey = try row.decode(forColumn: "task_key")
        servedFromCache = try row.decode(forColumn: "served_from_cache")
        status = try row.decode(forColumn: "status")
    }
}
