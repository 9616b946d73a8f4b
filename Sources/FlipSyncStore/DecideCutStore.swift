import FlipSyncCore
import GRDB

/// A repricing sweep's decide wave, cut into tasks in the ledger (`decide_cut`) rather than in
/// memory: the planner adds the listings it takes a page at a time, one statement numbers the
/// tasks (`cutDecideWave`), and the coordinator reads the tasks a page at a time
/// (`decideCutTasks`), so planning a wave of 100,000 listings holds no more than a page of them.
extension RunStore {
    static func registerDecideCutMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m20-decide-cut: a sweep's decide wave cut into tasks in the ledger") { db in
            // `group_key` NULL: the listing is alone. `group_limit` NULL: no limit. `task` is
            // NULL until the cut numbers the tasks.
            try db.execute(sql: """
                CREATE TABLE decide_cut (
                    sweep_id INTEGER NOT NULL,
                    marketplace TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    group_key TEXT,
                    refresh INTEGER NOT NULL,
                    group_limit INTEGER,
                    task INTEGER,
                    PRIMARY KEY (sweep_id, marketplace, sku)
                ) WITHOUT ROWID;
                CREATE INDEX decide_cut_by_task ON decide_cut (sweep_id, marketplace, task, sku);
                """)
        }
    }

    public func clearDecideCut(sweep: Int64, marketplace: MarketplaceName?) throws(LedgerError) {
        try write { db in
            if let marketplace {
                try db.execute(literal: "DELETE FROM decide_cut WHERE sweep_id = \(sweep) AND marketplace = \(marketplace.rawValue)")
            } else {
                try db.execute(literal: "DELETE FROM decide_cut WHERE sweep_id = \(sweep)")
            }
        }
    }

    /// One transaction, one prepared statement for every entry.
    public func addToDecideCut(_ entries: [DecideCutEntry], sweep: Int64, marketplace: MarketplaceName) throws(LedgerError) {
        guard !entries.isEmpty else { return }
        try write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO decide_cut (sweep_id, marketplace, sku, group_key, refresh, group_limit, task) VALUES (?, ?, ?, ?, ?, ?, NULL)
                ON CONFLICT (sweep_id, marketplace, sku) DO UPDATE SET
                    group_key = excluded.group_key, refresh = excluded.refresh, group_limit = excluded.group_limit, task = NULL
                """)
            for entry in entries {
                try statement.execute(arguments: [sweep, marketplace.rawValue, entry.sku, entry.key?.name, entry.key?.refresh ?? false,
                                                   entry.key?.limit.map { Swift.max(1, $0) }])
            }
        }
    }

    /// One UPDATE (`DecideCutSQL.numbering`), then the tasks counted.
    public func cutDecideWave(sweep: Int64, marketplace: MarketplaceName) throws(LedgerError) -> Int {
        try write { db in
            try db.execute(sql: DecideCutSQL.numbering(parameter: { _ in "?" }, collate: ""),
                           arguments: [sweep, marketplace.rawValue, sweep, marketplace.rawValue])
            return try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(task) + 1, 0) FROM decide_cut WHERE sweep_id = ? AND marketplace = ?",
                                    arguments: [sweep, marketplace.rawValue]) ?? 0
        }
    }

    /// A range of the `decide_cut_by_task` index. A row whose values are not of their columns'
    /// types (text in `refresh`, say) is an error naming the column, never a default.
    public func decideCutTasks(sweep: Int64, marketplace: MarketplaceName, tasks: Range<Int>) throws(LedgerError) -> [DecideCutTask] {
        guard !tasks.isEmpty else { return [] }
        return try read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT task, sku, refresh FROM decide_cut
                WHERE sweep_id = ? AND marketplace = ? AND task >= ? AND task < ? ORDER BY task, sku
                """, arguments: [sweep, marketplace.rawValue, tasks.lowerBound, tasks.upperBound])
            var cut = DecideCutTasks()
            while let row = try rows.next() {
                let columns = RecordColumns(row: row, names: ["task", "sku", "refresh"], start: 0)
                cut.add(task: try columns.decode(0), sku: try columns.decode(1), refresh: try columns.decode(2))
            }
            return cut.tasks
        }
    }
}

/// The decide cut's rows gathered into tasks (rows come ordered by task, then SKU).
public struct DecideCutTasks {
    public private(set) var tasks: [DecideCutTask] = []

    public init() {}

    public mutating func add(task: Int, sku: String, refresh: Bool) {
        if tasks.last?.task == task {
            tasks[tasks.count - 1].skus.append(sku)
        } else {
            tasks.append(DecideCutTask(task: task, skus: [sku], refresh: refresh))
        }
    }
}

/// The SQL numbering a decide cut's tasks, the same in both dialects but for how parameters
/// are written and how text is ordered (`collate`: PostgreSQL's ` COLLATE "C"`, the bytes, as
/// SQLite orders). Parameters in order: the sweep and the marketplace, twice.
///
/// It cuts as `CompetitionGroupBuilder` does with the listings added in SKU order. A listing
/// with a key joins the listings with an equal key (name, refresh, limit), `group_limit` at
/// most: chunk n of a key is its SKUs n·limit …< (n+1)·limit in SKU order. A listing without a
/// key is a task of its own. A task's first SKU places it: refresh tasks first, then the
/// others, each group in order of its first SKU.
public enum DecideCutSQL {
    public static func numbering(parameter: (Int) -> String, collate: String) -> String {
        let (sweep, marketplace, sweep2, marketplace2) = (parameter(1), parameter(2), parameter(3), parameter(4))
        return """
            UPDATE decide_cut SET task = numbered.task
            FROM (
                SELECT sku, DENSE_RANK() OVER (ORDER BY refresh DESC, first_sku\(collate)) - 1 AS task
                FROM (
                    SELECT sku, refresh,
                           CASE WHEN group_key IS NULL THEN sku
                                ELSE MIN(sku\(collate)) OVER (PARTITION BY group_key, refresh, group_limit, chunk) END AS first_sku
                    FROM (
                        SELECT sku, group_key, refresh, group_limit,
                               CASE WHEN group_key IS NULL OR group_limit IS NULL THEN 0
                                    ELSE (ROW_NUMBER() OVER (PARTITION BY group_key, refresh, group_limit ORDER BY sku\(collate)) - 1) / group_limit
                               END AS chunk
                        FROM decide_cut WHERE sweep_id = \(sweep) AND marketplace = \(marketplace)
                    ) AS chunked
                ) AS grouped
            ) AS numbered
            WHERE decide_cut.sweep_id = \(sweep2) AND decide_cut.marketplace = \(marketplace2) AND decide_cut.sku = numbered.sku
            """
    }
}
