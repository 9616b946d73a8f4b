import FlipSyncCluster
import FlipSyncCore
import FlipSyncTestKit
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// Nodes configured with different rate limits for one shared key: the bucket runs at the lower
/// setting, whichever node calls, and each node says so once per key.
@Suite("Cluster rate limits: mismatched rates across nodes", .postgresInstalled, .postgres, .serialized, .timeLimit(.minutes(3)))
struct ClusterRateMismatchTests {
    static let start = Timestamp(parsing: "2026-11-25T12:00:00Z")!

    @Test("a faster node calling after a slower one refills at the slower rate, and each node logs cluster-rate-mismatch once per key naming the other")
    func lowerRateWins() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(Self.start)
            let logA = MismatchCapture(), logB = MismatchCapture()
            let a = ClusterRateLimiter(client: clients[0], node: "node-a", time: .injected(clock),
                                       logger: Logger(label: "a") { _ in logA })
            let b = ClusterRateLimiter(client: clients[1], node: "node-b", time: .injected(clock),
                                       logger: Logger(label: "b") { _ in logB })
            // Node a alone: 4/s, burst 3, as before.
            for _ in 0..<3 { #expect(try await a.acquire("ebay/api", ratePerSecond: 4, burst: 3).granted) }
            #expect(try await a.acquire("ebay/api", ratePerSecond: 4, burst: 3) == RateDecision(granted: false, waitMilliseconds: 250))
            #expect(logA.messages.isEmpty)
            // Node b is configured for 2/s: the bucket now refills at 2/s for both.
            #expect(try await b.acquire("ebay/api", ratePerSecond: 2, burst: 3) == RateDecision(granted: false, waitMilliseconds: 500))
            #expect(try await a.acquire("ebay/api", ratePerSecond: 4, burst: 3) == RateDecision(granted: false, waitMilliseconds: 500))
            clock.advance(byMilliseconds: 250)
            #expect(try await !a.acquire("ebay/api", ratePerSecond: 4, burst: 3).granted, "at a's 4/s a token would be back")
            clock.advance(byMilliseconds: 250)
            #expect(try await a.acquire("ebay/api", ratePerSecond: 4, burst: 3).granted)
            #expect(try await !b.acquire("ebay/api", ratePerSecond: 2, burst: 3).granted)
            // Over 10 s more, both nodes calling as fast as they may: burst 3 + 2/s × 10 s, not 4/s.
            clock.advance(byMilliseconds: 10_000)
            var granted = 0
            for step in 0..<200 {
                let limiter = step.isMultiple(of: 2) ? a : b
                if try await limiter.acquire("ebay/api", ratePerSecond: step.isMultiple(of: 2) ? 4 : 2, burst: 3).granted { granted += 1 }
            }
            #expect(granted == 3)
            // Every 500 ms: one token at 2/s (a takes it first); at a's 4/s there would be two.
            for _ in 0..<20 {
                clock.advance(byMilliseconds: 500)
                if try await a.acquire("ebay/api", ratePerSecond: 4, burst: 3).granted { granted += 1 }
                if try await b.acquire("ebay/api", ratePerSecond: 2, burst: 3).granted { granted += 1 }
            }
            #expect(granted == 3 + 20, "10 s at the lower 2/s after the burst")

            // Each node said so once for the key, naming the key, both settings and the other node.
            #expect(logA.messages.count == 1 && logB.messages.count == 1, "\(logA.messages) \(logB.messages)")
            let fromA = try #require(logA.messages.first), fromB = try #require(logB.messages.first)
            #expect(fromA.other == "node-b" && fromB.other == "node-a" && fromA.key == "ebay/api")
            #expect(fromA.text.contains("shared rate limit ebay/api: this node (node-a) is configured for 4/s, burst 3; node node-b for 2/s, burst 3; the cluster uses the lower, 2/s, burst 3"),
                    "\(fromA.text)")
            #expect(fromB.text.contains("this node (node-b) is configured for 2/s, burst 3; node node-a for 4/s, burst 3; the cluster uses the lower, 2/s, burst 3"),
                    "\(fromB.text)")
            // Another key with the mismatch is logged once again.
            _ = try await a.acquire("ebay/browse", ratePerSecond: 5, burst: 5)
            _ = try await b.acquire("ebay/browse", ratePerSecond: 5, burst: 2)
            #expect(logB.messages.map(\.key) == ["ebay/api", "ebay/browse"])
        }
    }

    @Test("the lower burst wins too; a node can raise a setting only while it is its own; agreeing nodes log nothing")
    func burstAndRaising() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(Self.start)
            let logA = MismatchCapture(), logB = MismatchCapture()
            let a = ClusterRateLimiter(client: clients[0], node: "node-a", time: .injected(clock), logger: Logger(label: "a") { _ in logA })
            let b = ClusterRateLimiter(client: clients[1], node: "node-b", time: .injected(clock), logger: Logger(label: "b") { _ in logB })
            // Same settings: nothing logged.
            for _ in 0..<3 {
                _ = try await a.acquire("carrier/easypost", ratePerSecond: 10, burst: 10)
                _ = try await b.acquire("carrier/easypost", ratePerSecond: 10, burst: 10)
            }
            #expect(logA.messages.isEmpty && logB.messages.isEmpty)

            // a's burst 10, b's 2: after an idle the bucket holds 2, whoever asks.
            _ = try await a.acquire("shopify/requests", ratePerSecond: 1, burst: 10)
            _ = try await b.acquire("shopify/requests", ratePerSecond: 1, burst: 2)
            clock.advance(byMilliseconds: 60_000)
            var granted = 0
            for _ in 0..<10 where try await a.acquire("shopify/requests", ratePerSecond: 1, burst: 10).granted { granted += 1 }
            #expect(granted == 2, "the lower burst holds for the node configured higher")
            #expect(logA.messages.map(\.other) == ["node-b"])

            // a, faster (4/s), cannot raise b's 1/s; b, reconfigured to 4/s, can (it is b's own).
            _ = try await b.acquire("amazon/listings", ratePerSecond: 1, burst: 1)
            clock.advance(byMilliseconds: 1_000)
            #expect(try await a.acquire("amazon/listings", ratePerSecond: 4, burst: 1).granted)
            #expect(try await a.acquire("amazon/listings", ratePerSecond: 4, burst: 1).waitMilliseconds == 1_000)
            #expect(try await b.acquire("amazon/listings", ratePerSecond: 4, burst: 1).waitMilliseconds == 250)
            #expect(try await a.acquire("amazon/listings", ratePerSecond: 4, burst: 1).waitMilliseconds == 250)
        }
    }
}

extension ClusterRateMismatchTests {
    @Test("a bucket row from before migration 3 (no settings) takes its next caller's, silently; the tokens it held are kept")
    func rowFromBeforeTheSettings() async throws {
        try await withClients(1) { clients in
            let clock = ManualClock(Self.start)
            let log = MismatchCapture()
            let a = ClusterRateLimiter(client: clients[0], node: "node-a", time: .injected(clock), logger: Logger(label: "a") { _ in log })
            // As migration 2 left it: tokens and time, no rate, burst or node.
            try await clients[0].query("""
                INSERT INTO flipsync_cluster_buckets (key, tokens, updated_at_ms, granted)
                VALUES ('ebay/api', 1, \(clock.wallMilliseconds()), true)
                """)
            #expect(try await a.acquire("ebay/api", ratePerSecond: 2, burst: 5).granted)
            #expect(try await a.acquire("ebay/api", ratePerSecond: 2, burst: 5) == RateDecision(granted: false, waitMilliseconds: 500))
            #expect(log.messages.isEmpty)
            var settings: [(Double?, String?, Int64?, String?)] = []
            let rows = try await clients[0].query("SELECT rate_per_second, rate_node, burst, burst_node FROM flipsync_cluster_buckets")
            for try await row in rows.decode((Double?, String?, Int64?, String?).self) { settings.append(row) }
            #expect(settings.count == 1 && settings[0].0 == 2 && settings[0].1 == "node-a" && settings[0].2 == 5 && settings[0].3 == "node-a")
        }
    }
}

/// The `cluster-rate-mismatch` lines logged: key, other node and message.
private final class MismatchCapture: LogHandler, Sendable {
    struct Line: Sendable {
        var key: String
        var other: String
        var text: String
    }

    private let store = Mutex<[Line]>([])
    var messages: [Line] { store.withLock { $0 } }
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
    func log(event: LogEvent) {
        let metadata = event.metadata
        guard case .string("cluster-rate-mismatch")? = metadata?["event"] else { return }
        let key = metadata?["key"].map { "\($0)" } ?? "", other = metadata?["other_node"].map { "\($0)" } ?? ""
        store.withLock { $0.append(Line(key: key, other: other, text: "\(event.message)")) }
    }
}
