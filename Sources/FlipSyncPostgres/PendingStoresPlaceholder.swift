import FlipSyncCore
import FlipSyncStore

// PLACEHOLDERS ONLY, so this branch compiles: the real `PostgresRepricingLedger`,
// `PostgresShippingLedger`, `PostgresSpendHistory` and `PostgresSpendEvidence` are written on
// other branches and replace this file (delete it when merging them). Every method throws
// `LedgerError.storage("not built")`. Nothing may depend on these being placeholders.

private func notBuilt() -> LedgerError { .storage("not built") }

public final class PostgresRepricingLedger: RepricingLedger, OfferMemory, CompetitorMemory, MatchCache, Sendable {
    let ledger: PostgresLedger
    public init(ledger: PostgresLedger) { self.ledger = ledger }

    public func saveSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws { throw notBuilt() }
    public func appendSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws { throw notBuilt() }
    public func sweepListings(sweep: Int64, marketplace: MarketplaceName) throws -> [MarketplaceListing] { throw notBuilt() }
    public func sweepListing(sweep: Int64, marketplace: MarketplaceName, sku: String) throws -> MarketplaceListing? { throw notBuilt() }
    public func updateSweepListings(_ listings: [MarketplaceListing], removing: [String], sweep: Int64, marketplace: MarketplaceName) throws { throw notBuilt() }
    public func saveUnitCosts(_ costs: [String: Money], source: String, at: Int64) throws { throw notBuilt() }
    public func unitCosts() throws -> [String: Money] { throw notBuilt() }
    public func unitCost(sku: String) throws -> Money? { throw notBuilt() }
    public func saveDecision(_ decision: PricingDecision, sweep: Int64) async throws { throw notBuilt() }
    public func decisions(sweep: Int64) throws -> [PricingDecision] { throw notBuilt() }
    public func decisions(sweep: Int64, marketplace: MarketplaceName, skus: [String]) throws -> [PricingDecision] { throw notBuilt() }
    public func markDecisions(sweep: Int64, marketplace: MarketplaceName, skus: [String], state: PricingDecision.State,
                              results: [String: String]) async throws { throw notBuilt() }
    public func sweepID(ofRun runID: Int64) throws -> Int64 { throw notBuilt() }
    public func coverage(marketplace: MarketplaceName) throws -> [String: ListingCoverage] { throw notBuilt() }
    public func markChecked(marketplace: MarketplaceName, skus: [String], sweep: Int64, at: Int64) throws { throw notBuilt() }
    public func changingDecisions(sweep: Int64) throws -> [PricingDecision] { throw notBuilt() }
    public func decisionCount(sweep: Int64) throws -> Int { throw notBuilt() }
    public func decisionStates(sweep: Int64) throws -> [PricingDecision.State: Int] { throw notBuilt() }
    public func decidedListings(sweep: Int64) throws -> Set<String> { throw notBuilt() }
    public func coverageCounts(sweep: Int64, marketplace: MarketplaceName) throws -> SweepCoverageCounts { throw notBuilt() }

    public func rememberedOffers(marketplace: MarketplaceName) throws -> [String: RememberedOffer] { throw notBuilt() }
    public func rememberOffers(marketplace: MarketplaceName, _ offers: [RememberedOffer]) throws { throw notBuilt() }
    public func forgetOffers(marketplace: MarketplaceName, skus: [String]) throws { throw notBuilt() }

    public func rememberedSearches(marketplace: MarketplaceName) throws -> [String: RememberedSearch] { throw notBuilt() }
    public func rememberSearch(marketplace: MarketplaceName, key: String, _ search: RememberedSearch) throws { throw notBuilt() }
    public func forgetItems(marketplace: MarketplaceName, itemIDs: [String]) throws { throw notBuilt() }

    public func cachedMatch(sku: String, offerID: String, titleHash: String, now: Int64) throws -> CachedMatch? { throw notBuilt() }
    public func saveMatch(_ match: CachedMatch, sku: String, offerID: String, titleHash: String) throws { throw notBuilt() }
}

public final class PostgresShippingLedger: ShippingLedger, Sendable {
    let ledger: PostgresLedger
    public init(ledger: PostgresLedger) { self.ledger = ledger }

    public func shippingCursor(job: String, marketplace: MarketplaceName) throws -> String? { throw notBuilt() }
    public func recordOrders(_ lines: [OrderLine], cursor: String?, job: String, marketplace: MarketplaceName, runID: Int64,
                             at: Int64) throws -> Int { throw notBuilt() }
    public func pendingLines(job: String) throws -> [OrderLine] { throw notBuilt() }
    public func pendingLine(job: String, marketplace: MarketplaceName, orderID: String, lineID: String) throws -> OrderLine? { throw notBuilt() }
    public func replacePackaging(_ items: [PackedItem], source: String, at: Int64) throws { throw notBuilt() }
    public func packaging(sku: String) throws -> ParcelSize? { throw notBuilt() }
    public func saveQuotes(_ quotes: [ShippingQuoteRecord], job: String, runID: Int64, at: Int64) throws { throw notBuilt() }
    public func shippingQuotes(runID: Int64) throws -> [ShippingQuoteRecord] { throw notBuilt() }
    public func saveRecommendation(_ recommendation: ShippingRecommendation, job: String, runID: Int64, at: Int64) throws { throw notBuilt() }
    public func shippingRecommendations(runID: Int64) throws -> [ShippingRecommendation] { throw notBuilt() }

    public func sweepID(ofRun runID: Int64) throws -> Int64 { throw notBuilt() }
    public func recordListings(_ listings: [ListingShipping], sweep: Int64, runID: Int64, at: Int64) throws { throw notBuilt() }
    public func unjudgedListings(sweep: Int64) throws -> [ListingShipping] { throw notBuilt() }
    public func recordedListing(sweep: Int64, marketplace: MarketplaceName, listingID: String) throws -> ListingShipping? { throw notBuilt() }
    public func saveListingQuotes(_ quotes: [ListingQuoteRecord], sweep: Int64, runID: Int64, at: Int64) throws { throw notBuilt() }
    public func listingQuotes(sweep: Int64) throws -> [ListingQuoteRecord] { throw notBuilt() }
    public func saveListingVerdict(_ verdict: ListingShippingVerdict, destinations: [ListingShippingVerdict], sweep: Int64, runID: Int64,
                                   at: Int64) throws { throw notBuilt() }
    public func listingVerdicts(sweep: Int64) throws -> [ListingShippingVerdict] { throw notBuilt() }
    public func listingDestinationVerdicts(sweep: Int64) throws -> [ListingShippingVerdict] { throw notBuilt() }
}

public final class PostgresSpendHistory: SpendHistoryReading, Sendable {
    let ledger: PostgresLedger
    public init(ledger: PostgresLedger) { self.ledger = ledger }

    public func totals(since: Int64, by grouping: SpendGrouping, timezone: ZoneRules) throws(LedgerError) -> [SpendTotal] { throw notBuilt() }
    public func calls(runID: Int64) throws(LedgerError) -> [SpendEntry] { throw notBuilt() }
}

public final class PostgresSpendEvidence: SpendEvidenceSource, Sendable {
    let ledger: PostgresLedger
    let budgets: SpendBudgets
    public init(ledger: PostgresLedger, budgets: SpendBudgets) {
        self.ledger = ledger
        self.budgets = budgets
    }

    public func callOutcomes(since: Int64) throws -> [String: ProviderCallOutcomes] { throw notBuilt() }
    public func standing(at now: Int64) throws -> SpendStanding { throw notBuilt() }
}
