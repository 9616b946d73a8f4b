import FlipSyncCore
import FlipSyncStore

/// `flipsyncctl report --html`: one self-contained HTML file, its charts inline SVG drawn here.
/// No script, no stylesheet, font or image from anywhere else (the page's CSP forbids them), so
/// it opens the same offline, from a mail attachment or a file share.
///
/// Every piece of text from the ledger (SKUs, titles, job names, errors, summaries) is untrusted:
/// it goes through `HTML.escape` before it reaches the page, in text and in attributes alike.
public enum HTML {
    /// `&`, `<`, `>`, `"` and `'` as entities: safe in element text and in quoted attributes.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters (other than tab and newline) never reach the page.
                if c.value < 0x20 && c != "\n" && c != "\t" { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    /// A round tick step for an axis spanning `span` micros: 1, 2 or 5 × 10^k micros, about
    /// five ticks across.
    static func niceStep(_ span: Int64) -> Int64 {
        var step: Int64 = 1
        while true {
            for m: Int64 in [1, 2, 5] where span / (step * m) <= 6 { return step * m }
            step *= 10
        }
    }

    /// A number for an SVG attribute: one decimal, no exponent.
    static func n(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let tenths = (value * 10).rounded()
        let whole = Int64(tenths) / 10, frac = abs(Int64(tenths) % 10)
        return (tenths < 0 && whole == 0 ? "-" : "") + "\(whole)" + (frac == 0 ? "" : ".\(frac)")
    }

    public static func page(title: String, body: String,
                            footer: String = "Drawn by FlipSync from the run ledger. No script, nothing loaded from the network.") -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
        <title>\(escape(title))</title>
        <style>
        body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; max-width: 1150px; }
        h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; }
        .meta { color: #555; } table { border-collapse: collapse; margin: 8px 0; }
        td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; } th { background: #f3f3f3; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .verdict { padding: 10px 14px; border-radius: 6px; font-weight: bold; margin: 8px 0; }
        .verdict.ok { background: #e6f4ea; border: 2px solid #1e8e3e; color: #0d5223; }
        .verdict.bad { background: #fde7e7; border: 3px solid #c5221f; color: #8c1111; font-size: 16px; }
        .verdict.info { background: #eef3fb; border: 2px solid #4a6fa5; color: #23395d; }
        svg { background: #fff; border: 1px solid #ddd; } svg text { font: 11px sans-serif; fill: #333; }
        .legend span { display: inline-block; margin-right: 14px; } .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
        </style>
        </head>
        <body>
        \(body)
        <p class="meta">\(escape(footer))</p>
        </body>
        </html>

        """
    }

    static let statusColors: [String: String] = [
        "succeeded": "#1e8e3e", "failed": "#c5221f", "timed_out": "#e8710a", "cancelled": "#80868b", "skipped": "#bdc1c6",
        "interrupted": "#9334e6", "budget_exhausted": "#8d6e63", "running": "#1a73e8", "queued": "#8ab4f8",
    ]
    static let palette = ["#1a73e8", "#e8710a", "#1e8e3e", "#9334e6", "#c5221f", "#12b5cb", "#f9ab00", "#5f6368"]

    /// A horizontal bar chart: one `<rect class="CLASS">` per row, labelled on the left.
    static func horizontalBars(_ rows: [(label: String, value: Int, color: String)], cssClass: String, width: Int = 900) -> String {
        let rowHeight = 22, left = 260, height = max(1, rows.count) * rowHeight + 20
        let top = rows.map(\.value).max() ?? 1
        var svg = "<svg class=\"\(cssClass)-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\">"
        for (i, row) in rows.enumerated() {
            let y = 10 + i * rowHeight
            let w = Double(width - left - 60) * Double(row.value) / Double(max(1, top))
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 14)\" text-anchor=\"end\">\(escape(row.label))</text>"
            svg += "<rect class=\"\(cssClass)\" data-count=\"\(row.value)\" x=\"\(left)\" y=\"\(y + 2)\" width=\"\(n(max(1, w)))\" height=\"\(rowHeight - 6)\" fill=\"\(row.color)\"><title>\(escape(row.label)): \(row.value)</title></rect>"
            svg += "<text x=\"\(n(Double(left) + max(1, w) + 4))\" y=\"\(y + 14)\">\(row.value)</text>"
        }
        return svg + "</svg>"
    }
}

/// The report on one repricing run: its decisions, their price changes, the floor and ceiling
/// of each, the reasons and the circuit breaker's verdict.
public struct RunReport: Sendable {
    public var run: RunInfo
    public var decisions: [PricingDecision]
    /// Listing titles by `marketplace/sku` (from the sweep's snapshot).
    public var titles: [String: String]
    public var timezone: ZoneRules

    public init(run: RunInfo, decisions: [PricingDecision], titles: [String: String], timezone: ZoneRules) {
        self.run = run
        self.decisions = decisions
        self.titles = titles
        self.timezone = timezone
    }

    /// Reads run `id` and its decisions from the ledger.
    public static func load(store: any ReportReading, runID: Int64, timezone: ZoneRules) throws -> RunReport {
        guard let run = try store.run(id: runID) else { throw ReportError("no run \(runID) in the ledger") }
        guard run.kind == JobKind.repricingSweep.rawValue else {
            throw ReportError("run \(runID) is a \(run.kind) run; a run report is for repricing-sweep runs (use --since for the others)")
        }
        return RunReport(run: run, decisions: try store.decisions(sweep: runID), titles: try store.sweepTitles(sweep: runID),
                         timezone: timezone)
    }

    /// A decision's new price outside its floor or ceiling: never meant to happen, shown loudly.
    public static func violates(_ d: PricingDecision) -> Bool {
        guard let new = d.newPriceMicros else { return false }
        if let floor = d.floorMicros, new < floor { return true }
        if let ceiling = d.ceilingMicros, new > ceiling { return true }
        return false
    }

    /// The decisions that change a price, and the change in percent of the old price.
    var changes: [(PricingDecision, Double)] {
        decisions.compactMap { d in
            guard let new = d.newPriceMicros, d.oldPriceMicros > 0 else { return nil }
            return (d, Double(new - d.oldPriceMicros) * 100 / Double(d.oldPriceMicros))
        }
    }

    /// The breaker's verdict: tripped when it blocked the run's decisions.
    public var breakerTripped: Bool { decisions.contains { $0.state == .blocked } }

    // Not optimised, nor are the charts it calls: Swift 6.3.1's optimiser crashes on these in
    // release builds ("Found ownership error?!" in CopyPropagation); a report needs no speed.
    @_optimize(none)
    public func html() -> String {
        let e = HTML.escape
        let violations = decisions.filter(Self.violates)
        var body = "<h1>Repricing run \(run.id): \(e(run.job))</h1>"
        body += "<p class=\"meta\">status <b>\(e(run.status.rawValue))</b>"
        if let started = run.startedAt { body += " · started \(e(Self.local(started, timezone)))" }
        if let finished = run.finishedAt { body += " · finished \(e(Self.local(finished, timezone)))" }
        body += " · spend \(run.spendMicros) micros · \(decisions.count) decisions"
        if let summary = run.summary { body += "<br>\(e(summary))" }
        body += "</p>"

        body += "<h2>Circuit breaker</h2>"
        if breakerTripped {
            body += "<div class=\"verdict bad\" id=\"breaker\" data-tripped=\"true\">TRIPPED: nothing was applied. \(e(run.error ?? ""))</div>"
        } else if decisions.contains(where: { $0.state == .dryRun }) {
            body += "<div class=\"verdict info\" id=\"breaker\" data-tripped=\"false\">Not tripped (dry run: nothing sent).</div>"
        } else {
            body += "<div class=\"verdict ok\" id=\"breaker\" data-tripped=\"false\">Not tripped: the changes went ahead.</div>"
        }

        body += "<h2>Floor and ceiling</h2>"
        if violations.isEmpty {
            body += "<div class=\"verdict ok\" id=\"violations\" data-count=\"0\">Every new price is within its floor and ceiling.</div>"
        } else {
            body += "<div class=\"verdict bad\" id=\"violations\" data-count=\"\(violations.count)\">\(violations.count) NEW PRICE\(violations.count == 1 ? "" : "S") OUTSIDE FLOOR/CEILING (red in the chart, listed below)</div>"
        }
        body += "<h2>Old price against new price</h2>" + scatter()
        if !violations.isEmpty {
            body += "<table class=\"violations\"><tr><th>marketplace</th><th>SKU</th><th>title</th><th>old</th><th>new</th><th>floor</th><th>ceiling</th></tr>"
            for d in violations {
                body += "<tr><td>\(e(d.marketplace.rawValue))</td><td>\(e(d.sku))</td><td>\(e(titles["\(d.marketplace.rawValue)/\(d.sku)"] ?? ""))</td>"
                body += "<td class=\"num\">\(money(d.oldPriceMicros, d))</td><td class=\"num\">\(d.newPriceMicros.map { money($0, d) } ?? "")</td>"
                body += "<td class=\"num\">\(d.floorMicros.map { money($0, d) } ?? "")</td><td class=\"num\">\(d.ceilingMicros.map { money($0, d) } ?? "")</td></tr>"
            }
            body += "</table>"
        }
        body += "<h2>Price changes (percent of the old price)</h2>" + histogram()
        body += "<h2>Decisions by reason</h2>"
        let reasons = Dictionary(grouping: decisions, by: \.reasonCode).map { ($0.key, $0.value.count) }
            .sorted { ($0.1, $1.0) > ($1.1, $0.0) }
        body += HTML.horizontalBars(reasons.enumerated().map { (i, r) in (r.0, r.1, HTML.palette[i % HTML.palette.count]) },
                                    cssClass: "reason")
        return HTML.page(title: "FlipSync: repricing run \(run.id) (\(run.job))", body: body)
    }

    func money(_ micros: Int64, _ d: PricingDecision) -> String {
        HTML.escape(Money(micros: micros, currency: d.oldPrice.currency).decimalString)
    }

    static func local(_ milliseconds: Int64, _ zone: ZoneRules) -> String {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        return zone.localDateTime(at: seconds).iso8601.replacingOccurrencesOfT() + " " + zone.type(at: seconds).abbreviation
    }

    /// One `<circle class="point">` per decision at (old, new) — a hold at (old, old) — over
    /// the line new = old, with the decision's floor-to-ceiling range as a grey bar at its old
    /// price; a new price outside it is a large red `violation` point.
    @_optimize(none)  // see html()
    func scatter() -> String {
        let width = 900.0, height = 560.0, left = 70.0, bottom = 40.0, top = 16.0, right = 20.0
        var values: [Int64] = []
        for d in decisions {
            values.append(d.oldPriceMicros)
            if let v = d.newPriceMicros { values.append(v) }
            if let v = d.floorMicros { values.append(v) }
            if let v = d.ceilingMicros { values.append(v) }
        }
        let lo = Double(values.min() ?? 0) * 0.95, hi = Double(max(values.max() ?? 1, 1)) * 1.05
        let span = max(hi - lo, 1)
        func x(_ m: Int64) -> Double { left + (Double(m) - lo) / span * (width - left - right) }
        func y(_ m: Int64) -> Double { height - bottom - (Double(m) - lo) / span * (height - top - bottom) }
        var svg = "<svg class=\"scatter\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        svg += "<line x1=\"\(HTML.n(left))\" y1=\"\(HTML.n(height - bottom))\" x2=\"\(HTML.n(width - right))\" y2=\"\(HTML.n(height - bottom))\" stroke=\"#888\"/>"
        svg += "<line x1=\"\(HTML.n(left))\" y1=\"\(HTML.n(top))\" x2=\"\(HTML.n(left))\" y2=\"\(HTML.n(height - bottom))\" stroke=\"#888\"/>"
        let l = Int64(lo), h = Int64(hi)
        svg += "<line class=\"diagonal\" x1=\"\(HTML.n(x(l)))\" y1=\"\(HTML.n(y(l)))\" x2=\"\(HTML.n(x(h)))\" y2=\"\(HTML.n(y(h)))\" stroke=\"#aaa\" stroke-dasharray=\"4 4\"/>"
        let currency = decisions.first?.oldPrice.currency ?? .usd
        let step = HTML.niceStep(h - l)
        for m in stride(from: (l + step - 1) / step * step, through: h, by: Int(step)) {
            let label = HTML.escape(Money(micros: m, currency: currency).decimalString)
            svg += "<text x=\"\(HTML.n(x(m)))\" y=\"\(HTML.n(height - bottom + 16))\" text-anchor=\"middle\">\(label)</text>"
            svg += "<text x=\"\(HTML.n(left - 6))\" y=\"\(HTML.n(y(m) + 4))\" text-anchor=\"end\">\(label)</text>"
        }
        svg += "<text x=\"\(HTML.n(width / 2))\" y=\"\(HTML.n(height - 4))\" text-anchor=\"middle\">old price</text>"
        svg += "<text x=\"14\" y=\"\(HTML.n(height / 2))\" transform=\"rotate(-90 14 \(HTML.n(height / 2)))\" text-anchor=\"middle\">new price</text>"
        for d in decisions {
            if let floor = d.floorMicros, let ceiling = d.ceilingMicros {
                svg += "<line class=\"bounds\" x1=\"\(HTML.n(x(d.oldPriceMicros)))\" y1=\"\(HTML.n(y(floor)))\" x2=\"\(HTML.n(x(d.oldPriceMicros)))\" y2=\"\(HTML.n(y(ceiling)))\" stroke=\"#d0d0d0\" stroke-width=\"3\"/>"
            }
        }
        // Violations last, on top of everything.
        for d in decisions.sorted(by: { !Self.violates($0) && Self.violates($1) }) {
            let new = d.newPriceMicros ?? d.oldPriceMicros
            let bad = Self.violates(d)
            let kind = bad ? "violation" : d.newPriceMicros == nil ? "hold" : "change"
            let style = bad ? "r=\"8\" fill=\"#d00\" stroke=\"#000\" stroke-width=\"2\""
                : d.newPriceMicros == nil ? "r=\"3\" fill=\"#9aa0a6\"" : "r=\"3.5\" fill=\"#1a73e8\""
            let title = "\(d.marketplace.rawValue) \(d.sku): \(money(d.oldPriceMicros, d)) → \(d.newPriceMicros.map { money($0, d) } ?? "hold") (\(d.reasonCode))"
            svg += "<circle class=\"point \(kind)\" cx=\"\(HTML.n(x(d.oldPriceMicros)))\" cy=\"\(HTML.n(y(new)))\" \(style)><title>\(HTML.escape(title))</title></circle>"
        }
        svg += "</svg>"
        svg += "<p class=\"legend\"><span><i class=\"swatch\" style=\"background:#1a73e8\"></i>changed</span><span><i class=\"swatch\" style=\"background:#9aa0a6\"></i>held</span><span><i class=\"swatch\" style=\"background:#d00\"></i>outside floor/ceiling</span><span><i class=\"swatch\" style=\"background:#d0d0d0\"></i>floor to ceiling</span></p>"
        return svg
    }

    /// Bins of whole percents (wider when the spread is large), one `<rect class="bar">` per
    /// non-empty bin with `data-count`.
    @_optimize(none)  // see html()
    func histogram() -> String {
        let pcts = changes.map(\.1)
        guard !pcts.isEmpty else { return "<p class=\"meta\" id=\"no-changes\">No price changed.</p>" }
        let lo = (pcts.min()!).rounded(.down), hi = max((pcts.max()!).rounded(.up), lo + 1)
        let binWidth = max(1, ((hi - lo) / 30).rounded(.up))
        let bins = Int(((hi - lo) / binWidth).rounded(.up)) + 1
        var counts = [Int](repeating: 0, count: bins)
        for p in pcts { counts[min(bins - 1, Int(((p - lo) / binWidth).rounded(.down)))] += 1 }
        let width = 900.0, height = 300.0, left = 50.0, bottom = 40.0, top = 16.0
        let barWidth = (width - left - 20) / Double(bins)
        let most = Double(counts.max() ?? 1)
        var svg = "<svg class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        svg += "<line x1=\"\(HTML.n(left))\" y1=\"\(HTML.n(height - bottom))\" x2=\"\(HTML.n(width - 20))\" y2=\"\(HTML.n(height - bottom))\" stroke=\"#888\"/>"
        for (i, count) in counts.enumerated() {
            let from = lo + Double(i) * binWidth
            let x = left + Double(i) * barWidth
            if count > 0 {
                let h = (height - top - bottom) * Double(count) / most
                svg += "<rect class=\"bar\" data-count=\"\(count)\" x=\"\(HTML.n(x + 1))\" y=\"\(HTML.n(height - bottom - h))\" width=\"\(HTML.n(max(1, barWidth - 2)))\" height=\"\(HTML.n(h))\" fill=\"\(from < 0 ? "#e8710a" : "#1e8e3e")\"><title>\(HTML.n(from))% to \(HTML.n(from + binWidth))%: \(count)</title></rect>"
                svg += "<text x=\"\(HTML.n(x + barWidth / 2))\" y=\"\(HTML.n(height - bottom - h - 3))\" text-anchor=\"middle\">\(count)</text>"
            }
            if bins <= 16 || i % max(1, bins / 12) == 0 {
                svg += "<text x=\"\(HTML.n(x))\" y=\"\(HTML.n(height - bottom + 16))\" text-anchor=\"middle\">\(HTML.n(from))%</text>"
            }
        }
        svg += "<text x=\"\(HTML.n(width / 2))\" y=\"\(HTML.n(height - 4))\" text-anchor=\"middle\">change in percent of the old price (\(pcts.count) changes; orange: cuts, green: raises)</text>"
        return svg + "</svg>"
    }
}

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

public struct ReportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension String {
    func replacingOccurrencesOfT() -> String {
        guard let t = firstIndex(of: "T") else { return self }
        return String(self[..<t]) + " " + String(self[index(after: t)...])
    }
}

/// The decision's amounts as the charts draw them: micro-units of the listing's currency.
private extension PricingDecision {
    var oldPriceMicros: Int64 { oldPrice.micros }
    var newPriceMicros: Int64? { newPrice?.micros }
    var floorMicros: Int64? { floor?.micros }
    var ceilingMicros: Int64? { ceiling?.micros }
    var reasonCode: String { reason.rawValue }
}
