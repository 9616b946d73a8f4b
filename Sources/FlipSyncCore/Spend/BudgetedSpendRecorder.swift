/// A spend recorder that holds the budgets: what the run coordinator reads back for a run's
/// `spend_micros` and what a reload replaces. The SQLite `SpendLedger` and the PostgreSQL
/// `PostgresSpendLedger` both are one.
public protocol BudgetedSpendRecorder: SpendRecorder {
    /// What run `runID` has spent, from the ledger.
    func spent(runID: Int64) throws(LedgerError) -> Money
    /// The budgets in force.
    var budgets: SpendBudgets { get }
    /// Replaces the budgets (after a reload); they apply from the next call on.
    func setBudgets(_ budgets: SpendBudgets)
}
