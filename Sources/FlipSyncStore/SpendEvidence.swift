import FlipSyncCore
import GRDB

/// The readiness scan's view of the spend ledger: every provider's calls and failures in a
/// window (all calls, inside runs or not), and the day's and month's spend against the budgets.
public struct SpendEvidence: SpendEvidenceSource {
    let store: RunStore
    let spend: SpendLedger

    public init(store: RunStore, spend: SpendLedger) {
        self.store = store
        self.spend = spend
    }

    /// A call failed when no answer came or its status was 400 or more; cache hits are not calls.
    public func callOutcomes(since: Int64) throws -> [String: ProviderCallOutcomes] {
        try store.read { db in
            guard try db.tableExists("spend") else { return [:] }
            let rows = try Row.fetchAll(db, sql: """
                SELECT provider, COUNT(*) AS calls,
                       SUM(CASE WHEN status IS NULL OR status >= 400 THEN 1 ELSE 0 END) AS failed
                FROM spend WHERE at_ms >= ? AND served_from_cache = 0 GROUP BY provider
                """, arguments: [since])
            return Dictionary(uniqueKeysWithValues: try rows.map {
                (try $0.decode(String.self, forColumn: "provider"),
                 ProviderCallOutcomes(calls: try $0.decode(forColumn: "calls"), failed: try $0.decode(forColumn: "failed")))
            })
        }
    }

    public func standing(at now: Int64) throws -> SpendStanding {
        let budgets = spend.budgets
        let periods = LocalPeriods(zone: budgets.timezone)
        func spent(since: Int64) throws -> Money {
            let sums = SpendTotal.sums(of: try spend.history.totals(since: since, by: .provider, timezone: budgets.timezone))
            return sums.first { $0.cost.currency == budgets.currency }?.cost ?? .zero(budgets.currency)
        }
        return SpendStanding(today: try spent(since: periods.day(containing: now).lowerBound),
                             month: try spent(since: periods.month(containing: now).lowerBound),
                             daily: budgets.daily, monthly: budgets.monthly)
    }
}
