import FlipSyncCore
import FlipSyncStore

/// The readiness scan's view of the spend ledger, over `SpendLedger`'s public queries: the
/// calls of every run in the window (calls made outside any run are not counted) and the
/// day's and month's totals against the budgets.
struct ReadinessSpendSource: SpendEvidenceSource {
    let spend: SpendLedger
    let runs: RunStore

    func callOutcomes(since: Int64) throws -> [String: ProviderCallOutcomes] {
        var outcomes: [String: ProviderCallOutcomes] = [:]
        for run in try runs.recentRuns(job: nil, limit: 5000) where (run.finishedAt ?? Int64.max) >= since {
            for entry in try spend.history.calls(runID: run.id) where entry.at >= since && !entry.call.servedFromCache {
                var o = outcomes[entry.call.provider] ?? ProviderCallOutcomes(calls: 0, failed: 0)
                o.calls += 1
                if (entry.call.status ?? 600) >= 400 { o.failed += 1 }
                outcomes[entry.call.provider] = o
            }
        }
        return outcomes
    }

    func standing(at now: Int64) throws -> SpendStanding {
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
