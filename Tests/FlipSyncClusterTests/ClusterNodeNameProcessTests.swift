import FlipSyncCluster
import FlipSyncCore
import FlipSyncTestKit
import Foundation
import PostgresNIO
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The repository root, from this file's path (Tests/FlipSyncClusterTests/…).

/// One real flipsyncd with a notify socket of the test's and its stderr in a file.
private final class NotifiedDaemon {
    let process = Process()
    let notify: NotificationListener
    let log: String
    var seen: [String] = []

    init(daemon: String, config: String, directory: String, tag: String) throws {
        notify = try NotificationListener(path: directory + "/\(tag).notify")
        log = directory + "/\(tag).stderr"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: daemon)
        process.arguments = ["--config", config]
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY", "LISTEN_FDS", "LISTEN_PID"] {
            environment.removeValue(forKey: key)
        }
        environment["NOTIFY_SOCKET"] = notify.path
        process.environment = environment
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

    var pid: Int32 { process.processIdentifier }
    var stderr: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
    var saidReady: Bool { seen.contains { $0.split(separator: "\n").contains("READY=1") } }

    /// Reads notifications until READY=1, the exit, or `seconds`; whether READY=1 came.
    func waitForReady(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !saidReady, process.isRunning, Date() < deadline { seen += notify.messages(waiting: 100) }
        seen += notify.messages()
        return saidReady
    }

    /// Waits up to `seconds` for the exit, reading notifications meanwhile; its status (nil: still running).
    func waitForExit(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { seen += notify.messages(waiting: 100) }
        seen += notify.messages()
        guard !process.isRunning else { return nil }
        return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }
}

@Suite("flipsyncd's node_name check before READY=1, on PostgreSQL", .postgresInstalled, .postgres, .serialized, .timeLimit(.minutes(3)))
struct ClusterNodeNameProcessTests {
    @Test("a second flipsyncd under a live node's node_name exits 1 without ever sending READY=1, saying why; `flipsyncctl nodes` shows the tasks the node holds claimed; after a SIGKILL the name is free at once on the same host")
    func duplicateNeverReady() async throws {
        let daemon = packageRoot + "/.build/debug/flipsyncd"
        try #require(access(daemon, X_OK) == 0, "build first: swift build --build-tests")
        let server = try server()
        let endpoint = try await server.freshDatabase()
        // Two machines' worth of files (own ledger, socket, config), one node_name.
        let scratchA = Scratch(), scratchB = Scratch()
        let a = try #require(try ClusterProcessTests.makeNodes(["shop-1"], scratch: scratchA, endpoint: endpoint, password: server.password).first)
        let b = try #require(try ClusterProcessTests.makeNodes(["shop-1"], scratch: scratchB, endpoint: endpoint, password: server.password).first)

        let first = try NotifiedDaemon(daemon: daemon, config: a.config, directory: a.directory, tag: "first")
        #expect(first.waitForReady(seconds: 60), "the first node says READY=1; its stderr:\n\(first.stderr)")

        let second = try NotifiedDaemon(daemon: daemon, config: b.config, directory: b.directory, tag: "second")
        let status = second.waitForExit(seconds: 60)
        #expect(status == 1, "the second exits 1 (got \(status.map(String.init) ?? "still running")); stderr:\n\(second.stderr)")
        #expect(!second.saidReady, "the refused node never sent READY=1: \(second.seen)")
        #expect(second.stderr.contains("node_name \"shop-1\" is in use by another flipsyncd (host "), "stderr:\n\(second.stderr)")
        #expect(second.stderr.contains("pid \(first.pid), last heartbeat"), "it names the live process; stderr:\n\(second.stderr)")
        #expect(first.process.isRunning, "the first node runs on")

        let client = PostgresClient(configuration: endpoint.clientConfiguration(password: server.password), backgroundLogger: quietLogger)
        let clientTask = Task { await client.run() }
        defer { clientTask.cancel() }
        func registeredPID() async throws -> Int64? {
            let rows = try await client.query("SELECT pid FROM flipsync_cluster_nodes WHERE node_id = 'shop-1' AND stopped_at_ms IS NULL")
            for try await pid in rows.decode(Int64.self) { return pid }
            return nil
        }
        #expect(try await registeredPID() == Int64(first.pid), "the name stays the first's")

        // `flipsyncctl nodes` through the first's control socket: the tasks it holds claimed.
        let queue = ClusterTaskQueue(client: client, logger: quietLogger)
        _ = try await queue.enqueue(run: "run-1", tasks: (0..<3).map { (key: "k\($0)", payload: "{}") })
        #expect(try await queue.claim(node: "shop-1", limit: 2, leaseMilliseconds: 60_000).count == 2)
        let socket = a.directory + "/control.sock"
        let json = try flipsyncctl(["nodes", "--json", "--socket", socket])
        #expect(json.status == 0, "\(json.output)")
        let nodes = try JSONDecoder().decode([ClusterNodeStatus].self, from: Data(json.output.utf8))
        #expect(nodes.map(\.node) == ["shop-1"] && nodes.map(\.tasksClaimed) == [2], "\(json.output)")
        #expect(json.output.contains("\"tasksClaimed\" : 2"), "\(json.output)")
        let table = try flipsyncctl(["nodes", "--socket", socket])
        let lines = table.output.split(separator: "\n")
        #expect(lines.first?.hasSuffix("IN FLIGHT  CLAIMED") == true, "\(table.output)")
        #expect(lines.dropFirst().first?.hasSuffix(" 2") == true, "\(table.output)")

        // SIGKILLed and restarted at once on the same host: the dead process's name is taken over.
        kill(first.pid, SIGKILL)
        first.process.waitUntilExit()
        let restarted = try NotifiedDaemon(daemon: daemon, config: a.config, directory: a.directory, tag: "restarted")
        #expect(restarted.waitForReady(seconds: 30), "restarted at once under the name of a dead process: READY=1; stderr:\n\(restarted.stderr)")
        #expect(try await registeredPID() == Int64(restarted.pid))
        kill(restarted.pid, SIGTERM)
        #expect(restarted.waitForExit(seconds: 30) == 0, "a clean stop; stderr:\n\(restarted.stderr)")
        withExtendedLifetime((scratchA, scratchB)) {}
    }
}
