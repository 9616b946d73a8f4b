/// What a repricing sweep keeps in the ledger. A sweep is identified by its first run's id, so
/// a resumed run (a new run row) continues the same sweep's listings and decisions.
public protocol RepricingLedger: Sendable {
    /// The listings a sweep works on, as read at its start (replacing any saved for that marketplace).
    func saveSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws
    /// Adds listings to a sweep's snapshot (a page of a paged read, after `saveSweepListings`).
    func appendSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws
    func sweepListings(sweep: Int64, marketplace: MarketplaceName) throws -> [MarketplaceListing]
    func sweepListing(sweep: Int64, marketplace: MarketplaceName, sku: String) throws -> MarketplaceListing?
    /// Replaces these listings' rows of a sweep's snapshot (pending listings completed) and
    /// deletes the rows of the SKUs in `removing` (no published offer), in one transaction.
    func updateSweepListings(_ listings: [MarketplaceListing], removing: [String], sweep: Int64, marketplace: MarketplaceName) async throws
    /// Unit costs by SKU, from the configured cost source.
    func saveUnitCosts(_ costs: [String: Money], source: String, at: Int64) throws
    func unitCosts() throws -> [String: Money]
    func unitCost(sku: String) throws -> Money?
    /// Inserts or replaces the decision for (sweep, marketplace, sku).
    func saveDecision(_ decision: PricingDecision, sweep: Int64) async throws
    /// A decide task's inputs in one read: for each of `skus`, in their order, its listing in
    /// the sweep's snapshot (nil when absent) and its unit cost (nil when unknown). The default
    /// reads them one by one (`sweepListing`, `unitCost`).
    func decideInputs(sweep: Int64, marketplace: MarketplaceName, skus: [String]) async throws -> [DecideInput]
    /// `decideInputs` of those of `skus` the sweep has not decided on `marketplace`, in the order
    /// asked: what a decide task of several listings works on (retried or resumed, it leaves out
    /// what its earlier attempts decided). By default `decisions(sweep:marketplace:skus:)`'s SKUs
    /// left out of `decideInputs`.
    func undecidedInputs(sweep: Int64, marketplace: MarketplaceName, skus: [String]) async throws -> [DecideInput]
    /// A decide task's results in one write: each decision saved as `saveDecision` saves it, and
    /// their listings marked checked by `sweep` at `checkedAt` as `markChecked` marks them. The
    /// default does the two in turn. A ledger may leave it behind the task (`WriteBehind`), as
    /// it may `updateSweepListings`: committed before `WriteBehind.run` returns.
    func saveDecisions(_ decisions: [PricingDecision], sweep: Int64, checkedAt: Int64) async throws
    /// Every decision of a sweep, by marketplace then SKU.
    func decisions(sweep: Int64) throws -> [PricingDecision]
    /// The decisions of a sweep for these SKUs of one marketplace, by SKU.
    func decisions(sweep: Int64, marketplace: MarketplaceName, skus: [String]) throws -> [PricingDecision]
    /// Moves decisions to `state`, with the API's result for each SKU when given.
    func markDecisions(sweep: Int64, marketplace: MarketplaceName, skus: [String], state: PricingDecision.State,
                       results: [String: String]) async throws
    /// The sweep a run belongs to: the first run of its chain of resumes.
    func sweepID(ofRun runID: Int64) throws -> Int64
    /// When the run started (milliseconds since the epoch), nil when unknown: with the job's
    /// `timeout`, the time the run has left.
    func runStartedAt(runID: Int64) throws -> Int64?
    /// When each listing of `marketplace` was last checked (decided by a sweep), milliseconds
    /// since the epoch, and the sweep that checked it; listings never checked are absent.
    func coverage(marketplace: MarketplaceName) throws -> [String: ListingCoverage]
    /// Records that `sweep` checked these listings at `at`.
    func markChecked(marketplace: MarketplaceName, skus: [String], sweep: Int64, at: Int64) throws
    /// A page of the decisions of a sweep with a change (a new price, or planned, sending,
    /// applied or failed), by marketplace then SKU (their bytes): at most `limit` after the
    /// decision `after` (its marketplace and SKU; nil: from the first). What the circuit breaker
    /// and the apply wave read, a page at a time.
    func changingDecisions(sweep: Int64, after: DecisionKey?, limit: Int) throws -> [PricingDecision]
    /// How many decisions a sweep has.
    func decisionCount(sweep: Int64) throws -> Int
    /// How many decisions a sweep has in each state (states without any absent).
    func decisionStates(sweep: Int64) throws -> [PricingDecision.State: Int]
    /// `<marketplace>/<SKU>` of every listing a sweep has decided.
    func decidedListings(sweep: Int64) throws -> Set<String>
    /// One marketplace's snapshot of a sweep against its decisions and coverage, counted.
    func coverageCounts(sweep: Int64, marketplace: MarketplaceName) throws -> SweepCoverageCounts
    /// A page of a sweep's snapshot in the order `sweepListings(sweep:marketplace:)` gives it
    /// (by SKU): at most `limit` listings after the SKU `after` (nil: from the first). The
    /// default pages `sweepListings(sweep:marketplace:)`.
    func sweepListings(sweep: Int64, marketplace: MarketplaceName, after: String?, limit: Int) throws -> [MarketplaceListing]
    /// The SKUs of the first `limit` listings of a sweep's snapshot in coverage order: those
    /// this sweep checked (`coverage`'s sweep is this one), then those never checked, then the
    /// others by `last_checked`, oldest first; ties by SKU. The default reads
    /// `sweepListings(sweep:marketplace:)` and `coverage(marketplace:)`.
    func sweepSKUsInCoverageOrder(sweep: Int64, marketplace: MarketplaceName, limit: Int) throws -> [String]
    /// How many listings of a sweep's snapshot on `marketplace` this sweep last checked
    /// (`coverage`'s sweep is this one): the first that many of `sweepSKUsInCoverageOrder`.
    func sweepCheckedCount(sweep: Int64, marketplace: MarketplaceName) throws -> Int
    /// Deletes a sweep's decide cut on `marketplace` (nil: on every marketplace): before it is
    /// planned again, and once its decide wave is over.
    func clearDecideCut(sweep: Int64, marketplace: MarketplaceName?) async throws
    /// Adds listings taken into a sweep's decide wave on `marketplace` to its cut, each with the
    /// key of the competition group it joins (a page of them at a time; a SKU added again
    /// replaces its entry).
    func addToDecideCut(_ entries: [DecideCutEntry], sweep: Int64, marketplace: MarketplaceName) async throws
    /// Cuts the listings added into decide tasks, numbered from 0, exactly as
    /// `CompetitionGroupBuilder` cuts them when given them in SKU order: listings with equal
    /// keys share a task, `limit` at most (the first `limit` SKUs, then the next); a listing
    /// without a key is alone; the refresh tasks first, then the others, each in the order of
    /// its first SKU. Returns how many tasks there are.
    func cutDecideWave(sweep: Int64, marketplace: MarketplaceName) async throws -> Int
    /// The cut's tasks whose numbers are in `tasks`, in order, each with its SKUs in SKU order.
    func decideCutTasks(sweep: Int64, marketplace: MarketplaceName, tasks: Range<Int>) async throws -> [DecideCutTask]
}

/// A listing taken into a decide wave (``RepricingLedger/addToDecideCut(_:sweep:marketplace:)``)
/// and the competition group it joins (nil: alone).
public struct DecideCutEntry: Sendable, Hashable {
    public var sku: String
    public var key: CompetitionGroupKey?

    public init(sku: String, key: CompetitionGroupKey?) {
        (self.sku, self.key) = (sku, key)
    }
}

/// One decide task of a cut (``RepricingLedger/decideCutTasks(sweep:marketplace:tasks:)``).
public struct DecideCutTask: Sendable, Hashable {
    /// Its number in the marketplace's decide tasks.
    public var task: Int
    /// Its listings, in SKU order.
    public var skus: [String]
    /// Read from remembered searches (`CompetitionGroupKey.refresh`).
    public var refresh: Bool

    public init(task: Int, skus: [String], refresh: Bool) {
        (self.task, self.skus, self.refresh) = (task, skus, refresh)
    }
}

/// A sweep's listings on one marketplace: in its snapshot, decided by it, never checked by any
/// sweep (and not decided), and the oldest `last_checked` of those not decided.
public struct SweepCoverageCounts: Sendable, Hashable {
    public var listings: Int
    public var checked: Int
    public var neverChecked: Int
    public var oldestUnchecked: Int64?

    public init(listings: Int, checked: Int, neverChecked: Int, oldestUnchecked: Int64?) {
        self.listings = listings
        self.checked = checked
        self.neverChecked = neverChecked
        self.oldestUnchecked = oldestUnchecked
    }
}

/// A decision's place in a sweep: its marketplace and SKU.
public struct DecisionKey: Sendable, Hashable {
    public var marketplace: MarketplaceName
    public var sku: String

    public init(marketplace: MarketplaceName, sku: String) {
        (self.marketplace, self.sku) = (marketplace, sku)
    }
}

extension RepricingLedger {
    public func runStartedAt(runID: Int64) throws -> Int64? { nil }

    public func undecidedInputs(sweep: Int64, marketplace: MarketplaceName, skus: [String]) async throws -> [DecideInput] {
        let decided = Set(try decisions(sweep: sweep, marketplace: marketplace, skus: skus).map(\.sku))
        let left = decided.isEmpty ? skus : skus.filter { !decided.contains($0) }
        return left.isEmpty ? [] : try await decideInputs(sweep: sweep, marketplace: marketplace, skus: left)
    }

    /// Each decision of a sweep with a change, by marketplace then SKU, handed to `body` as
    /// `changingDecisions`' pages of `pageSize` are read: no more than a page is held at once.
    public func forEachChangingDecision(sweep: Int64, pageSize: Int = 1_000, _ body: (PricingDecision) throws -> Void) throws {
        let size = Swift.max(1, pageSize)
        var after: DecisionKey?
        while true {
            let page = try changingDecisions(sweep: sweep, after: after, limit: size)
            for decision in page { try body(decision) }
            guard page.count == size, let last = page.last else { return }
            after = DecisionKey(marketplace: last.marketplace, sku: last.sku)
        }
    }

    /// Every decision of a sweep with a change, by marketplace then SKU, read whole.
    public func changingDecisions(sweep: Int64) throws -> [PricingDecision] {
        var all: [PricingDecision] = []
        try forEachChangingDecision(sweep: sweep) { all.append($0) }
        return all
    }

    public func decideInputs(sweep: Int64, marketplace: MarketplaceName, skus: [String]) async throws -> [DecideInput] {
        try skus.map { sku in
            DecideInput(sku: sku, listing: try sweepListing(sweep: sweep, marketplace: marketplace, sku: sku), cost: try unitCost(sku: sku))
        }
    }

    public func saveDecisions(_ decisions: [PricingDecision], sweep: Int64, checkedAt: Int64) async throws {
        for decision in decisions { try await saveDecision(decision, sweep: sweep) }
        let byMarketplace = Dictionary(grouping: decisions, by: \.marketplace)
        for (marketplace, decided) in byMarketplace.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            try markChecked(marketplace: marketplace, skus: decided.map(\.sku), sweep: sweep, at: checkedAt)
        }
    }

    public func sweepListings(sweep: Int64, marketplace: MarketplaceName, after: String?, limit: Int) throws -> [MarketplaceListing] {
        let all = try sweepListings(sweep: sweep, marketplace: marketplace)
        var start = all.startIndex
        if let after {
            start = all.firstIndex { $0.sku == after }.map { $0 + 1 } ?? (all.firstIndex { $0.sku > after } ?? all.endIndex)
        }
        return Array(all[start..<Swift.min(all.endIndex, start + Swift.max(0, limit))])
    }

    public func sweepSKUsInCoverageOrder(sweep: Int64, marketplace: MarketplaceName, limit: Int) throws -> [String] {
        let coverage = try coverage(marketplace: marketplace)
        func rank(_ sku: String) -> (Int, Int64, String) {
            guard let c = coverage[sku] else { return (1, 0, sku) }
            return c.sweep == sweep ? (0, 0, sku) : (2, c.lastChecked, sku)
        }
        return Array(try sweepListings(sweep: sweep, marketplace: marketplace).map(\.sku).sorted { rank($0) < rank($1) }
            .prefix(Swift.max(0, limit)))
    }
}

/// One listing's inputs to a decide task (``RepricingLedger/decideInputs(sweep:marketplace:skus:)``).
public struct DecideInput: Sendable, Hashable {
    public var sku: String
    /// The listing in the sweep's snapshot; nil when the snapshot has no such SKU.
    public var listing: MarketplaceListing?
    /// Its unit cost; nil when none is known (no floor: never repriced).
    public var cost: Money?

    public init(sku: String, listing: MarketplaceListing?, cost: Money?) {
        (self.sku, self.listing, self.cost) = (sku, listing, cost)
    }
}

/// When a listing was last checked, and by which sweep.
public struct ListingCoverage: Sendable, Hashable {
    public var lastChecked: Int64
    public var sweep: Int64

    public init(lastChecked: Int64, sweep: Int64) {
        self.lastChecked = lastChecked
        self.sweep = sweep
    }
}
