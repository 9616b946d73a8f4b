import FlipSyncCore
import FlipSyncStore

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
