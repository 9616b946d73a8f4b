import ArgumentParser
import FlipSyncCore
import FlipSyncStore

extension SpendGrouping: ExpressibleByArgument {}

struct SpendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spend",
        abstract: "Show what the API calls cost, by day, job or provider, from the spend ledger.",
        discussion: """
            Reads the run ledger (SQLite or PostgreSQL) read-only, so it works while the daemon is down. Every \
            metered call the daemon made since --since (a local date in the daemon's time zone; \
            default: the first of the current month) is summed by local day, job or provider: \
            CALLS, CACHED (the share answered from a local cache, no request sent), UNITS, input, \
            cached-input and output TOKENS, and COST, exact to the micro-unit (0.004215 USD). \
            The TOTAL line sums each currency. --json prints the same rows with cost_micros.
            """
    )

    @OptionGroup var ledger: LedgerOptions

    @Option(name: .long, help: ArgumentHelp("The first local day to count (default: the first of this month).", valueName: "YYYY-MM-DD"))
    var since: String?

    @Option(name: .long, help: "Group by day, job or provider.")
    var by: SpendGrouping = .day

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Flag(name: .long, help: """
        Instead: what LLM product matching cost since the date, measured from the ledger, against what \
        the same judgements would have cost as uncached calls to the premium model ([prices.openai]).
        """)
    var llmSavings = false

    func run() throws {
        let store = try ledger.open()
        let config = ConfigLocator.load(explicit: ledger.config, environment: .current).config
        let periods = LocalPeriods(zone: config.timezone)
        let start: Int64
        if let since {
            guard let date = Timestamp(parsing: since), since.utf8.count == 10 else {
                printError("flipsyncctl: --since \"\(since)\": expected a date like 2026-11-01")
                throw ExitCode(1)
            }
            start = periods.start(of: CivilDateTime(utcSeconds: date.secondsSinceEpoch).date)
        } else {
            start = periods.month(containing: SystemSchedulerClock().wallMilliseconds()).lowerBound
        }
        if llmSavings {
            try printLLMSavings(store: store.reports, config: config, since: start)
            return
        }
        let totals: [SpendTotal]
        do {
            totals = try store.spendHistory.totals(since: start, by: by, timezone: config.timezone)
        } catch {
            printError("flipsyncctl: \(error)")
            throw ExitCode(1)
        }
        let day = periods.date(atMilliseconds: start)
        let firstDay = String(CivilDateTime(year: day.year, month: day.month, day: day.day).iso8601.prefix(10))
        if json {
            print(try JSONOutput.encode(SpendReport(since: firstDay, timezone: config.timezone.identifier, by: by.rawValue,
                                                    rows: totals.map(SpendReport.Row.init))))
            return
        }
        print("spend since \(firstDay) (\(config.timezone.identifier)), by \(by.rawValue)")
        var rows = [[by.rawValue.uppercased(), "CALLS", "CACHED", "UNITS", "INPUT TOKENS", "CACHED TOKENS", "OUTPUT TOKENS", "COST"]]
        func row(_ key: String, _ t: SpendTotal) -> [String] {
            [key, "\(t.calls)", "\(t.cachedShare)", "\(t.units)", "\(t.inputTokens)", "\(t.cachedInputTokens)",
             "\(t.outputTokens)", "\(t.cost)"]
        }
        for total in totals { rows.append(row(total.key ?? "-", total)) }
        for total in SpendTotal.sums(of: totals) { rows.append(row("TOTAL", total)) }
        print(Table.render(rows), terminator: "")
    }
}

extension SpendCommand {
    /// Model calls and cache hits since `since`, what they cost, and the premium-model cost.
    func printLLMSavings(store: any ReportReading, config: FlipSyncConfig, since: Int64) throws {
        let prices = config.prices["openai"] ?? [:]
        guard let input = prices["input_tokens_per_million"], let output = prices["output_tokens_per_million"] else {
            printError("flipsyncctl: --llm-savings needs [prices.openai] input_tokens_per_million and output_tokens_per_million in the config")
            throw ExitCode(1)
        }
        let savings = try store.llmSavings(since: since, premiumInputPerMillion: input, premiumOutputPerMillion: output)
        if json {
            print(try JSONOutput.encode(savings))
            return
        }
        let currency = Currency(code: savings.currency) ?? config.currency
        func money(_ micros: Int64) -> String { "\(Money(micros: micros, currency: currency))" }
        let calls = savings.modelCalls.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print(Table.render([
            ["LLM PRODUCT MATCHING", ""],
            ["model calls", calls.isEmpty ? "none" : calls],
            ["answered from the cache", "\(savings.cacheHits)"],
            ["tokens in / out", "\(savings.inputTokens) / \(savings.outputTokens)"],
            ["cost, measured", money(savings.actualMicros)],
            ["premium model, uncached", money(savings.premiumMicros)],
            ["saved", money(savings.savedMicros)],
        ]), terminator: "")
    }
}

/// `flipsyncctl spend --json`.
private struct SpendReport: Encodable {
    struct Row: Encodable {
        var key: String?
        var calls: Int64
        var cachedCalls: Int64
        var cachedShare: String
        var units: Int64
        var inputTokens: Int64
        var cachedInputTokens: Int64
        var outputTokens: Int64
        var costMicros: Int64
        var cost: String
        var currency: String

        init(_ t: SpendTotal) {
            (key, calls, cachedCalls, cachedShare, units) = (t.key, t.calls, t.cachedCalls, "\(t.cachedShare)", t.units)
            (inputTokens, cachedInputTokens, outputTokens) = (t.inputTokens, t.cachedInputTokens, t.outputTokens)
            (costMicros, cost, currency) = (t.cost.micros, t.cost.decimalString, t.cost.currency.code)
        }

        enum CodingKeys: String, CodingKey {
            case key, calls, units, cost, currency
            case cachedCalls = "cached_calls", cachedShare = "cached_share", inputTokens = "input_tokens"
            case cachedInputTokens = "cached_input_tokens", outputTokens = "output_tokens", costMicros = "cost_micros"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(key, forKey: .key)  // null for calls outside any job, not left out
            try c.encode(calls, forKey: .calls)
            try c.encode(cachedCalls, forKey: .cachedCalls)
            try c.encode(cachedShare, forKey: .cachedShare)
            try c.encode(units, forKey: .units)
            try c.encode(inputTokens, forKey: .inputTokens)
            try c.encode(cachedInputTokens, forKey: .cachedInputTokens)
            try c.encode(outputTokens, forKey: .outputTokens)
            try c.encode(costMicros, forKey: .costMicros)
            try c.encode(cost, forKey: .cost)
            try c.encode(currency, forKey: .currency)
        }
    }

    var since: String
    var timezone: String
    var by: String
    var rows: [Row]
}
