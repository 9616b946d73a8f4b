import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Item 6 of issue 7: `flipsyncd` from spawn to `READY=1` (on a notify socket this process
/// binds), its idle RSS with the four shipped jobs, and with 1,000 job files.
enum FootprintBench {
    /// A bound `AF_UNIX` datagram socket, as systemd's `NOTIFY_SOCKET`.
    final class NotifySocket {
        let fd: Int32
        let path: String

        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw BenchError.setup("socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw BenchError.setup("socket path too long: \(path)") }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in bytes.enumerated() { raw[i] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0 else { throw BenchError.setup("bind \(path): \(String(cString: strerror(errno)))") }
        }

        /// Waits (up to `timeout` seconds) for a datagram containing `READY=1`; returns when it came.
        func waitForReady(timeout: Double) -> UInt64? {
            let deadline = nowNanoseconds() + UInt64(timeout * 1e9)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while nowNanoseconds() < deadline {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let left = Int32(max(1, (deadline - min(deadline, nowNanoseconds())) / 1_000_000))
                guard poll(&poller, 1, left) > 0 else { continue }
                let n = recv(fd, &buffer, buffer.count, 0)
                let received = nowNanoseconds()
                guard n > 0 else { continue }
                let text = String(decoding: buffer[0..<n], as: UTF8.self)
                if text.split(separator: "\n").contains("READY=1") { return received }
            }
            return nil
        }

        deinit { close(fd) }
    }

    /// The daemon binary next to this one (taken to be of this bench's build configuration:
    /// both are built together, wherever they are copied), else the package's release, else its
    /// debug build; with the configuration named in the table.
    static func daemonBinary() -> (path: String, build: String)? {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let here = (exe as NSString).deletingLastPathComponent
        #if DEBUG
        let own = "debug"
        #else
        let own = "release"
        #endif
        let candidates = [(here + "/flipsyncd", own), (Fixtures.packageRoot + "/.build/release/flipsyncd", "release"),
                          (Fixtures.packageRoot + "/.build/debug/flipsyncd", "debug")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.0) }.map { (path: $0.0, build: $0.1) }
    }

    struct Measurement {
        var startupMilliseconds: Double
        var rssKiB: Int64
        /// Voluntary context switches of all the daemon's threads over `idleWindow` seconds.
        var idleSwitches: Int64
    }

    /// Per-thread voluntary switches of another process.
    static func switches(of pid: Int32) -> [String: Int64] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var result: [String: Int64] = [:]
        for task in tasks { result[task] = procStatusValue("/proc/\(pid)/task/\(task)/status", "voluntary_ctxt_switches") ?? 0 }
        return result
    }

    /// Starts the daemon on a scratch config, waits for READY=1, lets it settle, reads VmRSS,
    /// then stops it with SIGTERM (SIGKILL after 10 s).
    static func measure(binary: String, scratch: ScratchDirectory, configPath: String, idleWindow: Int) throws -> Measurement {
        let socket = try NotifySocket(path: scratch.file("notify.sock"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config", configPath]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = socket.path
        environment["JOURNAL_STREAM"] = nil
        environment["WATCHDOG_USEC"] = nil
        process.environment = environment
        _ = FileManager.default.createFile(atPath: scratch.file("daemon.log"), contents: nil)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.file("daemon.log")))
        process.standardOutput = logHandle
        process.standardError = logHandle
        process.standardInput = FileHandle.nullDevice
        let spawned = nowNanoseconds()
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                let deadline = nowNanoseconds() + 10_000_000_000
                while process.isRunning && nowNanoseconds() < deadline { usleep(20_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
            }
            try? logHandle.close()
        }
        guard let ready = socket.waitForReady(timeout: 60) else {
            let tail = (try? String(contentsOfFile: scratch.file("daemon.log"), encoding: .utf8))?.suffix(600) ?? ""
            throw BenchError.setup("flipsyncd sent no READY=1 within 60 s; log: \(tail)")
        }
        usleep(2_000_000)  // idle for a moment: RSS after start-up work settles
        let pid = process.processIdentifier
        let rss = procStatusValue("/proc/\(pid)/status", "VmRSS") ?? 0
        let before = switches(of: pid)
        usleep(UInt32(idleWindow) * 1_000_000)
        let after = switches(of: pid)
        let idle = after.reduce(0) { $0 + $1.value - (before[$1.key] ?? 0) }
        return Measurement(startupMilliseconds: Double(ready - spawned) / 1e6, rssKiB: rss, idleSwitches: idle)
    }

    static func run(quick: Bool, table: ResultTable) throws {
        guard let (binary, build) = daemonBinary() else {
            table.add(ResultRow(benchmark: "6 footprint", metric: "flipsyncd start-up", value: "not built",
                                reference: "swift build -c release --product flipsyncd"))
            return
        }
        let rounds = quick ? 1 : 3
        let idleWindow = quick ? 3 : 30
        for (label, generated) in [("4 shipped jobs", 0), ("1,000 job files", 996)] {
            var best: Measurement?
            var rssList: [Int64] = []
            var idleList: [Int64] = []
            for _ in 0..<rounds {
                let scratch = try ScratchDirectory("footprint")
                defer { scratch.remove() }
                let config = try Fixtures.writeConfig(in: scratch)
                _ = try Fixtures.copyShippedJobs(into: scratch)
                if generated > 0 { try Fixtures.writeGeneratedJobs(into: scratch, count: generated, schedule: "daily") }
                let m = try measure(binary: binary, scratch: scratch, configPath: config, idleWindow: idleWindow)
                rssList.append(m.rssKiB)
                idleList.append(m.idleSwitches)
                if best == nil || m.startupMilliseconds < best!.startupMilliseconds { best = m }
            }
            guard let best else { continue }
            let rss = rssList.sorted()[rssList.count / 2]
            table.add(ResultRow(benchmark: "6 footprint", metric: "flipsyncd (\(build)) spawn → READY=1, \(label)",
                                value: "\(format(best.startupMilliseconds, digits: 0)) ms", reference: "best of \(rounds)",
                                goal: "< 1 s", verdict: best.startupMilliseconds < 1000 ? "meets" : "short"))
            table.add(ResultRow(benchmark: "6 footprint", metric: "flipsyncd (\(build)) idle RSS, \(label)",
                                value: "\(format(Double(rss) / 1024, digits: 1)) MiB", reference: "median of \(rounds)",
                                goal: "tens of MiB", verdict: rss < 64 * 1024 ? "meets" : "over"))
            let idle = idleList.sorted()[idleList.count / 2]
            table.add(ResultRow(benchmark: "6 footprint", metric: "flipsyncd (\(build)) idle wake-ups, \(label), \(idleWindow) s, no watchdog",
                                value: "\(idle) switches (\(format(Double(idle) / Double(idleWindow), digits: 2))/s)",
                                reference: "median of \(rounds); cron wakes every 60 s",
                                goal: "0/s", verdict: Double(idle) / Double(idleWindow) < 0.5 ? "meets" : "short"))
        }
    }
}
