/// What shipping arbitrage keeps in the ledger.
///
/// Open order lines are recorded once per (job, marketplace, order, line) and stay pending
/// until the line has its one recommendation, so a line whose quote failed (a budget exhausted,
/// an API down) is quoted by a later run even though the orders cursor has moved past it.
/// Every quote of a run is a row; the packaging table is the operator's file as last imported.
public protocol ShippingLedger: Sendable {
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
