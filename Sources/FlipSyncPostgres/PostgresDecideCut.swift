import FlipSyncCore
import FlipSyncStore
import PostgresNIO

/// A sweep's decide wave cut into tasks in PostgreSQL (`decide_cut`), under the same rules as
/// SQLite's (`DecideCutStore`): the same numbering statement (`DecideCutSQL`), SKUs ordered by
/// their bytes (`COLLATE "C"`).
extension PostgresRepricingLedger {
    public func clearDecideCut(sweep: Int64, marketplace: MarketplaceName?) async throws(LedgerError) {
        if let marketplace {
            try await session.writeAsync("DELETE FROM decide_cut WHERE sweep_id = $1 AND marketplace = $2", [.integer(sweep), .text(marketplace.rawValue)])
        } else {
            try await session.writeAsync("DELETE FROM decide_cut WHERE sweep_id = $1", [.integer(sweep)])
        }
    }

    /// Multi-row upserts of at most `rowsPerStatement` entries, in one transaction.
    public func addToDecideCut(_ entries: [DecideCutEntry], sweep: Int64, marketplace: MarketplaceName) async throws(LedgerError) {
        guard !entries.isEmpty else { return }
        let rows: [[LedgerValue]] = entries.map { entry in
            [.integer(sweep), .text(marketplace.rawValue), .text(entry.sku), PostgresLedger.optional(entry.key?.name),
             .integer(entry.key?.refresh == true ? 1 : 0), PostgresLedger.optional(entry.key?.limit.map { Int64(Swift.max(1, $0)) })]
        }
        try await writeAsync(PostgresSession.inserts(
            into: "decide_cut", columns: ["sweep_id", "marketplace", "sku", "group_key", "refresh", "group_limit"], rows: rows,
            rowsPerStatement: Self.rowsPerStatement,
            then: """
                ON CONFLICT (sweep_id, marketplace, sku) DO UPDATE SET
                group_key = excluded.group_key, refresh = excluded.refresh, group_limit = excluded.group_limit, task = NULL
                """))
    }

    public func cutDecideWave(sweep: Int64, marketplace: MarketplaceName) async throws(LedgerError) -> Int {
        let key: [LedgerValue] = [.integer(sweep), .text(marketplace.rawValue)]
        try await session.writeAsync(DecideCutSQL.numbering(parameter: { "$\($0)" }, collate: #" COLLATE "C""#), key + key)
        let rows = try await session.queryAsync(
            "SELECT COALESCE(MAX(task) + 1, 0) AS tasks FROM decide_cut WHERE sweep_id = $1 AND marketplace = $2", key)
        return Int(try rows.first.map { row throws(LedgerError) in try PostgresColumns(row).get("tasks", as: Int64.self) } ?? 0)
    }

    public func decideCutTasks(sweep: Int64, marketplace: MarketplaceName, tasks: Range<Int>) async throws(LedgerError) -> [DecideCutTask] {
        guard !tasks.isEmpty else { return [] }
        var cut = DecideCutTasks()
        for row in try await session.queryAsync("""
            SELECT task, sku, refresh FROM decide_cut
            WHERE sweep_id = $1 AND marketplace = $2 AND task >= $3 AND task < $4 ORDER BY task, sku COLLATE "C"
            """, [.integer(sweep), .text(marketplace.rawValue), .integer(Int64(tasks.lowerBound)), .integer(Int64(tasks.upperBound))]) {
            let columns = PostgresColumns(row)
            cut.add(task: Int(try columns.get("task", as: Int64.self)), sku: try columns.get("sku"),
                    refresh: try columns.get("refresh", as: Int64.self) != 0)
        }
        return cut.tasks
    }
}
