import Foundation
import NIOCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An idle `flipsyncd` sleeps: with nothing due and no watchdog, it does not wake at all
/// (issue 15, item 8). Before, any Swift process that had run work on libdispatch's global
/// queues woke once a second for good (libdispatch's pool monitor, a 1 s timer).
@Suite("flipsyncd idle wake-ups", .timeLimit(.minutes(3)))
struct DaemonIdleTests {
    @Test("an idle flipsyncd, after READY=1, a reload and a control request, wakes at most once in 5 s (it woke every second)")
    func idleDaemonSleeps() throws {
        // Jobs whose next fire is hours away (03:00 and 15:00 UTC are never both within the window).
        let hour = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date()).hour!
        let far = (hour + 6) % 24
        var jobs: [String: String] = [:]
        for i in 0..<4 {
            jobs["job-\(i)"] = """
                name = "job-\(i)"
                kind = "readiness-scan"
                schedule = "*-*-* \(String(format: "%02d", far)):\(String(format: "%02d", i)):00"
                [params]
                probes = ["database"]
                """
        }
        let daemon = try DaemonProcess(jobs: jobs, notifications: true)
        try daemon.start()
        let pid = daemon.pid
        let deadline = Date().addingTimeInterval(90)

        // READY=1, then a reload (its reader ran on a global queue before) and READY=1 again.
        let seen = daemon.notifications(until: deadline) { $0.contains { $0.contains("READY=1") } }
        try #require(seen.contains { $0.contains("READY=1") }, "no READY=1: \(seen)")
        kill(pid, SIGHUP)
        let afterHangup = daemon.notifications(until: deadline, readyAfterReload)
        try #require(readyAfterReload(afterHangup), "no reload: \(afterHangup)")

        // A control request: the control server's threads and a handler task.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: DaemonProcess.controlPath)
        client.arguments = ["status", "--socket", daemon.socket]
        client.standardOutput = FileHandle.nullDevice
        client.standardError = FileHandle.nullDevice
        try client.run()
        client.waitUntilExit()
        #expect(client.terminationStatus == 0, "flipsyncctl status failed")

        // Let the start-up and the request settle: libdispatch's idle workers exit after a few
        // seconds, and a thread that exits takes its count with it. Settled: the same threads in
        // two samples a second apart.
        var previous = Self.switches(pid)
        while Date() < deadline {
            usleep(1_000_000)
            let now = Self.switches(pid)
            if Set(now.keys) == Set(previous.keys) { break }
            previous = now
        }
        let before = Self.switches(pid)
        usleep(5_000_000)
        let after = Self.switches(pid)
        #expect(daemon.isRunning, "flipsyncd died: \(daemon.stderr.suffix(2000))")
        // Each thread's wake-ups in the window; a thread started in it counts from zero.
        let woke = after.reduce(0) { $0 + $1.value - (before[$1.key] ?? 0) }
        #expect(woke <= 1, "flipsyncd woke \(woke) times in 5 s idle; per thread before \(before), after \(after)")

        #expect(daemon.terminate(), "flipsyncd did not exit 0 on SIGTERM: \(daemon.exitDescription)")
    }

    @Test("flipsyncd runs one event loop, or as many as NIO_SINGLETON_GROUP_LOOP_COUNT says",
          arguments: [(nil, 1), ("3", 3), ("many", System.coreCount)] as [(String?, Int)])
    func eventLoops(setting: String?, expected: Int) throws {
        let daemon = try DaemonProcess(jobs: [:], notifications: true)
        try daemon.start(extraEnvironment: setting.map { ["NIO_SINGLETON_GROUP_LOOP_COUNT": $0] } ?? [:])
        let seen = daemon.notifications(until: Date().addingTimeInterval(60)) { $0.contains { $0.contains("READY=1") } }
        try #require(seen.contains { $0.contains("READY=1") }, "no READY=1: \(seen) \(daemon.stderr.suffix(2000))")
        // SwiftNIO names its singleton group's threads NIO-SGLTN-<group>-#<loop>; a thread started
        // from a loop's thread inherits its name, so the loops are the distinct names.
        let names = Self.switches(daemon.pid).keys.compactMap { $0.split(separator: " ", maxSplits: 1).last.map(String.init) }
        let loops = Set(names.filter { $0.hasPrefix("NIO-SGLTN-") })
        #expect(loops.count == expected, "event loops with NIO_SINGLETON_GROUP_LOOP_COUNT=\(setting ?? "unset"): \(loops.sorted())")
        #expect(daemon.terminate(), "flipsyncd did not exit 0 on SIGTERM: \(daemon.exitDescription)")
    }

    /// Voluntary context switches of each thread of `pid` ("TID NAME": a thread blocks, then
    /// wakes: one switch per wake-up).
    static func switches(_ pid: Int32) -> [String: Int] {
        var perThread: [String: Int] = [:]
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for task in tasks {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else { continue }
            var name = task, count = 0
            for line in status.split(separator: "\n") {
                if line.hasPrefix("Name:") { name = task + " " + line.dropFirst(5).trimmingCharacters(in: .whitespaces) }
                if line.hasPrefix("voluntary_ctxt_switches:") { count = Int(line.split(separator: "\t").last ?? "") ?? 0 }
            }
            perThread[name] = count
        }
        return perThread
    }
}
