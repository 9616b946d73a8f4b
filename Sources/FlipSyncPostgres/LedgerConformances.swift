import FlipSyncCore

extension PostgresSpendLedger: BudgetedSpendRecorder {}
