import Testing
@testable import FlipSyncCore

/// `QuotaPolicy.verdict` and `QuotaPolicy.usage(records:now:)`, the rules both quota ledgers
/// (SQLite's `QuotaStore`, PostgreSQL's `PostgresQuotaLedger`) apply, tested without a ledger.
@Suite("Quota verdict", .timeLimit(.minutes(1)))
struct QuotaVerdictTests {
    static let browse = QuotaKey(provider: "ebay", api: "browse")
    static let free = QuotaKey(provider: "amazon", api: "getItemOffers")
    /// 1,000 calls; 10% kept for marketplace-sync jobs, 50 calls for the job named "audit".
    static let policy = QuotaPolicy(limits: [browse: 1_000], reserves: ["marketplace-sync": .percent(10), "audit": .calls(50)],
                                    jobKinds: ["sync": "marketplace-sync", "sweep": "repricing-sweep"])
    static let now: Int64 = 1_800_000_000_000
    static let windowEnd: Int64 = 1_800_000_500_000

    func verdict(used: Int64, units: Int64 = 1, exhaustedUntil: Int64? = nil, key: QuotaKey = browse, job: String?) -> QuotaVerdict {
        Self.policy.verdict(key, used: used, units: units, exhaustedUntil: exhaustedUntil, now: Self.now, windowEnd: Self.windowEnd, job: job)
    }

    func refused(_ reason: QuotaRefusal.Reason, key: QuotaKey = browse, until: Int64 = windowEnd) -> QuotaVerdict {
        .refused(QuotaRefusal(key: key, reason: reason, resetAt: until))
    }

    @Test("a job without a reserve may bring used to the limit less every reserve (1,000 − 100 − 50), equal allowed; one more is refused as reserved")
    func ceilingForOthers() {
        #expect(verdict(used: 849, job: "sweep") == .allowed)
        #expect(verdict(used: 850, job: "sweep") == refused(.reserved))
        #expect(verdict(used: 840, units: 10, job: "sweep") == .allowed)
        #expect(verdict(used: 840, units: 11, job: "sweep") == refused(.reserved))
        #expect(verdict(used: 850, job: nil) == refused(.reserved), "outside a job: every reserve is another's")
    }

    @Test("a job's own reserve, by kind or by name, is not kept from it; the other reserves are")
    func ownReserve() {
        #expect(verdict(used: 949, job: "sync") == .allowed, "1,000 − audit's 50")
        #expect(verdict(used: 950, job: "sync") == refused(.reserved))
        #expect(verdict(used: 899, job: "audit") == .allowed, "1,000 − marketplace-sync's 100")
        #expect(verdict(used: 900, job: "audit") == refused(.reserved))
    }

    @Test("past the limit itself the refusal is limitReached, before the reserve check, for every job")
    func limitBeforeReserve() {
        #expect(verdict(used: 1_000, job: "sync") == refused(.limitReached))
        #expect(verdict(used: 995, units: 6, job: "sweep") == refused(.limitReached))
        #expect(verdict(used: 990, units: 10, job: "sync") == refused(.reserved), "exactly the limit, but into audit's reserve")
        let noReserves = QuotaPolicy(limits: [Self.browse: 1_000])
        #expect(noReserves.verdict(Self.browse, used: 990, units: 10, exhaustedUntil: nil, now: Self.now, windowEnd: Self.windowEnd, job: nil) == .allowed)
        #expect(noReserves.verdict(Self.browse, used: 990, units: 11, exhaustedUntil: nil, now: Self.now, windowEnd: Self.windowEnd, job: nil)
            == refused(.limitReached))
    }

    @Test("exhausted refuses first, until the mark, limit or not; a mark at or before now no longer counts")
    func exhaustedFirst() {
        let until = Self.now + 60_000
        #expect(verdict(used: 0, exhaustedUntil: until, job: "sync") == refused(.exhausted, until: until))
        #expect(verdict(used: 2_000, exhaustedUntil: until, job: nil) == refused(.exhausted, until: until), "before the limit check")
        #expect(verdict(used: 0, exhaustedUntil: until, key: Self.free, job: nil) == refused(.exhausted, key: Self.free, until: until))
        #expect(verdict(used: 0, exhaustedUntil: Self.now, job: nil) == .allowed)
        #expect(verdict(used: 0, exhaustedUntil: Self.now - 1, job: nil) == .allowed)
    }

    @Test("an API with no limit is counted without bound")
    func noLimit() {
        #expect(verdict(used: 1_000_000_000, units: 1_000, key: Self.free, job: nil) == .allowed)
    }

    @Test("usage lists every limited or counted API in its current window, skips other windows' records and expired marks")
    func usageOfRecords() {
        let day = Self.policy.window(Self.browse, at: Self.now)
        let usage = Self.policy.usage(records: [
            QuotaRecord(key: Self.browse, windowStart: day.lowerBound - 86_400_000, used: 999, exhaustedUntil: day.lowerBound),
            QuotaRecord(key: Self.browse, windowStart: day.lowerBound, used: 120, exhaustedUntil: Self.now - 1),
            QuotaRecord(key: Self.free, windowStart: day.lowerBound, used: 7, exhaustedUntil: Self.now + 5),
        ], now: Self.now)
        #expect(usage == [
            QuotaUsage(key: Self.free, windowStart: day.lowerBound, windowEnd: day.upperBound, used: 7, limit: nil, reserved: 0,
                       exhaustedUntil: Self.now + 5),
            QuotaUsage(key: Self.browse, windowStart: day.lowerBound, windowEnd: day.upperBound, used: 120, limit: 1_000, reserved: 150,
                       exhaustedUntil: nil),
        ])
        #expect(Self.policy.usage(records: [], now: Self.now).map(\.used) == [0])
    }
}
