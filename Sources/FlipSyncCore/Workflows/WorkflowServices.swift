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
