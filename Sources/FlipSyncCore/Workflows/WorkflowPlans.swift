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
