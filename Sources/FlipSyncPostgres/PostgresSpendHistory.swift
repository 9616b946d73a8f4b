import FlipSyncCore
import FlipSyncStore
import PostgresNIO

/// Read-only queries over the `spend` table in PostgreSQL, by the same rules as SQLite's
/// `SpendHistory`: totals grouped by job or provider (by cost, highest first, then key, a call
/// outside any job first; text in byte order as SQLite's) or by local day in a time zone (in day
/// order), one row per group and currency, sums exact in BIGINT micro-units (an overflow is an
/// error, never a rounded sum). A local day is computed in SQL as SQLite's is: the zone's UTC
/// offset is constant between its transitions, so a CASE over the transitions between the first
/// and the last call counted gives every row its offset.
public struct PostgresSpendHistory: SpendHistoryReading {
    private let session: PostgresSession

    public init(ledger: PostgresLedger) { session = ledger.session }

    public func totals(since: Int64, by grouping: SpendGrouping, timezone: ZoneRules) throws(LedgerError) -> [SpendTotal] {
        let key: String
        switch grouping {
        case .job: key = "job"
        case .provider: key = "provider"
        case .day:
            let span = try session.rows("SELECT MIN(at_ms) AS first, MAX(at_ms) AS last FROM spend WHERE at_ms >= $1", [.integer(since)])
            guard let first = try span.first?.get("first", as: Int64?.self), let last = try span.first?.get("last", as: Int64?.self) else {
                return []
            }
            key = Self.localDayNumber(timezone, from: first, through: last)
        }
        let order = grouping == .day ? #"grouping_key, currency COLLATE "C""#
                                     : #"cost DESC, grouping_key COLLATE "C" NULLS FIRST, currency COLLATE "C""#
        let rows = try session.rows("""
            SELECT * FROM (
                SELECT \(key) AS grouping_key, currency, COUNT(*)::BIGINT AS calls, SUM(served_from_cache)::BIGINT AS cached_calls,
                       SUM(units)::BIGINT AS units, SUM(input_tokens)::BIGINT AS input_tokens,
                       SUM(cached_input_tokens)::BIGINT AS cached_input_tokens, SUM(output_tokens)::BIGINT AS output_tokens,
                       SUM(cost_micros)::BIGINT AS cost
                FROM spend WHERE at_ms >= $1
                GROUP BY 1, 2
            ) totals
            ORDER BY \(order)
            """, [.integer(since)])
        return try rows.map { row throws(LedgerError) -> SpendTotal in
            let code = try row.get("currency", as: String.self)
            guard let currency = Currency(code: code) else { throw LedgerError.storage("unknown currency \"\(code)\" in spend") }
            let key: String? = grouping == .day
                ? String(CivilDateTime(utcSeconds: try row.get("grouping_key", as: Int64.self) * 86_400).iso8601.prefix(10))
                : try row.get("grouping_key", as: String?.self)
            return SpendTotal(group: key, calls: try row.get("calls"), cachedCalls: try row.get("cached_calls"), units: try row.get("units"),
                              inputTokens: try row.get("input_tokens"), cachedInputTokens: try row.get("cached_input_tokens"),
                              outputTokens: try row.get("output_tokens"), cost: Money(micros: try row.get("cost"), currency: currency))
        }
    }

    public func calls(runID: Int64) throws(LedgerError) -> [SpendEntry] {
        try session.rows("""
            SELECT id, at_ms, provider, operation, units, input_tokens, cached_input_tokens, output_tokens, cost_micros, currency, job,
                   run_id, task_key, served_from_cache, status
            FROM spend WHERE run_id = $1 ORDER BY id
            """, [.integer(runID)]).map { row throws(LedgerError) -> SpendEntry in
            let id = try row.get("id", as: Int64.self), code = try row.get("currency", as: String.self)
            guard let currency = Currency(code: code) else { throw .storage("spend row \(id): unknown currency \"\(code)\"") }
            let call = MeteredCall(provider: try row.get("provider"), operation: try row.get("operation"), units: try row.get("units"),
                                   cost: Money(micros: try row.get("cost_micros"), currency: currency),
                                   servedFromCache: try row.get("served_from_cache", as: Int64.self) != 0,
                                   status: try row.get("status", as: Int64?.self).map { Int($0) },
                                   inputTokens: try row.get("input_tokens"), cachedInputTokens: try row.get("cached_input_tokens"),
                                   outputTokens: try row.get("output_tokens"))
            return SpendEntry(recordedAt: try row.get("at_ms"), job: try row.get("job"), runID: try row.get("run_id"), taskKey: try row.get("task_key"),
                              call: call)
        }
    }

    /// SQL for the local day number (days since 1970-01-01 in `zone`) of `at_ms`, exact for rows
    /// from `from` through `through` (SQLite's `SpendHistory.localDayNumber`, the same CASE).
    static func localDayNumber(_ zone: ZoneRules, from: Int64, through: Int64) -> String {
        var seconds = Timestamp(milliseconds: from).secondsSinceEpoch
        var current = Int64(zone.utcOffset(at: seconds)) * 1000
        var cases = ""
        while let transition = zone.transition(after: seconds), transition.at * 1000 <= through {
            cases += "WHEN at_ms < \(transition.at * 1000) THEN \(current) "
            current = Int64(transition.after.utcOffset) * 1000
            seconds = transition.at
        }
        let offset = cases.isEmpty ? "(\(current))::BIGINT" : "CASE \(cases)ELSE \(current) END"
        return "(at_ms + \(offset)) / 86400000"
    }
}

/// The readiness scan's view of the spend ledger in PostgreSQL, as SQLite's `SpendEvidence`:
/// every provider's calls and failures in a window (all calls, inside runs or not; a cache hit is
/// not a call; a call failed when no answer came or its status was 400 or more), and the local
/// day's and month's spend in the budgets' currency and time zone against the budgets.
public struct PostgresSpendEvidence: SpendEvidenceSource {
    private let session: PostgresSession
    private let history: PostgresSpendHistory
    /// The budgets in force now (a reload replaces the spend ledger's).
    private let currentBudgets: @Sendable () -> SpendBudgets

    public init(ledger: PostgresLedger, budgets: SpendBudgets) {
        self.init(ledger: ledger, budgets: { budgets })
    }

    /// Standing against whatever `budgets` says at each call: the daemon passes its spend
    /// ledger's, so a reload's new budgets show at the next scan.
    public init(ledger: PostgresLedger, budgets: @escaping @Sendable () -> SpendBudgets) {
        session = ledger.session
        history = PostgresSpendHistory(ledger: ledger)
        currentBudgets = budgets
    }

    public func callOutcomes(since: Int64) throws -> [String: ProviderCallOutcomes] {
        let rows = try session.rows("""
            SELECT provider, COUNT(*)::BIGINT AS calls,
                   SUM(CASE WHEN status IS NULL OR status >= 400 THEN 1 ELSE 0 END)::BIGINT AS failed
            FROM spend WHERE at_ms >= $1 AND served_from_cache = 0 GROUP BY provider
            """, [.integer(since)])
        var outcomes: [String: ProviderCallOutcomes] = [:]
        for row in rows {
            outcomes[try row.get("provider", as: String.self)] = ProviderCallOutcomes(calls: try row.get("calls"), failed: try row.get("failed"))
        }
        return outcomes
    }

    public func standing(at now: Int64) throws -> SpendStanding {
        let budgets = currentBudgets()
        let periods = LocalPeriods(zone: budgets.timezone)
        func spent(since: Int64) throws -> Money {
            let sums = SpendTotal.sums(of: try history.totals(since: since, by: .provider, timezone: budgets.timezone))
            return sums.first { $0.cost.currency == budgets.currency }?.cost ?? .zero(budgets.currency)
        }
        return SpendStanding(today: try spent(since: periods.day(containing: now).lowerBound),
                             month: try spent(since: periods.month(containing: now).lowerBound),
                             daily: budgets.daily, monthly: budgets.monthly)
    }
}
