import FlipSyncCore
import FlipSyncStore

/// The report on a period: spend per local day per provider against the daily budget, runs per
/// job with their status and lateness, and each repricing sweep's coverage.
public struct PeriodReport: Sendable {
    public struct SpendDay: Sendable, Hashable {
        public var day: String
        public var provider: String
        public var calls: Int64
        public var micros: Int64
    }

    public struct Coverage: Sendable, Hashable {
        public var sweep: Int64
        public var day: String
        public var marketplace: String
        public var listings: Int
        public var checked: Int
    }

    public var since: Int64
    public var until: Int64
    public var timezone: ZoneRules
    public var currency: Currency
    public var runs: [RunInfo]
    public var spend: [SpendDay]
    public var dailyBudget: Money?
    public var monthlyBudget: Money?
    public var coverage: [Coverage]

    public init(since: Int64, until: Int64, timezone: ZoneRules, currency: Currency, runs: [RunInfo], spend: [SpendDay],
                dailyBudget: Money?, monthlyBudget: Money?, coverage: [Coverage]) {
        self.since = since
        self.until = until
        self.timezone = timezone
        self.currency = currency
        self.runs = runs
        self.spend = spend
        self.dailyBudget = dailyBudget
        self.monthlyBudget = monthlyBudget
        self.coverage = coverage
    }

    static func dayKey(_ periods: LocalPeriods, _ milliseconds: Int64) -> String {
        let d = periods.date(atMilliseconds: milliseconds)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(d.year)-\(two(d.month))-\(two(d.day))"
    }

    /// Reads the period from `since` to `until` (wall milliseconds) from the ledger.
    public static func load(store: any ReportReading, config: FlipSyncConfig, since: Int64, until: Int64) throws -> PeriodReport {
        let periods = LocalPeriods(zone: config.timezone)
        var spend: [String: SpendDay] = [:]
        for q in try store.spendQuarterHours(since: since) where q.currency == config.currency.code {
            let day = dayKey(periods, q.quarterHour * 900_000)
            spend["\(day)/\(q.provider)", default: SpendDay(day: day, provider: q.provider, calls: 0, micros: 0)].calls += q.calls
            spend["\(day)/\(q.provider)"]!.micros += q.micros
        }
        let runs = try store.runs(createdSince: since)
        let created = Dictionary(runs.map { ($0.id, $0.createdAt) }, uniquingKeysWith: { a, _ in a })
        let coverage = try store.sweepCoverage(since: since).map {
            Coverage(sweep: $0.sweep, day: dayKey(periods, created[$0.sweep] ?? since), marketplace: $0.marketplace,
                     listings: $0.listings, checked: $0.checked)
        }
        return PeriodReport(since: since, until: until, timezone: config.timezone, currency: config.currency, runs: runs,
                            spend: spend.values.sorted { ($0.day, $0.provider) < ($1.day, $1.provider) },
                            dailyBudget: config.dailyBudget, monthlyBudget: config.monthlyBudget, coverage: coverage)
    }

    /// How late a scheduled run started after its fire time, in milliseconds (nil for manual runs
    /// and runs that never started).
    static func lateness(_ run: RunInfo) -> Int64? {
        guard let scheduled = run.scheduledAt, let started = run.startedAt else { return nil }
        return max(0, started - scheduled * 1000)
    }

    /// Every local day from `since` to `until`, in order.
    var days: [String] {
        let periods = LocalPeriods(zone: timezone)
        var out: [String] = [], at = since
        while at < until, out.count < 400 {
            out.append(Self.dayKey(periods, at))
            at = periods.day(containing: at).upperBound
        }
        return out
    }

    // Not optimised, nor are the charts it calls: Swift 6.3.1's optimiser crashes on these in
    // release builds ("Found ownership error?!" in CopyPropagation); a report needs no speed.
    @_optimize(none)
    public func html() -> String {
        let e = HTML.escape
        let periods = LocalPeriods(zone: timezone)
        var body = "<h1>FlipSync: \(e(Self.dayKey(periods, since))) to \(e(Self.dayKey(periods, max(since, until - 1))))</h1>"
        let total = spend.reduce(Int64(0)) { $0 + $1.micros }
        body += "<p class=\"meta\">time zone \(e(timezone.identifier)) · \(runs.count) runs · spend \(e(Money(micros: total, currency: currency).description))"
        if let monthly = monthlyBudget { body += " (monthly budget \(e(monthly.description)))" }
        body += "</p>"
        body += "<h2>Spend per day per provider</h2>" + spendChart()
        body += "<h2>Runs per job</h2>" + runsChart() + runsTable()
        body += "<h2>Coverage per night (repricing sweeps)</h2>" + coverageChart()
        return HTML.page(title: "FlipSync report since \(Self.dayKey(periods, since))", body: body)
    }

    /// Stacked bars per local day, one `<rect class="spend">` per day and provider with spend,
    /// and the daily budget as a red dashed `<line class="budget">`.
    func spendChart() -> String {
        let days = self.days
        guard !days.isEmpty else { return "<p class=\"meta\">No days in the period.</p>" }
        let providers = Array(Set(spend.map(\.provider))).sorted()
        var perDay: [String: Int64] = [:]
        for s in spend { perDay[s.day, default: 0] += s.micros }
        let most = max(perDay.values.max() ?? 0, dailyBudget?.micros ?? 0, 1)
        let width = 900.0, height = 320.0, left = 80.0, bottom = 50.0, top = 16.0
        let slot = (width - left - 20) / Double(days.count)
        func y(_ micros: Int64) -> Double { height - bottom - (height - top - bottom) * Double(micros) / Double(most) }
        var svg = "<svg class=\"spend-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        svg += "<line x1=\"\(HTML.n(left))\" y1=\"\(HTML.n(height - bottom))\" x2=\"\(HTML.n(width - 20))\" y2=\"\(HTML.n(height - bottom))\" stroke=\"#888\"/>"
        let step = HTML.niceStep(most)
        for m in stride(from: Int64(0), through: most, by: Int(step)) {
            svg += "<text x=\"\(HTML.n(left - 6))\" y=\"\(HTML.n(y(m) + 4))\" text-anchor=\"end\">\(HTML.escape(Money(micros: m, currency: currency).decimalString))</text>"
        }
        let byKey = Dictionary(spend.map { ("\($0.day)/\($0.provider)", $0) }, uniquingKeysWith: { a, _ in a })
        for (i, day) in days.enumerated() {
            var stacked: Int64 = 0
            let x = left + Double(i) * slot
            for (p, provider) in providers.enumerated() {
                guard let s = byKey["\(day)/\(provider)"], s.micros > 0 else { continue }
                let y0 = y(stacked), y1 = y(stacked + s.micros)
                stacked += s.micros
                let barWidth = min(60, max(1, slot - 4))
                svg += "<rect class=\"spend\" data-day=\"\(HTML.escape(day))\" data-provider=\"\(HTML.escape(provider))\" data-micros=\"\(s.micros)\" x=\"\(HTML.n(x + (slot - barWidth) / 2))\" y=\"\(HTML.n(y1))\" width=\"\(HTML.n(barWidth))\" height=\"\(HTML.n(max(0.5, y0 - y1)))\" fill=\"\(HTML.palette[p % HTML.palette.count])\"><title>\(HTML.escape("\(day) \(provider): \(Money(micros: s.micros, currency: currency)) (\(s.calls) calls)"))</title></rect>"
            }
            if days.count <= 16 || i % max(1, days.count / 10) == 0 {
                svg += "<text x=\"\(HTML.n(x + slot / 2))\" y=\"\(HTML.n(height - bottom + 16))\" text-anchor=\"middle\">\(HTML.escape(String(day.suffix(5))))</text>"
            }
        }
        if let budget = dailyBudget {
            svg += "<line class=\"budget\" x1=\"\(HTML.n(left))\" y1=\"\(HTML.n(y(budget.micros)))\" x2=\"\(HTML.n(width - 20))\" y2=\"\(HTML.n(y(budget.micros)))\" stroke=\"#d00\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>"
            svg += "<text x=\"\(HTML.n(width - 24))\" y=\"\(HTML.n(y(budget.micros) - 4))\" text-anchor=\"end\" style=\"fill:#d00\">daily budget \(HTML.escape(budget.description))</text>"
        }
        svg += "</svg><p class=\"legend\">"
        for (p, provider) in providers.enumerated() {
            svg += "<span><i class=\"swatch\" style=\"background:\(HTML.palette[p % HTML.palette.count])\"></i>\(HTML.escape(provider))</span>"
        }
        if dailyBudget == nil { svg += "<span>no daily budget set</span>" }
        return svg + "</p>"
    }

    /// One row per job, one `<circle class="run">` per run at its creation time, coloured by status.
    func runsChart() -> String {
        let jobs = Array(Set(runs.map(\.job))).sorted()
        guard !jobs.isEmpty else { return "<p class=\"meta\">No runs in the period.</p>" }
        let width = 900.0, left = 200.0, rowHeight = 26.0, height = Double(jobs.count) * rowHeight + 40
        let span = Double(max(until - since, 1))
        func x(_ ms: Int64) -> Double { left + (width - left - 20) * Double(ms - since) / span }
        var svg = "<svg class=\"runs-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        for (j, job) in jobs.enumerated() {
            let y = 16 + Double(j) * rowHeight
            svg += "<text x=\"\(HTML.n(left - 8))\" y=\"\(HTML.n(y + 4))\" text-anchor=\"end\">\(HTML.escape(job))</text>"
            svg += "<line x1=\"\(HTML.n(left))\" y1=\"\(HTML.n(y))\" x2=\"\(HTML.n(width - 20))\" y2=\"\(HTML.n(y))\" stroke=\"#eee\"/>"
        }
        let row = Dictionary(uniqueKeysWithValues: jobs.enumerated().map { ($1, $0) })
        for run in runs {
            let y = 16 + Double(row[run.job]!) * rowHeight
            let color = HTML.statusColors[run.status.rawValue] ?? "#000"
            var title = "run \(run.id) \(run.job): \(run.status.rawValue) at \(RunReport.local(run.createdAt, timezone))"
            if let late = Self.lateness(run) { title += ", \(late) ms late" }
            svg += "<circle class=\"run status-\(HTML.escape(run.status.rawValue))\" cx=\"\(HTML.n(x(run.createdAt)))\" cy=\"\(HTML.n(y))\" r=\"6\" fill=\"\(color)\"><title>\(HTML.escape(title))</title></circle>"
        }
        let periods = LocalPeriods(zone: timezone)
        svg += "<text x=\"\(HTML.n(left))\" y=\"\(HTML.n(height - 6))\">\(HTML.escape(Self.dayKey(periods, since)))</text>"
        svg += "<text x=\"\(HTML.n(width - 20))\" y=\"\(HTML.n(height - 6))\" text-anchor=\"end\">\(HTML.escape(Self.dayKey(periods, max(since, until - 1))))</text>"
        svg += "</svg><p class=\"legend\">"
        for status in RunStatus.allCases where runs.contains(where: { $0.status == status }) {
            svg += "<span><i class=\"swatch\" style=\"background:\(HTML.statusColors[status.rawValue] ?? "#000")\"></i>\(HTML.escape(status.rawValue))</span>"
        }
        return svg + "</p>"
    }

    func runsTable() -> String {
        let jobs = Dictionary(grouping: runs, by: \.job).sorted { $0.key < $1.key }
        var html = "<table class=\"runs\"><tr><th>job</th><th>runs</th><th>by status</th><th>lateness p50</th><th>lateness max</th></tr>"
        for (job, runs) in jobs {
            let statuses = Dictionary(grouping: runs, by: \.status.rawValue).map { "\($0.key) \($0.value.count)" }.sorted().joined(separator: ", ")
            let late = runs.compactMap(Self.lateness).sorted()
            let p50 = late.isEmpty ? "–" : "\(late[(late.count - 1) / 2]) ms"
            let max = late.last.map { "\($0) ms" } ?? "–"
            html += "<tr><td>\(HTML.escape(job))</td><td class=\"num\">\(runs.count)</td><td>\(HTML.escape(statuses))</td><td class=\"num\">\(p50)</td><td class=\"num\">\(max)</td></tr>"
        }
        return html + "</table>"
    }

    /// One `<rect class="coverage">` per sweep and marketplace: the share of its listings it checked.
    func coverageChart() -> String {
        guard !coverage.isEmpty else { return "<p class=\"meta\">No repricing sweep in the period.</p>" }
        let rows = coverage.map { c in
            (label: "\(c.day) run \(c.sweep) \(c.marketplace)", value: c.checked, listings: c.listings)
        }
        let width = 900.0, left = 260.0, rowHeight = 22.0, height = Double(rows.count) * rowHeight + 20
        var svg = "<svg class=\"coverage-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        for (i, r) in rows.enumerated() {
            let y = 10 + Double(i) * rowHeight
            let full = width - left - 120
            let w = full * Double(r.value) / Double(max(1, r.listings))
            svg += "<text x=\"\(HTML.n(left - 6))\" y=\"\(HTML.n(y + 14))\" text-anchor=\"end\">\(HTML.escape(r.label))</text>"
            svg += "<rect x=\"\(HTML.n(left))\" y=\"\(HTML.n(y + 2))\" width=\"\(HTML.n(full))\" height=\"\(HTML.n(rowHeight - 6))\" fill=\"#eee\"/>"
            svg += "<rect class=\"coverage\" data-checked=\"\(r.value)\" data-listings=\"\(r.listings)\" x=\"\(HTML.n(left))\" y=\"\(HTML.n(y + 2))\" width=\"\(HTML.n(max(1, w)))\" height=\"\(HTML.n(rowHeight - 6))\" fill=\"#1e8e3e\"/>"
            svg += "<text x=\"\(HTML.n(left + full + 6))\" y=\"\(HTML.n(y + 14))\">\(r.value) of \(r.listings)</text>"
        }
        return svg + "</svg>"
    }
}
