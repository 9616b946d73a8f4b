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
        let daemon = try DaemonProcess(jobs: ["scan": """
            name = "scan"
            kind = "readiness-scan"
            schedule = "*-*-* 03:00:00"
            [params]
            probes = ["database"]
            database_operations = 10
            """], extraDaemonLines: ["metrics = \"127.0.0.1:0\""], notifications: false)
        try daemon.start()

        // The daemon logs "metrics on http://127.0.0.1:PORT/metrics" once the port is bound.
        let port = daemon.waitForStderr("metrics on http://127.0.0.1:", until: Date().addingTimeInterval(60))
            .flatMap { Int($0.prefix { $0.isNumber }) }
        let bound = try #require(port, "no metrics port logged: \(daemon.stderr.suffix(2000))")
        #expect(bound > 0)

        let started = try runCommand(DaemonProcess.controlPath, ["run", "scan", "--wait", "--config", daemon.config])
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

        #expect(daemon.terminate(), "flipsyncd did not exit 0 on SIGTERM: \(daemon.exitDescription)")
    }
}
