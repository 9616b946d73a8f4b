import FlipSyncCore

extension SpendLedger: BudgetedSpendRecorder {}
extension RunStore: ResumableRunLedger {}
