import FlipSyncCore
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Synchronization
import Testing

/// The built flipsyncctl (`.build/debug/flipsyncctl`, from this file's path).
private let flipsyncctlPath = packageRoot + "/.build/debug/flipsyncctl"

@Suite("flipsyncctl quota on a real ledger", .timeLimit(.minutes(1)))
struct QuotaCommandTests {
    /// Runs flipsyncctl; exit status, stdout, stderr.
    private func run(_ arguments: [String]) throws -> ProgramRun { try runProgram(flipsyncctlPath, arguments) }

    @Test("a quota row that does not decode is an error (exit 1, the file, table and row named), never \"no calls counted\"")
    func corruptRowIsAnError() throws {
        try #require(FileManager.default.isExecutableFile(atPath: flipsyncctlPath), "build first: swift build")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-quota-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ledger.sqlite").path
        let store = try RunStore(path: path)
        _ = store
        // eBay Browse's current window (midnight to midnight Pacific), as the command reads it.
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        let window = QuotaPolicy.standard().window(QuotaKey(provider: "ebay", api: "browse"), at: now)
        try MigrationNamesTests.corrupt(path, """
            INSERT INTO quota (provider, api, window_start, window_end, used, quota_limit)
            VALUES ('ebay', 'browse', \(window.lowerBound), \(window.upperBound), 3, 5000)
            """)
        // The config does not exist: built-in defaults; the ledger from --database.
        let arguments = ["quota", "--config", dir.path + "/none.toml", "--database", path]
        let good = try run(arguments + ["--json"])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.contains("\"used\" : 3"), "the row as written reads: \(good.stdout)")

        try MigrationNamesTests.corrupt(path, "UPDATE quota SET used = 'many'")
        for extra in [[], ["--json"]] {
            let bad = try run(arguments + extra)
            #expect(bad.status == 1, "exit 1 (got \(bad.status)); stdout: \(bad.stdout)")
            #expect(bad.stdout.isEmpty, "no table printed: \(bad.stdout)")
            #expect(bad.stderr.contains("flipsyncctl: \(path): "), "\(bad.stderr)")
            #expect(bad.stderr.contains("quota row (provider \"ebay\", api \"browse\", window_start \(window.lowerBound)) does not decode: "), "\(bad.stderr)")
        }
    }

    @Test("a call whose quota row does not decode is let through and the error told (never counted from zero, never a crash), by consume and consumeCommitted alike")
    func corruptRowLetsTheCallThrough() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-quota-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ledger.sqlite").path
        let store = try RunStore(path: path)
        let told = Told()
        let key = QuotaKey(provider: "ebay", api: "browse")
        let quota = QuotaStore(store: store, policy: .standard(limits: [key: 5]), clock: SystemSchedulerClock(), onError: told.add)
        try quota.consume(key, units: 2, job: nil)
        #expect(told.all.isEmpty)
        try MigrationNamesTests.corrupt(path, "UPDATE quota SET used = 'many'")
        try quota.consume(key, units: 1, job: nil)
        try await quota.consumeCommitted(key, units: 1, job: nil)
        #expect(told.all.count == 2, "\(told.all)")
        #expect(told.all.allSatisfy { $0.hasPrefix("quota ledger: ") && $0.contains("used") }, "\(told.all)")
        // Marking the window exhausted reads its own column the same way: text there is told, not taken as 0.
        try MigrationNamesTests.corrupt(path, "UPDATE quota SET used = 2, exhausted_until = 'soon'")
        _ = quota.markExhausted(key)
        #expect(told.all.count == 3 && told.all.last?.contains("exhausted_until") == true, "\(told.all)")
    }
}

/// What `onError` was told, in order.
private final class Told: Sendable {
    private let messages = Mutex<[String]>([])
    var all: [String] { messages.withLock { $0 } }
    @Sendable func add(_ message: String) { messages.withLock { $0.append(message) } }
}
