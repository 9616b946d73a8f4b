import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The built `flipsyncd` with `[daemon] metrics` on a free loopback port: it says where it
/// listens, `/metrics` answers over real HTTP, and a run started with `flipsyncctl run --wait`
/// shows in the counters.
@Suite("flipsyncd serves /metrics", .timeLimit(.minutes(2)))
struct DaemonMetricsTests {
    @Test("a real flipsyncd with metrics = \"127.0.0.1:0\" logs its port, serves the text format, and counts a run started through flipsyncctl")
    func scrapeRealDaemon() async throws {
        let daemon = repositoryRoot + "/.build/debug/flipsyncd", ctl = repositoryRoot + "/.build/debug/flipsyncctl"
        try #require(access(daemon, X_OK) == 0 && access(ctl, X_OK) == 0, "build first: swift build --build-tests")
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        try FileManager.default.createDirectory(atPath: scratch.path + "/jobs", withIntermediateDirectories: true)
        try scratch.write("jobs/scan.toml", """
            name = "scan"
            kind = "readiness-scan"
            schedule = "*-*-* 03:00:00"
            [params]
            probes = ["database"]
            database_operations = 10
            """)
        let config = try scratch.write("flipsync.toml", """
            [daemon]
            database = "\(scratch.path)/ledger.sqlite"
            jobs_directory = "\(scratch.path)/jobs"
            control_socket = "\(scratch.path)/control.sock"
            drain_timeout = "5s"
            metrics = "127.0.0.1:0"
            """)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: daemon)
        process.arguments = ["--config", config]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        environment.removeValue(forKey: "WATCHDOG_USEC")
        process.environment = environment
        let log = try scratch.write("stderr", "")
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        // The daemon logs "metrics on http://127.0.0.1:PORT/metrics" once the port is bound.
        let marker = "metrics on http://127.0.0.1:"
        var port: Int?
        let deadline = Date().addingTimeInterval(60)
        while port == nil, process.isRunning, Date() < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: marker) { port = Int(text[range.upperBound...].prefix { $0.isNumber }) }
            if port == nil { usleep(20_000) }
        }
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let bound = try #require(port, "no metrics port logged: \(stderr.suffix(2000))")
        #expect(bound > 0)

        let started = try runCommand(ctl, ["run", "scan", "--wait", "--config", config])
        #expect(started.status == 0, "\(started.stderr)")

        let url = try #require(URL(string: "http://127.0.0.1:\(bound)/metrics"))
        let (data, response) = try await URLSession.shared.data(from: url)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("# TYPE flipsync_runs_total counter"))
        #expect(text.contains("flipsync_runs_total{job=\"scan\",status=\"succeeded\"} 1"), "\(text)")
        #expect(text.contains("flipsync_runs_started_total{job=\"scan\"} 1"))
        #expect(text.contains("flipsync_run_duration_seconds_count{job=\"scan\"} 1"))
        #expect(text.contains("flipsync_tasks_in_flight "))

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }
}
