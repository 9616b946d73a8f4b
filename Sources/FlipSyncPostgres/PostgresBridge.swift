import Dispatch
import FlipSyncCluster
import FlipSyncCore
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A value bound to a statement or read from a row: the ledger's columns are BIGINT or TEXT
/// (SQLite's INTEGER and TEXT); REAL and BLOB exist only for a copy of a damaged SQLite file.
public enum LedgerValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// PostgreSQL used synchronously, for protocols whose methods are synchronous (`RunLedger` and
/// the others are `throws`, not `async`): up to `connections` connections, each a `lane` used by
/// one caller at a time, so several tasks of a node reach the database at once (one connection
/// for the whole node made every statement wait for the one before it).
///
/// A statement takes the first lane free (lanes open their connection when first used, so a
/// caller alone uses one), or waits for one. A transaction holds its lane from BEGIN to COMMIT,
/// and every statement the same thread makes inside it (`batch`'s body calls the ledger's writes)
/// runs on that lane, in a savepoint of the transaction. Statements outside a transaction are
/// each committed when they return, so a caller's next statement, on whichever lane, sees them.
///
/// The connections live on an event loop group of their own (one thread), never on the
/// caller's: flipsyncd installs NIO's event loops as Swift concurrency's global executor, so a
/// ledger call may run on one of those threads, and blocking it while waiting for work scheduled
/// on the same loop (or on a cooperative thread) would deadlock. Here the caller only waits on a
/// semaphore for work that this private loop alone does, and never longer than `timeout`: a
/// statement with no answer in time fails with an error naming it, and its connection is closed
/// (its state is unknown). The server is told the same bound (`statement_timeout`), so it cancels
/// such a statement itself rather than running it on. A closed or broken connection is replaced
/// at its lane's next call.
public final class PostgresSession: @unchecked Sendable {
    public let endpoint: ClusterEndpoint
    /// How long one statement (or the connection's setup) may take.
    public let timeout: Double
    private let group: MultiThreadedEventLoopGroup
    private let lanes: [Lane]
    /// The lane (index + 1) the calling thread holds a transaction on; 0: none.
    private var laneKey = pthread_key_t()
    /// Statements made from async code (``queryAsync(_:_:)``): postgres-nio's connection pool,
    /// started on first use, so a task waiting for PostgreSQL suspends instead of blocking its
    /// thread (a node has as many threads as cores; blocked, they bounded its statements in
    /// flight to that number whatever the lanes).
    private let asyncClient = Mutex<(client: PostgresClient, run: Task<Void, Never>)?>(nil)
    private let clientConfiguration: PostgresClient.Configuration
    private let logger: Logger

    /// `connections`: at most this many connections at once (at least 1). `readOnly`: every
    /// transaction of these connections is read-only (`default_transaction_read_only`): a write
    /// fails on the server.
    public init(endpoint: ClusterEndpoint, password: String, timeout: Double = 10, connections: Int = 4, readOnly: Bool = false,
                logger: Logger = Logger(label: "flipsync.ledger", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        self.endpoint = endpoint
        self.timeout = timeout
        var configuration = PostgresConnection.Configuration(host: endpoint.host, port: endpoint.port, username: endpoint.user,
                                                             password: password, database: endpoint.database, tls: try endpoint.tls.connectionTLS())
        configuration.options.connectTimeout = .milliseconds(Int64(timeout * 1000))
        // The server gives up on a statement when this side does: without it, a statement the
        // caller stopped waiting for (its connection dropped) would run on, holding its locks.
        configuration.options.additionalStartupParameters = [("statement_timeout", "\(max(1, Int64(timeout * 1000)))")]
        if readOnly { configuration.options.additionalStartupParameters.append(("default_transaction_read_only", "on")) }
        var client = PostgresClient.Configuration(host: endpoint.host, port: endpoint.port, username: endpoint.user, password: password,
                                                  database: endpoint.database, tls: endpoint.tls.clientTLS)
        client.options.connectTimeout = .milliseconds(Int64(timeout * 1000))
        client.options.maximumConnections = max(1, connections)
        client.options.additionalStartupParameters = configuration.options.additionalStartupParameters
        clientConfiguration = client
        self.logger = logger
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        lanes = (0..<max(1, connections)).map { _ in
            Lane(endpoint: endpoint, timeout: timeout, configuration: configuration, group: group, logger: logger)
        }
        pthread_key_create(&laneKey, nil)
    }

    deinit {
        asyncClient.withLock { $0?.run.cancel() }
        for lane in lanes { lane.closeNow() }
        try? group.syncShutdownGracefully()
        pthread_key_delete(laneKey)
    }

    /// Closes the connections (the next call opens another).
    public func close() {
        for lane in lanes { lane.locked { lane.close() } }
    }

    /// How many connections this session has opened (a reconnect opens another).
    public var connectionsOpened: Int { lanes.reduce(0) { total, lane in total + lane.locked { lane.connectionCount } } }

    /// Runs `body` on the calling thread's transaction lane, or else on a free lane (waiting for
    /// one when all are busy), holding it.
    private func onLane<T, E: Error>(_ body: (Lane) throws(E) -> T) throws(E) -> T {
        let held = Int(bitPattern: pthread_getspecific(laneKey))
        if held > 0 {
            let lane = lanes[held - 1]
            return try lane.locked { () throws(E) -> T in try body(lane) }
        }
        for lane in lanes where lane.tryLock() {
            defer { lane.unlock() }
            return try body(lane)
        }
        // All busy: wait for one, spreading the waiters.
        let lane = lanes[Int.random(in: 0..<lanes.count)]
        return try lane.locked { () throws(E) -> T in try body(lane) }
    }

    /// Runs one statement from async code; its rows. Outside a transaction it goes through the
    /// connection pool and the caller suspends until the answer (or `timeout`: an error naming
    /// the statement; the server, told the same bound, cancels it). Inside the calling thread's
    /// transaction it runs there, as ``query(_:_:)``.
    @discardableResult
    public func queryAsync(_ sql: String, _ values: [LedgerValue] = []) async throws(LedgerError) -> [PostgresRow] {
        if inTransaction { return try query(sql, values) }
        let logger = self.logger
        let client = pooledClient()
        let query = PostgresQuery(unsafeSQL: sql, binds: Self.bindings(values))
        let what = Self.firstLine(sql)
        let result = await Self.withDeadline(seconds: timeout) { () async throws -> [PostgresRow] in
            var rows: [PostgresRow] = []
            for try await row in try await client.query(query, logger: logger) { rows.append(row) }
            return rows
        }
        switch result {
        case .success(let rows): return rows
        case .failure(let error):
            if error is DeadlineExceeded { throw .storage("\(endpoint): \(what): no answer from PostgreSQL within \(Int(timeout)) s") }
            throw Self.storageError(endpoint: endpoint, what: what, error)
        }
    }

    /// Statements in one transaction from async code: through the pool, on one connection leased
    /// from `BEGIN` to `COMMIT` (rolled back if one fails) while the caller suspends, all within
    /// `timeout` (else an error naming the first statement; the transaction is abandoned and rolled
    /// back by the server). Inside the calling thread's transaction they run there, in a
    /// savepoint of it, as ``transaction(_:)`` runs them.
    public func transactionAsync(_ statements: [(sql: String, values: [LedgerValue])]) async throws(LedgerError) {
        if inTransaction {
            try transaction { () throws(LedgerError) in
                for statement in statements { try query(statement.sql, statement.values) }
            }
            return
        }
        let logger = self.logger
        let client = pooledClient()
        let queries = statements.map { PostgresQuery(unsafeSQL: $0.sql, binds: Self.bindings($0.values)) }
        let what = Self.firstLine(statements.first?.sql ?? "")
        let result = await Self.withDeadline(seconds: timeout) { () async throws -> Bool in
            try await client.withTransaction(logger: logger) { connection in
                for query in queries { try await connection.query(query, logger: logger) }
            }
            return true
        }
        switch result {
        case .success: return
        case .failure(let error):
            if error is DeadlineExceeded { throw .storage("\(endpoint): \(what): no answer from PostgreSQL within \(Int(timeout)) s") }
            throw Self.storageError(endpoint: endpoint, what: what, (error as? PostgresTransactionError).flatMap {
                $0.closureError ?? $0.beginError ?? $0.commitError
            } ?? error)
        }
    }

    /// postgres-nio's connection pool for async callers, started on first use.
    private func pooledClient() -> PostgresClient {
        let logger = self.logger
        return asyncClient.withLock { state -> PostgresClient in
            if let state { return state.client }
            let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
            state = (client, Task.detached { await client.run() })
            return client
        }
    }

    /// ``write(_:_:)`` from async code: through the pool (committed at once), or inside the
    /// calling thread's transaction in a savepoint of it.
    @discardableResult
    public func writeAsync(_ sql: String, _ values: [LedgerValue] = []) async throws(LedgerError) -> [PostgresRow] {
        if inTransaction { return try write(sql, values) }
        return try await queryAsync(sql, values)
    }

    private struct DeadlineExceeded: Error {}

    /// `body`'s result, or `DeadlineExceeded` once `seconds` have passed, whichever is first;
    /// `body` is then cancelled and left to end on its own (never waited for).
    private static func withDeadline<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async -> Result<T, any Error> {
        let once = ResumeOnce<Result<T, any Error>>()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>, Never>) in
            once.set(continuation)
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await body()) } catch { result = .failure(error) }
                once.resume(result)
            }
            // Cancelled as soon as the answer comes (no sleeping timer left per statement).
            once.setTimer(Task {
                guard (try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))) != nil else { return }
                if once.resume(.failure(DeadlineExceeded())) { work.cancel() }
            })
        }
    }

    /// A continuation resumed by the first of several callers.
    private final class ResumeOnce<R: Sendable>: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<R, Never>?, done: Bool, timer: Task<Void, Never>?)>((nil, false, nil))
        func set(_ continuation: CheckedContinuation<R, Never>) { state.withLock { $0.continuation = continuation } }
        /// The deadline's timer: cancelled on the first resume (at once if that came first).
        func setTimer(_ timer: Task<Void, Never>) {
            let done = state.withLock { s -> Bool in
                if !s.done { s.timer = timer }
                return s.done
            }
            if done { timer.cancel() }
        }
        /// True when this call resumed it.
        @discardableResult
        func resume(_ value: R) -> Bool {
            let (continuation, timer) = state.withLock { s -> (CheckedContinuation<R, Never>?, Task<Void, Never>?) in
                guard !s.done else { return (nil, nil) }
                s.done = true
                defer { s.timer = nil }
                return (s.continuation, s.timer)
            }
            timer?.cancel()
            continuation?.resume(returning: value)
            return continuation != nil
        }
    }

    /// `values` bound in order as `$1`, `$2`, …
    static func bindings(_ values: [LedgerValue]) -> PostgresBindings {
        var binds = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .null: binds.appendNull()
            case .integer(let v): binds.append(v)
            case .real(let v): binds.append(v)
            case .text(let v): binds.append(v)
            case .blob(let v): binds.append(ByteBuffer(bytes: v))
            }
        }
        return binds
    }

    /// A statement's first line, as errors name it.
    static func firstLine(_ sql: String) -> String {
        String(String(sql.split(whereSeparator: \.isNewline).first.map { $0.trimmingPrefix(while: \.isWhitespace) } ?? "").prefix(120))
    }

    static func storageError(endpoint: ClusterEndpoint, what: String, _ error: any Error) -> LedgerError {
        if case .storage? = error as? LedgerError { return error as! LedgerError }
        let text: String
        if let psql = error as? PSQLError {
            text = psql.serverInfo?[.message].map { "\($0) (\(psql.serverInfo?[.sqlState] ?? ""))" } ?? "\(psql.code)"
        } else {
            text = "\(error)"
        }
        return .storage("\(endpoint): \(what): \(text)")
    }

    /// Runs one statement; its rows.
    @discardableResult
    public func query(_ sql: String, _ values: [LedgerValue] = []) throws(LedgerError) -> [PostgresRow] {
        try onLane { (lane: Lane) throws(LedgerError) -> [PostgresRow] in try lane.query(sql, values) }
    }

    /// `body` in a transaction (or, inside one, in a savepoint of it, so its failure stays its
    /// own): committed when it returns, rolled back when it throws. The thread's statements in
    /// `body` run inside it.
    public func transaction<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        try onLane { (lane: Lane) throws(LedgerError) -> T in
            let index = lanes.firstIndex { $0 === lane }! + 1
            let outer = Int(bitPattern: pthread_getspecific(laneKey))
            pthread_setspecific(laneKey, UnsafeRawPointer(bitPattern: index))
            defer { pthread_setspecific(laneKey, UnsafeRawPointer(bitPattern: outer)) }
            return try lane.transaction(body)
        }
    }

    /// One writing statement: on its own (committed at once), or inside the thread's transaction
    /// (a `batch`) in a savepoint of it, so that its failure stays its own.
    @discardableResult
    public func write(_ sql: String, _ values: [LedgerValue] = []) throws(LedgerError) -> [PostgresRow] {
        guard inTransaction else { return try query(sql, values) }
        return try transaction { () throws(LedgerError) -> [PostgresRow] in try query(sql, values) }
    }

    /// Whether the calling thread is inside `transaction` (a `batch`).
    var inTransaction: Bool { Int(bitPattern: pthread_getspecific(laneKey)) > 0 }

    /// One connection, used by one caller at a time (a recursive lock: a transaction's body
    /// calls back in on the same thread).
    private final class Lane: @unchecked Sendable {
        let endpoint: ClusterEndpoint
        let timeout: Double
        let configuration: PostgresConnection.Configuration
        let group: MultiThreadedEventLoopGroup
        let logger: Logger
        private var mutex = pthread_mutex_t()
        // Guarded by `mutex`:
        private var connection: PostgresConnection?
        private var transactionDepth = 0
        private var savepoints = 0
        var connectionCount = 0

        init(endpoint: ClusterEndpoint, timeout: Double, configuration: PostgresConnection.Configuration,
             group: MultiThreadedEventLoopGroup, logger: Logger) {
            (self.endpoint, self.timeout, self.configuration, self.group, self.logger) = (endpoint, timeout, configuration, group, logger)
            var attributes = pthread_mutexattr_t()
            pthread_mutexattr_init(&attributes)
            pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
            pthread_mutex_init(&mutex, &attributes)
            pthread_mutexattr_destroy(&attributes)
        }

        deinit { pthread_mutex_destroy(&mutex) }

        func tryLock() -> Bool { pthread_mutex_trylock(&mutex) == 0 }
        func unlock() { pthread_mutex_unlock(&mutex) }

        func locked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
            pthread_mutex_lock(&mutex)
            defer { pthread_mutex_unlock(&mutex) }
            return try body()
        }

        /// At the session's end: closes the connection, waiting for it.
        func closeNow() {
            if let connection { let closing: EventLoopFuture<Void> = connection.close(); _ = try? closing.wait() }
            connection = nil
        }

        /// Closes the connection (the lane's next call opens another). Called holding the lock.
        func close() {
            if let connection {
                let closing: EventLoopFuture<Void> = connection.close(); _ = try? wait(closing, what: "closing the connection")
            }
            connection = nil
        }

        /// Closes `connection` without waiting, keeping it alive until it is closed (postgres-nio
        /// asserts that a connection is closed when it is freed).
        private static func discard(_ connection: PostgresConnection) {
            let closing: EventLoopFuture<Void> = connection.close()
            closing.whenComplete { _ in withExtendedLifetime(connection) {} }
        }

        private func storageError(_ what: String, _ error: any Error) -> LedgerError {
            PostgresSession.storageError(endpoint: endpoint, what: what, error)
        }

        /// Blocks until `future` completes or `timeout` passes.
        private func wait<T: Sendable>(_ future: EventLoopFuture<T>, what: String) throws(LedgerError) -> T {
            precondition(!future.eventLoop.inEventLoop, "a PostgreSQL ledger call on its own event loop")
            let done = DispatchSemaphore(value: 0)
            let box = NIOLockedValueBox<Result<T, any Error>?>(nil)
            future.whenComplete { result in
                box.withLockedValue { $0 = result }
                done.signal()
            }
            if done.wait(timeout: .now() + timeout) == .timedOut {
                // The connection's state is unknown: drop it (the next call opens another).
                if let connection { Self.discard(connection) }
                connection = nil
                throw .storage("\(endpoint): \(what): no answer from PostgreSQL within \(Int(timeout)) s")
            }
            do {
                return try box.withLockedValue { $0! }.get()
            } catch {
                // Anything but an SQL error (or the server ending the session: classes 57 and 08)
                // leaves the connection unusable: the next call opens another.
                if let psql = error as? PSQLError {
                    let state = psql.serverInfo?[.sqlState] ?? ""
                    if state == "57014" {
                        // Cancelled by the server at `statement_timeout`: the same deadline as ours.
                        throw .storage("\(endpoint): \(what): no answer from PostgreSQL within \(Int(timeout)) s (the server cancelled it)")
                    }
                    if psql.code != .server || state.hasPrefix("57") || state.hasPrefix("08") {
                        if let connection { Self.discard(connection) }
                        connection = nil
                    }
                }
                throw storageError(what, error)
            }
        }

        /// The open connection, opening one if there is none or it was closed.
        private func open() throws(LedgerError) -> PostgresConnection {
            if let connection, !connection.isClosed { return connection }
            connection = nil
            // A new connection would run the rest of a transaction outside it (and COMMIT nothing).
            if transactionDepth > 0 {
                throw .storage("\(endpoint): the connection was lost inside a transaction (none of it was committed)")
            }
            connectionCount += 1
            let connecting = PostgresConnection.connect(on: group.next(), configuration: configuration, id: connectionCount, logger: logger)
            let opened: PostgresConnection
            do {
                opened = try wait(connecting, what: "connecting")
            } catch {
                // Given up on: if it connects after all, close it.
                connecting.whenSuccess { Self.discard($0) }
                throw error
            }
            connection = opened
            return opened
        }

        /// Runs one statement; its rows. Called holding the lock.
        func query(_ sql: String, _ values: [LedgerValue]) throws(LedgerError) -> [PostgresRow] {
            let connection = try open()
            let result = try wait(connection.query(PostgresQuery(unsafeSQL: sql, binds: PostgresSession.bindings(values)), logger: logger),
                                  what: PostgresSession.firstLine(sql))
            return result.rows
        }

        /// `body` in a transaction on this lane (a savepoint inside one). Called holding the lock.
        func transaction<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
            let nested = transactionDepth > 0
            savepoints += 1
            let name = "s\(savepoints)"
            _ = try query(nested ? "SAVEPOINT \(name)" : "BEGIN", [])
            transactionDepth += 1
            // The depth drops only after COMMIT or ROLLBACK, so neither can run on a new connection.
            defer { transactionDepth -= 1 }
            let result: T
            do throws(LedgerError) {
                result = try body()
            } catch {
                _ = try? query(nested ? "ROLLBACK TO SAVEPOINT \(name)" : "ROLLBACK", [])
                throw error
            }
            _ = try query(nested ? "RELEASE SAVEPOINT \(name)" : "COMMIT", [])
            return result
        }
    }
}

/// One statement and its values.
typealias SQLStatement = (sql: String, values: [LedgerValue])

extension PostgresSession {
    /// Runs one statement; its rows, read by column name.
    func rows(_ sql: String, _ values: [LedgerValue] = []) throws(LedgerError) -> [PostgresColumns] {
        try query(sql, values).map(PostgresColumns.init)
    }

    /// Runs `statements` in order (inside the caller's transaction, if any); every row they returned.
    @discardableResult
    func query(_ statements: [SQLStatement]) throws(LedgerError) -> [PostgresRow] {
        var rows: [PostgresRow] = []
        for statement in statements { rows += try query(statement.sql, statement.values) }
        return rows
    }

    /// The multi-row INSERTs that write `rows` (`columns.count` values each, bound as `$1`, `$2`, …)
    /// into `table`, `then` (an `ON CONFLICT` or `RETURNING` clause) after each:
    ///
    /// - a statement carries at most `rowsPerStatement` rows (the repricing store's and the copy's
    ///   500; the default sets no cap), and never more than 60,000 bound values (PostgreSQL's
    ///   protocol allows 65,535 a statement), so a row wider than that is a statement of its own;
    /// - the rows keep their order, within and across statements;
    /// - `overridingSystemValue` writes identity columns as given (`migrate-store` keeps ids).
    ///
    /// No rows, no statements. A row whose width is not `columns.count` is a programming error.
    /// `sql` (as `inserts` writes it: no `$` but its placeholders) with every placeholder `$n`
    /// made `$(n + offset)`, to follow another statement's values in one statement.
    static func renumbered(_ sql: String, by offset: Int) -> String {
        var out = "", digits = "", inPlaceholder = false
        out.reserveCapacity(sql.utf8.count + 16)
        func flush() {
            if inPlaceholder { out += "$" + String((Int(digits) ?? 0) + offset) }
            digits = ""
            inPlaceholder = false
        }
        for ch in sql {
            if inPlaceholder, ch.isASCII, ch.isNumber { digits.append(ch); continue }
            flush()
            if ch == "$" { inPlaceholder = true } else { out.append(ch) }
        }
        flush()
        return out
    }

    static func inserts(into table: String, columns: [String], rows: [[LedgerValue]], rowsPerStatement: Int = .max,
                        overridingSystemValue: Bool = false, then clause: String = "") -> [SQLStatement] {
        let head = "INSERT INTO \(table) (\(columns.joined(separator: ", ")))\(overridingSystemValue ? " OVERRIDING SYSTEM VALUE" : "") VALUES "
        let tail = clause.isEmpty ? "" : " \(clause)"
        return valueLists(table: table, width: columns.count, rows: rows, rowsPerStatement: rowsPerStatement)
            .map { (head + $0.sql + tail, $0.values) }
    }

    /// `rows` cut into VALUES lists of at most `rowsPerStatement` rows (and 60,000 values, under
    /// PostgreSQL's 65,535 parameters): each list `($1, $2, …), (…)` with its values. With
    /// `casts` (one type per column), each placeholder is cast (`$1::text`), as a VALUES list
    /// outside an INSERT's own needs to be.
    static func valueLists(table: String, width: Int, rows: [[LedgerValue]], rowsPerStatement: Int = .max,
                           casts: [String]? = nil) -> [SQLStatement] {
        precondition(casts.map { $0.count == width } ?? true, "\(table): \(casts?.count ?? 0) casts for \(width) columns")
        let perStatement = max(1, min(rowsPerStatement, 60_000 / width))
        var lists: [SQLStatement] = []
        var start = 0
        while start < rows.count {
            let end = min(start + perStatement, rows.count)
            var placeholders: [String] = []
            var values: [LedgerValue] = []
            values.reserveCapacity((end - start) * width)
            for (index, row) in rows[start..<end].enumerated() {
                precondition(row.count == width, "\(table): a row of \(row.count) values for \(width) columns")
                placeholders.append("(" + (1...width).map { column in "$\(index * width + column)" + (casts.map { "::\($0[column - 1])" } ?? "") }
                    .joined(separator: ", ") + ")")
                values += row
            }
            lists.append((placeholders.joined(separator: ", "), values))
            start = end
        }
        return lists
    }
}

/// One result row's columns, read by name: the row's cells are copied once (postgres-nio's
/// name→index table is built once per result and shared by its rows), so each read is one
/// look-up. Every store in this module reads its rows through it.
///
/// A missing column, a NULL where a value is required, a value of another type, an unknown code
/// or an amount without its currency is a `LedgerError.storage` naming the column.
struct PostgresColumns {
    private let cells: PostgresRandomAccessRow

    init(_ row: PostgresRow) { cells = row.makeRandomAccess() }

    /// The column `name`, decoded as `T` (an optional `T` reads NULL as `nil`).
    func get<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws(LedgerError) -> T {
        // postgres-nio's subscript traps on a column the result does not have.
        guard cells.contains(name) else { throw .storage("no column \(name)") }
        let cell = cells[name]
        do {
            return try cell.decode(T.self)
        } catch {
            if cell.bytes == nil { throw .storage("column \(name) is NULL") }
            // The types, never the value (postgres-nio's debug description would include it).
            let why = (error as? PostgresDecodingError).map { "\($0.code): \($0.postgresType) read as \($0.targetType)" } ?? "\(error)"
            throw .storage("column \(name): \(why)")
        }
    }

    /// The text `column` holds as one of `T`'s raw values, or "unknown <column> "<text>"".
    func code<T: RawRepresentable>(_ column: String, as type: T.Type = T.self) throws(LedgerError) -> T where T.RawValue == String {
        let text = try get(column, as: String.self)
        guard let value = T(rawValue: text) else { throw .storage("unknown \(column) \"\(text)\"") }
        return value
    }

    /// A currency this build knows (never USD for one it does not).
    func currency(_ column: String) throws(LedgerError) -> Currency {
        let code = try get(column, as: String.self)
        guard let currency = Currency(code: code) else { throw .storage("unknown \(column) \"\(code)\"") }
        return currency
    }

    /// `micros` in the currency of `currencyColumn`: both recorded or both NULL, never one alone.
    func money(_ microsColumn: String, _ currencyColumn: String) throws(LedgerError) -> Money? {
        let micros = try get(microsColumn, as: Int64?.self)
        let unit = try get(currencyColumn, as: String?.self) != nil ? try currency(currencyColumn) : nil
        guard (micros == nil) == (unit == nil) else {
            throw .storage("\(microsColumn): an amount without its currency, or a currency without an amount")
        }
        guard let micros, let unit else { return nil }
        return Money(micros: micros, currency: unit)
    }

    /// A flag stored as 0 or 1 (anything else is an error).
    func flag(_ column: String) throws(LedgerError) -> Bool {
        let flag = try get(column, as: Int64.self)
        guard flag == 0 || flag == 1 else { throw .storage("column \(column) is \(flag), not 0 or 1") }
        return flag == 1
    }

    /// The column's value for an error message: 'text', a number, NULL, or ? (absent or neither).
    func display(_ column: String) -> String {
        guard cells.contains(column) else { return "?" }
        if cells[column].bytes == nil { return "NULL" }
        if let text = try? cells[column].decode(String.self) { return "'\(text)'" }
        if let number = try? cells[column].decode(Int64.self) { return "\(number)" }
        return "?"
    }

    /// `body`'s value read from this row of `table`; a failure is an error naming the table and
    /// the row's `key` columns, and saying why.
    func decoding<T>(_ table: String, key: [String], _ body: (PostgresColumns) throws(LedgerError) -> T) throws(LedgerError) -> T {
        do {
            return try body(self)
        } catch {
            let named = key.map { "\($0) \(display($0))" }.joined(separator: ", ")
            let reason = if case .storage(let message) = error { message } else { "\(error)" }
            throw .storage("\(table) row (\(named)) does not decode: \(reason)")
        }
    }
}
