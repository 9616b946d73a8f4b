/// What shipping arbitrage keeps in the ledger.
///
/// Open order lines are recorded once per (job, marketplace, order, line) and stay pending
/// until the line has its one recommendation, so a line whose quote failed (a budget exhausted,
/// an API down) is quoted by a later run even though the orders cursor has moved past it.
/// Every quote of a run is a row; the packaging table is the operator's file as last imported.
/// Listings' shipping settings are judged through `ListingShippingLedger`, which this refines.
public protocol ShippingLedger: ListingShippingLedger {
    /// The orders cursor of (job, marketplace), nil before the first read.
    func shippingCursor(job: String, marketplace: MarketplaceName) throws -> String?
    /// In one transaction: records the open `lines` not yet known for `job` (known ones are left
    /// as they are) and moves the cursor. Returns how many lines were new.
    func recordOrders(_ lines: [OrderLine], cursor: String?, job: String, marketplace: MarketplaceName, runID: Int64,
                      at: Int64) throws -> Int
    /// The job's recorded lines that have no recommendation yet, by marketplace, order, line.
    func pendingLines(job: String) throws -> [OrderLine]
    func pendingLine(job: String, marketplace: MarketplaceName, orderID: String, lineID: String) throws -> OrderLine?
    /// Replaces the whole packaging table with `items` (the file is the table).
    func replacePackaging(_ items: [PackedItem], source: String, at: Int64) throws
    func packaging(sku: String) throws -> ParcelSize?
    /// Inserts or replaces quote rows of a run (a retried task writes the same rows again).
    func saveQuotes(_ quotes: [ShippingQuoteRecord], job: String, runID: Int64, at: Int64) throws
    func shippingQuotes(runID: Int64) throws -> [ShippingQuoteRecord]
    /// The line's one recommendation (replacing any earlier attempt's).
    func saveRecommendation(_ recommendation: ShippingRecommendation, job: String, runID: Int64, at: Int64) throws
    /// A run's recommendations, by marketplace, order, line.
    func shippingRecommendations(runID: Int64) throws -> [ShippingRecommendation]
}

/// What judging listings' shipping settings keeps in the ledger. A sweep is the first run of a
/// chain of resumes (as in repricing), so a resumed run continues the same listings and never
/// counts one twice: listings are recorded per (sweep, marketplace, listing), and a listing with
/// a verdict is done for the sweep.
public protocol ListingShippingLedger: Sendable {
    /// The sweep a run belongs to: the first run of its chain of resumes.
    func sweepID(ofRun runID: Int64) throws -> Int64
    /// Inserts or replaces the listings' settings as read now (a re-read replaces, never adds).
    func recordListings(_ listings: [ListingShipping], sweep: Int64, runID: Int64, at: Int64) throws
    /// The sweep's recorded listings without a verdict, by marketplace and listing id.
    func unjudgedListings(sweep: Int64) throws -> [ListingShipping]
    func recordedListing(sweep: Int64, marketplace: MarketplaceName, listingID: String) throws -> ListingShipping?
    /// Inserts or replaces quote rows for a listing (a retried task writes the same rows again).
    func saveListingQuotes(_ quotes: [ListingQuoteRecord], sweep: Int64, runID: Int64, at: Int64) throws
    func listingQuotes(sweep: Int64) throws -> [ListingQuoteRecord]
    /// In one transaction: the listing's per-destination rows and its verdict (replacing any).
    func saveListingVerdict(_ verdict: ListingShippingVerdict, destinations: [ListingShippingVerdict], sweep: Int64, runID: Int64,
                            at: Int64) throws
    /// The sweep's verdicts (one per listing), by marketplace and listing id.
    func listingVerdicts(sweep: Int64) throws -> [ListingShippingVerdict]
    /// The sweep's per-destination rows, by marketplace, listing id, destination.
    func listingDestinationVerdicts(sweep: Int64) throws -> [ListingShippingVerdict]
}
