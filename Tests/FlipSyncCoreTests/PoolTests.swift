import Foundation
import Logging
import Synchronization
import Testing
@testable import FlipSyncCore
import FlipSyncStore
import FlipSyncTestKit

/// Shared mutable state for closures that outlive a test's scope.
final class Locked<Value: Sendable>: Sendable {
    let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { state.withLock { body(&$0) } }
}

@Suite("Pool: rate limits, retries, budgets, permits", .timeLimit(.minutes(2)))
struct PoolTests {
    @Test("a token bucket gives its burst at once, then one token per interval on the clock")
    func tokenBucket() {
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        let bucket = TokenBucket(requests: 5, per: .seconds(1), burst: 3, clock: clock)
        #expect((0..<3).map { _ in bucket.tryAcquire() } == [nil, nil, nil])
        #expect(bucket.tryAcquire() == TimeSpan(milliseconds: 200))
        clock.advance(byMilliseconds: 199)
        #expect(bucket.tryAcquire() != nil)
        clock.advance(byMilliseconds: 1)
        #expect(bucket.tryAcquire() == nil)
        clock.advance(bySeconds: 60)  // refills only up to the burst
        #expect((0..<4).map { _ in bucket.tryAcquire() == nil } == [true, true, true, false])
    }

    @Test("a server's rate-limit signal empties the bucket")
    func drain() {
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        let bucket = TokenBucket(requests: 10, per: .seconds(1), burst: 10, clock: clock)
        bucket.drain()
        #expect(bucket.tryAcquire() == TimeSpan(milliseconds: 100))
    }

    @Test("retry delays are fully jittered below the exponential cap, and never below Retry-After",
          arguments: [1, 2, 3, 4, 10, 60])
    func retryDelay(attempt: Int) {
        let policy = RetryPolicy(attempts: 5, backoff: .seconds(2), maxBackoff: .seconds(60))
        var random = SystemRandomNumberGenerator()
        let cap = min(2000 * (Int64(1) << min(attempt - 1, 40)), 60_000)
        var seen = Set<Int64>()
        for _ in 0..<200 {
            let delay = policy.delay(afterAttempt: attempt, retryAfter: nil, using: &random).milliseconds
            #expect(delay >= 0 && delay <= cap)
            seen.insert(delay)
            #expect(policy.delay(afterAttempt: attempt, retryAfter: .seconds(90), using: &random).milliseconds >= 90_000)
        }
        #expect(seen.count > 1, "delays are jittered, not fixed")
    }

    @Test("the permit pool holds at most its capacity, and a cancelled waiter leaves the queue")
    func permits() async throws {
        let pool = PermitPool(permits: 2)
        try await pool.acquire()
        try await pool.acquire()
        #expect(pool.inUse == 2)
        let waiter = Task { try await pool.acquire() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        pool.release()
        #expect(pool.inUse == 1)
        try await pool.acquire()
        #expect(pool.inUse == 2)
    }
}

@Suite("Daemon setup and retention", .timeLimit(.minutes(2)))
struct DaemonSetupTests {
    func write(_ scratch: Scratch, jobs: [String: String]) -> String {
        let config = scratch.write("flipsync.toml", """
            [daemon]
            jobs_directory = "jobs"
            database = "var/ledger.sqlite"
            """)
        try? FileManager.default.createDirectory(atPath: scratch.path + "/jobs", withIntermediateDirectories: true)
        for (name, text) in jobs { _ = scratch.write("jobs/\(name).toml", text) }
        return config
    }

    @Test("a bad job file is reported at its line and the valid jobs still load")
    func badJobKeepsOthers() {
        let scratch = Scratch()
        let config = write(scratch, jobs: ["good": job("good", "daily"), "bad": job("bad", "every blue moon")])
        let loaded = DaemonSetup(configPath: config, environment: .init(workingDirectory: scratch.path)).load(now: validationNow)
        #expect(loaded.configIsValid)
        #expect(loaded.catalog.jobs.map(\.name) == ["good"])
        #expect(loaded.errors.map { "\($0.file):\($0.line)" } == ["\(scratch.path)/jobs/bad.toml:3"])
        #expect(loaded.config.databasePath == scratch.path + "/var/ledger.sqlite")
    }

    @Test("settings a reload cannot apply are named")
    func restartOnly() {
        let scratch = Scratch()
        let config = write(scratch, jobs: [:])
        let setup = DaemonSetup(configPath: config, environment: .init(workingDirectory: scratch.path))
        let before = setup.load(now: validationNow).config
        _ = scratch.write("flipsync.toml", "[daemon]\njobs_directory = \"jobs\"\ndatabase = \"elsewhere.sqlite\"\npool_size = 8\n")
        let after = setup.load(now: validationNow).config
        #expect(before.restartOnlyChanges(comparedTo: after) == ["daemon.database", "daemon.pool_size"])
    }

    static let day: Int64 = 86_400_000

    /// A fresh SQLite ledger (its scratch directory kept alive by the caller) and a clock to prune by.
    static func pruneLedger() throws -> (Scratch, RunStore, ManualClock) {
        let scratch = Scratch()
        return (scratch, try RunStore(path: scratch.path + "/ledger.sqlite"), ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!))
    }

    @Test("pruning deletes finished runs older than the retention, in batches, and keeps the rest")
    func prune() async throws {
        let (scratch, store, clock) = try Self.pruneLedger()
        defer { withExtendedLifetime(scratch) {} }
        let now = clock.wallMilliseconds()
        for i in 0..<1_203 {
            let old = i < 1_200
            let run = try #require(try store.recordFire(job: "j", kind: "readiness-scan", trigger: .manual, requestedBy: nil,
                                                        scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                        at: old ? now - 100 * Self.day : now - Self.day, resumes: nil))
            try store.saveTask(TaskInfo(runID: run.id, key: "t", agent: "a", status: .succeeded))
            if i != 0 { try store.finishRun(runID: run.id, status: .succeeded, summary: nil, error: nil, spendMicros: 0, at: run.createdAt) }
        }
        let pruner = RetentionPruner(ledger: store, clock: clock, retention: .seconds(90 * 86_400), batchSize: 500,
                                     logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        #expect(try await pruner.pruneOnce() == 1_199)  // run 1 is still queued: never pruned
        let left = try store.recentRuns(job: nil, limit: 10_000)
        #expect(left.count == 4)
        #expect(try store.tasks(runID: left.last!.id).count == 1)
        #expect(try store.integrityCheck(full: true) == "ok")
    }

    @Test("pruning then deletes the snapshots and decisions of sweeps whose first run is gone, also those a ledger kept from before, ten times the batch a transaction")
    func pruneSweeps() async throws {
        let (scratch, store, clock) = try Self.pruneLedger()
        defer { withExtendedLifetime(scratch) {} }
        let now = clock.wallMilliseconds()
        func sweep(at: Int64, listings: Int) async throws -> Int64 {
            let run = try #require(try store.recordFire(job: "nightly", kind: "repricing-sweep", trigger: .schedule, requestedBy: nil,
                                                        scheduledAt: at, status: .succeeded, skipReason: nil, summary: nil, at: at, resumes: nil))
            let listings = (0..<listings).map {
                MarketplaceListing(marketplace: .ebay, sku: "S\($0)", listingID: "L\($0)", gtin: nil, asin: nil, title: "t", condition: .new,
                                   price: Money(micros: 1_000_000, currency: .usd), quantity: 1, shippingCharged: nil)
            }
            try store.saveSweepListings(listings, sweep: run.id, marketplace: .ebay)
            try await store.saveDecisions(listings.map {
                PricingDecision(sku: $0.sku, marketplace: .ebay, listingID: $0.listingID, oldPrice: $0.price, newPrice: nil, floor: nil,
                                ceiling: nil, lowestCompetitorLanded: nil, buyBox: nil, offersConsidered: 0, offersExcluded: [:],
                                strategy: .beatLowest, reason: .unchanged, explanation: "x")
            }, sweep: run.id, checkedAt: at)
            return run.id
        }
        // A sweep whose run an older build pruned without its rows (`pruneRuns` alone), one
        // past the retention, and one within it.
        let orphan = try await sweep(at: now - 200 * Self.day, listings: 1_234)
        #expect(try store.pruneRuns(createdBefore: now - 150 * Self.day, limit: 10) == 1)
        let old = try await sweep(at: now - 100 * Self.day, listings: 700)
        let kept = try await sweep(at: now - Self.day, listings: 300)
        let pruner = RetentionPruner(ledger: store, clock: clock, retention: .seconds(90 * 86_400), batchSize: 50,
                                     logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        #expect(pruner.sweepRowsPerBatch == 500)
        #expect(try await pruner.pruneOnce() == 1)
        for gone in [orphan, old] {
            #expect(try store.sweepListings(sweep: gone, marketplace: .ebay).isEmpty)
            #expect(try store.decisionCount(sweep: gone) == 0)
        }
        #expect(try store.sweepListings(sweep: kept, marketplace: .ebay).count == 300)
        #expect(try store.decisionCount(sweep: kept) == 300)
        #expect(try store.pruneSweepRows(limit: 10_000) == 0)
        #expect(try store.integrityCheck(full: true) == "ok")
    }
}
