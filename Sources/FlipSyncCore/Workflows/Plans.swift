/// What the readiness scan can ask of the run ledger.
public protocol LedgerProbe: Sendable {
    /// Times `count` single-row writes and reads; microseconds each.
    func timedRoundTrips(count: Int) throws -> (writes: [Int64], reads: [Int64])
    /// `PRAGMA quick_check`: "ok" when sound.
    func integrityCheck(full: Bool) throws(LedgerError) -> String
}

/// What the workflows act through: the configured channels and what they need besides.
/// Built once from the config (`ChannelFactory` in FlipSyncMarketplaces) and shared by every run;
/// a plan finds a marketplace's client in it through `MarketplaceClients`.
public struct WorkflowServices: Sendable {
    public var marketplaces: [MarketplaceName: any Marketplace]
    public var fees: [MarketplaceName: MarketplaceFees]
    public var costSources: [MarketplaceName: any UnitCostSource]
    /// Judges title-only competitor offers (`llm_matching`), when an LLM is configured.
    public var matcher: (any OfferMatcher)?
    /// Rate sources for shipping arbitrage, by name (`easypost`: the rate-shopping API).
    public var rateShoppers: [String: any RateShopper]
    /// The config's currency: the only one whose quotes and payments are compared.
    public var currency: Currency
    /// The readiness scan's probes of the carrier APIs and the LLMs, by name.
    public var carrierProbes: [String: any ReachabilityProbe] = [:]
    public var llmProbes: [String: any ReachabilityProbe] = [:]
    /// Why a configured channel could not be set up (a missing credential, say), by channel:
    /// a job that needs it fails with this reason instead of a vaguer one.
    public var unavailable: [MarketplaceName: String]

    public init(marketplaces: [MarketplaceName: any Marketplace] = [:], fees: [MarketplaceName: MarketplaceFees] = [:],
                costSources: [MarketplaceName: any UnitCostSource] = [:], matcher: (any OfferMatcher)? = nil,
                rateShoppers: [String: any RateShopper] = [:], currency: Currency = .usd,
                unavailable: [MarketplaceName: String] = [:]) {
        self.matcher = matcher
        self.rateShoppers = rateShoppers
        self.currency = currency
        self.marketplaces = marketplaces
        self.fees = fees
        self.costSources = costSources
        self.unavailable = unavailable
    }
}

/// The plans this build has, one per job kind.
public struct WorkflowPlans: Sendable {
    let ledger: any RunLedger
    let probe: any LedgerProbe
    let repricing: any RepricingLedger
    let sync: any SyncLedger
    let shipping: any ShippingLedger
    let spend: (any SpendEvidenceSource)?
    let services: WorkflowServices
    let clock: any SchedulerClock
    /// The quota ledger the repricing sweep sizes its runs from (nil: only `max_listings_per_run`).
    let quota: (any QuotaAllowance)?
    /// Competitor ids remembered between sweeps (eBay's getItems refresh).
    let competitors: (any CompetitorMemory)?

    public init(ledger: any RunLedger, probe: any LedgerProbe, repricing: any RepricingLedger, sync: any SyncLedger,
                shipping: any ShippingLedger, spend: (any SpendEvidenceSource)?, services: WorkflowServices, clock: any SchedulerClock,
                quota: (any QuotaAllowance)? = nil, competitors: (any CompetitorMemory)? = nil) {
        self.quota = quota
        self.competitors = competitors
        self.shipping = shipping
        self.spend = spend
        self.sync = sync
        self.ledger = ledger
        self.probe = probe
        self.repricing = repricing
        self.services = services
        self.clock = clock
    }

    /// The plan for one job, built with the parameters its kind carries.
    public func plan(for job: JobDefinition) -> any WorkflowPlan {
        switch job.parameters {
        case .readinessScan(let p):
            return ReadinessScanPlan(parameters: p, ledger: ledger, database: probe, services: services, spend: spend, clock: clock)
        case .repricingSweep(let p):
            return RepricingSweepPlan(parameters: p, marketplaces: services.marketplaces, fees: services.fees,
                                      costSources: services.costSources, ledger: repricing, clock: clock, matcher: services.matcher,
                                      unavailable: services.unavailable, quota: quota, competitors: competitors)
        case .marketplaceSync(let p):
            return MarketplaceSyncPlan(parameters: p, marketplaces: services.marketplaces, ledger: sync, unavailable: services.unavailable)
        case .shippingArbitrage(let p):
            return ShippingArbitragePlan(parameters: p, marketplaces: services.marketplaces, shoppers: services.rateShoppers,
                                         ledger: shipping, clock: clock, currency: services.currency, unavailable: services.unavailable)
        }
    }
}

/// Nearest-rank percentiles of a sample.
struct Percentiles {
    var p50: Int64 = 0, p95: Int64 = 0, max: Int64 = 0

    init(_ values: [Int64]) {
        guard !values.isEmpty else { return }
        let sorted = values.sorted()
        func rank(_ q: Double) -> Int64 { sorted[Swift.min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1)] }
        p50 = rank(0.5)
        p95 = rank(0.95)
        max = sorted[sorted.count - 1]
    }
}

/// A task that works on one marketplace: its input.
public struct MarketplaceInput: Codable, Hashable, Sendable {
    public var marketplace: MarketplaceName

    public init(marketplace: MarketplaceName) {
        self.marketplace = marketplace
    }
}
