/// One repricing decision as recorded: what was seen, what was decided and why, and what
/// became of it. Every field an auditor needs to re-check the decision is here.
public struct DecisionRecord: Sendable, Hashable, Codable {
    /// Where a decision is on its way to the marketplace.
    public enum State: String, Sendable, Hashable, Codable {
        /// No change: the price stays (the reason says why).
        case hold
        /// A change decided, not yet sent.
        case planned
        /// Written before the call that applies it: after a crash, the live price says whether it landed.
        case sending
        case applied
        case failed
        /// Decided in a dry run: never sent.
        case dryRun = "dry-run"
        /// Decided, but the circuit breaker stopped the run from applying anything.
        case blocked
    }

    public var marketplace: MarketplaceName
    public var sku: String
    public var listingID: String
    public var currency: String
    public var oldPriceMicros: Int64
    /// Nil when the decision is to hold.
    public var newPriceMicros: Int64?
    public var floorMicros: Int64?
    public var ceilingMicros: Int64?
    /// The lowest eligible competitor's landed price (price + shipping).
    public var lowestCompetitorMicros: Int64?
    public var buyBoxMicros: Int64?
    /// The shipping we charge the buyer, as the decision used it (our own offer's, else the
    /// listing's); nil when unknown.
    public var shippingChargedMicros: Int64?
    public var offersConsidered: Int
    /// Offers left out, by `CompetitorFilter.ExclusionReason` code (`ours`, `other-condition`, `low-feedback`, …).
    public var offersExcluded: [String: Int]
    public var strategy: String
    /// A stable code (`PricingDecision.Reason`'s raw values, or `no-cost`; README "Reason codes")
    /// and a sentence for people.
    public var reasonCode: String
    public var reason: String
    public var state: State
    /// What the marketplace said when the change was sent.
    public var apiResult: String?

    public init(marketplace: MarketplaceName, sku: String, listingID: String, currency: String, oldPriceMicros: Int64,
                newPriceMicros: Int64?, floorMicros: Int64?, ceilingMicros: Int64?, lowestCompetitorMicros: Int64?,
                buyBoxMicros: Int64?, offersConsidered: Int, offersExcluded: [String: Int], strategy: String,
                reasonCode: String, reason: String, state: State, apiResult: String? = nil, shippingChargedMicros: Int64? = nil) {
        self.marketplace = marketplace
        self.sku = sku
        self.listingID = listingID
        self.currency = currency
        self.oldPriceMicros = oldPriceMicros
        self.newPriceMicros = newPriceMicros
        self.floorMicros = floorMicros
        self.ceilingMicros = ceilingMicros
        self.lowestCompetitorMicros = lowestCompetitorMicros
        self.buyBoxMicros = buyBoxMicros
        self.shippingChargedMicros = shippingChargedMicros
        self.offersConsidered = offersConsidered
        self.offersExcluded = offersExcluded
        self.strategy = strategy
        self.reasonCode = reasonCode
        self.reason = reason
        self.state = state
        self.apiResult = apiResult
    }
}

/// What a repricing sweep keeps in the ledger. A sweep is identified by its first run's id, so
/// a resumed run (a new run row) continues the same sweep's listings and decisions.
public protocol RepricingLedger: Sendable {
    /// The listings a sweep works on, as read at its start (replacing any saved for that marketplace).
    func saveSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws
    func sweepListings(sweep: Int64, marketplace: MarketplaceName) throws -> [MarketplaceListing]
    func sweepListing(sweep: Int64, marketplace: MarketplaceName, sku: String) throws -> MarketplaceListing?
    /// Unit costs by SKU, from the configured cost source.
    func saveUnitCosts(_ costs: [String: Money], source: String, at: Int64) throws
    func unitCosts() throws -> [String: Money]
    func unitCost(sku: String) throws -> Money?
    /// Inserts or replaces the decision for (sweep, marketplace, sku).
    func saveDecision(_ decision: DecisionRecord, sweep: Int64) async throws
    /// Every decision of a sweep, by marketplace then SKU.
    func decisions(sweep: Int64) throws -> [DecisionRecord]
    /// The decisions of a sweep for these SKUs of one marketplace, by SKU.
    func decisions(sweep: Int64, marketplace: MarketplaceName, skus: [String]) throws -> [DecisionRecord]
    /// Moves decisions to `state`, with the API's result for each SKU when given.
    func markDecisions(sweep: Int64, marketplace: MarketplaceName, skus: [String], state: DecisionRecord.State,
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
}

extension RepricingLedger {
    public func runStartedAt(runID: Int64) throws -> Int64? { nil }
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
