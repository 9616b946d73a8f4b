import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Logging
import Testing
@testable import FlipSyncRuntime

/// The repository (this file is Tests/FlipSyncRuntimeTests/ReportTests.swift).

/// Where the reports' HTML and screenshots are kept for a person to look at:
/// `$FLIPSYNC_TEST_OUTPUT/reports`, else `.build/test-output/reports`.
private let outputDirectory: String = {
    let base = ProcessInfo.processInfo.environment["FLIPSYNC_TEST_OUTPUT"] ?? packageRoot + "/.build/test-output"
    let directory = base + "/reports"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
}()

private func run(_ program: String, _ arguments: [String]) throws -> ProgramRun { try runProgram(program, arguments) }

/// Headless Chromium (Debian's `chromium`, installed by scripts/setup). Absent, the test fails,
/// unless FLIPSYNC_NO_CHROMIUM=1 says explicitly to skip the browser checks.
enum Chromium {
    static var skip: Bool { ProcessInfo.processInfo.environment["FLIPSYNC_NO_CHROMIUM"] == "1" }

    static var program: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func arguments(_ extra: [String], _ file: String) -> [String] {
        ["90", program!, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
         "--user-data-dir=\(TestScratch.directory("chromium"))"] + extra + ["file://" + file]
    }

    /// A screenshot of `file` at 1200×1600 in `png`; returns the PNG's bytes.
    static func screenshot(_ file: String, to png: String) throws -> Data {
        try? FileManager.default.removeItem(atPath: png)
        let result = try run("/usr/bin/timeout", arguments(["--screenshot=\(png)", "--window-size=1200,1600"], file))
        #expect(result.status == 0, "chromium: \(result.stderr.suffix(2000))")
        return try Data(contentsOf: URL(fileURLWithPath: png))
    }

    /// The DOM after Chromium has parsed and laid out `file`.
    static func dom(_ file: String) throws -> String {
        let result = try run("/usr/bin/timeout", arguments(["--dump-dom"], file))
        #expect(result.status == 0, "chromium: \(result.stderr.suffix(2000))")
        return result.stdout
    }

    /// A PNG of 1200×1600 (IHDR) that is not one flat colour: more than a few kilobytes.
    static func checkPNG(_ data: Data, minimumBytes: Int = 15_000) {
        let bytes = [UInt8](data)
        #expect(bytes.count > minimumBytes, "PNG of \(bytes.count) bytes")
        #expect(bytes.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        guard bytes.count > 24 else { return }
        func be32(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        #expect(be32(16) == 1200 && be32(20) == 1600, "PNG is \(be32(16))×\(be32(20))")
    }
}

extension String {
    func occurrences(of needle: String) -> Int { components(separatedBy: needle).count - 1 }

    /// The integer values of `attribute="…"` on every element whose markup contains `marker`.
    func attributeValues(_ attribute: String, on marker: String) -> [Int64] {
        components(separatedBy: marker).dropFirst().compactMap { tail in
            let element = tail.prefix { $0 != ">" }
            guard let range = element.range(of: "\(attribute)=\"") else { return nil }
            return Int64(element[range.upperBound...].prefix { $0 != "\"" })
        }
    }
}

@Suite("HTML reports: a repricing run and a period, from a real ledger, opened in headless Chromium", .timeLimit(.minutes(4)))
struct ReportTests {
    @Test("flipsyncctl report writes both kinds from a sandbox sweep's ledger; the SVG elements match the data; Chromium renders them")
    func reportsFromLedger() async throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 11, listings: 60), logger: logger)
        do {
            let configFile = scratch.write("flipsync.toml", MetricsTests.config(baseURL: sandbox.baseURL) + """

                [budgets]
                daily = "0.50 USD"
                monthly = "15 USD"
                """)
            scratch.write("jobs/sweep.toml", MetricsTests.sweep)
            scratch.write("jobs/scan.toml", MetricsTests.scan)
            // Four nights of the same jobs on a clock the test moves: 2026-11-20 02:00 New York onwards.
            let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_795_158_000))
            let loaded = DaemonSetup(configPath: configFile, environment: .init(workingDirectory: scratch.path)).load(now: clock.now())
            #expect(loaded.errors.isEmpty, "\(loaded.errors)")
            let values = sandbox.developmentCredentials(for: loaded.config)
            let metrics = DaemonMetrics()
            let runtime = try Runtime.open(config: loaded.config, jobs: loaded.catalog.jobs, clock: clock, logger: logger,
                                           secret: { name in SecretText(try #require(values[name])) }, metrics: metrics.ledger)
            let pool = PermitPool(permits: 8)
            // What a run waits for on the manual clock (a rate limiter's next token, a retry's
            // backoff) is woken by moving the clock to it, never past it: the run's own timeout
            // is one more sleeper, so the clock moves only while something else sleeps too.
            let pump = Task {
                while !Task.isCancelled {
                    await clock.waitForSleepers(2)
                    if Task.isCancelled { return }
                    if let next = clock.nextWakeWallMilliseconds { clock.advance(byMilliseconds: max(1, next - clock.wallMilliseconds())) }
                }
            }
            defer { pump.cancel() }
            var sweeps: [RunInfo] = []
            for night in 0..<4 {
                let (sweep, sweepStatus) = try await runtime.runOnce(job: try #require(loaded.catalog["sweep"]), requestedBy: nil,
                                                                     pool: pool, clock: clock, logger: logger)
                #expect(sweepStatus == .succeeded, "night \(night): \(sweep.error ?? "")")
                sweeps.append(sweep)
                _ = try await runtime.runOnce(job: try #require(loaded.catalog["scan"]), requestedBy: nil, pool: pool, clock: clock,
                                              logger: logger)
                clock.advance(byMilliseconds: 86_400_000)
            }
            let sweep = sweeps[0]
            await sandbox.stop()

            // The command, as an operator runs it, against the ledger just written.
            let ctl = packageRoot + "/.build/debug/flipsyncctl"
            let runHTML = outputDirectory + "/run-report.html", periodHTML = outputDirectory + "/period-report.html"
            for arguments in [["report", "\(sweep.id)", "--html", runHTML], ["report", "--since", "2026-11-20", "--html", periodHTML]] {
                let result = try run(ctl, arguments + ["--config", configFile])
                #expect(result.status == 0, "flipsyncctl \(arguments): \(result.stderr)")
            }
            let runPage = try String(contentsOfFile: runHTML, encoding: .utf8)
            let periodPage = try String(contentsOfFile: periodHTML, encoding: .utf8)

            // Run report: one point per decision, one histogram count per change, one bar per reason.
            let decisions = try runtime.sqlite!.store.decisions(sweep: sweep.id)
            #expect(!decisions.isEmpty)
            #expect(runPage.occurrences(of: "<circle class=\"point ") == decisions.count)
            let changes = decisions.filter { $0.newPrice?.micros != nil }
            #expect(!changes.isEmpty)
            #expect(runPage.attributeValues("data-count", on: "<rect class=\"bar\"").reduce(0, +) == Int64(changes.count))
            let reasons = Dictionary(grouping: decisions, by: \.reason.rawValue)
            #expect(runPage.occurrences(of: "<rect class=\"reason\"") == reasons.count)
            #expect(runPage.attributeValues("data-count", on: "<rect class=\"reason\"").sorted()
                == reasons.values.map { Int64($0.count) }.sorted())
            #expect(runPage.contains("id=\"breaker\" data-tripped=\"false\""))
            #expect(runPage.contains("id=\"violations\" data-count=\"0\""))
            #expect(runPage.occurrences(of: "class=\"point violation\"") == 0)

            // Period report: one mark per run, the spend bars add up to the ledger's micros, the
            // daily budget line, one coverage bar per sweep and marketplace with its checked count.
            let runs = try runtime.sqlite!.store.runs(createdSince: 0)
            #expect(periodPage.occurrences(of: "<circle class=\"run ") == runs.count)
            let spent = try runtime.sqlite!.spend.history.totals(since: 0, by: .provider, timezone: .utc).reduce(Int64(0)) { $0 + $1.cost.micros }
            #expect(spent > 0)
            #expect(periodPage.attributeValues("data-micros", on: "<rect class=\"spend\"").reduce(0, +) == spent)
            #expect(periodPage.occurrences(of: "<line class=\"budget\"") == 1)
            // One stack per night with spend (four nights), one bar per provider with spend in it.
            let days = Set(periodPage.components(separatedBy: "<rect class=\"spend\" data-day=\"").dropFirst().map { String($0.prefix(10)) })
            #expect(days == ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"])
            let providers = try runtime.sqlite!.spend.history.totals(since: 0, by: .provider, timezone: .utc).filter { $0.cost.micros > 0 }.count
            #expect(periodPage.occurrences(of: "<rect class=\"spend\"") == 4 * providers)
            var checked: [Int64] = []
            for s in sweeps {
                checked += Dictionary(grouping: try runtime.sqlite!.store.decisions(sweep: s.id), by: \.marketplace.rawValue).values.map { Int64($0.count) }
            }
            #expect(periodPage.occurrences(of: "<rect class=\"coverage\"") == checked.count)
            #expect(periodPage.attributeValues("data-checked", on: "<rect class=\"coverage\"").sorted() == checked.sorted())

            // Self-contained: no script, nothing fetched.
            for page in [runPage, periodPage] {
                #expect(!page.lowercased().contains("<script") && !page.contains(" src=") && !page.contains(" href="))
                #expect(!page.contains("https://") && page.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http://") == false)
            }

            // The scrape as a page too, for the README's picture.
            let scrapeHTML = outputDirectory + "/metrics-scrape.html"
            let scrape = metrics.scrape(pool: pool, quota: runtime.ledger.quota)
            try Data(HTML.page(title: "flipsyncd /metrics", body: "<h1>curl http://127.0.0.1:9466/metrics</h1><pre style=\"font-size:11px\">\(HTML.escape(scrape))</pre>",
                               footer: "flipsyncd's metrics after the test's four sweeps and scans.").utf8)
                .write(to: URL(fileURLWithPath: scrapeHTML))

            // Headless Chromium parses the same elements and draws each page.
            guard !Chromium.skip else { return }
            guard Chromium.program != nil else {
                Issue.record("chromium is not installed (scripts/setup installs it); set FLIPSYNC_NO_CHROMIUM=1 to skip explicitly")
                return
            }
            let runDOM = try Chromium.dom(runHTML)
            #expect(runDOM.occurrences(of: "<circle class=\"point ") == decisions.count)
            let periodDOM = try Chromium.dom(periodHTML)
            #expect(periodDOM.occurrences(of: "<circle class=\"run ") == runs.count)
            for (page, name) in [(runHTML, "run-report"), (periodHTML, "period-report"), (scrapeHTML, "metrics-scrape")] {
                let png = try Chromium.screenshot(page, to: outputDirectory + "/\(name).png")
                Chromium.checkPNG(png)
                print("report screenshot: \(outputDirectory)/\(name).png (\(png.count) bytes; \(try Data(contentsOf: URL(fileURLWithPath: page)).count) bytes of HTML)")
            }
        } catch {
            await sandbox.stop()
            throw error
        }
    }

    @Test("untrusted SKUs and titles are escaped, and a price outside its floor or ceiling is a red point and a banner")
    func hostileTextAndViolations() throws {
        let hostile = "<script>alert(1)</script>\"'&"
        func decision(_ sku: String, old: Int64, new: Int64?, floor: Int64, ceiling: Int64,
                      reason: PricingDecision.Reason) -> PricingDecision {
            func usd(_ micros: Int64) -> Money { Money(micros: micros, currency: .usd) }
            return PricingDecision(sku: sku, marketplace: .ebay, listingID: "L-\(sku)", oldPrice: usd(old), newPrice: new.map(usd),
                                   floor: usd(floor), ceiling: usd(ceiling), lowestCompetitorLanded: nil, buyBox: nil,
                                   offersConsidered: 0, offersExcluded: [:], strategy: .beatLowest, reason: reason,
                                   explanation: "<b>hold</b>")
        }
        let decisions = [
            decision(hostile, old: 20_000_000, new: 9_000_000, floor: 12_000_000, ceiling: 30_000_000, reason: .followedCompetition),
            decision("OK-1", old: 20_000_000, new: 19_500_000, floor: 12_000_000, ceiling: 30_000_000, reason: .followedCompetition),
            decision("OK-2", old: 25_000_000, new: nil, floor: 12_000_000, ceiling: 30_000_000, reason: .unchanged),
        ]
        let run = RunInfo(id: 7, job: "sweep<i>", kind: "repricing-sweep", trigger: .manual, scheduledAt: nil, createdAt: 0,
                          status: .succeeded)
        let page = RunReport(run: run, decisions: decisions, titles: ["ebay/\(hostile)": "\"><img src=x onerror=alert(2)>"],
                             timezone: .utc).html()
        #expect(!page.contains("<script>") && !page.contains("<img") && !page.contains("<b>hold") && !page.contains("<i>"))
        #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"))
        #expect(page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"))
        #expect(page.occurrences(of: "<circle class=\"point violation\"") == 1)
        #expect(page.occurrences(of: "<circle class=\"point ") == 3)
        #expect(page.contains("id=\"violations\" data-count=\"1\""))
        #expect(page.contains("1 NEW PRICE OUTSIDE FLOOR/CEILING"))
        #expect(HTML.escape("a\u{0}b") == "a\u{FFFD}b")
    }

    @Test("a tripped breaker is a red verdict with the run's (escaped) error; a period shows each job's lateness and each day's spend against the budget")
    func breakerAndLateness() throws {
        func usd(_ micros: Int64) -> Money { Money(micros: micros, currency: .usd) }
        var blocked = PricingDecision(sku: "B-1", marketplace: .amazon, listingID: "L", oldPrice: usd(30_000_000),
                                      newPrice: usd(20_000_000), floor: usd(10_000_000), ceiling: usd(40_000_000),
                                      lowestCompetitorLanded: nil, buyBox: nil, offersConsidered: 0, offersExcluded: [:],
                                      strategy: .beatLowest, reason: .followedCompetition, explanation: "", state: .blocked)
        let run = RunInfo(id: 9, job: "sweep", kind: "repricing-sweep", trigger: .schedule, scheduledAt: 1_000, createdAt: 1_000_000,
                          status: .failed, error: "circuit breaker: 60% of changes <drop> more than 20%")
        let tripped = RunReport(run: run, decisions: [blocked], titles: [:], timezone: .utc).html()
        #expect(tripped.contains("id=\"breaker\" data-tripped=\"true\""))
        #expect(tripped.contains("TRIPPED: nothing was applied. circuit breaker: 60% of changes &lt;drop&gt; more than 20%"))
        blocked.state = .applied
        #expect(RunReport(run: run, decisions: [blocked], titles: [:], timezone: .utc).html().contains("data-tripped=\"false\""))

        // Two scheduled runs 250 ms and 4,000 ms late, one manual run (no lateness).
        let day: Int64 = 86_400_000, start: Int64 = 1_795_158_000_000
        let runs = [
            RunInfo(id: 1, job: "nightly", kind: "repricing-sweep", trigger: .schedule, scheduledAt: start / 1000 + 60,
                    createdAt: start + 60_000, startedAt: start + 60_250, status: .succeeded),
            RunInfo(id: 2, job: "nightly", kind: "repricing-sweep", trigger: .schedule, scheduledAt: (start + day) / 1000 + 60,
                    createdAt: start + day + 60_000, startedAt: start + day + 64_000, status: .timedOut),
            RunInfo(id: 3, job: "nightly", kind: "repricing-sweep", trigger: .manual, scheduledAt: nil,
                    createdAt: start + day + 90_000, startedAt: start + day + 90_000, status: .succeeded),
        ]
        let spend = [PeriodReport.SpendDay(day: "2026-11-20", provider: "ebay", calls: 10, micros: 700_000),
                     PeriodReport.SpendDay(day: "2026-11-21", provider: "ebay", calls: 10, micros: 300_000)]
        let page = PeriodReport(since: start, until: start + 2 * day, timezone: .utc, currency: .usd, runs: runs, spend: spend,
                                dailyBudget: Money(micros: 500_000, currency: .usd), monthlyBudget: nil, coverage: []).html()
        #expect(page.contains("<td>nightly</td><td class=\"num\">3</td>"))
        #expect(page.contains("<td class=\"num\">250 ms</td><td class=\"num\">4000 ms</td>"))
        #expect(page.occurrences(of: "<circle class=\"run status-timed_out\"") == 1)
        #expect(page.occurrences(of: "<rect class=\"spend\"") == 2)
        #expect(page.contains("daily budget 0.50 USD"))
        #expect(page.contains("No repricing sweep in the period."))
    }
}
