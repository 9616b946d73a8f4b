import FlipSyncCore

/// Spend in one quarter-hour (`at_ms / 900000`) by one provider in one currency.
public struct SpendQuarterHour: Sendable, Hashable {
    public var quarterHour: Int64
    public var provider: String
    public var calls: Int64
    public var micros: Int64
    public var currency: String

    public init(quarterHour: Int64, provider: String, calls: Int64, micros: Int64, currency: String) {
        (self.quarterHour, self.provider, self.calls, self.micros, self.currency) = (quarterHour, provider, calls, micros, currency)
    }
}

/// One repricing sweep's coverage of one marketplace: listings in its snapshot, and how many of
/// them it decided (checked).
public struct SweepCoverage: Sendable, Hashable {
    public var sweep: Int64
    public var marketplace: String
    public var listings: Int
    public var checked: Int

    public init(sweep: Int64, marketplace: String, listings: Int, checked: Int) {
        (self.sweep, self.marketplace, self.listings, self.checked) = (sweep, marketplace, listings, checked)
    }
}

/// What `flipsyncctl report` and `flipsyncctl spend --llm-savings` read of the run ledger, all
/// read-only. SQLite's `RunStore` answers from its file; a PostgreSQL ledger has its own, with the
/// same rows in the same order (text in byte order) and exact integer sums.
public protocol ReportReading: Sendable {
    /// Run `id`, or nil.
    func run(id: Int64) throws(LedgerError) -> RunInfo?
    /// A sweep's decisions, by marketplace then SKU.
    func decisions(sweep: Int64) throws -> [PricingDecision]
    /// The titles of a sweep's listings keyed `marketplace/sku` (untrusted text from the channels).
    func sweepTitles(sweep: Int64) throws(LedgerError) -> [String: String]
    /// Runs created at or after `since` (wall milliseconds), by id.
    func runs(createdSince since: Int64) throws(LedgerError) -> [RunInfo]
    /// Spend at or after `since` by quarter-hour, provider and currency, in that order: a
    /// quarter-hour falls within one local day in every zone, so the caller buckets them into days.
    func spendQuarterHours(since: Int64) throws(LedgerError) -> [SpendQuarterHour]
    /// Each repricing sweep created at or after `since`, by sweep then marketplace.
    func sweepCoverage(since: Int64) throws(LedgerError) -> [SweepCoverage]
    /// Product-match spend at or after `since` (ms), measured and as premium calls (see `LLMSavings`).
    func llmSavings(since: Int64, premiumInputPerMillion: Money, premiumOutputPerMillion: Money) throws -> LLMSavings
}

extension RunStore: ReportReading {}
