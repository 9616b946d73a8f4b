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
///    listings the marketplace's `competitionGrouper` puts together: 20 Amazon SKUs per
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

    /// In a cluster on a shared ledger, every task but the plan record runs on whichever node
    /// claims it. Each works from its input and the shared ledger alone: `listings` writes the
    /// sweep's snapshot there, `costs` the unit costs, `decide` reads the snapshot and writes
    /// its decisions (deciding again sends nothing), `apply` and `apply-bulk` read their
    /// decisions and write each intent (`sending`, a bulk submission's id) before the call, so
    /// a node that claims one after its holder died checks the live price, or waits for the
    /// submission, before sending again. The `plan` task only journals how the run was sized,
    /// which belongs in the run's own node's journal.
    public var distributedAgents: Set<String> { ["listings", "costs", "decide", "apply", "apply-bulk"] }

    /// The decide wave as it waits to be planned: per marketplace, its `plan` task (with a
    /// quota) and how many decide tasks its cut has. The cut itself is in the ledger
    /// (`RepricingLedger.cutDecideWave`), so the wave holds no SKU: a task's `PlannedTask` is
    /// built from the ledger's rows when the coordinator asks for its page.
    struct DecideWave: Sendable {
        struct Part: Sendable {
            var marketplace: MarketplaceName
            var plan: PlannedTask?
            /// The cut's tasks (`cutDecideWave`): its refresh tasks first, then the others.
            var tasks: Int
            /// How many of `tasks` are refresh tasks: each stays a decide task of its own.
            var refreshTasks: Int = 0
            /// How many of the other cut tasks (competition groups) one decide task takes, in
            /// cut order (the channel's `decideTaskGroups`).
            var pack: Int = 1

            /// The decide tasks the cut's tasks make.
            var decideTasks: Int {
                let others = tasks - refreshTasks
                return refreshTasks + (others + pack - 1) / pack
            }

            /// The cut's tasks decide task `unit` takes.
            func cutTasks(ofUnit unit: Int) -> Range<Int> {
                guard unit >= refreshTasks else { return unit..<unit + 1 }
                let start = refreshTasks + (unit - refreshTasks) * pack
                return start..<Swift.min(tasks, start + pack)
            }
        }

        var parts: [Part] = []

        var count: Int { parts.reduce(0) { $0 + ($1.plan == nil ? 0 : 1) + $1.decideTasks } }

        /// The wave's tasks from `offset` on, at most `limit`: each part's `plan` task, then its
        /// decide tasks read from the cut (a refresh task alone, the others `pack` cut tasks each,
        /// their SKUs one after the other).
        func page(_ offset: Int, _ limit: Int, sweep: Int64, ledger: any RepricingLedger) async throws -> [PlannedTask] {
            let total = count
            let start = Swift.min(Swift.max(0, offset), total)
            let end = Swift.max(0, limit) >= total - start ? total : start + Swift.max(0, limit)
            var tasks: [PlannedTask] = []
            var base = 0
            for part in parts where base < end {
                if let plan = part.plan {
                    if base >= start { tasks.append(plan) }
                    base += 1
                }
                let units = part.decideTasks
                let low = Swift.max(start, base), high = Swift.min(end, base + units)
                if low < high {
                    let first = part.cutTasks(ofUnit: low - base).lowerBound, last = part.cutTasks(ofUnit: high - base - 1).upperBound
                    let cut = try await ledger.decideCutTasks(sweep: sweep, marketplace: part.marketplace, tasks: first..<last)
                    // The cut is the sweep's alone; fewer tasks than it counted means it was replaced under the wave.
                    guard cut.count == last - first else {
                        throw TaskFailure.permanent("the decide wave of \(part.marketplace.rawValue) changed in the ledger while it ran")
                    }
                    for unit in (low - base)..<(high - base) {
                        let range = part.cutTasks(ofUnit: unit)
                        let taken = cut[(range.lowerBound - first)..<(range.upperBound - first)]
                        let refresh = taken.first?.refresh ?? false
                        let skus = taken.flatMap(\.skus)
                        tasks.append(PlannedTask(key: RepricingSweepPlan.decideKey(marketplace: part.marketplace, skus: skus, refresh: refresh),
                                                 agent: "decide",
                                                 input: ListingsInput(marketplace: part.marketplace, skus: skus, refresh: refresh ? true : nil),
                                                 holds: skus.count))
                    }
                }
                base += units
            }
            return tasks
        }
    }

    /// The most listings the decide tasks in flight hold at once (``PlannedWave/holdLimit``): with
    /// the job's `concurrency` of 64 and refresh tasks of 500 listings, eight refresh tasks run
    /// side by side (each already sends up to `min(64, pool_size)` getItems calls at once), not
    /// 64 holding 32,000 listings and their competition. A task larger than this runs alone.
    static let listingsInFlight = 4_000

    public func followUpWave(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> PlannedWave {
        let p = parameters
        let sweep = try ledger.sweepID(ofRun: runID)
        if !tasks.contains(where: { $0.key.hasPrefix("decide:") || $0.key.hasPrefix("plan:") }) {
            // Without every listing and the costs, deciding on half the inputs is worse than not deciding.
            guard !tasks.contains(where: { $0.status != .succeeded }) else { return .empty }
            let next = try await decideWave(job: job, runID: runID, sweep: sweep)
            // Nothing to plan (a resumed sweep whose chain decided every listing, without a
            // quota's plan task): go on to apply.
            if next.count > 0 {
                // The wave's tasks are built page by page from the cut in the ledger.
                let ledger = self.ledger
                return PlannedWave(count: next.count, holdLimit: Self.listingsInFlight) { offset, limit in
                    try await next.page(offset, limit, sweep: sweep, ledger: ledger)
                }
            }
        }
        // The decide wave is over (or had nothing to decide): its cut is not needed any more.
        try await ledger.clearDecideCut(sweep: sweep, marketplace: nil)
        guard !tasks.contains(where: { $0.key.hasPrefix("apply:") }), !p.dryRun else { return .empty }
        // Only the decisions with a change are read (a sweep's holds are counted, not read), a
        // page at a time: what the wave keeps of each is its SKU.
        var changes = Changes(drop: p.breakerDrop)
        try ledger.forEachChangingDecision(sweep: sweep) { changes.add($0) }
        if let trip = changes.breaker.trip(evaluated: try ledger.decisionCount(sweep: sweep), share: p.breakerShare) {
            for (marketplace, skus) in changes.planned.sorted(by: { $0.key < $1.key }) {
                try await ledger.markDecisions(sweep: sweep, marketplace: marketplace, skus: skus, state: .blocked, results: [:])
            }
            throw TaskFailure.permanent("\(trip); nothing was applied")
        }
        return PlannedWave(Self.batches(of: changes.batched, size: batchSize, bulk: try bulkMarketplaces(changes, job: job, runID: runID)))
    }

    /// What the apply wave's plan keeps of a sweep's decisions with a change, told one at a
    /// time: the circuit breaker's tally, and per marketplace the SKUs to batch (planned,
    /// sending, applied or failed, in the order told), the planned SKUs (blocked if the breaker
    /// trips), how many are still to send (planned or sending) and whether one is in a bulk
    /// submission still pending.
    struct Changes {
        var breaker: CircuitBreaker.Tally
        var batched: [MarketplaceName: [String]] = [:]
        var planned: [MarketplaceName: [String]] = [:]
        var toSend: [MarketplaceName: Int] = [:]
        var pendingBulk: Set<MarketplaceName> = []

        init(drop: Percent) {
            breaker = CircuitBreaker.Tally(drop: drop)
        }

        mutating func add(_ decision: PricingDecision) {
            breaker.add(decision)
            let state = decision.state, marketplace = decision.marketplace
            if [.planned, .sending, .applied, .failed].contains(state) { batched[marketplace, default: []].append(decision.sku) }
            if state == .planned { planned[marketplace, default: []].append(decision.sku) }
            if state == .planned || state == .sending { toSend[marketplace, default: 0] += 1 }
            if state == .sending && BulkMarker.parse(decision.apiResult) != nil { pendingBulk.insert(marketplace) }
        }
    }

    /// The decide wave: per marketplace, its `plan` task (with a quota) and its decide tasks,
    /// cut in the ledger. The listings taken are told the channel's `competitionGrouper` page by
    /// page, and each page's SKUs with their group keys are added to the sweep's cut
    /// (`RepricingLedger.addToDecideCut`); the ledger then cuts them into tasks
    /// (`cutDecideWave`). With a quota the listings are walked in coverage order
    /// (`quotaSizedCut`), without one the snapshot is paged through
    /// (`forEachSelectedWithoutQuota`); either way no listing, SKU or group is held past its page.
    func decideWave(job: JobDefinition, runID: Int64, sweep: Int64) async throws -> DecideWave {
        let p = parameters
        var next = DecideWave()
        let left = quota?.remaining(for: job.name) ?? [:]
        let now = clock.wallMilliseconds()
        let decided = try ledger.decidedListings(sweep: sweep)
        // What is left of the job's timeout now that the listings and costs are read.
        let started = try ledger.runStartedAt(runID: runID) ?? now
        let timeLeft = TimeSpan(milliseconds: Swift.max(0, job.timeout.milliseconds - Swift.max(0, now - started)))
        for marketplace in p.marketplaces.map(\.value) {
            let channel = try? self.marketplace(marketplace.rawValue)
            let options = CompetitionOptions(titleMatches: p.llmMatching && matcher != nil, memory: competitors.map(PlanningSearchMemo.init),
                                             refreshSince: p.researchDays == 0 ? nil : now - Int64(p.researchDays) * 86_400_000, now: now)
            // Listings whose competition is read together are decided by one task; alone,
            // a listing's task is keyed by its SKU. A resumed sweep plans only the listings
            // its chain has not decided yet: its groups can differ from the interrupted run's
            // (competitor ids remembered since then move GTINs to the refresh task), so a
            // group's key names its listings (`Self.decideKey`), and a finished task of the
            // chain is reused only for exactly the same listings.
            let grouper = channel?.competitionGrouper(options: options) ?? SingleListingGrouper()
            func undecided(_ listing: MarketplaceListing) -> Bool {
                decided.isEmpty || !decided.contains("\(marketplace.rawValue)/\(listing.sku)")
            }
            try await ledger.clearDecideCut(sweep: sweep, marketplace: marketplace)
            var plan: PlannedTask?
            if quota != nil {
                let counter = channel?.competitionCallCounter(options: options)
                let capacity = try await quotaSizedCut(sweep: sweep, marketplace: marketplace, grouper: grouper, undecided: undecided) { total in
                    guard let channel else { return CapacityWalk(total: total, max: p.maxListingsPerRun) }
                    return CapacityWalk(total: total, max: p.maxListingsPerRun, rate: channel.competitionReadRate, timeout: timeLeft,
                                        counter: counter, offerRate: (channel as? any OfferDeferringMarketplace)?.offerReadRate,
                                        remaining: left)
                }
                plan = PlannedTask(key: "plan:\(marketplace.rawValue)", agent: "plan", input: capacity.record(marketplace: marketplace))
            } else {
                try await forEachSelectedWithoutQuota(sweep: sweep, marketplace: marketplace) { page, selected in
                    try grouper.prepare(page)
                    let taken = selected.filter(undecided).map { DecideCutEntry(sku: $0.sku, key: grouper.key(for: $0)) }
                    try await ledger.addToDecideCut(taken, sweep: sweep, marketplace: marketplace)
                }
            }
            let tasks = try await ledger.cutDecideWave(sweep: sweep, marketplace: marketplace)
            let groups = Swift.max(1, channel?.decideTaskGroups ?? 1)
            let refresh = groups > 1 ? try await refreshTaskCount(sweep: sweep, marketplace: marketplace, tasks: tasks) : 0
            next.parts.append(DecideWave.Part(marketplace: marketplace, plan: plan, tasks: tasks, refreshTasks: refresh,
                                              pack: Self.pack(groups, of: tasks - refresh, concurrency: job.concurrency)))
        }
        return next
    }

    /// How many of `groups` competition groups (the cut's tasks that are not refresh tasks) one
    /// decide task takes when the channel packs up to `channel` a task: as many as leave the
    /// job's `concurrency` tasks to run side by side, `channel` at most and 1 at least
    /// (⌊groups ÷ concurrency⌋), so a sweep of fewer than `channel` × `concurrency` groups is not
    /// made slower by packing.
    public static func pack(_ channel: Int, of groups: Int, concurrency: Int) -> Int {
        Swift.max(1, Swift.min(channel, groups / Swift.max(1, concurrency)))
    }

    /// How many of a cut's `tasks` are refresh tasks. They come first in the cut, so the first
    /// task that is not one is found by bisection, reading one task of the cut at a time.
    func refreshTaskCount(sweep: Int64, marketplace: MarketplaceName, tasks: Int) async throws -> Int {
        var low = 0, high = tasks  // the count is in low...high
        while low < high {
            let middle = (low + high) / 2
            guard let task = try await ledger.decideCutTasks(sweep: sweep, marketplace: marketplace, tasks: middle..<middle + 1).first else {
                throw TaskFailure.permanent("the decide wave of \(marketplace.rawValue) changed in the ledger while it was planned")
            }
            if task.refresh { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// With a quota: a `CapacityWalk` (made by `walk` for the snapshot's size) over the snapshot
    /// in coverage order, the SKUs read in that order from the ledger
    /// (`sweepSKUsInCoverageOrder`, the first `sweepCheckedCount` of them those this sweep
    /// checked already) and their listings and unit costs `snapshotPageSize` at a
    /// time (`decideInputs`; a listing needs a read when it has a cost and a quantity), until a
    /// count bound stops it. The listings taken that are `undecided` are added to the sweep's
    /// decide cut page by page with their group keys, a refresh group with a limit cut in
    /// coverage order (`RefreshGroupCut`, so the walk's counter pools each refresh task's calls
    /// as the task makes them); no listing is kept past its page. The walk's outcome is
    /// returned for the `plan` task.
    func quotaSizedCut(sweep: Int64, marketplace: MarketplaceName, grouper: any CompetitionGrouper,
                       undecided: (MarketplaceListing) -> Bool, walk makeWalk: (Int) -> CapacityWalk) async throws -> Capacity {
        let order = try ledger.sweepSKUsInCoverageOrder(sweep: sweep, marketplace: marketplace, limit: Int.max)
        // The listings this sweep already checked come first in coverage order: no coverage map is read.
        let checkedByThisSweep = try ledger.sweepCheckedCount(sweep: sweep, marketplace: marketplace)
        var walk = makeWalk(order.count)
        // Refresh groups are cut here, in coverage order, so the counter pools per refresh task.
        var cut = RefreshGroupCut()
        var start = 0
        while start < order.count, !walk.stopped {
            let page = Array(order[start..<Swift.min(order.count, start + Self.snapshotPageSize)])
            start += page.count
            let inputs = try await ledger.decideInputs(sweep: sweep, marketplace: marketplace, skus: page)
            // The grouper and the counter read what they need of this page (remembered searches).
            let listings = inputs.compactMap(\.listing)
            try grouper.prepare(listings)
            try walk.prepare(listings)
            var taken: [DecideCutEntry] = []
            for (offset, input) in inputs.enumerated() {
                guard let listing = input.listing else { continue }
                let key = grouper.key(for: listing), place = cut.place(key)
                if walk.visit(listing, checkedByThisSweep: start - page.count + offset < checkedByThisSweep,
                              needsRead: input.cost != nil && listing.quantity > 0, refreshGroup: place.ordinal), undecided(listing) {
                    taken.append(DecideCutEntry(sku: listing.sku, key: place.key))
                    cut.take(key)
                }
                if walk.stopped { break }
            }
            try await ledger.addToDecideCut(taken, sweep: sweep, marketplace: marketplace)
        }
        return walk.finish()
    }

    /// How many snapshot listings `forEachSelectedWithoutQuota` and `quotaSizedCut` read at a time.
    static let snapshotPageSize = 1_000

    /// Without a quota, `capacity` bounds a part by `max_listings_per_run` alone: every listing
    /// when the snapshot has no more, else the first `max` in coverage order. The same selection
    /// made in the ledger: the snapshot counted (`coverageCounts`), the `max` SKUs in coverage
    /// order read when it has more (`sweepSKUsInCoverageOrder`, SKUs only), and the snapshot
    /// read a page of `snapshotPageSize` at a time by SKU, each page handed to `body` with its
    /// selected listings (in SKU order); no listing is held past its page, and no coverage map
    /// of every listing is read.
    func forEachSelectedWithoutQuota(sweep: Int64, marketplace: MarketplaceName,
                                     _ body: (_ page: [MarketplaceListing], _ selected: [MarketplaceListing]) async throws -> Void) async throws {
        var chosen: Set<String>?
        if let max = parameters.maxListingsPerRun, try ledger.coverageCounts(sweep: sweep, marketplace: marketplace).listings > max {
            chosen = Set(try ledger.sweepSKUsInCoverageOrder(sweep: sweep, marketplace: marketplace, limit: max))
        }
        var after: String?
        while true {
            let page = try ledger.sweepListings(sweep: sweep, marketplace: marketplace, after: after, limit: Self.snapshotPageSize)
            try await body(page, chosen.map { chosen in page.filter { chosen.contains($0.sku) } } ?? page)
            guard page.count == Self.snapshotPageSize, let last = page.last else { break }
            after = last.sku
        }
    }

    /// The marketplaces whose changes go in bulk this run, with their submission size: those
    /// whose channel `prefersBulk` for the changes still to send (planned or sending) in the
    /// run's time left (the job's `timeout` less the time since the run started), and those
    /// with a change in a pending bulk submission (a resumed run waits for it in bulk again).
    func bulkMarketplaces(_ changes: Changes, job: JobDefinition, runID: Int64) throws -> [MarketplaceName: Int] {
        let timeLeft = try ledger.runStartedAt(runID: runID).map {
            TimeSpan(milliseconds: job.timeout.milliseconds - max(0, clock.wallMilliseconds() - $0))
        }
        var bulk: [MarketplaceName: Int] = [:]
        for name in changes.batched.keys {
            guard let channel = (try? marketplace(name.rawValue)) as? any BulkApplyingMarketplace else { continue }
            let toSend = changes.toSend[name] ?? 0
            if changes.pendingBulk.contains(name) || (toSend > 0 && channel.prefersBulk(changes: toSend, timeLeft: timeLeft)) {
                bulk[name] = max(1, channel.bulkLimit)
            }
        }
        return bulk
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

    /// The apply tasks: the SKUs of the decisions to apply (planned, sending, applied or failed;
    /// `Changes.batched`), by marketplace and SKU, cut into batches. Decisions already applied
    /// stay in their batch, so a resumed sweep cuts the same batches.
    /// A marketplace in `bulk` is cut into submissions of that size instead
    /// (`apply:<marketplace>:bulk-<n>`, agent `apply-bulk`).
    static func batches(of changing: [MarketplaceName: [String]], size: Int, bulk: [MarketplaceName: Int] = [:]) -> [PlannedTask] {
        var tasks: [PlannedTask] = []
        for (marketplace, group) in changing.sorted(by: { $0.key < $1.key }) {
            let skus = group.sorted()
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
}
