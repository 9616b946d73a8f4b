import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Logging
import Synchronization
import Testing

/// Journal events seen by a logger: the `event` field of each line.
final class EventLog: Sendable {
    let events = Mutex<[[String: String]]>([])
    var logger: Logger {
        Logger(label: "quota-test") { _ in Handler(log: self) }
    }
    func named(_ name: String) -> [[String: String]] { events.withLock { $0.filter { $0["event"] == name } } }

    struct Handler: LogHandler {
        let log: EventLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).mapValues { "\($0)" }
            log.events.withLock { $0.append(fields) }
        }
    }
}

/// A transport that counts what reaches it, over the real one.
final class CountingTransport: HTTPTransport, Sendable {
    let inner: URLSessionTransport
    let count = Mutex<Int>(0)
    init(inner: URLSessionTransport) { self.inner = inner }
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        count.withLock { $0 += 1 }
        return try await inner.send(request)
    }
    func admit(_ request: HTTPRequest) throws(HTTPTransportError) -> AdmittedRequest { try inner.admit(request) }
    var sent: Int { count.withLock { $0 } }
}


struct DayCase: Sendable {
    var start: Timestamp
    var reset: Timestamp
    var hours: Int64
}

@Suite("Quota ledger and request pipeline", .timeLimit(.minutes(3)))
struct QuotaTests {
    static let browse = QuotaKey(provider: "ebay", api: "browse")

    static func store() throws -> RunStore {
        try RunStore(path: TestScratch.directory("quota") + "/flipsync.sqlite")
    }

    static func at(_ year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int = 0) -> Timestamp {
        Timestamp(milliseconds: CivilDateTime(year: year, month: month, day: day, hour: hour, minute: minute).secondsAsIfUTC * 1000)
    }

    @Test("the ledger stops at the quota and resumes at midnight Pacific, on a normal day and on the DST change day",
          arguments: [
            // 2026-06-10 18:00 UTC is 11:00 PDT; the day ends at 07:00 UTC (24 h long).
            DayCase(start: at(2026, 6, 10, 18), reset: at(2026, 6, 11, 7), hours: 24),
            // 2026-03-08: clocks spring forward at 02:00 PST; the day runs 08:00 UTC → 07:00 UTC next day (23 h).
            DayCase(start: at(2026, 3, 8, 12), reset: at(2026, 3, 9, 7), hours: 23),
            // 2026-11-01: clocks fall back at 02:00 PDT; the day runs 07:00 UTC → 08:00 UTC next day (25 h).
            DayCase(start: at(2026, 11, 1, 12), reset: at(2026, 11, 2, 8), hours: 25),
          ])
    func stopsAndResets(_ day: DayCase) throws {
        let (start, reset, hours) = (day.start, day.reset, day.hours)
        let clock = ManualClock(start)
        let quota = QuotaStore(store: try Self.store(), policy: .standard(limits: [Self.browse: 3]), clock: clock)
        for _ in 0..<3 { try quota.consume(Self.browse, units: 1, job: nil) }
        #expect(throws: QuotaRefusal(key: Self.browse, reason: .limitReached, resetAt: reset.secondsSinceEpoch * 1000)) {
            try quota.consume(Self.browse, units: 1, job: nil)
        }
        let row = try #require(quota.usage().first { $0.key == Self.browse })
        #expect(row.used == 3 && row.remaining == 0)
        #expect(row.windowEnd - row.windowStart == hours * 3_600_000)
        // One minute before the reset: still refused; at the reset: a fresh window.
        clock.advance(to: Timestamp(milliseconds: reset.secondsSinceEpoch * 1000 - 60_000))
        #expect(throws: QuotaRefusal.self) { try quota.consume(Self.browse, units: 1, job: nil) }
        clock.advance(to: reset)
        try quota.consume(Self.browse, units: 1, job: nil)
        #expect(quota.usage().first { $0.key == Self.browse }?.used == 1)
    }

    @Test("a reserve keeps marketplace-sync's calls while a sweep runs out")
    func reserveKeepsSyncCalls() throws {
        let clock = ManualClock(Self.at(2026, 6, 10, 18))
        let policy = QuotaPolicy.standard(limits: [Self.browse: 10], reserves: ["marketplace-sync": .percent(20)],
                                          jobKinds: ["nightly-sweep": "repricing-sweep", "hourly-sync": "marketplace-sync"])
        let quota = QuotaStore(store: try Self.store(), policy: policy, clock: clock)
        var swept = 0
        while (try? quota.consume(Self.browse, units: 1, job: "nightly-sweep")) != nil { swept += 1 }
        #expect(swept == 8)
        #expect(throws: QuotaRefusal(key: Self.browse, reason: .reserved, resetAt: Self.at(2026, 6, 11, 7).secondsSinceEpoch * 1000)) {
            try quota.consume(Self.browse, units: 1, job: "nightly-sweep")
        }
        #expect(quota.remaining(for: "hourly-sync", policy: policy)[Self.browse] == 2)
        #expect(quota.remaining(for: "nightly-sweep", policy: policy)[Self.browse] == 0)
        try quota.consume(Self.browse, units: 1, job: "hourly-sync")
        try quota.consume(Self.browse, units: 1, job: "hourly-sync")
        #expect(throws: QuotaRefusal.self) { try quota.consume(Self.browse, units: 1, job: "hourly-sync") }
    }

    /// A sandbox, a quota ledger on a manual clock, and an eBay client whose requests go through both.
    static func withEbay(limits: [QuotaKey: Int64] = QuotaPolicy.documentedLimits, allowList: HostAllowList? = nil,
                        _ body: (SandboxServer, EbayClient, QuotaStore, CountingTransport, InMemorySpendRecorder, EventLog) async throws -> Void) async throws {
        var quiet = Logger(label: "sandbox")
        quiet.logLevel = .critical
        let sandbox = try await SandboxServer.start(
            SandboxConfiguration(port: 0, seed: 7, listings: 5,
                                 credentials: SandboxCredentials(clientID: "c", clientSecret: "s3cr3t", refreshToken: "r3fr3sh")),
            clock: SystemSchedulerClock(), logger: quiet)
        do {
            let clock = ManualClock(at(2026, 6, 10, 18))
            let transport = CountingTransport(inner: URLSessionTransport(allowList: allowList ?? HostAllowList(["127.0.0.1:\(sandbox.port)"])))
            let quota = QuotaStore(store: try store(), policy: .standard(limits: limits), clock: clock)
            let recorder = InMemorySpendRecorder()
            let events = EventLog()
            let client = EbayClient(
                configuration: EbayClientConfiguration(baseURL: sandbox.baseURL + "/ebay", requests: 1000, per: .seconds(1), burst: 1000),
                credentials: EbayCredentials(clientID: "c", clientSecret: SecretText("s3cr3t"), refreshToken: SecretText("r3fr3sh")),
                transport: transport, recorder: recorder, rateLimiters: RateLimiters(clock: clock), clock: clock, quota: quota,
                logger: events.logger)
            try await body(sandbox, client, quota, transport, recorder, events)
            await sandbox.stop()
        } catch {
            await sandbox.stop()
            throw error
        }
    }

    @Test("eBay's quota-exhausted 429 is not retried, journals once, fails later Browse calls fast and leaves other APIs alone")
    func exhaustedOnce() async throws {
        try await Self.withEbay { sandbox, client, quota, transport, recorder, events in
            let fault = SandboxFault(route: .search, remaining: 3, status: 429, errorId: 2001,
                                     message: "Too many requests. The daily call limit has been reached for the resource.")
            let admin = HTTPRequest(method: .post, url: sandbox.baseURL + "/_admin/faults", headers: [("Content-Type", "application/json")],
                                    body: Array(try JSONEncoder().encode(fault)))
            #expect(try await transport.inner.send(admin).status == 200)
            var first: (any Error)?
            do { _ = try await client.searchPage(BrowseQuery(.keywords("acme"))) } catch { first = error }
            guard case .quotaExhausted(let refusal)? = first as? MarketplaceError else {
                Issue.record("expected .quotaExhausted, got \(String(describing: first))")
                return
            }
            #expect(refusal.key == Self.browse && refusal.resetAt == Self.at(2026, 6, 11, 7).secondsSinceEpoch * 1000)
            guard case .permanent? = (first as? MarketplaceError)?.taskFailure else {
                Issue.record("a quota-exhausted call must not be retried")
                return
            }
            #expect(sandbox.state.requestCounts["search"] == 1)
            // eBay's own wording for a spent call limit is exhausted; a 429 with Retry-After, or with another error, is a throttle.
            #expect(EbayClient.isQuotaExhausted(HTTPResponse(status: 429, body: Array(#"{"errors":[{"errorId":2001,"message":"Too many requests. The request limit has been reached for the resource."}]}"#.utf8))))
            #expect(EbayClient.isQuotaExhausted(HTTPResponse(status: 429, headers: ["retry-after": "7"], body: Array(#"{"errors":[{"errorId":2001,"message":"Too many requests."}]}"#.utf8))) == false)
            #expect(EbayClient.isQuotaExhausted(HTTPResponse(status: 429, body: Array(#"{"errors":[{"errorId":2002,"message":"Too many requests."}]}"#.utf8))) == false)
            let sent = transport.sent
            for _ in 0..<2 {
                do {
                    _ = try await client.searchPage(BrowseQuery(.keywords("acme")))
                    Issue.record("a call to an exhausted API went through")
                } catch let error as MarketplaceError {
                    #expect(error.quotaResetAt == refusal.resetAt)
                }
            }
            #expect(transport.sent == sent)
            #expect(sandbox.state.requestCounts["search"] == 1)
            let journaled = events.named("quota-exhausted")
            #expect(journaled.count == 1)
            #expect(journaled.first?["provider"] == "ebay" && journaled.first?["api"] == "browse"
                    && journaled.first?["reset"] == "2026-06-11T07:00:00Z")
            // Another API is unaffected.
            let sku = try #require(sandbox.state.listings.first?.sku)
            _ = try await client.offers(sku: sku)
            #expect(quota.usage().first { $0.key == Self.browse }?.exhaustedUntil != nil)
            #expect(recorder.recorded.filter { $0.operation.hasPrefix("browse.") }.count == 1)
        }
    }

    @Test("pipeline order: the allow-list refuses before the quota counts; the quota refuses before the transport sends")
    func pipelineOrder() async throws {
        try await Self.withEbay(allowList: HostAllowList(["api.ebay.com"])) { _, client, quota, transport, _, _ in
            await #expect(throws: MarketplaceError.self) { _ = try await client.searchPage(BrowseQuery(.keywords("acme"))) }
            #expect(transport.sent == 0)
            #expect(quota.usage().allSatisfy { $0.used == 0 })
        }
        try await Self.withEbay(limits: [Self.browse: 1]) { _, client, quota, transport, _, _ in
            _ = try await client.searchPage(BrowseQuery(.keywords("acme")))
            let sent = transport.sent
            do {
                _ = try await client.searchPage(BrowseQuery(.keywords("acme")))
                Issue.record("the quota let a second call through")
            } catch let error as MarketplaceError {
                guard case .quotaExhausted(let refusal) = error else { Issue.record("\(error)"); return }
                #expect(refusal.reason == .limitReached)
            }
            #expect(transport.sent == sent)
            #expect(quota.usage().first { $0.key == Self.browse }?.used == 1)
        }
    }

    @Test("flipsyncctl quota's rows: used, limit, remaining, reset with the time left, reserved")
    func reportRows() {
        let now = Self.at(2026, 6, 10, 23, 9).secondsSinceEpoch * 1000
        let end = Self.at(2026, 6, 11, 7).secondsSinceEpoch * 1000
        let report = QuotaReport([
            QuotaUsage(key: Self.browse, windowStart: end - 86_400_000, windowEnd: end, used: 1200, limit: 5000, reserved: 1000, exhaustedUntil: nil),
            QuotaUsage(key: QuotaKey(provider: "ebay", api: "browse_get_items"), windowStart: end - 86_400_000, windowEnd: end, used: 5000,
                       limit: 5000, reserved: 0, exhaustedUntil: end),
            QuotaUsage(key: QuotaKey(provider: "amazon", api: "pricing.getItemOffers"), windowStart: 0, windowEnd: end, used: 7, limit: nil,
                       reserved: 0, exhaustedUntil: nil),
        ], now: now)
        #expect(report.table == [
            ["PROVIDER", "API", "USED", "LIMIT", "REMAINING", "RESETS", "RESERVED"],
            ["ebay", "browse", "1200", "5000", "3800", "2026-06-11T07:00:00Z (in 7h51m)", "1000"],
            ["ebay", "browse_get_items", "5000", "5000", "0 (exhausted)", "2026-06-11T07:00:00Z (in 7h51m)", "0"],
            ["amazon", "pricing.getItemOffers", "7", "-", "-", "2026-06-11T07:00:00Z (in 7h51m)", "0"],
        ])
        #expect(QuotaReport.hoursMinutes(59) == "0m" && QuotaReport.hoursMinutes(3600) == "1h0m")
        #expect(report.rows[1].exhausted && report.rows[0].resetsInSeconds == 28_260)
    }
}
