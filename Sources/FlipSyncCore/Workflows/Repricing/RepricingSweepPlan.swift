import Logging

/// A channel that knows what our items cost us (Shopify's inventory items carry `cost`).
public protocol UnitCostSource: Sendable {
    /// Unit cost by SKU, for every item the channel knows a cost of.
    func unitCosts() async throws -> [String: Money]
}

/// The repricing sweep as a run: three waves, so nothing is applied before everything is decided.
///
/// 1. `listings:<marketplace>` reads our active listings into the ledger (the sweep's snapshot;
///    an `OfferDeferringMarketplace`'s listings whose offer is not known yet are pending, their
///    offers read by the decide task that checks them), and `costs` refreshes unit costs from
///    the job's `cost_source`.
/// 2. `decide:<marketplace>:<sku>` (one listing) or `decide:<marketplace>:group-<n>` (the
///    listings the marketplace's `competitionGroups` reads together: 20 Amazon SKUs per
///    `getListingOffersBatch`) gathers the competition, decides each listing with `Repricer`
///    and records each decision (a row whatever the outcome: hold, planned, dry run). Only when
///    every task of wave 1 succeeded; a listing whose decision fails is left as it is.
/// 3. Unless the `CircuitBreaker` trips (then nothing is applied, every planned decision is
///    `blocked` and the run fails with the reason), `apply:<marketplace>:<n>` sends the planned
///    changes in batches of `batchSize`. Each decision is marked `sending` before its call and
///    `applied`/`failed` after; after a crash, a `sending` decision is checked against the live
///    price before anything is sent again, so no change is applied twice. A marketplace that
///    `prefersBulk` for its changes in the run's time left (`BulkApplyingMarketplace`: Amazon's
///    JSON_LISTINGS_FEED) gets `apply:<marketplace>:bulk-<n>` tasks instead, one submission each;
///    the submission's id is written on its decisions before its outcome is waited for, and a
///    resumed run waits for that submission rather than sending again.
///
/// A resumed run continues the same sweep (its first run's id): tasks that succeeded are not
/// repeated, and the batches keep their keys because they are cut from the stored decisions.
public struct RepricingSweepPlan: WorkflowPlan {
    /// The job's `[params]`: the plan is built for one job's parameters.
    let parameters: RepricingSweep.Parameters
    let marketplaces: [MarketplaceName: any Marketplace]
    let fees: [MarketplaceName: MarketplaceFees]
    let costSources: [MarketplaceName: any UnitCostSource]
    let ledger: any RepricingLedger
    let clock: any SchedulerClock
    let matcher: (any OfferMatcher)?
    let unavailable: [MarketplaceName: String]
    let batchSize: Int
    /// The quota ledger: with it, each run is sized from what its job has left (quota calls,
    /// the timeout); without it, only `max_listings_per_run` bounds a run.
    let quota: (any QuotaAllowance)?
    /// Competitor ids earlier searches found (eBay refreshes them with getItems).
    let competitors: (any CompetitorMemory)?

    public init(parameters: RepricingSweep.Parameters, marketplaces: [MarketplaceName: any Marketplace],
                fees: [MarketplaceName: MarketplaceFees],
                costSources: [MarketplaceName: any UnitCostSource], ledger: any RepricingLedger, clock: any SchedulerClock,
                matcher: (any OfferMatcher)? = nil, unavailable: [MarketplaceName: String] = [:], batchSize: Int = 25,
                quota: (any QuotaAllowance)? = nil, competitors: (any CompetitorMemory)? = nil) {
        self.parameters = parameters
        self.quota = quota
        self.competitors = competitors
        self.matcher = matcher
        self.unavailable = unavailable
        self.marketplaces = marketplaces
        self.fees = fees
        self.costSources = costSources
        self.ledger = ledger
        self.clock = clock
        self.batchSize = max(1, batchSize)
    }

    public func tasks(for job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        let p = parameters
        var tasks = p.marketplaces.map {
            PlannedTask(key: "listings:\($0.value.rawValue)", agent: "listings", input: MarketplaceInput(marketplace: $0.value))
        }
        if let source = p.costSource { tasks.insert(PlannedTask(key: "costs", agent: "costs", input: MarketplaceInput(marketplace: source)), at: 0) }
        return tasks
    }

    /// Every task of the next wave at once (`followUpWave`'s pages together).
    public func followUp(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        let wave = try await followUpWave(after: tasks, job: job, runID: runID)
        return try await wave.page(0, wave.count)
    }

    /// The decide and apply waves keep only their first succeeded task in what `followUp` and
    /// `summarize` are handed (both look at the decide and apply tasks' keys only).
    public var condensedAgents: Set<String> { ["decide", "apply", "apply-bulk"] }

    /// The decide wave as it waits to be planned: each task's listings as a range of one flat
    /// array of SKUs (no array or `PlannedTask` per task), and the `plan` tasks already built;
    /// a task's `PlannedTask` is built only when the coordinator asks for its page.
    struct DecideWave: Sendable {
        struct Item: Sendable {
            var marketplace: MarketplaceName
            var start: Int
            var end: Int
            var refresh: Bool
        }

        var items: [Item] = []
        var skus: [String] = []
        /// The `plan` tasks, by their place in `items`.
        var plans: [Int: PlannedTask] = [:]

        var count: Int { items.count }

        mutating func add(plan task: PlannedTask, marketplace: MarketplaceName) {
            plans[items.count] = task
            items.append(Item(marketplace: marketplace, start: skus.count, end: skus.count, refresh: false))
        }

        mutating func add(decide listings: [MarketplaceListing], marketplace: MarketplaceName, refresh: Bool) {
            let start = skus.count
            skus.append(contentsOf: listings.lazy.map(\.sku))
            items.append(Item(marketplace: marketplace, start: start, end: skus.count, refresh: refresh))
        }

        func task(_ index: Int) -> PlannedTask {
            if let plan = plans[index] { return plan }
            let item = items[index]
            let skus = Array(self.skus[item.start..<item.end])
            return PlannedTask(key: RepricingSweepPlan.decideKey(marketplace: item.marketplace, skus: skus, refresh: item.refresh),
                               agent: "decide", input: ListingsInput(marketplace: item.marketplace, skus: skus, refresh: item.refresh ? true : nil))
        }
    }

    public func followUpWave(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> PlannedWave {
        let p = parameters
        let sweep = try ledger.sweepID(ofRun: runID)
        if !tasks.contains(where: { $0.key.hasPrefix("decide:") || $0.key.hasPrefix("plan:") }) {
            // Without every listing and the costs, deciding on half the inputs is worse than not deciding.
            guard !tasks.contains(where: { $0.status != .succeeded }) else { return .empty }
            let next = try decideWave(job: job, runID: runID, sweep: sweep)
            // Nothing to plan (a resumed sweep whose chain decided every listing, without a
            // quota's plan task): go on to apply.
            if next.count > 0 {
                // The wave holds each decide task's SKUs only; its tasks are built page by page.
                return PlannedWave(count: next.count) { offset, limit in
                    let start = Swift.min(Swift.max(0, offset), next.count)
                    return (start..<Swift.min(next.count, start + Swift.max(0, limit))).map(next.task)
                }
            }
        }
        guard !tasks.contains(where: { $0.key.hasPrefix("apply:") }), !p.dryRun else { return .empty }
        // Only the decisions with a change are read (a sweep's holds are counted, not read).
        let decisions = try ledger.changingDecisions(sweep: sweep)
        if let trip = CircuitBreaker.evaluate(decisions: decisions, evaluated: try ledger.decisionCount(sweep: sweep),
                                              share: p.breakerShare, drop: p.breakerDrop) {
            for (marketplace, group) in Dictionary(grouping: decisions.filter { $0.state == .planned }, by: \.marketplace) {
                try await ledger.markDecisions(sweep: sweep, marketplace: marketplace, skus: group.map(\.sku), state: .blocked, results: [:])
            }
            throw TaskFailure.permanent("\(trip); nothing was applied")
        }
        return PlannedWave(Self.batches(of: decisions, size: batchSize, bulk: try bulkMarketplaces(decisions, job: job, runID: runID)))
    }

    /// The decide wave's items: per marketplace, its `plan` task (with a quota) and its decide
    /// tasks' listings. The snapshot is read here and let go on return; only SKUs are kept.
    func decideWave(job: JobDefinition, runID: Int64, sweep: Int64) throws -> DecideWave {
        let p = parameters
        var next = DecideWave()
        let costs = quota == nil ? [:] : try ledger.unitCosts()
        let left = quota?.remaining(for: job.name) ?? [:]
        let now = clock.wallMilliseconds()
        let decided = try ledger.decidedListings(sweep: sweep)
        // What is left of the job's timeout now that the listings and costs are read.
        let started = try ledger.runStartedAt(runID: runID) ?? now
        let timeLeft = TimeSpan(milliseconds: Swift.max(0, job.timeout.milliseconds - Swift.max(0, now - started)))
        for marketplace in p.marketplaces.map(\.value) {
            let channel = try? self.marketplace(marketplace.rawValue)
            let options = CompetitionOptions(titleMatches: p.llmMatching && matcher != nil, memory: competitors,
                                             refreshSince: p.researchDays == 0 ? nil : now - Int64(p.researchDays) * 86_400_000, now: now)
            let snapshot = try ledger.sweepListings(sweep: sweep, marketplace: marketplace)
            let capacity: Capacity
            if quota != nil, let channel {
                capacity = Self.capacity(
                    snapshot, coverage: try ledger.coverage(marketplace: marketplace), sweep: sweep, max: p.maxListingsPerRun,
                    rate: channel.competitionReadRate, timeout: timeLeft, counter: channel.competitionCallCounter(options: options),
                    offerRate: (channel as? any OfferDeferringMarketplace)?.offerReadRate,
                    remaining: left, needsRead: { costs[$0.sku] != nil && $0.quantity > 0 })
            } else {
                capacity = Self.capacity(snapshot, coverage: try ledger.coverage(marketplace: marketplace), sweep: sweep,
                                         max: p.maxListingsPerRun)
            }
            let listings = capacity.selected
            if quota != nil {
                next.add(plan: PlannedTask(key: "plan:\(marketplace.rawValue)", agent: "plan",
                                           input: capacity.record(marketplace: marketplace)), marketplace: marketplace)
            }
            // Listings whose competition is read together are decided by one task; alone,
            // a listing's task is keyed by its SKU. A resumed sweep plans only the listings
            // its chain has not decided yet: its groups can differ from the interrupted run's
            // (competitor ids remembered since then move GTINs to the refresh task), so a
            // group's key names its listings (`Self.decideKey`), and a finished task of the
            // chain is reused only for exactly the same listings.
            let undecided = decided.isEmpty ? listings : listings.filter { !decided.contains("\(marketplace.rawValue)/\($0.sku)") }
            let groups = channel?.competitionGroups(undecided, options: options) ?? undecided.map { CompetitionGroup(listings: [$0]) }
            next.items.reserveCapacity(next.items.count + groups.count)
            next.skus.reserveCapacity(next.skus.count + undecided.count)
            for group in groups where !group.listings.isEmpty {
                next.add(decide: group.listings, marketplace: marketplace, refresh: group.refresh)
            }
        }
        return next
    }

    /// The marketplaces whose changes go in bulk this run, with their submission size: those
    /// whose channel `prefersBulk` for the changes still to send (planned or sending) in the
    /// run's time left (the job's `timeout` less the time since the run started), and those
    /// with a change in a pending bulk submission (a resumed run waits for it in bulk again).
    func bulkMarketplaces(_ decisions: [PricingDecision], job: JobDefinition, runID: Int64) throws -> [MarketplaceName: Int] {
        let timeLeft = try ledger.runStartedAt(runID: runID).map {
            TimeSpan(milliseconds: job.timeout.milliseconds - max(0, clock.wallMilliseconds() - $0))
        }
        var bulk: [MarketplaceName: Int] = [:]
        for (name, group) in Dictionary(grouping: decisions, by: \.marketplace) {
            guard let channel = (try? marketplace(name.rawValue)) as? any BulkApplyingMarketplace else { continue }
            let toSend = group.filter { $0.state == .planned || $0.state == .sending }
            let pending = toSend.contains { $0.state == .sending && BulkMarker.parse($0.apiResult) != nil }
            if pending || (!toSend.isEmpty && channel.prefersBulk(changes: toSend.count, timeLeft: timeLeft)) {
                bulk[name] = max(1, channel.bulkLimit)
            }
        }
        return bulk
    }

    /// The listings this sweep checks, in SKU order: all of them, or with `max` the `max` that
    /// were never checked first, then those checked longest ago, then by SKU. Listings this
    /// sweep already checked (before a resume) come first, so a resumed sweep selects what it
    /// selected before. The rest are carried to the next run, where they are older than any
    /// listing checked now: every listing is checked within ⌈listings / max⌉ runs.
    static func selected(_ listings: [MarketplaceListing], coverage: [String: ListingCoverage], sweep: Int64,
                         max: Int?) -> [MarketplaceListing] {
        capacity(listings, coverage: coverage, sweep: sweep, max: max).selected
    }

    /// The share of what is left of a run's timeout, once its listings are read, that its
    /// competition reads may fill when the channel's reads are rate-limited; the rest is left
    /// for applying changes.
    static let competitionShareOfTimeout: Int64 = 80

    /// What one marketplace's part of a run checks, and what bounded it.
    struct Capacity {
        var selected: [MarketplaceListing]
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
            var record = SweepPlanRecord(marketplace: marketplace, selected: selected.count, listings: total, limitedBy: limitedBy ?? "")
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
    /// SKU). A listing is taken while every bound holds:
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
    /// The walk stops at the first listing a count bound refuses. A listing whose calls do not
    /// fit (a quota's, or the timeout's when it counts calls) is carried, and from then on only listings adding no calls are taken (their search
    /// is already taken, or they need no read), so no listing checked goes before an older one
    /// that needed calls.
    static func capacity(_ listings: [MarketplaceListing], coverage: [String: ListingCoverage], sweep: Int64, max: Int?,
                         rate: CompetitionReadRate? = nil, timeout: TimeSpan? = nil, counter: (any CompetitionCallCounter)? = nil,
                         offerRate: CompetitionReadRate? = nil, remaining: [QuotaKey: Int64] = [:],
                         needsRead: (MarketplaceListing) -> Bool = { _ in true }) -> Capacity {
        var result = Capacity(selected: listings, total: listings.count)
        /// With a channel deferring its offer reads: the reads its own bucket has room for.
        var offerCalls: Int64?
        if let offerRate {
            result.offerRate = offerRate
            if let timeout {
                offerCalls = offerRate.requests(in: timeout.milliseconds * competitionShareOfTimeout / 100)
                result.offerReadRoom = offerCalls
            }
        }
        var timeoutCap: Int?
        /// With a rate that counts calls: the calls the timeout still has room for.
        var timeoutCalls: Int64?
        if let rate, let timeout {
            let requests = rate.requests(in: timeout.milliseconds * competitionShareOfTimeout / 100)
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
        if counter == nil, !(offerCalls != nil && listings.contains(where: \.offerPending)),
           listings.count <= Swift.min(max ?? Int.max, timeoutCap ?? Int.max) {
            result.offerReads = Int64(listings.filter(\.offerPending).count)
            return result
        }
        func rank(_ l: MarketplaceListing) -> (Int, Int64, String) {
            guard let c = coverage[l.sku] else { return (1, 0, l.sku) }
            return c.sweep == sweep ? (0, 0, l.sku) : (2, c.lastChecked, l.sku)
        }
        let ordered = listings.sorted { rank($0) < rank($1) }
        var left = remaining
        result.left = remaining
        var taken: [MarketplaceListing] = []
        var limitedBy: String?
        var onlyFree = false
        for listing in ordered {
            if let max, taken.count >= max, max <= (timeoutCap ?? Int.max) {
                limitedBy = limitedBy ?? "max_listings_per_run"
                break
            }
            if let timeoutCap, taken.count >= timeoutCap {
                limitedBy = limitedBy ?? "timeout"
                break
            }
            // A pending listing's offer is read before it is decided: one call on its own bucket,
            // bounded by its own room only (no daily quota; every pending listing needs one, so
            // once one does not fit none does). "Only free listings" is about quota calls.
            let offerRead: Int64 = listing.offerPending ? 1 : 0
            if offerRead > 0, let room = offerCalls, offerRead > room {
                limitedBy = limitedBy ?? "timeout"
                onlyFree = true
                continue
            }
            if let counter, rank(listing).0 != 0, needsRead(listing) {
                let adds = counter.adding(listing).filter { $0.value > 0 }
                if let over = adds.sorted(by: { $0.key < $1.key }).first(where: { key, calls in left[key].map { calls > $0 } ?? false }) {
                    limitedBy = limitedBy ?? "\(over.key.provider)/\(over.key.api) quota (\(remaining[over.key] ?? 0) calls left)"
                    onlyFree = true
                    continue
                }
                let calls = adds.values.reduce(0, +)
                if let room = timeoutCalls, calls > room {
                    limitedBy = limitedBy ?? "timeout"
                    onlyFree = true
                    continue
                }
                if onlyFree && !adds.isEmpty { continue }
                counter.take(listing)
                timeoutCalls? -= calls
                for (key, calls) in adds {
                    left[key]? -= calls
                    result.planned[key, default: 0] += calls
                }
            }
            offerCalls? -= offerRead
            result.offerReads += offerRead
            taken.append(listing)
        }
        result.selected = taken.sorted { $0.sku < $1.sku }
        if timeoutCalls != nil { result.timeoutListings = taken.count }
        result.limitedBy = limitedBy
        return result
    }

    /// "checked N of M listings; K carried to the next run; oldest unchecked: D nights" over the
    /// sweep's snapshot and decisions (a listing is checked when it has a decision), counted
    /// in the ledger (`RepricingLedger.coverageCounts`).
    func coverageSummary(sweep: Int64, marketplaces: [MarketplaceName]) -> String? {
        var total = 0, checked = 0, never = 0
        var oldest: Int64?
        for marketplace in marketplaces {
            guard let counts = try? ledger.coverageCounts(sweep: sweep, marketplace: marketplace) else { return nil }
            total += counts.listings
            checked += counts.checked
            never += counts.neverChecked
            if let o = counts.oldestUnchecked { oldest = Swift.min(oldest ?? o, o) }
        }
        let carried = total - checked
        var text = "checked \(checked) of \(total) listings; \(carried) carried to the next run"
        if never > 0 {
            text += "; oldest unchecked: never checked (\(never))"
        } else if let oldest {
            let nights = Swift.max(0, (clock.wallMilliseconds() - oldest) / 86_400_000)
            text += "; oldest unchecked: \(nights) night\(nights == 1 ? "" : "s")"
        }
        return text
    }

    /// A decide task's key: `decide:<marketplace>:<SKU>` for a listing alone,
    /// `decide:<marketplace>:group-<h>` for listings read together and
    /// `decide:<marketplace>:refresh-<h>` for the remembered-ids task, where `<h>` is the 64-bit
    /// FNV-1a hash of the SKUs (in order, each followed by a newline) in 16 hex digits: the same
    /// listings give the same key in every process, other listings another key.
    static func decideKey(marketplace: MarketplaceName, skus: [String], refresh: Bool) -> String {
        if !refresh, skus.count == 1 { return "decide:\(marketplace.rawValue):\(skus[0])" }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for sku in skus {
            for byte in sku.utf8 + [0x0A] {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01B3
            }
        }
        let hex = String(hash, radix: 16)
        return "decide:\(marketplace.rawValue):\(refresh ? "refresh" : "group")-\(String(repeating: "0", count: 16 - hex.count))\(hex)"
    }

    /// The apply tasks: every decision with a new price, by marketplace and SKU, cut into batches.
    /// Decisions already applied stay in their batch, so a resumed sweep cuts the same batches.
    /// A marketplace in `bulk` is cut into submissions of that size instead
    /// (`apply:<marketplace>:bulk-<n>`, agent `apply-bulk`).
    static func batches(of decisions: [PricingDecision], size: Int, bulk: [MarketplaceName: Int] = [:]) -> [PlannedTask] {
        let changing = decisions.filter { [.planned, .sending, .applied, .failed].contains($0.state) }
        var tasks: [PlannedTask] = []
        for (marketplace, group) in Dictionary(grouping: changing, by: \.marketplace).sorted(by: { $0.key < $1.key }) {
            let skus = group.map(\.sku).sorted()
            let step = bulk[marketplace] ?? size
            for (index, start) in stride(from: 0, to: skus.count, by: step).enumerated() {
                let batch = skus[start..<min(start + step, skus.count)]
                tasks.append(PlannedTask(key: "apply:\(marketplace.rawValue):\(bulk[marketplace] == nil ? "" : "bulk-")\(index + 1)",
                                         agent: bulk[marketplace] == nil ? "apply" : "apply-bulk",
                                         input: ListingsInput(marketplace: marketplace, skus: Array(batch))))
            }
        }
        return tasks
    }

    public func agent(named name: String) -> (any Agent)? {
        switch name {
        case "listings": return ListingsReader(plan: self)
        case "costs": return CostReader(plan: self)
        case "plan": return PlanRecorder()
        case "decide": return PriceDecider(plan: self)
        case "apply": return PriceApplier(plan: self)
        case "apply-bulk": return PriceApplier(plan: self, bulk: true)
        default: return nil
        }
    }

    public func summarize(_ tasks: [TaskInfo]) -> String {
        let planned = tasks.contains { $0.key.hasPrefix("plan:") }
        guard let runID = tasks.first?.runID, let sweep = try? ledger.sweepID(ofRun: runID),
              let byState = try? ledger.decisionStates(sweep: sweep), !byState.isEmpty || planned else {
            let failed = tasks.filter { $0.status == .failed }.count
            return "\(tasks.count) task\(tasks.count == 1 ? "" : "s"), \(failed) failed, no decisions"
        }
        let decided = byState.values.reduce(0, +)
        let order: [PricingDecision.State] = [.applied, .failed, .sending, .planned, .dryRun, .blocked, .hold]
        let parts = order.compactMap { state in byState[state].map { "\($0) \(state.rawValue)" } }
        let marketplaces = tasks.compactMap { $0.key.hasPrefix("listings:") ? MarketplaceName(rawValue: String($0.key.dropFirst(9))) : nil }
        var coverage = coverageSummary(sweep: sweep, marketplaces: marketplaces)
        // What bounded each marketplace's part (the plan tasks' records), each bound once.
        var bounds: [String] = []
        for task in tasks where task.key.hasPrefix("plan:") {
            // Summing up is best-effort: an unreadable record leaves its bound out of the line.
            if let bound = (try? task.result(as: SweepPlanResult.self))??.limitedBy, !bound.isEmpty, !bounds.contains(bound) {
                bounds.append(bound)
            }
        }
        if !bounds.isEmpty, coverage != nil { coverage! += "; limited by " + bounds.joined(separator: ", ") }
        return "\(decided) listings decided" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", "))
            + (coverage.map { "; " + $0 } ?? "")
    }

    func marketplace(_ name: String) throws -> any Marketplace {
        try MarketplaceClients(clients: marketplaces, unavailable: unavailable).client(name)
    }

    // MARK: Agents

    struct ListingsReader: Agent {
        let plan: RepricingSweepPlan
        var name: String { "listings" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let marketplace = try plan.marketplace(try task.input(as: MarketplaceInput.self).marketplace.rawValue)
            // A channel reading offers one SKU a call (eBay) reads only those it remembers here;
            // the rest are pending until a decide task reads them (`OfferDeferringMarketplace`).
            let deferring = marketplace as? any OfferDeferringMarketplace
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            var count = 0, pending = 0
            if let deferring {
                // Written page by page as read, never held whole: the snapshot emptied first,
                // so a retried read starts it over.
                try plan.ledger.saveSweepListings([], sweep: sweep, marketplace: marketplace.name)
                try await deferring.sweepListingPages { page in
                    try plan.ledger.appendSweepListings(page, sweep: sweep, marketplace: marketplace.name)
                    count += page.count
                    pending += page.filter(\.offerPending).count
                }
            } else {
                let listings = try await marketplace.activeListings()
                try plan.ledger.saveSweepListings(listings, sweep: sweep, marketplace: marketplace.name)
                count = listings.count
            }
            return TaskOutput(result: ["listings": count] as [String: Int],
                              summary: "\(count) active listings" + (pending == 0 ? "" : " (\(pending) with their offer still to read)"))
        }
    }

    struct CostReader: Agent {
        let plan: RepricingSweepPlan
        var name: String { "costs" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let name = try task.input(as: MarketplaceInput.self).marketplace
            guard let source = plan.costSources[name] else {
                throw TaskFailure.permanent("cost_source \(name.rawValue) cannot give unit costs (only a configured Shopify store can)")
            }
            let costs = try await source.unitCosts()
            try plan.ledger.saveUnitCosts(costs, source: name.rawValue, at: plan.clock.wallMilliseconds())
            return TaskOutput(result: ["costs": costs.count] as [String: Int], summary: "\(costs.count) unit costs from \(name.rawValue)")
        }
    }

    /// Records and journals (event `sweep-plan`) how one marketplace's part of the run was
    /// sized: listings taken of the snapshot, the bound that stopped it, the quota calls planned
    /// and left, the timeout's room. Its result keeps `limited_by` for the run's summary.
    struct PlanRecorder: Agent {
        var name: String { "plan" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let record = try task.input(as: SweepPlanRecord.self)
            var message = "\(record.marketplace.rawValue): checking \(record.selected) of \(record.listings) listings"
            if !record.limitedBy.isEmpty { message += "; limited by \(record.limitedBy)" }
            let calls = record.quotaCalls.map { "\($0.quota) \($0.planned)" + ($0.left.map { " of \($0) left" } ?? "") }
            if !calls.isEmpty { message += "; quota calls planned: " + calls.joined(separator: ", ") }
            if let t = record.timeout {
                message += "; timeout left \(t.timeout): \(t.requests) \(t.operation) requests "
                    + "(\(t.listings) listings) in \(RepricingSweepPlan.competitionShareOfTimeout)%"
            }
            if let o = record.offerReads {
                message += "; offers to read first: \(o.planned) \(o.operation)" + (o.room.map { " of \($0) that fit" } ?? "")
            }
            var metadata: Logger.Metadata = ["event": "sweep-plan"]
            for (key, value) in record.journalFields { metadata[key] = "\(value)" }
            context.logger.info("\(message)", metadata: metadata)
            return TaskOutput(result: SweepPlanResult(limitedBy: record.limitedBy, selected: record.selected, listings: record.listings),
                              summary: message)
        }
    }

    struct PriceDecider: Agent {
        let plan: RepricingSweepPlan
        var name: String { "decide" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let input = try task.input(as: ListingsInput.self)
            let marketplace = try plan.marketplace(input.marketplace.rawValue)
            let p = plan.parameters
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            var listings: [MarketplaceListing] = [], costs: [String: Money] = [:]
            for sku in input.skus {
                guard let listing = try plan.ledger.sweepListing(sweep: sweep, marketplace: marketplace.name, sku: sku) else {
                    throw TaskFailure.permanent("listing \(sku) is not in the sweep's snapshot")
                }
                listings.append(listing)
                if let cost = try plan.ledger.unitCost(sku: sku) { costs[sku] = cost }
            }
            // Pending listings (their offer not known when the listings were read): their offers
            // first, written into the snapshot. A SKU without a published offer is not an active
            // listing: it leaves the snapshot undecided, and its coverage is stamped so it waits
            // its turn like a checked listing instead of leading every run.
            let pending = listings.filter(\.offerPending)
            if !pending.isEmpty {
                guard let deferring = marketplace as? any OfferDeferringMarketplace else {
                    throw TaskFailure.permanent("\(marketplace.name.rawValue) has listings without an offer id but cannot read offers")
                }
                let completed = try await deferring.completeListings(pending)
                guard completed.count == pending.count else {
                    throw TaskFailure.permanent("\(marketplace.name.rawValue) completed \(completed.count) of \(pending.count) listings")
                }
                var bySKU: [String: MarketplaceListing] = [:], withoutOffer: [String] = []
                for (listing, complete) in zip(pending, completed) {
                    if let complete { bySKU[listing.sku] = complete } else { withoutOffer.append(listing.sku) }
                }
                try plan.ledger.updateSweepListings(Array(bySKU.values), removing: withoutOffer, sweep: sweep, marketplace: marketplace.name)
                if !withoutOffer.isEmpty {
                    try plan.ledger.markChecked(marketplace: marketplace.name, skus: withoutOffer, sweep: sweep,
                                                at: plan.clock.wallMilliseconds())
                }
                listings = listings.compactMap { $0.offerPending ? bySKU[$0.sku] : $0 }
            }
            // Competition is read (in one batch where the channel has one) only for listings that
            // can be repriced: an out-of-stock listing holds whatever the competition, and one
            // without a cost has no floor, so no call is spent on either.
            let toRead = listings.filter { costs[$0.sku] != nil && $0.quantity > 0 }
            // Title-only offers count only when the matcher accepts them: without one, the searches
            // that find nothing else are not made.
            let options = CompetitionOptions(titleMatches: p.llmMatching && plan.matcher != nil, memory: plan.competitors,
                                             refresh: input.refresh ?? false, now: plan.clock.wallMilliseconds())
            let lookups = toRead.isEmpty ? [] : try await marketplace.competitions(for: toRead, options: options)
            guard lookups.count == toRead.count else {
                throw TaskFailure.permanent("\(marketplace.name.rawValue) gave \(lookups.count) competition results for \(toRead.count) listings")
            }
            let found = Dictionary(zip(toRead.map(\.sku), lookups), uniquingKeysWith: { a, _ in a })
            var records: [PricingDecision] = [], failures: [String] = []
            for listing in listings {
                var record: PricingDecision
                if let cost = costs[listing.sku] {
                    let competition: Competition
                    switch found[listing.sku] {
                    case .found(let read): competition = read
                    case .failed(let reason):
                        // That listing's part of the batch failed: it is left as it is, undecided.
                        failures.append("\(listing.sku): \(reason)")
                        continue
                    case nil: competition = Competition(offers: [])
                    }
                    let fees = plan.fees[marketplace.name] ?? MarketplaceFees(percent: Percent(partsPerMillion: 0), fixed: .zero(listing.price.currency))
                    let accepted = try await acceptedTitleMatches(listing, competition, p)
                    record = Repricer.decide(listing: listing, cost: cost, shippingCost: p.shippingCost ?? .zero(listing.price.currency),
                                                   fees: fees, parameters: p, competition: competition, acceptedTitleMatches: accepted)
                    if p.dryRun, record.state == .planned { record.state = .dryRun }
                } else {
                    // Never reprice without a floor, and the floor needs the cost.
                    record = PricingDecision(
                        sku: listing.sku, marketplace: marketplace.name, listingID: listing.listingID, oldPrice: listing.price, newPrice: nil,
                        floor: nil, ceiling: nil, lowestCompetitorLanded: nil, buyBox: nil, offersConsidered: 0, offersExcluded: [:],
                        strategy: p.strategy, reason: .noCost,
                        explanation: "no unit cost is known for \(listing.sku), so there is no floor; set cost_source or import costs")
                }
                try await plan.ledger.saveDecision(record, sweep: sweep)
                records.append(record)
            }
            try plan.ledger.markChecked(marketplace: marketplace.name, skus: records.map(\.sku), sweep: sweep,
                                        at: plan.clock.wallMilliseconds())
            if !failures.isEmpty {
                context.logger.warning("\(failures.count) of \(listings.count) listings' competition could not be read",
                                       metadata: ["event": "competition-unreadable", "marketplace": "\(marketplace.name.rawValue)"])
            }
            if records.isEmpty && !failures.isEmpty {
                throw TaskFailure.permanent("no competition could be read: " + failures.joined(separator: "; "))
            }
            if listings.count == 1, let record = records.first {
                return TaskOutput(result: ListingDecided(state: record.state, reason: record.reason, oldMicros: record.oldPrice.micros,
                                                         newMicros: record.newPrice?.micros),
                                  summary: record.explanation)
            }
            let changing = records.filter { $0.newPrice != nil }.count
            let unread = failures.isEmpty ? "" : "; not decided: " + failures.joined(separator: "; ")
            return TaskOutput(result: GroupDecided(decided: records.count, changing: changing, unread: failures.count,
                                                   competitionReads: toRead.count),
                              summary: "\(records.count) of \(listings.count) listings decided, \(changing) changing\(unread)")
        }

        /// The title-only offers the matcher judges the same product, with confidence: only
        /// those that could count otherwise (not ours, same condition, enough feedback) are
        /// asked about, so no model is paid for an offer the filter would drop anyway.
        func acceptedTitleMatches(_ listing: MarketplaceListing, _ competition: Competition,
                                  _ p: RepricingSweep.Parameters) async throws -> Set<String> {
            guard p.llmMatching, let matcher = plan.matcher else { return [] }
            var accepted: Set<String> = []
            for offer in competition.offers where !offer.matchedByIdentifier && !offer.isOurs && offer.condition == listing.condition {
                guard let feedback = offer.sellerFeedback, feedback >= p.minSellerFeedback else { continue }
                let match = try await matcher.judge(listing, offer)
                if match.sameProduct && match.confidencePerMille >= RepricingSweepPlan.minimumMatchConfidence { accepted.insert(offer.offerID) }
            }
            return accepted
        }
    }

    /// A confident "same product" from the matcher is needed before a title-only offer counts.
    static let minimumMatchConfidence = 800

    /// Sends one batch of planned changes. With `bulk` (agent `apply-bulk`), the batch goes as
    /// one bulk submission of a `BulkApplyingMarketplace` (Amazon: one JSON_LISTINGS_FEED);
    /// its id is written on every decision in it (`BulkMarker`, still `sending`) before the
    /// outcome is waited for, so a resumed run waits for that submission instead of sending
    /// again. Decisions already in a pending submission are resolved from it, whatever the
    /// batch's agent.
    struct PriceApplier: Agent {
        let plan: RepricingSweepPlan
        var bulk = false
        var name: String { bulk ? "apply-bulk" : "apply" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let input = try task.input(as: ListingsInput.self)
            let marketplace = try plan.marketplace(input.marketplace.rawValue)
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            let decisions = try plan.ledger.decisions(sweep: sweep, marketplace: marketplace.name, skus: input.skus)
            var toSend = decisions.filter { $0.state == .planned }
            var reconciled = 0
            var tally = Tally()
            // Changes in a bulk submission made before an interruption: its outcome, never a resend.
            let pending = decisions.filter { $0.state == .sending && BulkMarker.parse($0.apiResult) != nil }
            if !pending.isEmpty {
                guard let channel = marketplace as? any BulkApplyingMarketplace else {
                    throw TaskFailure.permanent("\(marketplace.name.rawValue) has decisions in a bulk submission but cannot read one")
                }
                let bySubmission = Dictionary(grouping: pending, by: { BulkMarker.parse($0.apiResult)!.submission })
                for (submission, group) in bySubmission.sorted(by: { $0.key < $1.key }) {
                    let items = group.map { BulkItem(change: Self.change($0), messageID: BulkMarker.parse($0.apiResult)!.messageID) }
                    let results = try await ended(group.map(\.sku), marketplace.name, sweep) {
                        try await channel.bulkResults(submission: submission, items: items)
                    }
                    try await record(results, marketplace.name, sweep, &tally)
                }
            }
            let unsure = decisions.filter { $0.state == .sending && BulkMarker.parse($0.apiResult) == nil }
            if !unsure.isEmpty {
                // A submission the channel accepted just before a crash, its id never recorded,
                // may not be live yet: wait (within the run's time left) for every submission
                // made since the sweep began to end before the live prices are read.
                if let channel = marketplace as? any BulkApplyingMarketplace {
                    let now = plan.clock.wallMilliseconds()
                    let since = try plan.ledger.runStartedAt(runID: sweep) ?? plan.ledger.runStartedAt(runID: context.runID) ?? now
                    let started = try plan.ledger.runStartedAt(runID: context.runID) ?? now
                    let left = context.job.timeout.milliseconds - max(0, now - started)
                    let waited = try await channel.settleSubmissions(createdSince: since, within: TimeSpan(milliseconds: max(0, left)))
                    if !waited.isEmpty {
                        context.logger.notice("waited for \(marketplace.name.rawValue) submissions \(waited.joined(separator: ", ")) to end before checking live prices",
                                              metadata: ["event": "bulk-settled", "marketplace": "\(marketplace.name.rawValue)"])
                    }
                }
                // A call may have landed before a crash: the live price says whether it did.
                let live = Dictionary(try await marketplace.activeListings().map { ($0.sku, $0.price.micros) }, uniquingKeysWith: { a, _ in a })
                for decision in unsure {
                    if let price = live[decision.sku], price == decision.newPrice?.micros {
                        try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace.name, skus: [decision.sku], state: .applied,
                                                      results: [decision.sku: "already live (checked after an interrupted call)"])
                        reconciled += 1
                    } else {
                        toSend.append(decision)
                    }
                }
            }
            guard !toSend.isEmpty else {
                return output(sent: tally.sent, applied: tally.applied, failed: tally.failed, reconciled: reconciled,
                              summary: tally.sent == 0 ? "nothing left to send" : nil)
            }
            let changes = toSend.map(Self.change)
            // The intent first: after a crash from here on, the live price is checked before resending.
            try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace.name, skus: toSend.map(\.sku), state: .sending, results: [:])
            let results: [ListingChangeResult]
            if bulk, let channel = marketplace as? any BulkApplyingMarketplace {
                let ledger = plan.ledger, name = marketplace.name, skus = changes.map(\.sku)
                results = try await ended(skus, name, sweep) {
                    try await channel.applyInBulk(changes) { submission, messageIDs in
                        // Before waiting for the outcome: a resumed run asks for this submission's.
                        let inIt = messageIDs.filter { (1...skus.count).contains($0) }
                        let markers = Dictionary(inIt.map { (skus[$0 - 1], BulkMarker.text(submission: submission, messageID: $0)) },
                                                 uniquingKeysWith: { a, _ in a })
                        try await ledger.markDecisions(sweep: sweep, marketplace: name, skus: inIt.map { skus[$0 - 1] }, state: .sending,
                                                       results: markers)
                    }
                }
            } else {
                results = try await marketplace.apply(changes)
            }
            try await record(results, marketplace.name, sweep, &tally)
            if tally.failed > 0 {
                context.logger.warning("\(tally.failed) of \(tally.sent) price changes refused by \(marketplace.name.rawValue)",
                                       metadata: ["event": "price-update-refused", "marketplace": "\(marketplace.name.rawValue)"])
            }
            return output(sent: tally.sent, applied: tally.applied, failed: tally.failed, reconciled: reconciled, summary: nil)
        }

        struct Tally {
            var sent = 0, applied = 0, failed = 0
        }

        static func change(_ d: PricingDecision) -> ListingChange {
            ListingChange(sku: d.sku, listingID: d.listingID,
                          price: d.resultingPrice)
        }

        /// Runs a bulk call; when its submission ended without results, its decisions stay
        /// `sending` with the reason (no longer naming the submission, so a resumed run checks
        /// their live prices), and the error is rethrown.
        func ended(_ skus: [String], _ marketplace: MarketplaceName, _ sweep: Int64,
                   _ body: () async throws -> [ListingChangeResult]) async throws -> [ListingChangeResult] {
            do {
                return try await body()
            } catch let error as BulkSubmissionEnded {
                let text = "\(error.reason); nothing counted as applied, the live price is checked before sending again"
                try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace, skus: skus, state: .sending,
                                                    results: Dictionary(uniqueKeysWithValues: skus.map { ($0, text) }))
                throw error
            }
        }

        /// Marks each result's decision applied or failed, with the API's result.
        func record(_ results: [ListingChangeResult], _ marketplace: MarketplaceName, _ sweep: Int64, _ tally: inout Tally) async throws {
            var applied: [String] = [], failed: [String] = [], messages: [String: String] = [:]
            for result in results {
                switch result.outcome {
                case .applied:
                    applied.append(result.sku)
                    messages[result.sku] = "applied"
                case .failed(let message):
                    failed.append(result.sku)
                    messages[result.sku] = message
                }
            }
            try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace, skus: applied, state: .applied, results: messages)
            try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace, skus: failed, state: .failed, results: messages)
            tally.sent += results.count
            tally.applied += applied.count
            tally.failed += failed.count
        }

        func output(sent: Int, applied: Int, failed: Int, reconciled: Int, summary: String?) -> TaskOutput {
            TaskOutput(result: ApplyTally(sent: sent, applied: applied, failed: failed, reconciled: reconciled, bulk: bulk ? true : nil),
                       summary: summary ?? "\(applied) of \(sent) applied")
        }
    }
}
