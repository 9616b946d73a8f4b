import Dispatch
import FlipSyncCore
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
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

/// One PostgreSQL connection used synchronously, for protocols whose methods are synchronous
/// (`RunLedger` and the others are `throws`, not `async`).
///
/// The connection lives on an event loop group of its own (one thread), never on the caller's:
/// flipsyncd installs NIO's event loops as Swift concurrency's global executor, so a ledger call
/// may run on one of those threads, and blocking it while waiting for work scheduled on the same
/// loop (or on a cooperative thread) would deadlock. Here the caller only waits on a semaphore for
/// work that this private loop alone does, and never longer than `timeout`: a statement with no
/// answer in time fails with an error naming it, and the connection is closed (its state is
/// unknown). A closed or broken connection is replaced at the next call.
///
/// Calls are serialised by a recursive lock: one statement at a time, and a transaction holds the
/// connection from BEGIN to COMMIT. The lock is recursive so that `batch`'s body can call the
/// ledger's writes on the same thread (each then runs in a savepoint of the batch's transaction).
public final class PostgresSession: @unchecked Sendable {
    public let endpoint: ClusterEndpoint
    /// How long one statement (or the connection's setup) may take.
    public let timeout: Double
    private let group: MultiThreadedEventLoopGroup
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var mutex = pthread_mutex_t()
    // Guarded by `mutex`:
    private var connection: PostgresConnection?
    private var transactionDepth = 0
    private var savepoints = 0
    private var connectionCount = 0

    public init(endpoint: ClusterEndpoint, password: String, timeout: Double = 10,
                logger: Logger = Logger(label: "flipsync.ledger", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        self.endpoint = endpoint
        self.timeout = timeout
        self.logger = logger
        let tls: PostgresConnection.Configuration.TLS
        switch endpoint.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(host: endpoint.host, port: endpoint.port, username: endpoint.user,
                                                             password: password, database: endpoint.database, tls: tls)
        configuration.options.connectTimeout = .milliseconds(Int64(timeout * 1000))
        self.configuration = configuration
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(&mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        if let connection { let closing: EventLoopFuture<Void> = connection.close(); _ = try? closing.wait() }
        try? group.syncShutdownGracefully()
        pthread_mutex_destroy(&mutex)
    }

    /// Closes the connection (the next call opens another).
    public func close() {
        locked {
            if let connection {
                let closing: EventLoopFuture<Void> = connection.close(); _ = try? wait(closing, what: "closing the connection")
            }
            connection = nil
        }
    }

    /// Closes `connection` without waiting, keeping it alive until it is closed (postgres-nio
    /// asserts that a connection is closed when it is freed).
    private static func discard(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// How many connections this session has opened (a reconnect opens another).
    public var connectionsOpened: Int { locked { connectionCount } }

    private func locked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }

    private func storageError(_ what: String, _ error: any Error) -> LedgerError {
        if case .storage? = error as? LedgerError { return error as! LedgerError }
        let text: String
        if let psql = error as? PSQLError {
            text = psql.serverInfo?[.message].map { "\($0) (\(psql.serverInfo?[.sqlState] ?? ""))" } ?? "\(psql.code)"
        } else {
            text = "\(error)"
        }
        return .storage("\(endpoint): \(what): \(text)")
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

    /// Runs one statement; its rows.
    @discardableResult
    public func query(_ sql: String, _ values: [LedgerValue] = []) throws(LedgerError) -> [PostgresRow] {
        try locked { () throws(LedgerError) -> [PostgresRow] in
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
            let connection = try open()
            let what = String(sql.split(whereSeparator: \.isNewline).first.map { $0.trimmingPrefix(while: \.isWhitespace) } ?? "")
            let result = try wait(connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger), what: String(what.prefix(120)))
            return result.rows
        }
    }

    /// `body` in a transaction (or, inside one, in a savepoint of it, so its failure stays its
    /// own): committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        try locked { () throws(LedgerError) -> T in
            let nested = transactionDepth > 0
            savepoints += 1
            let name = "s\(savepoints)"
            try query(nested ? "SAVEPOINT \(name)" : "BEGIN")
            transactionDepth += 1
            // The depth drops only after COMMIT or ROLLBACK, so neither can run on a new connection.
            defer { transactionDepth -= 1 }
            let result: T
            do throws(LedgerError) {
                result = try body()
            } catch {
                _ = try? query(nested ? "ROLLBACK TO SAVEPOINT \(name)" : "ROLLBACK")
                throw error
            }
            try query(nested ? "RELEASE SAVEPOINT \(name)" : "COMMIT")
            return result
        }
    }

    /// One writing statement: on its own (committed at once), or inside a transaction (a
    /// `batch`) in a savepoint of it, so that its failure stays its own.
    @discardableResult
    public func write(_ sql: String, _ values: [LedgerValue] = []) throws(LedgerError) -> [PostgresRow] {
        try locked { () throws(LedgerError) -> [PostgresRow] in
            guard transactionDepth > 0 else { return try query(sql, values) }
            return try transaction { () throws(LedgerError) -> [PostgresRow] in try query(sql, values) }
        }
    }

    /// Whether the calling thread is inside `transaction` (a `batch`).
    var inTransaction: Bool { locked { transactionDepth > 0 } }
}

extension PostgresRow {
    /// The column `name`, decoded (a wrong type is a storage error naming the column).
    func get<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws(LedgerError) -> T {
        do { return try makeRandomAccess()[name].decode(T.self) } catch { throw .storage("column \(name): \(error)") }
    }
}
