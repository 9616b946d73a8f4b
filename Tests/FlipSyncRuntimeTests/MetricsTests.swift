import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import FlipSyncTestKit
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import ServiceLifecycle
import Testing
@testable import FlipSyncRuntime

/// One sample of the Prometheus text format: name, labels, value.
struct Sample: Hashable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// A strict reader of the text exposition format (0.0.4): `# HELP`/`# TYPE` lines, and
/// `name{label="value",…} number` samples with `\\`, `\"` and `\n` escapes. Anything else fails.
enum PrometheusText {
    struct Malformed: Error, CustomStringConvertible {
        var line: String
        var description: String { "malformed exposition line: \(line)" }
    }

    static func parse(_ text: String) throws -> (samples: [Sample], types: [String: String]) {
        var samples: [Sample] = [], types: [String: String] = [:]
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(raw)
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4 else { throw Malformed(line: line) }
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            var chars = Substring(line)
            let name = chars.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }
            guard !name.isEmpty, !(name.first!.isNumber) else { throw Malformed(line: line) }
            chars = chars.dropFirst(name.count)
            var labels: [String: String] = [:]
            if chars.first == "{" {
                chars = chars.dropFirst()
                while chars.first != "}" {
                    let key = chars.prefix { $0 != "=" }
                    chars = chars.dropFirst(key.count)
                    guard chars.hasPrefix("=\"") else { throw Malformed(line: line) }
                    chars = chars.dropFirst(2)
                    var value = ""
                    while let c = chars.first, c != "\"" {
                        chars = chars.dropFirst()
                        if c == "\\" {
                            guard let e = chars.first else { throw Malformed(line: line) }
                            chars = chars.dropFirst()
                            value.append(e == "n" ? "\n" : e)
                        } else {
                            value.append(c)
                        }
                    }
                    guard chars.first == "\"" else { throw Malformed(line: line) }
                    chars = chars.dropFirst()
                    labels[String(key)] = value
                    if chars.first == "," { chars = chars.dropFirst() }
                }
                chars = chars.dropFirst()
            }
            guard chars.first == " " else { throw Malformed(line: line) }
            let number = chars.dropFirst().split(separator: " ").first.map(String.init) ?? ""
            guard let value = Double(number == "+Inf" ? "inf" : number) else { throw Malformed(line: line) }
            samples.append(Sample(name: String(name), labels: labels, value: value))
        }
        return (samples, types)
    }
}

extension Array where Element == Sample {
    /// The sum of every sample named `name` whose labels include `matching`.
    func sum(_ name: String, _ matching: [String: String] = [:]) -> Double {
        filter { sample in sample.name == name && matching.allSatisfy { sample.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
    }
}

@Suite("Prometheus metrics: flipsyncd's runtime scraped over HTTP against the sandbox", .timeLimit(.minutes(3)))
struct MetricsTests {
    static func config(baseURL: String) -> String {
        """
        [daemon]
        database = "ledger.sqlite"
        jobs_directory = "jobs"
        control_socket = "control.sock"
        timezone = "America/New_York"
        metrics = "127.0.0.1:0"

        \(SandboxConfigText.marketplaces(baseURL: baseURL))
        [prices.ebay]
        call = "0.0025 USD"

        [prices.amazon]
        call = "0.0013 USD"

        [prices.shopify]
        call = "0.0007 USD"
        """
    }

    static let sweep = """
        name = "sweep"
        kind = "repricing-sweep"
        schedule = "daily"
        timeout = "5m"
        concurrency = 16

        [params]
        marketplaces = ["ebay", "amazon"]
        cost_source = "shopify"
        shipping_cost = "4.50 USD"
        strategy = "beat-lowest"
        undercut = "1%"
        min_margin = "15%"
        max_change = "10%"
        rounding = ".99"
        """

    static let scan = """
        name = "scan"
        kind = "readiness-scan"
        schedule = "daily"
        [params]
        probes = ["database"]
        database_operations = 10
        """

    /// The daemon's metrics server on an ephemeral loopback port, run in its own service group
    /// until `body` returns.
    static func serving(_ metrics: DaemonMetrics, address: MetricsAddress, pool: PermitPool, quota: any QuotaLedger, logger: Logger,
                        _ body: (Int) async throws -> Void) async throws {
        let (bound, continuation) = AsyncStream<Int>.makeStream()
        let service = MetricsServer.service(address: address, metrics: metrics, pool: pool, quota: quota, logger: logger,
                                            onBound: { continuation.yield($0); continuation.finish() })
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        let task = Task { try await group.run() }
        var ports = bound.makeAsyncIterator()
        let port = try #require(await ports.next())
        do {
            try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await task.value
    }

    static func scrape(port: Int, path: String = "/metrics") async throws -> (text: String, status: Int, contentType: String?) {
        let url = try #require(URL(string: "http://127.0.0.1:\(port)\(path)"))
        let (data, response) = try await URLSession.shared.data(from: url)
        let http = try #require(response as? HTTPURLResponse)
        return (String(decoding: data, as: UTF8.self), http.statusCode, http.value(forHTTPHeaderField: "Content-Type"))
    }

    @Test("after a repricing sweep and a scan, the scrape's counters equal the ledger: runs by job and status, calls and spend micros by provider, decisions by reason")
    func scrapeEqualsLedger() async throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 11, listings: 30), logger: logger)
        do {
            let configFile = scratch.write("flipsync.toml", Self.config(baseURL: sandbox.baseURL))
            scratch.write("jobs/sweep.toml", Self.sweep)
            scratch.write("jobs/scan.toml", Self.scan)
            let clock = SystemSchedulerClock()
            let loaded = DaemonSetup(configPath: configFile, environment: .init(workingDirectory: scratch.path)).load(now: clock.now())
            #expect(loaded.errors.isEmpty, "\(loaded.errors)")
            let address = try #require(loaded.config.metrics)
            #expect(address == MetricsAddress(host: "127.0.0.1", port: 0))
            let values = sandbox.developmentCredentials(for: loaded.config)
            let metrics = DaemonMetrics()
            let runtime = try Runtime.open(config: loaded.config, jobs: loaded.catalog.jobs, clock: clock, logger: logger,
                                           secret: { name in SecretText(try #require(values[name])) }, metrics: metrics.ledger)
            let pool = PermitPool(permits: 8)
            try await Self.serving(metrics, address: address, pool: pool, quota: runtime.ledger.quota, logger: logger) { port in
                // Before any run: no run, call or decision counted.
                let before = try PrometheusText.parse(try await Self.scrape(port: port).text).samples
                #expect(before.sum(LedgerMetrics.Name.runs) == 0 && before.sum(LedgerMetrics.Name.apiCalls) == 0)

                let (sweepRun, sweepStatus) = try await runtime.runOnce(job: try #require(loaded.catalog["sweep"]), requestedBy: nil,
                                                                        pool: pool, clock: clock, logger: logger)
                #expect(sweepStatus == .succeeded, "\(sweepRun.error ?? "")")
                let (_, scanStatus) = try await runtime.runOnce(job: try #require(loaded.catalog["scan"]), requestedBy: nil,
                                                                pool: pool, clock: clock, logger: logger)
                #expect(scanStatus.isFinal)

                let (text, status, contentType) = try await Self.scrape(port: port)
                #expect(status == 200)
                #expect(contentType?.hasPrefix("text/plain; version=0.0.4") == true)
                let (samples, types) = try PrometheusText.parse(text)

                // Runs: by job and status, exactly the ledger's rows.
                let runs = try runtime.sqlite!.store.recentRuns(job: nil, limit: 100)
                #expect(runs.count == 2)
                for run in runs {
                    #expect(samples.sum(LedgerMetrics.Name.runs, ["job": run.job, "status": run.status.rawValue]) == 1, "\(run.job)")
                    #expect(samples.sum(LedgerMetrics.Name.runsStarted, ["job": run.job]) == 1)
                    #expect(samples.sum(LedgerMetrics.Name.runDuration + "_count", ["job": run.job]) == 1)
                }
                #expect(samples.sum(LedgerMetrics.Name.runs) == Double(runs.count))
                #expect(types[LedgerMetrics.Name.runs] == "counter")
                #expect(types[LedgerMetrics.Name.runDuration] == "histogram")

                // Calls and spend: per provider, exactly the spend ledger's rows and micros.
                let byProvider = try runtime.sqlite!.spend.history.totals(since: 0, by: .provider, timezone: .utc)
                #expect(byProvider.count >= 3, "\(byProvider.map { $0.key ?? "-" })")
                for total in byProvider {
                    let provider = try #require(total.key)
                    #expect(samples.sum(LedgerMetrics.Name.apiCalls, ["provider": provider]) == Double(total.calls), "\(provider)")
                    #expect(samples.sum(LedgerMetrics.Name.apiSpend, ["provider": provider, "currency": total.cost.currency.code]) == Double(total.cost.micros), "\(provider)")
                    #expect(total.cost.micros > 0)
                }
                #expect(samples.sum(LedgerMetrics.Name.apiCalls) == Double(byProvider.reduce(0) { $0 + $1.calls }))
                #expect(samples.filter { $0.name == LedgerMetrics.Name.apiCalls }
                    .allSatisfy { ["2xx", "3xx", "4xx", "5xx", "cached", "none"].contains($0.labels["status_class"] ?? "") })

                // Decisions: by reason code, exactly the sweep's recorded decisions.
                let decisions = try runtime.sqlite!.store.decisions(sweep: sweepRun.id)
                #expect(!decisions.isEmpty)
                for (reason, group) in Dictionary(grouping: decisions, by: \.reason.rawValue) {
                    #expect(samples.sum(LedgerMetrics.Name.decisions, ["reason": reason]) == Double(group.count), "\(reason)")
                }
                #expect(samples.sum(LedgerMetrics.Name.decisions) == Double(decisions.count))

                // The gauges and the commit latency are there; the pool is idle after the runs.
                #expect(samples.contains { $0.name == LedgerMetrics.Name.tasksInFlight && $0.value == 0 })
                #expect(samples.contains { $0.name == LedgerMetrics.Name.tasksQueued && $0.value == 0 })
                #expect(samples.sum(LedgerMetrics.Name.ledgerCommit + "_count") > 0)
                #expect(samples.contains { $0.name == LedgerMetrics.Name.quotaUsed && $0.labels["provider"] == "ebay" })

                // No label value is (or holds) a SKU or a listing id, and every name is Prometheus-clean.
                let identifiers = Set(decisions.flatMap { [$0.sku, $0.listingID] })
                let labelValues = Set(samples.flatMap { $0.labels.values })
                for value in labelValues {
                    #expect(!identifiers.contains { !$0.isEmpty && value.contains($0) }, "label value \(value) holds a SKU or listing id")
                }
                #expect(samples.allSatisfy { $0.name.hasPrefix("flipsync_") })
                #expect(samples.allSatisfy { $0.labels.keys.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "_" } } })
                let series = Set(samples.map { "\($0.name)\($0.labels.sorted { $0.key < $1.key })" })
                print("metrics scrape: \(text.utf8.count) bytes, \(samples.count) samples, \(series.count) series, \(labelValues.count) distinct label values")

                // Anything but /metrics is 404.
                #expect(try await Self.scrape(port: port, path: "/").status == 404)
            }
            await sandbox.stop()
        } catch {
            await sandbox.stop()
            throw error
        }
    }

    @Test("the ledger's facts as metrics: fire lateness from the scheduled time, run duration, skipped and interrupted runs, decisions, a breaker trip, an oversell and drift")
    func ledgerFacts() async throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        let metrics = DaemonMetrics()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite", metrics: metrics.ledger)
        let fire: Int64 = 1_780_000_000  // seconds, as the ledger keeps scheduled times
        let nightly = try #require(try store.recordFire(job: "nightly", kind: "repricing-sweep", trigger: .schedule, requestedBy: nil,
                                                        scheduledAt: fire, status: .queued, skipReason: nil, summary: nil,
                                                        at: fire * 1000 + 100, resumes: nil))
        try await store.commitRunning(runID: nightly.id, at: fire * 1000 + 2_500)
        func usd(_ micros: Int64) -> Money { Money(micros: micros, currency: .usd) }
        let d = PricingDecision(sku: "SKU-SECRET-1", marketplace: .ebay, listingID: "L1", oldPrice: usd(10_000_000),
                                newPrice: usd(9_000_000), floor: usd(8_000_000), ceiling: usd(12_000_000), lowestCompetitorLanded: nil,
                                buyBox: nil, offersConsidered: 1, offersExcluded: [:], strategy: .beatLowest,
                                reason: .followedCompetition, explanation: "", state: .planned)
        try await store.saveDecision(d, sweep: nightly.id)
        try await store.markDecisions(sweep: nightly.id, marketplace: .ebay, skus: [d.sku], state: .blocked, results: [:])
        try await store.commitFinish(runID: nightly.id, status: .failed, summary: nil, error: "breaker", spendMicros: 0,
                                     at: fire * 1000 + 62_500)
        // Finishing or starting it again changes no row, so counts nothing.
        try store.markRunning(runID: nightly.id, at: fire * 1000 + 70_000)
        try store.finishRun(runID: nightly.id, status: .succeeded, summary: nil, error: nil, spendMicros: 0, at: fire * 1000 + 80_000)
        _ = try store.recordFire(job: "nightly", kind: "repricing-sweep", trigger: .schedule, requestedBy: nil, scheduledAt: fire + 86_400,
                                 status: .skipped, skipReason: .overlap, summary: nil, at: (fire + 86_400) * 1000, resumes: nil)
        let manual = try #require(try store.recordFire(job: "sync", kind: "marketplace-sync", trigger: .manual, requestedBy: nil,
                                                       scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                       at: fire * 1000, resumes: nil))
        try store.markRunning(runID: manual.id, at: fire * 1000 + 1_000)
        _ = try store.interruptLeftovers(at: fire * 1000 + 31_000, reason: "stopped")
        // Marketplace sync: one oversold order line on Shopify, two drifted quantities on eBay.
        let sync = SyncStore(store: store)
        try sync.seed(["SKU-SECRET-2": 1, "SKU-SECRET-3": 5], from: .ebay, at: 0)
        let line = OrderLine(marketplace: .shopify, orderID: "9", lineID: "9-1", sku: "SKU-SECRET-2", quantity: 3, placedAt: 0)
        let applied = try sync.applyOrders(OrdersPage(lines: [line], cursor: "x"), job: "sync", marketplace: .shopify, runID: manual.id, at: 1)
        #expect(applied.oversells.count == 1)
        try sync.recordPlan(PushPlan(marketplace: .ebay, observed: ["SKU-SECRET-2": 4, "SKU-SECRET-3": 9],
                                     drift: [Drift(sku: "SKU-SECRET-2", live: 4, expected: 1, target: 0),
                                             Drift(sku: "SKU-SECRET-3", live: 9, expected: 5, target: 5)],
                                     intents: [], dryRun: false),
                            job: "sync", runID: manual.id, at: 2)

        let samples = try PrometheusText.parse(metrics.scrape(pool: PermitPool(permits: 2), quota: nil)).samples
        #expect(samples.sum(LedgerMetrics.Name.runsStarted, ["job": "nightly"]) == 1)
        #expect(samples.sum(LedgerMetrics.Name.runsStarted, ["job": "sync"]) == 1)
        // 2.5 s late: in the 5 s bucket, not the 1 s one; the manual run has no lateness.
        #expect(samples.sum(LedgerMetrics.Name.fireLateness + "_count") == 1)
        #expect(samples.sum(LedgerMetrics.Name.fireLateness + "_sum", ["job": "nightly"]) == 2.5)
        #expect(samples.sum(LedgerMetrics.Name.fireLateness + "_bucket", ["job": "nightly", "le": "1.0"]) == 0)
        #expect(samples.sum(LedgerMetrics.Name.fireLateness + "_bucket", ["job": "nightly", "le": "5.0"]) == 1)
        #expect(samples.sum(LedgerMetrics.Name.runDuration + "_sum", ["job": "nightly"]) == 60)
        #expect(samples.sum(LedgerMetrics.Name.runDuration + "_sum", ["job": "sync"]) == 30)
        #expect(samples.sum(LedgerMetrics.Name.runs, ["job": "nightly", "status": "failed"]) == 1)
        #expect(samples.sum(LedgerMetrics.Name.runs, ["job": "nightly", "status": "skipped"]) == 1)
        #expect(samples.sum(LedgerMetrics.Name.runs, ["job": "sync", "status": "interrupted"]) == 1)
        #expect(samples.sum(LedgerMetrics.Name.runs) == 3)
        #expect(samples.sum(LedgerMetrics.Name.decisions, ["marketplace": "ebay", "reason": "followed-competition"]) == 1)
        #expect(samples.sum(LedgerMetrics.Name.breakerTrips, ["marketplace": "ebay"]) == 1)
        #expect(samples.sum(LedgerMetrics.Name.tasksInFlight) == 0)
        #expect(samples.sum(LedgerMetrics.Name.oversells, ["marketplace": "shopify"]) == 1)
        #expect(samples.sum(LedgerMetrics.Name.driftCorrections, ["marketplace": "ebay"]) == 2)
        #expect(!samples.contains { $0.labels.values.contains { $0.contains("SKU-SECRET") || $0 == "L1" || $0 == "9" } })
    }

    @Test("daemon.metrics: loopback HOST:PORT only; anything else is a config error at file:line")
    func metricsAddressIsLoopbackOnly() throws {
        #expect(try MetricsAddress.parse("127.0.0.1:9466").get() == MetricsAddress(host: "127.0.0.1", port: 9466))
        #expect(try MetricsAddress.parse("[::1]:9466").get() == MetricsAddress(host: "::1", port: 9466))
        #expect(try MetricsAddress.parse("localhost:0").get() == MetricsAddress(host: "localhost", port: 0))
        for bad in ["0.0.0.0:9466", "192.168.1.5:9466", "[::]:9466", "example.com:9466", "127.0.0.1", "127.0.0.1:99999",
                    "127.0.0.1:-1", ":9466", "127.1:9466"] {
            #expect(throws: MetricsAddress.Problem.self, "\(bad)") { try MetricsAddress.parse(bad).get() }
        }
        let scratch = Scratch()
        defer { scratch.remove() }
        let file = scratch.write("flipsync.toml", """
            [daemon]
            database = "ledger.sqlite"
            metrics = "0.0.0.0:9466"
            """)
        let loaded = DaemonSetup(configPath: file, environment: .init(workingDirectory: scratch.path))
            .load(now: Timestamp(secondsSinceEpoch: 1_780_000_000))
        #expect(!loaded.configIsValid)
        #expect(loaded.errors.map(\.description).contains { $0.hasPrefix("\(file):3:") && $0.contains("loopback") },
                "\(loaded.errors)")
        // Absent: no metrics served.
        let none = scratch.write("none.toml", "[daemon]\ndatabase = \"ledger.sqlite\"\n")
        #expect(DaemonSetup(configPath: none, environment: .init(workingDirectory: scratch.path))
            .load(now: Timestamp(secondsSinceEpoch: 1_780_000_000)).config.metrics == nil)
    }
}
