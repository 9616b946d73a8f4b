import FlipSyncCore
import FlipSyncPostgres
import FlipSyncRuntime
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Testing

private func ms(_ iso: String) -> Int64 { Timestamp(parsing: iso)!.secondsSinceEpoch * 1000 }
private func usd(_ micros: Int64) -> Money { Money(micros: micros, currency: .usd) }
private let eur = Currency(code: "EUR")!
private let since = ms("2026-11-02T00:00:00Z")

/// The calls recorded, in order: model calls, cache hits, and calls that are not product matching;
/// the first before `since`.
private let reportCalls: [(at: String, call: MeteredCall)] = [
    ("2026-11-01T23:59:00Z", MeteredCall(provider: "ollama", operation: "api.chat", cost: usd(0), status: 200, inputTokens: 99_999)),
    ("2026-11-02T00:01:00Z", MeteredCall(provider: "ollama", operation: "api.chat", cost: usd(0), status: 200, inputTokens: 1_000, outputTokens: 200)),
    ("2026-11-02T00:05:00Z", MeteredCall(provider: "ollama", operation: "api.chat", cost: usd(0), servedFromCache: true, status: 200,
                                         inputTokens: 1_000, outputTokens: 200)),
    ("2026-11-02T00:14:59Z", MeteredCall(provider: "openai", operation: "chat.completions", cost: usd(135), status: 200, inputTokens: 500,
                                         outputTokens: 100)),
    // The next quarter-hour.
    ("2026-11-02T00:15:00Z", MeteredCall(provider: "openai", operation: "product-match", cost: usd(0), servedFromCache: true, status: 200,
                                         inputTokens: 301, outputTokens: 50)),
    ("2026-11-02T00:20:00Z", MeteredCall(provider: "openai", operation: "embeddings", cost: usd(999), status: 200, inputTokens: 10_000)),
    ("2026-11-02T00:25:00Z", MeteredCall(provider: "carrier", operation: "rates", cost: usd(300_001), status: 200)),
    ("2026-11-02T00:25:00Z", MeteredCall(provider: "Zeta", operation: "x", cost: usd(7), status: 200)),
    ("2026-11-02T00:29:00Z", MeteredCall(provider: "openai", operation: "chat", cost: Money(micros: 250_000, currency: eur), status: 200)),
]

extension StoreKind {
    /// A ledger of this kind (PostgreSQL's in a database that does not sort by bytes) holding an
    /// old sweep, a sweep and a sync run, the sweeps' snapshots and decisions, and `reportCalls`;
    /// its report reader and the runs.
    fileprivate func ledgerWithReportData() async throws -> (reports: any ReportReading, old: RunInfo, sweep: RunInfo, sync: RunInfo) {
        let ledger = try await makeLedgerWithLocaleCollation()
        func record(_ job: String, _ kind: String, at: Int64) throws -> RunInfo {
            try #require(try ledger.recordFire(job: job, kind: kind, trigger: .manual, requestedBy: nil, scheduledAt: nil, status: .queued,
                                               skipReason: nil, summary: nil, at: at, resumes: nil))
        }
        let old = try record("nightly", "repricing-sweep", at: since - 1)
        let sweep = try record("nightly <sweep>", "repricing-sweep", at: since)
        let sync = try record("sync", "marketplace-sync", at: since + 60_000)
        try ledger.finishRun(runID: sweep.id, status: .succeeded, summary: "2 decided", error: nil, spendMicros: 135, at: since + 120_000)

        let repricing: any RepricingLedger =
            if self == .sqlite { ledger as! RunStore } else { PostgresRepricingLedger(ledger: ledger as! PostgresLedger) }
        func listing(_ sku: String, _ marketplace: MarketplaceName) -> MarketplaceListing {
            MarketplaceListing(marketplace: marketplace, sku: sku, listingID: "L-\(sku)", gtin: nil, asin: nil, title: "Title <\(sku)>",
                               condition: .new, price: usd(10_000_000), quantity: 1, shippingCharged: nil)
        }
        func decision(_ sku: String, _ marketplace: MarketplaceName, new: Int64?) -> PricingDecision {
            PricingDecision(sku: sku, marketplace: marketplace, listingID: "L-\(sku)", oldPrice: usd(10_000_000), newPrice: new.map(usd),
                            floor: usd(9_000_000), ceiling: usd(12_000_000), lowestCompetitorLanded: nil, buyBox: nil, offersConsidered: 1,
                            offersExcluded: [:], strategy: .beatLowest, reason: new == nil ? .unchanged : .followedCompetition,
                            explanation: "why", state: new == nil ? .hold : .applied)
        }
        try repricing.saveSweepListings(["b", "B", "a"].map { listing($0, .ebay) }, sweep: sweep.id, marketplace: .ebay)
        try repricing.saveSweepListings([listing("Z", .amazon)], sweep: sweep.id, marketplace: .amazon)
        try repricing.saveSweepListings([listing("old", .ebay)], sweep: old.id, marketplace: .ebay)
        try await repricing.saveDecision(decision("a", .ebay, new: 9_500_000), sweep: sweep.id)
        try await repricing.saveDecision(decision("B", .ebay, new: nil), sweep: sweep.id)
        try await repricing.saveDecision(decision("old", .ebay, new: nil), sweep: old.id)

        let clock = ManualClock(Timestamp(parsing: "2026-11-01T00:00:00Z")!)
        let spend = try openSpendLedger(on: ledger, budgets: SpendBudgets(currency: .usd, timezone: .utc), clock: clock, events: SpendEventsSeen())
        for (at, call) in reportCalls {
            clock.advance(to: Timestamp(parsing: at)!)
            await SpendContext.$current.withValue(SpendContext(job: sweep.job, runID: sweep.id, taskKey: "m")) { await spend.record(call) }
        }
        let reports: any ReportReading =
            if self == .sqlite { ledger as! RunStore } else { PostgresReports(ledger: ledger as! PostgresLedger) }
        return (reports, old, sweep, sync)
    }
}

/// What `flipsyncctl report` and `spend --llm-savings` read (`ReportReading`): the same tests
/// against SQLite's `RunStore` and `PostgresReports`.
@Suite("ReportReadingContractTests: the reports' reads on SQLite and PostgreSQL", .postgresIfInstalled, .timeLimit(.minutes(3)))
struct ReportReadingContractTests {
    @Test("runs since a time by id; a run and its decisions by marketplace then SKU bytes; the sweep's titles", arguments: StoreKind.available)
    func runsDecisionsTitles(kind: StoreKind) async throws {
        let (reports, old, sweep, sync) = try await kind.ledgerWithReportData()
        #expect(try reports.runs(createdSince: since).map(\.id) == [sweep.id, sync.id])
        #expect(try reports.runs(createdSince: since - 1).map(\.id) == [old.id, sweep.id, sync.id])
        let run = try #require(try reports.run(id: sweep.id))
        #expect(run.job == "nightly <sweep>" && run.status == .succeeded && run.summary == "2 decided" && run.createdAt == since)
        #expect(try reports.run(id: sync.id + 1) == nil)
        #expect(try reports.decisions(sweep: sweep.id).map { "\($0.marketplace.rawValue)/\($0.sku)" } == ["ebay/B", "ebay/a"])
        #expect(try reports.decisions(sweep: sweep.id).first { $0.sku == "a" }?.newPrice == usd(9_500_000))
        #expect(try reports.sweepTitles(sweep: sweep.id) == ["ebay/b": "Title <b>", "ebay/B": "Title <B>", "ebay/a": "Title <a>",
                                                             "amazon/Z": "Title <Z>"])
        #expect(try reports.sweepTitles(sweep: sync.id).isEmpty)
    }

    @Test("spend by quarter-hour, provider (bytes) and currency, sums exact; coverage per sweep and marketplace since a time", arguments: StoreKind.available)
    func spendAndCoverage(kind: StoreKind) async throws {
        let (reports, old, sweep, _) = try await kind.ledgerWithReportData()
        let q = since / 900_000
        #expect(try reports.spendQuarterHours(since: since) == [
            SpendQuarterHour(quarterHour: q, provider: "ollama", calls: 2, micros: 0, currency: "USD"),
            SpendQuarterHour(quarterHour: q, provider: "openai", calls: 1, micros: 135, currency: "USD"),
            SpendQuarterHour(quarterHour: q + 1, provider: "Zeta", calls: 1, micros: 7, currency: "USD"),
            SpendQuarterHour(quarterHour: q + 1, provider: "carrier", calls: 1, micros: 300_001, currency: "USD"),
            SpendQuarterHour(quarterHour: q + 1, provider: "openai", calls: 1, micros: 250_000, currency: "EUR"),
            SpendQuarterHour(quarterHour: q + 1, provider: "openai", calls: 2, micros: 999, currency: "USD"),
        ])
        #expect(try reports.spendQuarterHours(since: since + 900_000).count == 4)
        #expect(try reports.sweepCoverage(since: since) == [
            SweepCoverage(sweep: sweep.id, marketplace: "amazon", listings: 1, checked: 0),
            SweepCoverage(sweep: sweep.id, marketplace: "ebay", listings: 3, checked: 2),
        ])
        #expect(try reports.sweepCoverage(since: since - 1).first == SweepCoverage(sweep: old.id, marketplace: "ebay", listings: 1, checked: 1))
    }

    @Test("llm savings: model calls and cache hits since a time, the measured cost, and the premium cost rounded up once", arguments: StoreKind.available)
    func llmSavings(kind: StoreKind) async throws {
        let reports = try await kind.ledgerWithReportData().reports
        let savings = try reports.llmSavings(since: since, premiumInputPerMillion: usd(150_000), premiumOutputPerMillion: usd(600_000))
        #expect(savings.modelCalls == ["ollama": 1, "openai": 1])
        #expect(savings.cacheHits == 2)
        #expect(savings.inputTokens == 2_801 && savings.outputTokens == 550)
        #expect(savings.actualMicros == 135)
        // (2,801 × 150,000 + 550 × 600,000) / 1,000,000 = 750.15, rounded up.
        #expect(savings.premiumMicros == 751 && savings.savedMicros == 616 && savings.currency == "USD")
    }

    @Test("the run report and the period report load the same from either store", arguments: StoreKind.available)
    func reportsLoad(kind: StoreKind) async throws {
        let (reports, _, sweep, sync) = try await kind.ledgerWithReportData()
        let html = try RunReport.load(store: reports, runID: sweep.id, timezone: .utc).html()
        #expect(html.contains("nightly &lt;sweep&gt;") && html.contains("2 decisions"))
        #expect(throws: ReportError.self) { try RunReport.load(store: reports, runID: sync.id, timezone: .utc) }

        var config = FlipSyncConfig.defaults(environment: FlipSyncConfig.Environment(workingDirectory: "/"))
        config.timezone = try ZoneRules.named("America/New_York")
        config.currency = .usd
        let period = try PeriodReport.load(store: reports, config: config, since: since, until: since + 86_400_000)
        // New York's Nov 1 (EST, UTC-5): every USD call of the period, by provider.
        #expect(period.spend.map { "\($0.day) \($0.provider) \($0.calls) \($0.micros)" } == [
            "2026-11-01 Zeta 1 7", "2026-11-01 carrier 1 300001", "2026-11-01 ollama 2 0", "2026-11-01 openai 3 1134",
        ])
        #expect(period.runs.map(\.job) == ["nightly <sweep>", "sync"])
        #expect(period.coverage.map { "\($0.marketplace) \($0.checked)/\($0.listings)" } == ["amazon 0/1", "ebay 2/3"])
    }
}
