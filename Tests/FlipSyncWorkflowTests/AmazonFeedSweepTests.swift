import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
import Synchronization
import Testing

/// A clock shared by the sandbox and the world whose waits shorter than `realFrom` return at
/// once and move it forward (feed polls, retry backoffs: the sandbox's feed processing then
/// meets the client's polling exactly), while longer ones (a run's `timeout`) are real waits,
/// so a run is not timed out by its own watchdog. Wall time is the machine's plus the offset.
final class PollSkippingClock: SchedulerClock {
    private let offset = Mutex<Int64>(0)
    private let system = SystemSchedulerClock()
    private let start = SystemSchedulerClock().monotonicMilliseconds()
    let realFrom: Int64

    init(realFrom: Int64) { self.realFrom = realFrom }

    func wallMilliseconds() -> Int64 { system.wallMilliseconds() + offset.withLock { $0 } }
    func monotonicMilliseconds() -> Int64 { start + offset.withLock { $0 } }

    func sleep(milliseconds: Int64) async throws {
        try Task.checkCancellation()
        guard milliseconds < realFrom else { return try await system.sleep(milliseconds: milliseconds) }
        offset.withLock { $0 += max(0, milliseconds) }
        await Task.yield()
    }

    /// Milliseconds the short waits moved the clock.
    var skipped: Int64 { offset.withLock { $0 } }
}

/// The repricing sweep applying Amazon prices through one JSON_LISTINGS_FEED when the patches
/// cannot fit the run's time left: the sandbox over real HTTP, decisions in SQLite.
///
/// Amazon's configured rate is one request per 100 s (burst 1,000, so nothing waits), so the
/// patch capacity is ⌊0.01 × seconds left × 0.5⌋: about 1 in a 5-minute run (a feed for any
/// run with 2 or more changes), 432 in a day-long one (patches).
@Suite("Repricing sweep: Amazon prices by patches or one feed", .timeLimit(.minutes(2)))
struct AmazonFeedSweepTests {
    static let amazonRate = "1/100s"

    static func job(name: String = "sweep", timeout: String = "5m", _ extra: String = "") -> String {
        RepricingSweepTests.job(extra, marketplaces: #"["amazon"]"#)
            .replacingOccurrences(of: #"name = "sweep""#, with: "name = \"\(name)\"")
            .replacingOccurrences(of: #"timeout = "5m""#, with: "timeout = \"\(timeout)\"")
    }

    static func changing(_ decisions: [PricingDecision]) -> [PricingDecision] {
        decisions.filter { $0.marketplace == .amazon && $0.newPrice?.micros != nil }
    }

    @Test("below the threshold the sweep patches each change; above it the same changes go as one feed")
    func choiceRule() async throws {
        let patched = try await WorkflowHarness.with(listings: 120) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job(timeout: "1d")], amazonRate: Self.amazonRate)
            let (run, status) = try await world.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let changed = Self.changing(try h.store.decisions(sweep: run.id))
            try #require(changed.count >= 2 && changed.count <= 432)
            #expect(changed.allSatisfy { $0.state == .applied })
            #expect(h.sandbox.state.requestCounts["amazon.patch"] == changed.count)
            #expect(h.sandbox.state.amazonFeeds.feeds.isEmpty)
            #expect(try h.store.tasks(runID: run.id).contains { $0.key == "apply:amazon:1" })
            return changed.map { "\($0.sku)=\($0.newPrice!.micros)" }
        }
        try await WorkflowHarness.with(listings: 120) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job(timeout: "5m")], amazonRate: Self.amazonRate)
            // Processed by the first poll (the polling itself is AmazonFeedTests').
            h.sandbox.state.amazonFeeds.setProcessingDelay(milliseconds: 0)
            let (run, status) = try await world.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let changed = Self.changing(try h.store.decisions(sweep: run.id))
            // The same decisions as the patched run (same seed), sent another way.
            #expect(changed.map { "\($0.sku)=\($0.newPrice!.micros)" } == patched)
            #expect(changed.allSatisfy { $0.state == .applied && $0.apiResult == "applied" })
            #expect(h.sandbox.state.requestCounts["amazon.patch"] == nil)
            #expect(h.sandbox.state.amazonFeeds.feeds.map(\.status) == ["DONE"])
            let keys = try h.store.tasks(runID: run.id).map(\.key).filter { $0.hasPrefix("apply:") }
            #expect(keys == ["apply:amazon:bulk-1"])
            let amazon = try #require(world.services.marketplaces[.amazon])
            let live = Dictionary(uniqueKeysWithValues: try await amazon.activeListings().map { ($0.sku, $0.price.micros) })
            for d in changed { #expect(live[d.sku] == d.newPrice?.micros, "\(d.sku)") }
        }
    }

    @Test("a feed's per-SKU errors land on their decisions (failed, with the report's code and message); the others are applied, prices re-read from the sandbox")
    func perSKUErrorsLandOnDecisions() async throws {
        try await WorkflowHarness.with(listings: 120) { h in
            let world = try WorkflowWorld.load(h, jobs: ["dry": Self.job(name: "dry", "dry_run = true"), "sweep": Self.job()],
                                               amazonRate: Self.amazonRate)
            // The decisions the sweep will make (a dry run sends nothing), to set a minimum price
            // that some of them are under.
            let (dry, dryStatus) = try await world.run("dry")
            #expect(dryStatus == .succeeded, "\(dry.error ?? "")")
            let planned = try h.store.decisions(sweep: dry.id).filter { $0.marketplace == .amazon && $0.newPrice?.micros != nil }
            let prices = planned.compactMap(\.newPrice?.micros).sorted()
            try #require(prices.count >= 4 && prices.first! < prices.last!)
            let minimum = prices[prices.count / 2]
            h.sandbox.state.amazonFeeds.setMinimumPrice(micros: minimum)
            h.sandbox.state.amazonFeeds.setProcessingDelay(milliseconds: 0)

            let (run, status) = try await world.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let changed = Self.changing(try h.store.decisions(sweep: run.id))
            #expect(changed.count == planned.count)
            let amazon = try #require(world.services.marketplaces[.amazon])
            let live = Dictionary(uniqueKeysWithValues: try await amazon.activeListings().map { ($0.sku, $0.price.micros) })
            var failed = 0
            for d in changed {
                let new = try #require(d.newPrice?.micros)
                if new < minimum {
                    failed += 1
                    #expect(d.state == .failed, "\(d.sku): \(d.state)")
                    #expect(d.apiResult?.hasPrefix("ERROR SANDBOX_PRICE_BELOW_MINIMUM: The price ") == true, "\(d.apiResult ?? "")")
                    #expect(live[d.sku] == d.oldPrice.micros, "\(d.sku) must keep its price")
                } else {
                    #expect(d.state == .applied, "\(d.sku): \(d.state) \(d.apiResult ?? "")")
                    #expect(live[d.sku] == new, "\(d.sku)")
                }
            }
            #expect(failed > 0 && failed < changed.count)
            #expect(h.sandbox.state.amazonFeeds.feeds.count == 1)
            #expect(h.sandbox.state.requestCounts["amazon.patch"] == nil)
            #expect(h.sandbox.state.updates.count == changed.count - failed)
        }
    }

    @Test("a FATAL feed fails the run with the feed's status and marks nothing applied")
    func fatalFeedAppliesNothing() async throws {
        try await WorkflowHarness.with(listings: 80) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job()], amazonRate: Self.amazonRate)
            h.sandbox.state.amazonFeeds.forceNextOutcomes(["FATAL"])
            h.sandbox.state.amazonFeeds.setProcessingDelay(milliseconds: 0)
            let (run, status) = try await world.run("sweep")
            #expect(status == .failed)
            #expect(run.error?.contains("ended FATAL") == true, "\(run.error ?? "")")
            let changed = Self.changing(try h.store.decisions(sweep: run.id))
            try #require(changed.count >= 2)
            #expect(!changed.contains { $0.state == .applied || $0.state == .failed })
            // Still in flight for a resumed run, which checks their live prices: the feed is no longer named.
            #expect(changed.allSatisfy { $0.state == .sending && $0.apiResult?.contains("ended FATAL") == true })
            #expect(h.sandbox.state.updates.isEmpty)
            #expect(h.sandbox.state.amazonFeeds.feeds.map(\.status) == ["FATAL"], "a FATAL feed is not resubmitted by retries")
        }
    }

    @Test("a run interrupted between createFeed and the report, then resumed, waits for the same feed and submits no second one")
    func resumeWaitsForTheSameFeed() async throws {
        try await WorkflowHarness.with(listings: 80) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job()], amazonRate: Self.amazonRate)
            let feeds = h.sandbox.state.amazonFeeds
            feeds.setProcessingDelay(milliseconds: 600_000)
            // The first getFeed is held, so the run is cancelled after createFeed and before any report.
            h.sandbox.state.inject(SandboxFault(route: .amazonGetFeed, remaining: 1, latencyMilliseconds: 3_000))
            let first = Task { try await world.run("sweep") }
            await h.sandbox.state.waitUntilHeld(.amazonGetFeed)
            first.cancel()
            let (cancelled, status) = try await first.value
            #expect(status == .cancelled)
            let feedID = try #require(feeds.feeds.first?.id)
            let inFlight = Self.changing(try h.store.decisions(sweep: cancelled.id))
            try #require(inFlight.count >= 2)
            #expect(inFlight.allSatisfy { $0.state == .sending && BulkMarker.parse($0.apiResult)?.submission == feedID },
                    "the feed id is recorded on every decision before the first poll")
            #expect(h.sandbox.state.updates.isEmpty)

            feeds.setProcessingDelay(milliseconds: 0)
            let (resumed, resumedStatus) = try await world.run("sweep", resumes: cancelled.id)
            #expect(resumedStatus == .succeeded, "\(resumed.error ?? "")")
            #expect(feeds.feeds.map(\.id) == [feedID] && feeds.feeds.map(\.status) == ["DONE"])
            #expect(h.sandbox.state.requestCounts["amazon.create_feed"] == 1)
            #expect(h.sandbox.state.requestCounts["amazon.patch"] == nil)
            let decisions = Self.changing(try h.store.decisions(sweep: cancelled.id))
            #expect(decisions.allSatisfy { $0.state == .applied })
            let perSKU = Dictionary(grouping: h.sandbox.state.updates, by: \.sku)
            #expect(perSKU.count == decisions.count && perSKU.values.allSatisfy { $0.count == 1 })
            for d in decisions { #expect(h.sandbox.state.channelListing(.amazon, sku: d.sku)?.priceMicros == d.newPrice?.micros) }
        }
    }

    @Test("a transient error while waiting for the feed fails the task's attempt; its retry polls the same feed (no second submission) and applies the report")
    func retryPollsTheSameFeed() async throws {
        try await WorkflowHarness.with(listings: 80) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job()], amazonRate: Self.amazonRate)
            h.sandbox.state.amazonFeeds.setProcessingDelay(milliseconds: 0)
            h.sandbox.state.inject(SandboxFault(route: .amazonGetFeed, remaining: 1, status: 503))
            let (run, status) = try await world.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let apply = try #require(try h.store.tasks(runID: run.id).first { $0.key == "apply:amazon:bulk-1" })
            #expect(apply.attempts == 2)
            #expect(h.sandbox.state.amazonFeeds.feeds.count == 1)
            #expect(h.sandbox.state.requestCounts["amazon.create_feed"] == 1)
            #expect(h.sandbox.state.requestCounts["amazon.get_feed"] == 2)
            let changed = Self.changing(try h.store.decisions(sweep: run.id))
            #expect(!changed.isEmpty && changed.allSatisfy { $0.state == .applied })
            #expect(h.sandbox.state.updates.count == changed.count)
        }
    }

    @Test("a createFeed Amazon accepted whose answer never reached the ledger (the crash between them, feed processed 2 minutes later): the resumed run lists the feeds created since the sweep began (getFeeds), waits for the unfinished one to end, then reads live prices: no second feed, each change applied once")
    func lostFeedIDResumeWaitsForTheFeed() async throws {
        let clock = PollSkippingClock(realFrom: 300_000)
        try await WorkflowHarness.with(listings: 80, clock: clock) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job()], clock: clock, amazonRate: Self.amazonRate)
            let feeds = h.sandbox.state.amazonFeeds
            // The interrupted run: its changes are marked `sending` and no createFeed answer ever
            // reaches the ledger (every createFeed is refused here, so nothing is created yet).
            h.sandbox.state.inject(SandboxFault(route: .amazonCreateFeed, remaining: 1_000, status: 503))
            let (first, firstStatus) = try await world.run("sweep")
            #expect(firstStatus == .failed, "\(first.error ?? "")")
            h.sandbox.state.clearFaults()
            let inFlight = Self.changing(try h.store.decisions(sweep: first.id))
            try #require(inFlight.count >= 2)
            #expect(inFlight.allSatisfy { $0.state == .sending && BulkMarker.parse($0.apiResult) == nil })
            #expect(feeds.feeds.isEmpty && h.sandbox.state.updates.isEmpty)

            // What Amazon accepted before the crash: the same changes as one feed, its id known
            // only to Amazon. It is processed 2 minutes later on the shared clock.
            feeds.setProcessingDelay(milliseconds: 120_000)
            let amazon = try #require(world.services.marketplaces[.amazon] as? AmazonMarketplace)
            let lost = try await amazon.client.submitListingsFeed(inFlight.enumerated().map { index, d in
                AmazonFeedMessage(messageID: index + 1, sku: d.sku, price: d.newPrice)
            })
            #expect(feeds.feeds.map(\.status) == ["IN_QUEUE"])

            let skippedBefore = clock.skipped
            let (resumed, status) = try await world.run("sweep", resumes: first.id)
            #expect(status == .succeeded, "\(resumed.error ?? "")")
            // One feed, the lost one, found with getFeeds and waited for; none sent again.
            #expect(feeds.feeds.map(\.id) == [lost] && feeds.feeds.map(\.status) == ["DONE"])
            #expect((h.sandbox.state.requestCounts["amazon.get_feeds"] ?? 0) >= 1)
            #expect(clock.skipped - skippedBefore >= 120_000, "the resumed run waited for the feed on the clock")
            let decisions = Self.changing(try h.store.decisions(sweep: first.id))
            #expect(decisions.count == inFlight.count)
            #expect(decisions.allSatisfy { $0.state == .applied && $0.apiResult?.hasPrefix("already live") == true },
                    "\(decisions.map { "\($0.sku) \($0.state) \($0.apiResult ?? "")" })")
            // The sandbox's update log: each change applied exactly once.
            let perSKU = Dictionary(grouping: h.sandbox.state.updates, by: \.sku)
            #expect(perSKU.count == decisions.count)
            #expect(perSKU.values.allSatisfy { $0.count == 1 }, "\(perSKU.filter { $0.value.count > 1 }.keys.sorted())")
            for d in decisions { #expect(h.sandbox.state.channelListing(.amazon, sku: d.sku)?.priceMicros == d.newPrice?.micros) }
        }
    }
}
