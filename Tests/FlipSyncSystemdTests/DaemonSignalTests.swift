import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The built `flipsyncd`, started as systemd would start it (a `NOTIFY_SOCKET` this test reads),
/// signalled while it starts.
@Suite("flipsyncd signals at start-up", .timeLimit(.minutes(3)))
struct DaemonSignalTests {
    @Test("a SIGHUP while flipsyncd starts does not kill it: it is trapped before the ledger opens and reloads after READY=1; SIGTERM then stops it with exit 0")
    func hangupDuringStartUp() throws {
        let daemon = repositoryRoot + "/.build/debug/flipsyncd"
        try #require(access(daemon, X_OK) == 0, "build first: swift build --build-tests (\(daemon))")
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        // Many job files, so start-up (reading them) takes a moment after the trap.
        try FileManager.default.createDirectory(atPath: scratch.path + "/jobs", withIntermediateDirectories: true)
        for i in 0..<300 {
            try scratch.write("jobs/job-\(i).toml", """
                name = "job-\(i)"
                kind = "readiness-scan"
                schedule = "*-*-* 03:\(String(format: "%02d", i % 60)):00"
                [params]
                probes = ["database"]
                """)
        }
        let database = scratch.path + "/ledger.sqlite"
        let config = try scratch.write("flipsync.toml", """
            [daemon]
            database = "\(database)"
            jobs_directory = "\(scratch.path)/jobs"
            control_socket = "\(scratch.path)/control.sock"
            drain_timeout = "5s"
            """)
        let notify = try NotificationListener(path: scratch.path + "/notify.sock")
        defer { notify.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: daemon)
        process.arguments = ["--config", config]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        environment.removeValue(forKey: "WATCHDOG_USEC")
        process.environment = environment
        let log = try scratch.write("stderr", "")
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let pid = process.processIdentifier

        // Wait until the daemon catches SIGHUP, then send it at once.
        let deadline = Date().addingTimeInterval(60)
        while !Self.handlesHangup(pid), process.isRunning, Date() < deadline { usleep(200) }
        try #require(Self.handlesHangup(pid), "flipsyncd never trapped SIGHUP")
        let ledgerExisted = FileManager.default.fileExists(atPath: database)
        kill(pid, SIGHUP)
        let early = notify.messages()

        // It lives, gets to READY=1, then handles the queued SIGHUP as a reload.
        // (STATUS= updates may come between and after; the order of READY and RELOADING counts.)
        var seen = early
        func readyAfterReload() -> Bool {
            guard let reloading = seen.firstIndex(where: { $0.contains("RELOADING=1") }) else { return false }
            return seen[(reloading + 1)...].contains { $0.contains("READY=1") }
        }
        while !readyAfterReload() {
            guard process.isRunning, Date() < deadline else { break }
            seen += notify.messages(waiting: 100)
        }
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(process.isRunning, "flipsyncd died: \(process.isRunning ? "" : "\(process.terminationReason == .uncaughtSignal ? "signal" : "exit") \(process.terminationStatus)") \(stderr.suffix(2000))")
        #expect(!ledgerExisted, "SIGHUP was trapped only after the ledger was opened, not first thing")
        #expect(!early.contains { $0.contains("READY=1") }, "the SIGHUP arrived after READY=1, so start-up was not tested: \(early)")
        let ready = seen.firstIndex { $0.contains("READY=1") }
        let reloading = seen.firstIndex { $0.contains("RELOADING=1") }
        #expect(ready != nil && reloading != nil && ready! < reloading!, "notifications: \(seen)")
        #expect(readyAfterReload(), "no READY=1 after the reload: \(seen)")

        kill(pid, SIGTERM)
        process.waitUntilExit()
        let stopping = notify.messages(waiting: 100)
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        #expect((seen + stopping).contains { $0.contains("STOPPING=1") })
    }

    /// Whether `pid` catches or ignores SIGHUP (bit 0 of `SigCgt`/`SigIgn`, which are the
    /// process's). `SigBlk` is no sign: dispatch's worker threads block nearly every signal, and
    /// a SIGHUP then goes to a thread that does not.
    static func handlesHangup(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        for line in status.split(separator: "\n") where line.hasPrefix("SigCgt:") || line.hasPrefix("SigIgn:") {
            if let mask = UInt64(line.split(separator: "\t").last ?? "", radix: 16), mask & 1 == 1 { return true }
        }
        return false
    }
}

/// A datagram socket bound at `path`, as systemd's `NOTIFY_SOCKET`.
final class NotificationListener {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    /// The messages waiting, after waiting up to `milliseconds` for the first.
    func messages(waiting milliseconds: Int32 = 0) -> [String] {
        var out: [String] = []
        var wait = milliseconds
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, wait) == 1 else { return out }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return out }
            out.append(String(decoding: buffer[0..<count], as: UTF8.self))
            wait = 0
        }
    }

    func close() { _ = Glibc.close(fd) }
}
