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
        // Many job files, so start-up (reading them) takes a moment after the trap.
        var jobs: [String: String] = [:]
        for i in 0..<300 {
            jobs["job-\(i)"] = """
                name = "job-\(i)"
                kind = "readiness-scan"
                schedule = "*-*-* 03:\(String(format: "%02d", i % 60)):00"
                [params]
                probes = ["database"]
                """
        }
        let daemon = try DaemonProcess(jobs: jobs, notifications: true)
        let notify = try #require(daemon.notify)
        try daemon.start()
        let pid = daemon.pid

        // Wait until the daemon catches SIGHUP, then send it at once.
        let deadline = Date().addingTimeInterval(60)
        while !Self.handlesHangup(pid), daemon.isRunning, Date() < deadline { usleep(200) }
        try #require(Self.handlesHangup(pid), "flipsyncd never trapped SIGHUP")
        let ledgerExisted = FileManager.default.fileExists(atPath: daemon.database)
        kill(pid, SIGHUP)
        let early = notify.messages()

        // It lives, gets to READY=1, then handles the queued SIGHUP as a reload.
        // (STATUS= updates may come between and after; the order of READY and RELOADING counts.)
        let seen = daemon.notifications(until: deadline, startingWith: early, readyAfterReload)
        #expect(daemon.isRunning, "flipsyncd died: \(daemon.exitDescription) \(daemon.stderr.suffix(2000))")
        #expect(!ledgerExisted, "SIGHUP was trapped only after the ledger was opened, not first thing")
        #expect(!early.contains { $0.contains("READY=1") }, "the SIGHUP arrived after READY=1, so start-up was not tested: \(early)")
        let ready = seen.firstIndex { $0.contains("READY=1") }
        let reloading = seen.firstIndex { $0.contains("RELOADING=1") }
        #expect(ready != nil && reloading != nil && ready! < reloading!, "notifications: \(seen)")
        #expect(readyAfterReload(seen), "no READY=1 after the reload: \(seen)")

        let exitedCleanly = daemon.terminate()
        let stopping = notify.messages(waiting: 100)
        #expect(exitedCleanly, "flipsyncd did not exit 0 on SIGTERM: \(daemon.exitDescription)")
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
