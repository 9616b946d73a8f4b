import FlipSyncCore
import FlipSyncPostgres
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import GRDB
import PostgresNIO
import Synchronization
import Testing


/// One table's shape, as both stores are compared: column names with whether each may be NULL
/// and whether it holds integers, the primary key's columns, and every other index.
private struct TableShape: Equatable, CustomStringConvertible {
    var columns: [String: String]  // name → "integer not null", "text null", …
    var primaryKey: [String]
    var indexes: Set<String>  // "name(unique): a,b"

    var description: String { "columns \(columns.sorted { $0.key < $1.key }), primary key \(primaryKey), indexes \(indexes.sorted())" }
}

private func temporarySQLite() -> String {
    TestScratch.file("ledger.sqlite")
}

private func sqliteShapes(_ path: String) throws -> [String: TableShape] {
    let queue = try ledgerConnection(path)
    return try queue.read { db in
        var shapes: [String: TableShape] = [:]
        let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        for table in tables where !PostgresLedgerSchema.bookkeepingTables.contains(table) {
            let columns = try db.columns(in: table)
            let primaryKey = try db.primaryKey(table).columns
            var shape = TableShape(columns: [:], primaryKey: primaryKey, indexes: [])
            for column in columns {
                let type = column.type.uppercased() == "INTEGER" ? "integer" : column.type.lowercased()
                let notNull = column.isNotNull || primaryKey.contains(column.name)
                shape.columns[column.name] = "\(type) \(notNull ? "not null" : "null")"
            }
            for index in try db.indexes(on: table) where index.origin != .primaryKeyConstraint {
                shape.indexes.insert("\(index.name)(\(index.isUnique ? "unique" : "")): \(index.columns.joined(separator: ","))")
            }
            shapes[table] = shape
        }
        return shapes
    }
}

private func postgresShapes(_ session: PostgresSession) throws -> [String: TableShape] {
    var shapes: [String: TableShape] = [:]
    let columns = try session.query("""
        SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = current_schema()
        """)
    for row in columns {
        let table: String = try row.decode(String.self, at: 0), column: String = try row.decode(String.self, at: 1)
        guard !PostgresLedgerSchema.bookkeepingTables.contains(table), !table.hasPrefix("flipsync_cluster_"),
              !(PostgresLedgerSchema.postgresOnlyColumns[table]?.contains(column) ?? false) else { continue }
        let dataType: String = try row.decode(String.self, at: 2), nullable: String = try row.decode(String.self, at: 3)
        let type = dataType == "bigint" ? "integer" : dataType
        shapes[table, default: TableShape(columns: [:], primaryKey: [], indexes: [])].columns[column] = "\(type) \(nullable == "NO" ? "not null" : "null")"
    }
    let indexes = try session.query("""
        SELECT t.relname, i.relname, ix.indisunique, ix.indisprimary,
               array_to_string(ARRAY(SELECT a.attname FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                                     JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum ORDER BY k.n), ',')
        FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
        JOIN pg_namespace ns ON ns.oid = t.relnamespace WHERE ns.nspname = current_schema()
        """)
    for row in indexes {
        let table: String = try row.decode(String.self, at: 0)
        guard shapes[table] != nil else { continue }
        let name: String = try row.decode(String.self, at: 1), columns: String = try row.decode(String.self, at: 4)
        if PostgresLedgerSchema.postgresOnlyIndexes[name] == table {
            continue  // compared by `schemasMatch` on its own: SQLite has no such index by design
        } else if try row.decode(Bool.self, at: 3) {
            shapes[table]?.primaryKey = columns.split(separator: ",").map(String.init)
        } else {
            shapes[table]?.indexes.insert("\(name)(\(try row.decode(Bool.self, at: 2) ? "unique" : "")): \(columns)")
        }
    }
    return shapes
}

extension PostgresRow {
    fileprivate func decode<T: PostgresDecodable>(_ type: T.Type, at index: Int) throws -> T {
        try makeRandomAccess()[index].decode(T.self)
    }
}

/// Values for a row of every ledger table that its CHECKs and keys accept (row `i`).
private func syntheticValue(table: String, column: String, type: String, notNull: Bool, row i: Int) -> DatabaseValue {
    let flags: Set<String> = ["served_from_cache", "counted", "guaranteed", "adequate", "actionable", "paused"]
    if flags.contains(column) { return (i % 2).databaseValue }
    let fixed: [String: String] = ["runs.trigger": "manual", "runs.status": "succeeded", "tasks.status": "succeeded",
                                   "sync_pushes.status": "applied", "decisions.state": "applied"]
    if let value = fixed["\(table).\(column)"] { return value.databaseValue }
    if column == "status", table.hasPrefix("shipping_") { return (i == 2 ? "no-rate" : "recommended").databaseValue }
    if column == "resumes" { return i == 0 ? .null : Int64(i).databaseValue }
    if !notNull && i == 1 { return .null }
    if type.uppercased() == "INTEGER" {
        if column == "id" || column.hasSuffix("_id") { return Int64(i + 1).databaseValue }
        return Int64(1_000_000 * (i + 1) + column.count).databaseValue
    }
    return "\(column)-\(i)".databaseValue
}

private func sqliteMigrationNames(_ path: String) throws -> [String] {
    try ledgerConnection(path).read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") }
}

/// Three synthetic rows in every ledger table but runs, tasks and schedule state.
private func fillEveryOtherTable(_ path: String) throws {
        let queue = try ledgerConnection(path)
        try queue.write { db in
            for table in PostgresLedgerSchema.tables where !["runs", "tasks", "schedule_state"].contains(table) {
                let columns = try db.columns(in: table)
                for i in 0..<3 {
                    let values = columns.map { syntheticValue(table: table, column: $0.name, type: $0.type, notNull: $0.isNotNull, row: i) }
                    try db.execute(sql: "INSERT INTO \(table) (\(columns.map { "\"\($0.name)\"" }.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))",
                                   arguments: StatementArguments(values))
                }
            }
        }
        try queue.close()
}

@Suite("PostgresLedgerTests: the ledger's schema in PostgreSQL, its connection, and migrate-store", .postgresInstalled, .postgres, .serialized,
       .timeLimit(.minutes(4)))
struct PostgresLedgerTests {
    @Test("the two schemas match table by table: the same tables, columns (integer or text, NULL or not), primary keys and named indexes (unique or not; PostgreSQL's own, `postgresOnlyIndexes`, present there), and the same migration names in the same order")
    func schemasMatch() async throws {
        let server = try server()
        let ledger = try PostgresLedger(endpoint: try await server.freshDatabase(), password: server.password)
        let path = temporarySQLite()
        _ = try RunStore(path: path)
        let sqlite = try sqliteShapes(path), postgres = try postgresShapes(ledger.session)
        #expect(sqlite.keys.sorted() == postgres.keys.sorted())
        #expect(Set(sqlite.keys) == Set(PostgresLedgerSchema.tables))
        for table in sqlite.keys.sorted() {
            #expect(sqlite[table] == postgres[table], "table \(table)")
        }
        for (index, table) in PostgresLedgerSchema.postgresOnlyIndexes {
            let found = try ledger.session.query("SELECT tablename FROM pg_indexes WHERE indexname = $1", [.text(index)])
            #expect(try found.map { try $0.decode(String.self, at: 0) } == [table], "\(index) on \(table)")
        }
        let sqliteNames = try sqliteMigrationNames(path)
        #expect(try ledger.appliedMigrations() == sqliteNames)
        #expect(sqliteNames.count == 21)
        // PostgreSQL's own functions (m18, m19): one round trip for a remembered search, and for a read's offers.
        for function in ["flipsync_remember_search", "flipsync_remember_offers"] {
            let functions = try ledger.session.query("SELECT count(*)::BIGINT FROM pg_proc WHERE proname = $1", [.text(function)])
            #expect(try functions[0].decode(Int64.self, at: 0) == 1, "\(function)")
        }
    }

    @Test("nodes opening one database at once migrate it once: every step recorded once, all of them opened")
    func concurrentMigration() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase(), password = server.password
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { _ = try PostgresLedger(endpoint: endpoint, password: password) } }
            try await group.waitForAll()
        }
        let ledger = try PostgresLedger(endpoint: endpoint, password: password)
        #expect(try ledger.appliedMigrations() == PostgresLedgerSchema.migrations.map(\.name))
        let rows = try ledger.session.query("SELECT count(*) FROM flipsync_ledger_migrations")
        #expect(try rows[0].decode(Int64.self, at: 0) == 21)
        #expect(try PostgresLedger.migrate(ledger.session).isEmpty)
    }

    @Test("a read-only ledger (flipsyncctl's read commands) migrates nothing and writes nothing: no ledger yet, or one at an older schema step, is an error saying so; a write through it fails on the server")
    func readOnlyChangesNothing() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase(), password = server.password
        let observer = try PostgresSession(endpoint: endpoint, password: password)
        func tableExists() throws -> Bool {
            try observer.query("SELECT to_regclass('flipsync_ledger_migrations') IS NOT NULL AS present")[0]
                .makeRandomAccess()["present"].decode(Bool.self)
        }
        // No ledger yet: refused, and nothing created.
        let none = #expect(throws: LedgerError.self) { _ = try PostgresLedger(endpoint: endpoint, password: password, readOnly: true) }
        #expect("\(none.map { "\($0)" } ?? "")".contains("holds no FlipSync ledger yet"))
        #expect(try !tableExists())
        let credentials = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: credentials) }
        _ = FileManager.default.createFile(atPath: credentials + "/postgres-password", contents: Data(password.utf8),
                                           attributes: [.posixPermissions: 0o600])
        let cli = try flipsyncctl(["runs", "--database", "\(endpoint)"], environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(cli.status == 1 && cli.error.contains("holds no FlipSync ledger yet"), "\(cli.output)\n\(cli.error)")
        #expect(!cli.error.contains(password))
        #expect(try !tableExists(), "flipsyncctl runs created nothing")

        // Migrated: a reader opens it and reads; a write through it fails on the server.
        let writer = try PostgresLedger(endpoint: endpoint, password: password)
        _ = try writer.recordFire(job: "j", kind: "k", trigger: .schedule, requestedBy: nil, scheduledAt: 1, status: .queued,
                                  skipReason: nil, summary: nil, at: 1, resumes: nil)
        let reader = try PostgresLedger(endpoint: endpoint, password: password, readOnly: true)
        #expect(try reader.recentRuns(job: nil, limit: 5).map(\.job) == ["j"], "the reader reads what the writer recorded")
        #expect(try reader.scheduleStates().isEmpty)
        let write = #expect(throws: LedgerError.self) {
            _ = try reader.recordFire(job: "j", kind: "k", trigger: .schedule, requestedBy: nil, scheduledAt: 2, status: .queued,
                                      skipReason: nil, summary: nil, at: 2, resumes: nil)
        }
        #expect("\(write.map { "\($0)" } ?? "")".contains("read-only transaction"), "\(String(describing: write))")

        // One schema step short (an older FlipSync's database): refused, naming the step; nothing migrated.
        let last = try #require(PostgresLedgerSchema.migrations.last?.name)
        try observer.query("DELETE FROM flipsync_ledger_migrations WHERE identifier = $1", [.text(last)])
        let older = #expect(throws: LedgerError.self) { _ = try PostgresLedger(endpoint: endpoint, password: password, readOnly: true) }
        #expect("\(older.map { "\($0)" } ?? "")".contains("the ledger has 20 of this FlipSync's 21 schema steps (missing \(last))"),
                "\(String(describing: older))")
        let count = try observer.query("SELECT count(*)::BIGINT FROM flipsync_ledger_migrations")[0].decode(Int64.self, at: 0)
        #expect(count == 20)
    }

    @Test("a statement with no answer within the deadline fails naming it; a connection the server killed is replaced at the next call")
    func deadlineAndReconnect() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase()
        let session = try PostgresSession(endpoint: endpoint, password: server.password, timeout: 1)
        let ledger = try PostgresLedger(session: session)
        let started = ContinuousClock.now
        let error = #expect(throws: LedgerError.self) { try session.query("SELECT pg_sleep(5)") }
        #expect("\(error.map { "\($0)" } ?? "")".contains("SELECT pg_sleep(5): no answer from PostgreSQL within 1 s"))
        #expect(ContinuousClock.now - started < .seconds(3))
        // The server gave up on it too (`statement_timeout`): it is not left running for 4 s more.
        let observer = try PostgresSession(endpoint: endpoint, password: server.password)
        var stillRunning: Int64 = -1
        for _ in 0..<20 {
            stillRunning = try observer.query("SELECT count(*)::BIGINT FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'")
                .first.map { try $0.makeRandomAccess()["count"].decode(Int64.self) } ?? -1
            if stillRunning == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(stillRunning == 0, "the abandoned statement still runs on the server")
        #expect(ContinuousClock.now - started < .seconds(4))
        // The next call opens a new connection and works.
        #expect(try ledger.recordFire(job: "j", kind: "k", trigger: .schedule, requestedBy: nil, scheduledAt: 1, status: .queued,
                                      skipReason: nil, summary: nil, at: 1, resumes: nil) != nil)
        let opened = session.connectionsOpened
        // Another session kills this one's backend: the call after that reconnects (one may fail first).
        let killer = try PostgresSession(endpoint: endpoint, password: server.password)
        try killer.query("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        _ = try? ledger.scheduleStates()
        #expect(try ledger.recordFire(job: "j", kind: "k", trigger: .schedule, requestedBy: nil, scheduledAt: 2, status: .queued,
                                      skipReason: nil, summary: nil, at: 2, resumes: nil) != nil)
        #expect(session.connectionsOpened == opened + 1)
    }

    @Test("from async code a statement waits without holding a thread: four at once on a 2-core machine (they were two, the threads, when they blocked); past the deadline it fails naming the statement, and the pool goes on")
    func asyncStatements() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase()
        let session = try PostgresSession(endpoint: endpoint, password: server.password, timeout: 2)
        let observer = try PostgresSession(endpoint: endpoint, password: server.password)
        func sleeping() throws -> Int64 {
            try observer.query("SELECT count(*)::BIGINT FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(1.5)' AND state = 'active'")
                .first.map { try $0.makeRandomAccess()["count"].decode(Int64.self) } ?? -1
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { try await session.queryAsync("SELECT pg_sleep(1.5)") } }
            var most: Int64 = 0
            for _ in 0..<28 where most < 4 {
                most = max(most, try sleeping())
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(most == 4, "statements in flight at once")
            try await group.waitForAll()
        }
        let started = ContinuousClock.now
        let error = await #expect(throws: LedgerError.self) { try await session.queryAsync("SELECT pg_sleep(5)") }
        #expect("\(error.map { "\($0)" } ?? "")".contains("SELECT pg_sleep(5)"))
        #expect(ContinuousClock.now - started < .seconds(4))
        let one = try await session.queryAsync("SELECT $1::BIGINT AS one", [.integer(1)])
        #expect(try one.first.map { try $0.makeRandomAccess()["one"].decode(Int64.self) } == 1)
    }

    @Test("two nodes consuming one quota at once never go past its limit: 80 calls for a limit of 50, exactly 50 let through and counted")
    func quotaAcrossNodes() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase(), password = server.password
        let key = QuotaKey(provider: "acme", api: "search")
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        let policy = QuotaPolicy(limits: [key: 50])
        let nodes = try (0..<2).map { _ in
            PostgresQuotaLedger(ledger: try PostgresLedger(endpoint: endpoint, password: password), policy: policy, clock: clock)
        }
        let granted = try await withThrowingTaskGroup(of: Int.self) { group in
            for node in nodes {
                group.addTask {
                    var granted = 0
                    for _ in 0..<40 {
                        do {
                            try node.consume(key, units: 1, job: nil)
                            granted += 1
                        } catch let refusal as QuotaRefusal {
                            #expect(refusal.reason == QuotaRefusal.Reason.limitReached)
                        }
                    }
                    return granted
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(granted == 50)
        #expect(nodes[0].usage().first(where: { $0.key == key })?.used == 50)
    }

    @Test("two nodes reserving against one daily budget at once never overshoot it: 60 reservations of 0.10 for a budget of 4.00, exactly 40 granted; each settled at 0.05, the day's spend is 2.00")
    func spendAcrossNodes() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase(), password = server.password
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        let budgets = SpendBudgets(currency: .usd, timezone: .utc, daily: Money(micros: 4_000_000, currency: .usd))
        let nodes = try (0..<2).map { _ in
            try PostgresSpendLedger(ledger: try PostgresLedger(endpoint: endpoint, password: password), budgets: budgets, clock: clock)
        }
        // Every reservation is held until all are tried, so only the budget can refuse.
        let held = try await withThrowingTaskGroup(of: [(PostgresSpendLedger, SpendReservation)].self) { group in
            for node in nodes {
                group.addTask {
                    var held: [(PostgresSpendLedger, SpendReservation)] = []
                    for _ in 0..<30 {
                        do throws(TaskFailure) {
                            held.append((node, try node.reserve(provider: "carrier", operation: "label", estimate: Money(micros: 100_000, currency: .usd))))
                        } catch {
                            guard case .budgetExhausted = error else { Issue.record("\(error)"); continue }
                        }
                    }
                    return held
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(held.count == 40)
        for (node, reservation) in held {
            await node.record(MeteredCall(provider: "carrier", operation: "label", cost: Money(micros: 50_000, currency: .usd), status: 200),
                              settling: reservation)
        }
        let ledger = try PostgresLedger(endpoint: endpoint, password: password)
        let rows = try ledger.session.query("SELECT COALESCE(SUM(cost_micros), 0)::BIGINT, COUNT(*) FROM spend")
        #expect(try rows[0].decode(Int64.self, at: 0) == 2_000_000 && rows[0].decode(Int64.self, at: 1) == 40)
        #expect(try ledger.session.query("SELECT id FROM flipsync_spend_reservations").isEmpty)
    }

    @Test("a reservation never settled (its node died) stops counting after the reservation lifetime, and is deleted")
    func spendReservationExpires() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase(), password = server.password
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        let budgets = SpendBudgets(currency: .usd, timezone: .utc, daily: Money(micros: 1_000_000, currency: .usd))
        let dead = try PostgresSpendLedger(ledger: try PostgresLedger(endpoint: endpoint, password: password), budgets: budgets, clock: clock,
                                           reservationLifetime: 600_000)
        _ = try dead.reserve(provider: "llm", operation: "chat", estimate: Money(micros: 1_000_000, currency: .usd))
        let liveLedger = try PostgresLedger(endpoint: endpoint, password: password)
        let live = try PostgresSpendLedger(ledger: liveLedger, budgets: budgets, clock: clock)
        #expect(throws: TaskFailure.self) { try live.reserve(provider: "llm", operation: "chat", estimate: Money(micros: 1, currency: .usd)) }
        clock.advance(byMilliseconds: 600_000)
        let r = try live.reserve(provider: "llm", operation: "chat", estimate: Money(micros: 1_000_000, currency: .usd))
        #expect(try liveLedger.session.query("SELECT id FROM flipsync_spend_reservations").count == 1 && r.estimate.micros == 1_000_000)
    }

    @Test("60 calls that move no money recorded at once share statements, every row as given; a row PostgreSQL refuses (a NUL in its operation) is told not recorded, alone")
    func freeCallsCoalesced() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase(), password = server.password
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        let told = Mutex<[String]>([])
        let ledger = try PostgresLedger(endpoint: endpoint, password: password)
        let spend = try PostgresSpendLedger(ledger: ledger, budgets: SpendBudgets(currency: .usd, timezone: .utc), clock: clock,
                                            onEvent: { event in
                                                if case .notCounted(let why) = event { told.withLock { $0.append(why) } }
                                            })
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<60 {
                group.addTask {
                    await spend.record(MeteredCall(provider: "ebay", operation: "search-\(i)", units: Int64(i + 1), cost: Money(micros: 0, currency: .usd),
                                                   status: 200), settling: nil)
                }
            }
        }
        #expect(spend.freeCallStatements <= 30, "\(spend.freeCallStatements) statements for 60 rows")
        let rows = try ledger.session.query("SELECT operation, units, cost_micros, status FROM spend ORDER BY units")
        #expect(rows.count == 60)
        #expect(try rows.enumerated().allSatisfy { i, row in
            try row.decode(String.self, at: 0) == "search-\(i)" && row.decode(Int64.self, at: 1) == Int64(i + 1)
                && row.decode(Int64.self, at: 2) == 0 && row.decode(Int64.self, at: 3) == 200
        })
        #expect(told.withLock { $0 }.isEmpty)

        await withTaskGroup(of: Void.self) { group in
            for operation in ["a", "b\u{0}c", "d", "e"] {
                group.addTask {
                    await spend.record(MeteredCall(provider: "amazon", operation: operation, cost: Money(micros: 0, currency: .usd), status: 200),
                                       settling: nil)
                }
            }
        }
        #expect(try ledger.session.query("SELECT operation FROM spend WHERE provider = 'amazon'").map { try $0.decode(String.self, at: 0) }.sorted()
                == ["a", "d", "e"])
        let notRecorded = told.withLock { $0 }
        #expect(notRecorded.count == 1 && notRecorded[0].contains("not recorded"), "\(notRecorded)")
    }

    @Test("a lost node's runs taken over: its queued and running runs recorded before the look become interrupted in one step (its node kept, the error naming both nodes, their running tasks pending again); its ended runs, a later run and another node's are untouched; a second look takes nothing")
    func adoptRunsOfALostNode() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase(), password = server.password
        let dead = try PostgresLedger(endpoint: endpoint, password: password, node: "node-dead")
        let live = try PostgresLedger(endpoint: endpoint, password: password, node: "node-live")
        let adopter = try PostgresLedger(endpoint: endpoint, password: password, node: "node-a")
        defer { dead.close(); live.close(); adopter.close() }
        func fire(_ ledger: PostgresLedger, _ job: String, at: Int64) throws -> RunInfo {
            try #require(try ledger.recordFire(job: job, kind: "marketplace-sync", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                               status: .queued, skipReason: nil, summary: nil, at: at, resumes: nil))
        }
        let running = try fire(dead, "sync", at: 1_000)
        try dead.markRunning(runID: running.id, at: 1_001)
        try dead.saveTasks([TaskInfo(runID: running.id, key: "t1", agent: "a", status: .running, input: "{}"),
                            TaskInfo(runID: running.id, key: "t2", agent: "a", status: .succeeded, input: "{}")])
        let queued = try fire(dead, "ship", at: 1_100)
        let ended = try fire(dead, "scan", at: 1_200)
        try dead.finishRun(runID: ended.id, status: .succeeded, summary: "ok", error: nil, spendMicros: 0, at: 1_300)
        let others = try fire(live, "sync2", at: 1_000)
        try live.markRunning(runID: others.id, at: 1_001)
        let look = try adopter.lastRunID()
        #expect(look == others.id)
        // Recorded after the look (a restarted process of the lost node's): left alone, whatever its clock says.
        let later = try fire(dead, "tick", at: 500)

        let adopted = try adopter.adoptRuns(of: ["node-dead", "node-a"], upTo: look, at: 3_000)
        #expect(adopted.map(\.id) == [running.id, queued.id], "\(adopted.map(\.id))")
        #expect(adopted.allSatisfy { $0.status == .interrupted && $0.finishedAt == 3_000 })
        #expect(adopted.allSatisfy { $0.error == "node node-dead stopped heartbeating while the run was going; taken over by node node-a" },
                "\(adopted.map { $0.error ?? "-" })")
        #expect(try adopter.node(ofRun: running.id) == "node-dead" && adopter.node(ofRun: queued.id) == "node-dead")
        #expect(try adopter.tasks(runID: running.id).map(\.status) == [.pending, .succeeded])
        #expect(try adopter.run(id: ended.id)?.status == .succeeded)
        #expect(try adopter.run(id: later.id)?.status == .queued, "a run recorded after the look is a live process's")
        #expect(try adopter.run(id: others.id)?.status == .running)
        #expect(try adopter.adoptRuns(of: ["node-dead"], upTo: look, at: 3_100).isEmpty)
        // Its node, restarting, finds nothing left to interrupt; the interrupted run is there to resume once.
        #expect(try dead.interruptLeftovers(at: 4_000, reason: "restart").map(\.id) == [later.id])
        #expect(try adopter.adoptRuns(of: ["node-a"], upTo: .max, at: 9_000).isEmpty, "its own node is never adopted")
    }

    @Test("two nodes applying the same order lines at once count each line once: 20 lines of 1 unit sent by both, on-hand 100 ends at 80 and 20 lines are stored")
    func syncAcrossNodes() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase(), password = server.password
        let nodes = try (0..<2).map { _ in PostgresSyncLedger(ledger: try PostgresLedger(endpoint: endpoint, password: password)) }
        try nodes[0].seed(["A": 100], from: .ebay, at: 1)
        let applied = try await withThrowingTaskGroup(of: Int.self) { group in
            for node in nodes {
                group.addTask {
                    var applied = 0
                    for i in 0..<20 {
                        let line = OrderLine(marketplace: .amazon, orderID: "o\(i)", lineID: "1", sku: "A", quantity: 1, placedAt: 1)
                        applied += try node.applyOrders(OrdersPage(lines: [line], cursor: "c\(i)"), job: "sync", marketplace: .amazon, runID: 1, at: 2).applied
                    }
                    return applied
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(applied == 20)
        #expect(try nodes[1].onHand() == ["A": 80] && nodes[1].orderLineCount() == 20)
    }

    @Test("flipsyncctl migrate-store copies an SQLite ledger with rows in every table: counts match table by table, values and task order survive, ids continue past the largest; a non-empty target is refused without --force and replaced with it; the password is never printed")
    func migrateStore() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase()
        let path = temporarySQLite()
        let store = try RunStore(path: path)
        // Three rows in every table, written through the store where it has a call for it.
        var runIDs: [Int64] = []
        for i in 0..<3 {
            let run = try #require(try store.recordFire(job: "job-\(i)", kind: "repricing", trigger: .schedule, requestedBy: nil,
                                                        scheduledAt: Int64(100 + i), status: .queued, skipReason: nil, summary: nil,
                                                        at: Int64(1_000 + i), resumes: nil))
            runIDs.append(run.id)
            try store.finishRun(runID: run.id, status: .succeeded, summary: "run \(i)", error: nil, spendMicros: 1_234_567, at: 2_000)
        }
        try store.saveTasks(["z", "a", "m"].map { TaskInfo(runID: runIDs[0], key: $0, agent: "quote", status: .pending, input: "{}") })
        for i in 0..<3 { try store.saveScheduleState(ScheduleState(job: "job-\(i)", lastScheduledAt: 100, paused: i == 1)) }
        try fillEveryOtherTable(path)
        let passwordFile = temporarySQLite() + ".pw"
        try (server.password + "\n").write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let url = "postgres://\(TestPostgres.user)@127.0.0.1:\(server.port)/\(endpoint.database)?sslmode=disable"
        let arguments = ["migrate-store", "--from", path, "--to", url, "--password-file", passwordFile]

        let first = try flipsyncctl(arguments)
        #expect(first.status == 0, "\(first.output)\(first.error)")
        #expect(first.output.contains("every count matches"))
        for table in PostgresLedgerSchema.tables {
            #expect(first.output.split(separator: "\n").contains { $0.hasPrefix(table + " ") && $0.split(separator: " ").dropFirst().prefix(2) == ["3", "3"] },
                    "\(table) in \(first.output)")
        }
        #expect(!(first.output + first.error).contains(server.password))

        let ledger = try PostgresLedger(endpoint: endpoint, password: server.password)
        #expect(try ledger.run(id: runIDs[1]) == store.run(id: runIDs[1]))
        #expect(try ledger.tasks(runID: runIDs[0]) == store.tasks(runID: runIDs[0]))
        #expect(try ledger.tasks(runID: runIDs[0]).map(\.key) == ["z", "a", "m"])
        #expect(try ledger.scheduleStates() == store.scheduleStates())
        let spend = try ledger.session.query("SELECT cost_micros, served_from_cache FROM spend ORDER BY id")
        let costs: [Int64] = try spend.map { try $0.decode(Int64.self, at: 0) }
        let cached: [Int64] = try spend.map { try $0.decode(Int64.self, at: 1) }
        let expectedCosts: [Int64] = [1_000_011, 2_000_011, 3_000_011]
        #expect(costs == expectedCosts)
        #expect(cached == [0, 1, 0])
        // Identity columns continue past the copied ids.
        let next = try #require(try ledger.recordFire(job: "new", kind: "k", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                                      status: .queued, skipReason: nil, summary: nil, at: 3_000, resumes: nil))
        #expect(next.id == runIDs.max()! + 1)
        try ledger.saveTask(TaskInfo(runID: runIDs[0], key: "later", agent: "quote", status: .pending))
        #expect(try ledger.tasks(runID: runIDs[0]).last?.key == "later")
        let sprayed = try ledger.session.query("INSERT INTO spend (at_ms, provider, operation, units, cost_micros, currency, served_from_cache) VALUES (1, 'p', 'o', 1, 1, 'USD', 0) RETURNING id")
        #expect(try sprayed[0].decode(Int64.self, at: 0) == 4)

        // Without --password-file: the credential postgres-password (here from $CREDENTIALS_DIRECTORY).
        let credentials = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: credentials) }
        _ = FileManager.default.createFile(atPath: credentials + "/postgres-password", contents: Data((server.password + "\n").utf8),
                                           attributes: [.posixPermissions: 0o600])
        let refused = try flipsyncctl(Array(arguments.dropLast(2)), environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(refused.status == 1 && refused.error.contains("already holds rows") && refused.error.contains("--force"), "\(refused.error)")
        #expect(try ledger.run(id: next.id) != nil)

        let forced = try flipsyncctl(arguments + ["--force", "--json"])
        #expect(forced.status == 0, "\(forced.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(forced.output.utf8)) as? [String: Any])
        #expect(report["matched"] as? Bool == true)
        let tables = try #require(report["tables"] as? [[String: Any]])
        #expect(tables.count == PostgresLedgerSchema.tables.count)
        #expect(tables.allSatisfy { $0["sqlite"] as? Int == 3 && $0["postgresql"] as? Int == 3 })
        #expect(try ledger.run(id: next.id) == nil)
        #expect(try ledger.recentRuns(job: nil, limit: 10).count == 3)
    }
}

/// Runs the built flipsyncctl; its exit status, stdout and stderr (the cluster suites share it).
func flipsyncctl(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
    let run = try runProgram(packageRoot + "/.build/debug/flipsyncctl", arguments, environment: environment)
    return (run.status, run.stdout, run.stderr)
}
