import FlipSyncCore
import FlipSyncSandbox
import FlipSyncStore
import Foundation
import Logging

/// A sandbox on an ephemeral loopback port and a fresh SQLite ledger in a temporary directory,
/// for workflows run end to end. Always stopped and removed afterwards.
struct WorkflowHarness: Sendable {
    let sandbox: SandboxServer
    let store: RunStore
    let directory: String

    static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    static func with<T: Sendable>(listings: Int = 40, seed: UInt64 = 11, _ body: @Sendable (WorkflowHarness) async throws -> T) async throws -> T {
        let directory = NSTemporaryDirectory() + "flipsync-workflow-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: seed, listings: listings), logger: quietLogger)
        do {
            let store = try RunStore(path: directory + "/flipsync.sqlite")
            let result = try await body(WorkflowHarness(sandbox: sandbox, store: store, directory: directory))
            await sandbox.stop()
            return result
        } catch {
            await sandbox.stop()
            throw error
        }
    }
}
