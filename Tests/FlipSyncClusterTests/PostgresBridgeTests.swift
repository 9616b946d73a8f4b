import FlipSyncCore
@testable import FlipSyncPostgres
import Testing

@Suite("PostgresInsertsTests: one multi-row INSERT builder for every PostgreSQL store", .timeLimit(.minutes(1)))
struct PostgresInsertsTests {
    /// Rows of `width` columns whose values count up from 0, so order and placement are visible.
    static func rows(_ count: Int, width: Int) -> [[LedgerValue]] {
        (0..<count).map { row in (0..<width).map { .integer(Int64(row * width + $0)) } }
    }

    @Test("statements carry at most the rows asked for and never over 60,000 values, numbered $1… each, every row once in order",
          arguments: [(12, 1_201, 500, 3), (17, 7_000, Int.max, 2), (130, 1_000, 500, 3), (4, 500, 500, 1), (70_000, 2, 500, 2)])
    func chunking(width: Int, rows count: Int, cap: Int, statements expected: Int) {
        let rows = Self.rows(count, width: width)
        let statements = PostgresSession.inserts(into: "t", columns: (0..<width).map { "c\($0)" }, rows: rows, rowsPerStatement: cap)
        #expect(statements.count == expected)
        for statement in statements {
            #expect(statement.values.count % width == 0)
            #expect(statement.values.count / width <= cap)
            #expect(statement.values.count <= max(60_000, width))
            #expect(statement.sql.hasSuffix(", $\(statement.values.count))"))
            #expect(!statement.sql.contains("$\(statement.values.count + 1)"))
        }
        #expect(statements.flatMap(\.values) == rows.flatMap { $0 })
    }

    @Test("the SQL: columns, OVERRIDING SYSTEM VALUE when asked, one tuple per row, the clause after")
    func text() {
        let plain = PostgresSession.inserts(into: "unit_costs", columns: ["sku", "cost_micros"], rows: Self.rows(2, width: 2))
        #expect(plain.map(\.sql) == ["INSERT INTO unit_costs (sku, cost_micros) VALUES ($1, $2), ($3, $4)"])
        let copied = PostgresSession.inserts(into: "runs", columns: ["\"id\""], rows: Self.rows(1, width: 1), overridingSystemValue: true,
                                             then: "ON CONFLICT DO NOTHING")
        #expect(copied.map(\.sql) == ["INSERT INTO runs (\"id\") OVERRIDING SYSTEM VALUE VALUES ($1) ON CONFLICT DO NOTHING"])
        #expect(PostgresSession.inserts(into: "t", columns: ["a"], rows: []).isEmpty)
    }
}

extension PostgresLedgerTests {
    @Test("a column read by name: a missing column, a NULL where a value is required and a value of another type are errors naming the column")
    func columnReader() async throws {
        let server = try server()
        let ledger = try PostgresLedger(endpoint: try await server.freshDatabase(), password: server.password)
        let rows = try ledger.session.query("SELECT 7::BIGINT AS n, NULL::TEXT AS missing, 'x' AS code").map(PostgresColumns.init)
        let row = try #require(rows.first)
        #expect(try row.get("n", as: Int64.self) == 7)
        #expect(try row.get("missing", as: String?.self) == nil)
        func failure(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return "no error"
        }
        #expect(failure { _ = try row.get("absent", as: Int64.self) }.contains("no column absent"))
        #expect(failure { _ = try row.get("missing", as: String.self) }.contains("column missing is NULL"))
        #expect(failure { _ = try row.get("code", as: Int64.self) }.contains("column code: typeMismatch"))
        #expect(failure { _ = try row.code("code", as: RunStatus.self) }.contains("unknown code \"x\""))
        #expect(failure { _ = try row.money("n", "missing") }.contains("n: an amount without its currency"))
    }
}

extension PostgresLedgerTests {
    @Test("transactionAsync: its statements commit together, or none does when one fails (the error carries PostgreSQL's reason)")
    func asyncTransaction() async throws {
        let server = try server()
        let session = try PostgresLedger(endpoint: try await server.freshDatabase(), password: server.password).session
        try session.query("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL)")
        func count() throws -> Int64 { try PostgresColumns(try session.query("SELECT count(*) AS n FROM t")[0]).get("n", as: Int64.self) }

        try await session.transactionAsync([("INSERT INTO t VALUES ($1, $2)", [.text("a"), .integer(1)]),
                                            ("INSERT INTO t VALUES ($1, $2)", [.text("b"), .integer(2)])])
        #expect(try count() == 2)

        var failure = ""
        do {
            try await session.transactionAsync([("INSERT INTO t VALUES ($1, $2)", [.text("c"), .integer(3)]),
                                                ("INSERT INTO t VALUES ($1, $2)", [.text("a"), .integer(4)])])
        } catch {
            failure = "\(error)"
        }
        #expect(failure.contains("duplicate key"), "\(failure)")
        #expect(try count() == 2, "the first statement of the failed transaction was rolled back")
    }
}

@Suite("PostgresTaskCommitsTests: task rows committed together leave what they would one after the other", .timeLimit(.minutes(1)))
struct PostgresTaskCommitsTests {
    @Test("merged: one row per (run, key), at its first place, with its last values and the last input given; other keys and runs apart")
    func merged() {
        let rows = PostgresTaskCommits.merged([
            TaskInfo(runID: 1, key: "a", agent: "x", status: .pending, input: "{\"a\":1}"),
            TaskInfo(runID: 1, key: "b", agent: "x", status: .running, attempts: 1, input: "{\"b\":1}"),
            TaskInfo(runID: 2, key: "a", agent: "x", status: .running),
            TaskInfo(runID: 1, key: "a", agent: "x", status: .running, attempts: 1, startedAt: 3),
            TaskInfo(runID: 1, key: "b", agent: "x", status: .running, attempts: 2, input: "{\"b\":2}"),
            TaskInfo(runID: 1, key: "a", agent: "x", status: .succeeded, attempts: 1, startedAt: 3, finishedAt: 4, result: "{}"),
        ])
        #expect(rows == [
            TaskInfo(runID: 1, key: "a", agent: "x", status: .succeeded, attempts: 1, startedAt: 3, finishedAt: 4, result: "{}", input: "{\"a\":1}"),
            TaskInfo(runID: 1, key: "b", agent: "x", status: .running, attempts: 2, input: "{\"b\":2}"),
            TaskInfo(runID: 2, key: "a", agent: "x", status: .running),
        ])
    }
}
