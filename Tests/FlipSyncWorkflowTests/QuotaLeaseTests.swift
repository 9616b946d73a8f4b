import FlipSyncCore
import FlipSyncStore
import FlipSyncTestKit
import Testing

/// The quota ledger's leases (`QuotaStore`, README "Quotas"): the pipeline's calls counted ahead
/// in blocks, never more calls let through than the ledger counts, bounds reached exactly, and
/// the unused calls given back.
@Suite("Quota leases", .timeLimit(.minutes(3)))
struct QuotaLeaseTests {
    static let browse = QuotaKey(provider: "ebay", api: "browse")
    /// 2026-06-10 18:00 UTC, 11:00 in Pacific time; eBay's day ends at 07:00 UTC.
    static let start = QuotaTests.at(2026, 6, 10, 18)
    static let reset = QuotaTests.at(2026, 6, 11, 7)

    /// The window's `used` as the ledger holds it (what another process sees).
    static func recorded(_ store: RunStore, _ policy: QuotaPolicy, at now: Timestamp, window: Int64? = nil) throws -> Int64 {
        let rows = try QuotaStore.recordedUsage(store: store, policy: policy, now: now.secondsSinceEpoch * 1000)
        return rows.first { $0.key == browse && (window == nil || $0.windowStart == window) }?.used ?? 0
    }

    /// A fresh ledger and a quota ledger over it with eBay's 5,000 Browse calls a day (or `limits`).
    static func world(limits: [QuotaKey: Int64] = [browse: 5_000], at now: Timestamp = start)
        throws -> (store: RunStore, policy: QuotaPolicy, quota: QuotaStore) {
        let store = try QuotaTests.store()
        let policy = QuotaPolicy.standard(limits: limits)
        return (store, policy, QuotaStore(store: store, policy: policy, clock: ManualClock(now)))
    }

    /// Calls of `job` through the pipeline's path until `count` or the first refusal.
    static func calls(_ quota: QuotaStore, _ count: Int, job: String? = nil) async -> (allowed: Int, refusal: QuotaRefusal?) {
        for made in 0..<count {
            do throws(QuotaRefusal) { try await quota.consumeCommitted(browse, units: 1, job: job) } catch { return (made, error) }
        }
        return (count, nil)
    }

    @Test("calls are counted ahead a block at a time: the ledger holds at most 1.5 blocks more than were let through, usage() shows the calls, and returnLeases gives the rest back")
    func blocksCountedAhead() async throws {
        let (store, policy, quota) = try Self.world()
        #expect(await Self.calls(quota, 100).allowed == 100)
        let ahead = try Self.recorded(store, policy, at: Self.start) - 100
        #expect(ahead > 0 && ahead <= QuotaStore.leaseBlock * 3 / 2, "counted ahead: \(ahead)")
        #expect(quota.usage().first { $0.key == Self.browse }?.used == 100)
        #expect(quota.remaining(for: nil)[Self.browse] == 4_900)
        quota.returnLeases()
        #expect(try Self.recorded(store, policy, at: Self.start) == 100)
        #expect(quota.usage().first { $0.key == Self.browse }?.used == 100)
    }

    @Test("near a bound every call is checked on its own: 500 concurrent calls of a sweep stop exactly at the limit less sync's reserve, then sync's stop exactly at the limit, and the ledger holds exactly what was let through")
    func boundsExact() async throws {
        let store = try QuotaTests.store()
        let policy = QuotaPolicy.standard(limits: [Self.browse: 400], reserves: ["marketplace-sync": .percent(25)],
                                          jobKinds: ["nightly": "repricing-sweep", "sync": "marketplace-sync"])
        let quota = QuotaStore(store: store, policy: policy, clock: ManualClock(Self.start))
        let refusals = await withTaskGroup(of: QuotaRefusal?.self) { group in
            for _ in 0..<500 {
                group.addTask {
                    do throws(QuotaRefusal) { try await quota.consumeCommitted(Self.browse, units: 1, job: "nightly"); return nil } catch {
                        return error
                    }
                }
            }
            var refused: [QuotaRefusal] = []
            for await refusal in group { if let refusal { refused.append(refusal) } }
            return refused
        }
        #expect(refusals.count == 200)
        #expect(refusals.allSatisfy { $0.reason == .reserved })
        #expect(try Self.recorded(store, policy, at: Self.start) == 300)
        let sync = await Self.calls(quota, 200, job: "sync")
        #expect(sync.allowed == 100 && sync.refusal?.reason == .limitReached)
        #expect(try Self.recorded(store, policy, at: Self.start) == 400)
    }

    @Test("two processes on one ledger: the second stops where the first's calls and its block leave off, and gets the block's calls once the first gives them back; never more than the limit in all")
    func twoProcesses() async throws {
        let path = TestScratch.directory("quota-lease") + "/flipsync.sqlite"
        let policy = QuotaPolicy.standard(limits: [Self.browse: 1_000])
        let first = QuotaStore(store: try RunStore(path: path), policy: policy, clock: ManualClock(Self.start))
        let second = QuotaStore(store: try RunStore(path: path), policy: policy, clock: ManualClock(Self.start))
        #expect(await Self.calls(first, 200).allowed == 200)
        let (held, refusal) = await Self.calls(second, 1_000)
        #expect(refusal?.reason == .limitReached)
        #expect(200 + held < 1_000, "the first's block is counted: \(held)")
        first.returnLeases()
        let (more, _) = await Self.calls(second, 1_000)
        #expect(200 + held + more == 1_000)
    }

    @Test("a block left when the window ends goes back to that window: its row holds the calls made in it")
    func windowEndGivesBack() async throws {
        let store = try QuotaTests.store()
        let policy = QuotaPolicy.standard(limits: [Self.browse: 5_000])
        let clock = ManualClock(QuotaTests.at(2026, 6, 11, 6, 59))
        let quota = QuotaStore(store: store, policy: policy, clock: clock)  // the clock is driven
        #expect(await Self.calls(quota, 10).allowed == 10)
        let yesterday = try #require(quota.usage().first { $0.key == Self.browse }).windowStart
        clock.advance(to: Self.reset)
        #expect(await Self.calls(quota, 1).allowed == 1)
        #expect(try Self.recorded(store, policy, at: QuotaTests.at(2026, 6, 11, 6, 59), window: yesterday) == 10)
        #expect(quota.usage().first { $0.key == Self.browse }?.used == 1)
    }

    @Test("a reload whose reserves leave no room for the block (the ledger's count with it above the new lowest ceiling, 30): the block goes back, and the sweep stops exactly at its ceiling")
    func reloadLeavesNoRoom() async throws {
        let store = try QuotaTests.store()
        let kinds = ["nightly": "repricing-sweep", "sync": "marketplace-sync"]
        let quota = QuotaStore(store: store, policy: .standard(limits: [Self.browse: 1_000], jobKinds: kinds), clock: ManualClock(Self.start))
        #expect(await Self.calls(quota, 10, job: "nightly").allowed == 10)
        let tight = QuotaPolicy.standard(limits: [Self.browse: 1_000], reserves: ["marketplace-sync": .percent(97)], jobKinds: kinds)
        quota.setPolicy(tight)
        #expect(await Self.calls(quota, 1, job: "nightly").allowed == 1)
        #expect(try Self.recorded(store, tight, at: Self.start) == 11)
        let rest = await Self.calls(quota, 100, job: "nightly")
        #expect(rest.allowed == 19 && rest.refusal?.reason == .reserved)
        #expect(try Self.recorded(store, tight, at: Self.start) == 30)
    }

    @Test("marked exhausted: the block goes back and the next call is refused")
    func exhaustedGivesBack() async throws {
        let (store, policy, quota) = try Self.world()
        #expect(await Self.calls(quota, 10).allowed == 10)
        #expect(quota.markExhausted(Self.browse).first)
        #expect(try Self.recorded(store, policy, at: Self.start) == 10)
        #expect(await Self.calls(quota, 1).refusal?.reason == .exhausted)
    }

    @Test("an API without a limit is counted ahead too, and shows its calls")
    func countingOnly() async throws {
        let (store, policy, quota) = try Self.world(limits: [:])
        #expect(await Self.calls(quota, 50).allowed == 50)
        #expect(quota.usage().first { $0.key == Self.browse }?.used == 50)
        #expect(try Self.recorded(store, policy, at: Self.start) > 50)
        quota.returnLeases()
        #expect(try Self.recorded(store, policy, at: Self.start) == 50)
    }
}
