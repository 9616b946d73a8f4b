import FlipSyncCore
import GRDB

/// How spend totals are grouped.
public enum SpendGrouping: String, CaseIterable, Sendable {
    case job, provider, day
}

/// The spend of one group (a job, a provider or a local day) in one currency.
public struct SpendTotal: Sendable, Hashable {
    /// The job's name (nil for calls made outside any job), the provider, or the local day `YYYY-MM-DD`.
    public var key: String?
    public var calls: Int64
    /// Calls answered from a local cache, no request sent.
    public var cachedCalls: Int64
    public var units: Int64
    public var inputTokens: Int64
    public var cachedInputTokens: Int64
    public var outputTokens: Int64
    public var cost: Money

    /// The share of calls answered from a local cache (rounded down to a part per million).
    public var cachedShare: Percent {
        Percent(partsPerMillion: calls == 0 ? 0 : cachedCalls * 1_000_000 / calls)
    }

    /// The sum of `totals`, one per currency (key nil), in currency-code order.
    public static func sums(of totals: [SpendTotal]) -> [SpendTotal] {
        var sums: [String: SpendTotal] = [:]
        for t in totals {
            var sum = sums[t.cost.currency.code] ?? SpendTotal(key: nil, calls: 0, cachedCalls: 0, units: 0, inputTokens: 0,
                                                                cachedInputTokens: 0, outputTokens: 0, cost: .zero(t.cost.currency))
            sum.calls += t.calls
            sum.cachedCalls += t.cachedCalls
            sum.units += t.units
            sum.inputTokens += t.inputTokens
            sum.cachedInputTokens += t.cachedInputTokens
            sum.outputTokens += t.outputTokens
            sum.cost = sum.cost + t.cost
            sums[t.cost.currency.code] = sum
        }
        return sums.keys.sorted().map { sums[$0]! }
    }
}

/// One recorded call: when (wall milliseconds), for which job, run and task, and the call.
public struct SpendEntry: Sendable, Hashable {
    public var at: Int64
    public var job: String?
    public var runID: Int64?
    public var taskKey: String?
    public var call: MeteredCall
}

/// Read-only queries over the `spend` table.
public struct SpendHistory: Sendable {
    private let reader: any DatabaseReader

    /// Queries `store`'s database (read-only or not: `flipsyncctl` opens it read-only).
    public init(store: RunStore) { reader = store.reader }

    /// Totals of every call at or after `since` (milliseconds since the epoch), grouped `by`
    /// job, provider or local day in `timezone`; days in order, jobs and providers by cost
    /// (highest first). One row per group and currency; sums are exact.
    public func totals(since: Int64, by grouping: SpendGrouping, timezone: ZoneRules) throws(LedgerError) -> [SpendTotal] {
        do {
            return try reader.read { db in
                guard try db.tableExists("spend") else { return [] }
                let key: SQL
                switch grouping {
                case .job: key = "job"
                case .provider: key = "provider"
                case .day:
                    let span = try Row.fetchOne(db, sql: "SELECT MIN(at_ms) AS first, MAX(at_ms) AS last FROM spend WHERE at_ms >= ?",
                                                arguments: [since])
                    guard let first = try span?.decode(Int64?.self, forColumn: "first"),
                          let last = try span?.decode(Int64?.self, forColumn: "last") else { return [] }
                    key = Self.localDayNumber(timezone, from: first, through: last)
                }
                let order: SQL = grouping == .day ? "grouping_key" : "cost DESC, grouping_key"
                let request = SQLRequest<Row>(literal: """
                    SELECT \(key) AS grouping_key, currency, COUNT(*) AS calls, SUM(served_from_cache) AS cached_calls,
                           SUM(units) AS units, SUM(input_tokens) AS input_tokens,
                           SUM(cached_input_tokens) AS cached_input_tokens, SUM(output_tokens) AS output_tokens,
                           SUM(cost_micros) AS cost, \(sql: NotIntegers.counted("cost_micros"))
                    FROM spend WHERE at_ms >= \(since)
                    GROUP BY grouping_key, currency ORDER BY \(order), currency
                    """)
                return try request.fetchAll(db).map { row throws -> SpendTotal in
                    try NotIntegers.check(row, table: "spend", column: "cost_micros")
                    let code: String = try row.decode(forColumn: "currency")
                    guard let currency = Currency(code: code) else { throw LedgerError.storage("unknown currency \"\(code)\" in spend") }
                    let key: String? = grouping == .day
                        ? String(CivilDateTime(utcSeconds: try row.decode(Int64.self, forColumn: "grouping_key") * 86_400).iso8601.prefix(10))
                        : try row.decode(String?.self, forColumn: "grouping_key")
                    return SpendTotal(key: key, calls: try row.decode(forColumn: "calls"), cachedCalls: try row.decode(forColumn: "cached_calls"),
                                      units: try row.decode(forColumn: "units"),
                                      inputTokens: try row.decode(forColumn: "input_tokens"), cachedInputTokens: try row.decode(forColumn: "cached_input_tokens"),
                                      outputTokens: try row.decode(forColumn: "output_tokens"), cost: Money(micros: try row.decode(forColumn: "cost"), currency: currency))
                }
            }
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    /// Every call recorded for run `runID`, in the order recorded.
    public func calls(runID: Int64) throws(LedgerError) -> [SpendEntry] {
        do {
            return try reader.read { db in
                guard try db.tableExists("spend") else { return [] }
                return try SpendRow.fetchAllNamed(db, SpendRow.filter(sql: "run_id = ?", arguments: [runID]).order(sql: "id"), key: ["id"])
                    .map { try $0.entry() }
            }
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    /// SQL for the local day number (days since 1970-01-01 in `zone`) of `at_ms`, exact for
    /// rows from `from` through `through`: the zone's UTC offset is piecewise constant between
    /// its transitions, so a CASE over the transitions in that range gives every row its offset.
    private static func localDayNumber(_ zone: ZoneRules, from: Int64, through: Int64) -> SQL {
        var seconds = Timestamp(milliseconds: from).secondsSinceEpoch
        var current = Int64(zone.utcOffset(at: seconds)) * 1000
        var cases: SQL = ""
        while let transition = zone.transition(after: seconds), transition.at * 1000 <= through {
            cases.append(literal: "WHEN at_ms < \(transition.at * 1000) THEN \(current) ")
            current = Int64(transition.after.utcOffset) * 1000
            seconds = transition.at
        }
        let offset: SQL = cases.isEmpty ? "\(current)" : "CASE \(cases)ELSE \(current) END"
        return "(at_ms + \(offset)) / 86400000"
    }
}
