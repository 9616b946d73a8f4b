import FlipSyncTestKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The built `flipsyncd`, started as systemd would start it, for the suites that test the real
/// process (`DaemonIdleTests`, `DaemonSignalTests`, `DaemonMetricsTests`): a scratch directory
/// with `jobs/` and a `flipsync.toml`, stderr into a file, `NOTIFY_SOCKET` a listener of the
/// test's own (or unset), never a watchdog. A daemon still running when the value is dropped
/// is SIGKILLed, so a failed `#require` cannot leave one behind.
final class DaemonProcess {
    static let daemonPath = packageRoot + "/.build/debug/flipsyncd"
    static let controlPath = packageRoot + "/.build/debug/flipsyncctl"

    let scratch: TemporaryDirectory
    /// The config file, `[daemon]` with the ledger, jobs and control socket in `scratch`.
    let config: String
    let socket: String
    let database: String
    let notify: NotificationListener?
    private let process = Process()
    private let log: String

    /// Writes `jobs` (name → TOML text) and the config (`extraDaemonLines` appended to
    /// `[daemon]`), but does not start the daemon: `start()` does.
    init(jobs: [String: String], extraDaemonLines: [String] = [], notifications: Bool) throws {
        try #require(access(Self.daemonPath, X_OK) == 0 && access(Self.controlPath, X_OK) == 0,
                     "build first: swift build --build-tests")
        scratch = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: scratch.path + "/jobs", withIntermediateDirectories: true)
        for (name, text) in jobs { try scratch.write("jobs/\(name).toml", text) }
        socket = scratch.path + "/control.sock"
        database = scratch.path + "/ledger.sqlite"
        config = try scratch.write("flipsync.toml", ([
            "[daemon]",
            "database = \"\(database)\"",
            "jobs_directory = \"\(scratch.path)/jobs\"",
            "control_socket = \"\(socket)\"",
            "drain_timeout = \"5s\"",
        ] + extraDaemonLines).joined(separator: "\n") + "\n")
        notify = notifications ? try NotificationListener(path: scratch.path + "/notify.sock") : nil
        log = try scratch.write("stderr", "")
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        scratch.remove()
    }

    /// Starts flipsyncd with this test's environment, less the variables that would change what
    /// it is tested for, plus `extraEnvironment`.
    func start(extraEnvironment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: Self.daemonPath)
        process.arguments = ["--config", config]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        environment.removeValue(forKey: "WATCHDOG_USEC")
        environment.removeValue(forKey: "NIO_SINGLETON_GROUP_LOOP_COUNT")
        environment.merge(extraEnvironment) { _, new in new }
        if let notify { environment["NOTIFY_SOCKET"] = notify.path }
        process.environment = environment
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var stderr: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// The notifications received, waiting until `done` says so, the daemon exits, or `deadline`.
    func notifications(until deadline: Date, startingWith seen: [String] = [], _ done: ([String]) -> Bool) -> [String] {
        guard let notify else { return seen }
        var seen = seen
        while !done(seen), process.isRunning, Date() < deadline { seen += notify.messages(waiting: 100) }
        return seen
    }

    /// The rest of stderr's line after `marker`, once it shows (nil if it never did by `deadline`).
    func waitForStderr(_ marker: String, until deadline: Date) -> Substring? {
        while process.isRunning, Date() < deadline {
            let text = stderr
            if let range = text.range(of: marker) { return text[range.upperBound...].prefix { $0 != "\n" } }
            usleep(20_000)
        }
        return nil
    }

    /// SIGTERM, then waits for the exit; whether it was a clean exit 0.
    func terminate() -> Bool {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationReason == .exit && process.terminationStatus == 0
    }

    /// How the daemon ended, for a failure message.
    var exitDescription: String {
        process.isRunning ? "running"
            : "\(process.terminationReason == .uncaughtSignal ? "signal" : "exit") \(process.terminationStatus)"
    }
}

/// Whether `seen` has a `RELOADING=1` followed (later) by a `READY=1`: a reload finished.
func readyAfterReload(_ seen: [String]) -> Bool {
    guard let reloading = seen.firstIndex(where: { $0.contains("RELOADING=1") }) else { return false }
    return seen[(reloading + 1)...].contains { $0.contains("READY=1") }
}
