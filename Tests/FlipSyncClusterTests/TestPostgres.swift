import FlipSyncCluster
import FlipSyncCore
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL for the tests: a cluster `initdb`'d in a temporary directory, listening on
/// loopback on a free port (its Unix socket in that directory too), with a random password for
/// its superuser `flipsync` (password auth over TCP, scram-sha-256), stopped and removed when
/// the suite ends. As root, the server runs as `nobody` (`initdb` refuses root).
///
/// Every wait is bounded: `pg_ctl -w -t 30` to start, `-t 10` to stop, then SIGKILL; a test process
/// killed before it stops its server leaves a watcher that stops it (`reapOnExit`).
final class TestPostgres: Sendable {
    let directory: String
    let port: Int
    let password: String
    private let bin: String
    private let asNobody: Bool
    private let databases = Mutex(0)

    static let user = "flipsync"

    @TaskLocal static var current: TestPostgres?

    enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case command(String, Int32, String)
        var description: String {
            switch self {
            case .notInstalled: return "PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): run scripts/setup"
            case .command(let what, let status, let output): return "\(what) exited \(status): \(output)"
            }
        }
    }

    static func binDirectory() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        return nil
    }

    init() throws {
        guard let bin = Self.binDirectory() else { throw Failure.notInstalled }
        self.bin = bin
        asNobody = geteuid() == 0
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        var bytes = [UInt8](repeating: 0, count: 18)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        password = bytes.map { String(format: "%02x", $0) }.joined()
        let pwfile = directory + "/pw"
        _ = FileManager.default.createFile(atPath: pwfile, contents: Data((password + "\n").utf8), attributes: [.posixPermissions: 0o600])
        if asNobody { try Self.run("/bin/chown", ["-R", "nobody", directory], what: "chown") }
        try Self.run(bin + "/initdb", ["-D", directory + "/data", "-U", Self.user, "--auth-local=trust",
                                       "--auth-host=scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8", "--no-sync"],
                     asNobody: asNobody, what: "initdb")
        try? FileManager.default.removeItem(atPath: pwfile)
        var started: Int?
        var lastError: (any Error)?
        for _ in 0..<3 where started == nil {
            let candidate = Self.freePort()
            do {
                try Self.run(bin + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/server.log", "-w", "-t", "30",
                                               "-o", "-c listen_addresses=127.0.0.1 -p \(candidate) -k \(directory) -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                                               "start"], asNobody: asNobody, what: "pg_ctl start")
                started = candidate
            } catch {
                lastError = error
            }
        }
        guard let started else {
            try? FileManager.default.removeItem(atPath: directory)
            throw lastError ?? Failure.command("pg_ctl start", -1, "")
        }
        port = started
        Self.reapOnExit(directory: directory)
    }

    /// A watcher that outlives a test process killed before `stop()` (SIGKILL, a timeout): once
    /// this process is gone (checked every second, for at most 4 hours) it stops the server
    /// (SIGQUIT to the postmaster: PostgreSQL's immediate shutdown) and removes its directory, so
    /// no server is left behind. Not waited for; after a normal `stop()` it finds nothing to do.
    private static func reapOnExit(directory: String) {
        let script = """
            i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 14400 ]; do sleep 1; i=$((i+1)); done
            [ -f "$2/data/postmaster.pid" ] && kill -QUIT "$(head -n 1 "$2/data/postmaster.pid")" 2>/dev/null
            sleep 2; rm -rf "$2"
            """
        let argv = ["/bin/sh", "-c", script, "flipsync-pg-reaper", String(getpid()), directory]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0) }
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        _ = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
    }

    /// Stops the server (fast, then SIGKILL if it has not stopped in 10 s) and removes its files.
    func stop() {
        do {
            try Self.run(bin + "/pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "-t", "10", "stop"], asNobody: asNobody,
                         what: "pg_ctl stop")
        } catch {
            if let text = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8),
               let pid = Int32(text.split(separator: "\n").first ?? "") {
                kill(pid, SIGKILL)
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A new, empty database on this server, as a cluster endpoint (TLS off: loopback).
    func freshDatabase() async throws -> ClusterEndpoint {
        let name = databases.withLock { n -> String in
            n += 1
            return "t\(n)"
        }
        _ = try await withClient(database: "postgres") { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        return ClusterEndpoint(user: Self.user, host: "127.0.0.1", port: port, database: name, tls: .disable)
    }

    /// Runs `body` with a running client on `database`.
    func withClient<T: Sendable>(database: String, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let endpoint = ClusterEndpoint(user: Self.user, host: "127.0.0.1", port: port, database: database, tls: .disable)
        return try await Self.withClient(endpoint, password: password, body)
    }

    static func withClient<T: Sendable>(_ endpoint: ClusterEndpoint, password: String,
                                        _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(password: password), backgroundLogger: quietLogger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a command to its end (they bound their own waits); throws with its output if it
    /// fails. posix_spawn and waitpid, not Foundation's Process, whose waitUntilExit can hang on
    /// Linux when the command leaves a daemon behind (pg_ctl start).
    static func run(_ path: String, _ arguments: [String], asNobody: Bool = false, what: String) throws {
        let argv = asNobody ? ["/usr/sbin/runuser", "-u", "nobody", "--", path] + arguments : [path] + arguments
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-pg-\(UUID().uuidString).out").path
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard spawned == 0 else { throw Failure.command(what, spawned, "posix_spawn failed") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = (status & 0x7f) == 0, code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw Failure.command(what, exited ? code : -(status & 0x7f), String(text.suffix(2000)))
        }
    }
}

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Gives a suite one PostgreSQL server (``TestPostgres/current``), started before its first test
/// and stopped after its last.
struct PostgresServerTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try TestPostgres()
        defer { server.stop() }
        try await TestPostgres.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == PostgresServerTrait {
    static var postgres: Self { PostgresServerTrait() }
}

extension Trait where Self == ConditionTrait {
    /// Skips a suite, saying why, on a machine without PostgreSQL's server binaries (put it
    /// before `.postgres`, which would otherwise fail to start a server).
    static var postgresInstalled: Self {
        .enabled(if: TestPostgres.binDirectory() != nil,
                 "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); scripts/setup installs it")
    }
}

/// The suite's server (a test outside a `.postgres` suite fails here).
func server() throws -> TestPostgres {
    try #require(TestPostgres.current, "the suite needs the .postgres trait")
}
