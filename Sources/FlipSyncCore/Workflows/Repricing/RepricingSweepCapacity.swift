extension RepricingSweepPlan {
    /// The listings this sweep checks, in SKU order: all of them, or with `max` the `max` that
    /// were never checked first, then those checked longest ago, then by SKU. Listings this
    /// sweep already checked (before a resume) come first, so a resumed sweep selects what it
    /// selected before. The rest are carried to the next run, where they are older than any
    /// listing checked now: every listing is checked within ⌈listings / max⌉ runs.
    static func selected(_ listings: [MarketplaceListing], coverage: [String: ListingCoverage], sweep: Int64,
                         max: Int?) -> [MarketplaceListing] {
        // Without a counter or grouper nothing is read, so nothing can throw.
        (try? capacity(listings, coverage: coverage, sweep: sweep, max: max).selected) ?? []
    }

    /// The share of what is left of a run's timeout, once its listings are read, that its
    /// competition reads may fill when the channel's reads are rate-limited; the rest is left
    /// for applying changes.
    static let competitionShareOfTimeout: Int64 = 80

    /// What one marketplace's part of a run checks, and what bounded it.
    struct Capacity {
        /// The listings taken, in SKU order (`capacity(_:…)`; the sweep's own walk keeps
        /// SKUs only and leaves this empty).
        var selected: [MarketplaceListing] = []
        /// How many listings were taken.
        var selectedCount = 0
        var total: Int
        /// The bound that stopped the walk, as the summary names it; nil when all were taken.
        var limitedBy: String?
        /// Quota calls the selection is planned to take, and what was left before it.
        var planned: [QuotaKey: Int64] = [:]
        var left: [QuotaKey: Int64] = [:]
        /// Listings the timeout leaves room for, when the channel's reads are rate-limited (for a
        /// rate that `countsCalls`: the listings taken, whose calls fit).
        var timeoutListings: Int?
        var timeoutRequests: Int64?
        var rate: CompetitionReadRate?
        var timeout: TimeSpan?
        /// Pending listings taken (each an offer read before deciding), and the offer reads the
        /// timeout had room for, when the channel defers its offer reads.
        var offerReads: Int64 = 0
        var offerReadRoom: Int64?
        var offerRate: CompetitionReadRate?

        /// The `plan` task's input.
        func record(marketplace: MarketplaceName) -> SweepPlanRecord {
            var record = SweepPlanRecord(marketplace: marketplace, selected: selectedCount, listings: total, limitedBy: limitedBy ?? "")
            for (key, calls) in planned.sorted(by: { $0.key < $1.key }) {
                record.quotaCalls.append(.init(quota: "\(key.provider)/\(key.api)", planned: calls, left: left[key]))
            }
            if let timeoutListings, let timeoutRequests, let rate, let timeout {
                record.timeout = .init(listings: timeoutListings, requests: timeoutRequests, operation: rate.operation,
                                       timeout: timeout.description)
            }
            if let offerRate, offerReads > 0 || offerReadRoom != nil {
                record.offerReads = .init(planned: offerReads, room: offerReadRoom, operation: offerRate.operation)
            }
            return record
        }
    }

    /// The listings one marketplace's part of this run checks, in SKU order, from its snapshot
    /// in coverage order (this sweep's own first, never checked by SKU, oldest `last_checked`,
    /// SKU), walked by `CapacityWalk`. The sweep itself walks the snapshot a page at a time in
    /// the ledger's coverage order (`RepricingSweepPlan.quotaSizedCut`); this whole-list form
    /// is the same walk.
    static func capacity(_ listings: [MarketplaceListing], coverage: [String: ListingCoverage], sweep: Int64, max: Int?,
                         rate: CompetitionReadRate? = nil, timeout: TimeSpan? = nil, counter: (any CompetitionCallCounter)? = nil,
                         offerRate: CompetitionReadRate? = nil, remaining: [QuotaKey: Int64] = [:],
                         needsRead: (MarketplaceListing) -> Bool = { _ in true }, grouper: (any CompetitionGrouper)? = nil) throws -> Capacity {
        func rank(_ l: MarketplaceListing) -> (Int, Int64, String) {
            guard let c = coverage[l.sku] else { return (1, 0, l.sku) }
            return c.sweep == sweep ? (0, 0, l.sku) : (2, c.lastChecked, l.sku)
        }
        var walk = CapacityWalk(total: listings.count, max: max, rate: rate, timeout: timeout, counter: counter,
                                offerRate: offerRate, remaining: remaining)
        try walk.prepare(listings)
        try grouper?.prepare(listings)
        var taken: [MarketplaceListing] = []
        var cut = RefreshGroupCut()
        for listing in listings.sorted(by: { rank($0) < rank($1) }) {
            let key = grouper?.key(for: listing)
            if walk.visit(listing, checkedByThisSweep: rank(listing).0 == 0, needsRead: needsRead(listing),
                          refreshGroup: cut.place(key).ordinal) {
                taken.append(listing)
                cut.take(key)
            }
            if walk.stopped { break }
        }
        var result = walk.finish()
        result.selected = taken.sorted { $0.sku < $1.sku }
        return result
    }
}

/// The walk that sizes one marketplace's part of a run, listing by listing in coverage order.
/// A listing is taken while every bound holds:
///
/// - `max`: at most that many listings (`max_listings_per_run`);
/// - `rate` and `timeout` (what is left of the job's timeout): at most as many listings as
///   the requests that fit in `competitionShareOfTimeout`% of it carry
///   (`CompetitionReadRate.requests(in:)` × listings per request), every listing taken
///   counted; or, for a rate that `countsCalls` (eBay) with a `counter`, the calls the
///   listings needing a read add, all quotas together, fit those requests;
/// - `counter` and `remaining`: the quota calls the listings needing a read add (one search
///   per distinct search, getItems batched) fit what the job has left of each quota.
/// - `offerRate` (a channel that defers its offer reads, `OfferDeferringMarketplace`) and
///   `timeout`: each pending listing taken (`offerPending`) counts one offer read, and those
///   reads fit the requests of `competitionShareOfTimeout`% of the time left at that rate
///   (their own bucket). Not a quota call: under a spent quota a pending listing adding no
///   quota call is still taken while this room lasts.
///
/// The walk stops at the first listing a count bound refuses (`stopped`). A listing whose calls
/// do not fit (a quota's, or the timeout's when it counts calls) is carried, and from then on
/// only listings adding no calls are taken (their search is already taken, or they need no
/// read), so no listing checked goes before an older one that needed calls. A listing this
/// sweep already checked (before a resume) adds no quota call.
struct CapacityWalk {
    private var result: RepricingSweepPlan.Capacity
    private let max: Int?
    private let counter: (any CompetitionCallCounter)?
    private let remaining: [QuotaKey: Int64]
    /// With a channel deferring its offer reads: the reads its own bucket has room for.
    private var offerCalls: Int64?
    private var timeoutCap: Int?
    /// With a rate that counts calls: the calls the timeout still has room for.
    private var timeoutCalls: Int64?
    private var left: [QuotaKey: Int64]
    private var taken = 0
    private var onlyFree = false
    private var limitedBy: String?
    /// A count bound refused a listing: no later listing is taken.
    private(set) var stopped = false

    init(total: Int, max: Int?, rate: CompetitionReadRate? = nil, timeout: TimeSpan? = nil,
         counter: (any CompetitionCallCounter)? = nil, offerRate: CompetitionReadRate? = nil, remaining: [QuotaKey: Int64] = [:]) {
        result = RepricingSweepPlan.Capacity(total: total)
        self.max = max
        self.counter = counter
        self.remaining = remaining
        left = remaining
        result.left = remaining
        let share = RepricingSweepPlan.competitionShareOfTimeout
        if let offerRate {
            result.offerRate = offerRate
            if let timeout {
                offerCalls = offerRate.requests(in: timeout.milliseconds * share / 100)
                result.offerReadRoom = offerCalls
            }
        }
        if let rate, let timeout {
            let requests = rate.requests(in: timeout.milliseconds * share / 100)
            if rate.countsCalls, counter != nil {
                timeoutCalls = requests
            } else {
                let listings = requests > Int64(Int.max / 2) / Int64(Swift.max(1, rate.listingsPerRequest))
                    ? Int.max / 2 : Int(requests) * Swift.max(1, rate.listingsPerRequest)
                timeoutCap = listings
                result.timeoutListings = listings
            }
            result.timeoutRequests = requests
            result.rate = rate
            result.timeout = timeout
        }
    }

    /// Tells the counter the next page of listings before they are visited.
    func prepare(_ listings: [MarketplaceListing]) throws {
        try counter?.prepare(listings)
    }

    /// The next listing in coverage order; true when it is taken. `refreshGroup`: the ordinal
    /// of the refresh group it joins if taken (`RefreshGroupCut`), told to the counter.
    mutating func visit(_ listing: MarketplaceListing, checkedByThisSweep: Bool, needsRead: Bool, refreshGroup: Int = 0) -> Bool {
        if stopped { return false }
        if let max, taken >= max, max <= (timeoutCap ?? Int.max) {
            limitedBy = limitedBy ?? "max_listings_per_run"
            stopped = true
            return false
        }
        if let timeoutCap, taken >= timeoutCap {
            limitedBy = limitedBy ?? "timeout"
            stopped = true
            return false
        }
        // A pending listing's offer is read before it is decided: one call on its own bucket,
        // bounded by its own room only (no daily quota; every pending listing needs one, so
        // once one does not fit none does). "Only free listings" is about quota calls.
        let offerRead: Int64 = listing.offerPending ? 1 : 0
        if offerRead > 0, let room = offerCalls, offerRead > room {
            limitedBy = limitedBy ?? "timeout"
            onlyFree = true
            return false
        }
        if let counter, !checkedByThisSweep, needsRead {
            let adds = counter.adding(listing, refreshGroup: refreshGroup).filter { $0.value > 0 }
            if let over = adds.sorted(by: { $0.key < $1.key }).first(where: { key, calls in left[key].map { calls > $0 } ?? false }) {
                limitedBy = limitedBy ?? "\(over.key.provider)/\(over.key.api) quota (\(remaining[over.key] ?? 0) calls left)"
                onlyFree = true
                return false
            }
            let calls = adds.values.reduce(0, +)
            if let room = timeoutCalls, calls > room {
                limitedBy = limitedBy ?? "timeout"
                onlyFree = true
                return false
            }
            if onlyFree && !adds.isEmpty { return false }
            counter.take(listing, refreshGroup: refreshGroup)
            timeoutCalls? -= calls
            for (key, calls) in adds {
                left[key]? -= calls
                result.planned[key, default: 0] += calls
            }
        }
        offerCalls? -= offerRead
        result.offerReads += offerRead
        taken += 1
        return true
    }

    /// What the walk took and what bounded it (`selected` left empty: the caller kept what it needs).
    func finish() -> RepricingSweepPlan.Capacity {
        var final = result
        final.selectedCount = taken
        if timeoutCalls != nil { final.timeoutListings = taken }
        final.limitedBy = limitedBy
        return final
    }
}
