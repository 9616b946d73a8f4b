import FlipSyncCore

/// What `flipsyncctl spend`, the readiness scan and the run reports read of the spend ledger:
/// totals grouped by job, provider or local day, and one run's calls. `SpendHistory` reads them
/// from SQLite; a PostgreSQL ledger has its own.
public protocol SpendHistoryReading: Sendable {
    /// Totals of every call at or after `since` (milliseconds since the epoch), grouped `by`
    /// job, provider or local day in `timezone`; days in order, jobs and providers by cost
    /// (highest first). One row per group and currency; sums are exact.
    func totals(since: Int64, by grouping: SpendGrouping, timezone: ZoneRules) throws(LedgerError) -> [SpendTotal]
    /// Every call recorded for run `runID`, in the order recorded.
    func calls(runID: Int64) throws(LedgerError) -> [SpendEntry]
}

extension SpendHistory: SpendHistoryReading {}
