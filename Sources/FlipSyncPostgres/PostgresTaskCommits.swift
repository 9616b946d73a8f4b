import FlipSyncCore

/// `commitTask` on PostgreSQL, coalesced (`WriteCoalescer`): the task rows that arrive while one
/// statement is on its way go together in the next, one multi-row upsert, as the SQLite ledger's
/// group commit writes them. A run's tasks each write their row two or three times (running, then
/// how they ended), so a pool of 16 wrote three statements a task, one round trip each; under
/// load the rows now share statements, and a lone row is written at once.
///
/// - A caller returns once the statement holding its row has committed, or with that
///   statement's error: its durability is what it was with a statement of its own.
/// - The same task twice in one batch is one row, the later, with the earlier's `input` when the
///   later has none: exactly what the two upserts one after the other leave (PostgreSQL refuses
///   a multi-row upsert that touches a row twice).
/// - A batch that fails is written again one statement a row, all at once through the pool, so
///   one bad row (its run deleted) fails only its caller; each statement has its own deadline,
///   so the retry ends within the session's `timeout` too.
final class PostgresTaskCommits: Sendable {
    /// The most rows one statement takes (10 values a row, far under PostgreSQL's 65,535).
    static let maxBatch = 500

    private let coalescer: WriteCoalescer<TaskInfo, Void>

    init(session: PostgresSession) {
        coalescer = WriteCoalescer(maxBatch: Self.maxBatch) { tasks in
            await WriteCoalescer<TaskInfo, Void>.allOrEach(tasks, all: { tasks in
                try await Self.upsert(Self.merged(tasks), session)
                return tasks.map { _ in () }
            }, one: { task in try await Self.upsert([task], session) })
        }
    }

    /// Statements written so far (for tests and the bench; a failed batch's retries not counted).
    var statements: Int { coalescer.batchesWritten }

    /// Writes `task`'s row in the next statement; returns once it has committed.
    func commit(_ task: TaskInfo) async throws(LedgerError) {
        do {
            try await coalescer.submit(task)
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    private static func upsert(_ rows: [TaskInfo], _ session: PostgresSession) async throws(LedgerError) {
        if rows.count == 1 {
            try await session.writeAsync(PostgresLedger.upsertTaskSQL, PostgresLedger.upsertValues(rows[0]))
            return
        }
        let statement = PostgresSession.inserts(into: "tasks", columns: PostgresLedger.taskColumns, rows: rows.map(PostgresLedger.upsertValues),
                                                then: PostgresLedger.taskUpsert)
        precondition(statement.count == 1, "\(rows.count) task rows in \(statement.count) statements")
        try await session.writeAsync(statement[0].sql, statement[0].values)
    }

    /// The rows that `tasks`' upserts one after the other leave: one per (run, key), at the
    /// place of its first, holding its last values and the last `input` given.
    static func merged(_ tasks: [TaskInfo]) -> [TaskInfo] {
        struct Key: Hashable { var run: Int64; var key: String }
        var index: [Key: Int] = [:]
        var rows: [TaskInfo] = []
        rows.reserveCapacity(tasks.count)
        for task in tasks {
            let key = Key(run: task.runID, key: task.key)
            if let at = index[key] {
                let input = task.input ?? rows[at].input
                rows[at] = task
                rows[at].input = input
            } else {
                index[key] = rows.count
                rows.append(task)
            }
        }
        return rows
    }
}
