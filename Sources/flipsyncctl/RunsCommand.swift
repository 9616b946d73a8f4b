import ArgumentParser
import FlipSyncCore
import FlipSyncStore
import Foundation

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List recent runs from the run ledger (works while the daemon is down).",
        discussion: """
            Reads the run ledger (SQLite or PostgreSQL) read-only. Newest first: RUN, JOB, TRIGGER (schedule, \
            catch-up, manual by uid N), SCHEDULED (the fire time the run is for), STARTED, \
            DURATION, STATUS (queued, running, succeeded, failed, cancelled, timed_out, \
            interrupted, skipped, budget_exhausted), SUMMARY.
            """
    )

    @OptionGroup var ledger: LedgerOptions

    @Argument(help: "Only this job's runs.")
    var job: String?

    @Option(name: .long, help: "How many runs (default 20).")
    var limit = 20

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let store = try ledger.open()
        let runs = try store.runs.recentRuns(job: job, limit: max(1, limit))
        if json {
            print(try JSONOutput.encode(runs))
            return
        }
        let zone = systemZone()
        var rows = [["RUN", "JOB", "TRIGGER", "SCHEDULED", "STARTED", "DURATION", "STATUS", "SUMMARY"]]
        for run in runs {
            var trigger = run.trigger.rawValue
            if let uid = run.requestedBy { trigger += " by uid \(uid)" }
            var summary = run.skipReason.map { "skipped: \($0.rawValue)" } ?? run.error ?? run.summary ?? ""
            if summary.count > 80 { summary = String(summary.prefix(77)) + "..." }
            rows.append([
                "\(run.id)", run.job, trigger,
                run.scheduledAt.map { localDescription(Timestamp(secondsSinceEpoch: $0), in: zone) } ?? "-",
                run.startedAt.map { localDescription(Timestamp(milliseconds: $0), in: zone) } ?? "-",
                duration(run), run.status.rawValue, summary,
            ])
        }
        print(Table.render(rows), terminator: "")
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one run and every task of it, from the run ledger.",
        discussion: """
            Reads the run ledger (SQLite or PostgreSQL) read-only, so it works while the daemon is down. --json \
            prints {"run": {...}, "tasks": [...]}, each task's result as the JSON its agent \
            recorded (the evidence behind the run's outcome), and for a repricing sweep \
            "decisions": every listing's decision with its old and new price, floor, ceiling, \
            lowest competitor, Buy Box, the shipping we charge the buyer, offers considered and \
            excluded, strategy, reason code and sentence, state and the \
            marketplace's answer (money in exact micro-units); for a shipping-arbitrage run \
            "shipping": "recommendations" (every line's decision), "losing_lines" (every line \
            whose buyer-paid shipping does not cover the chosen label, worst first), and, when \
            listings were judged, "listing_verdicts" and "losing_listings" the same way.
            """
    )

    @OptionGroup var ledger: LedgerOptions

    @Argument(help: ArgumentHelp("The run's id.", valueName: "run"))
    var runID: Int64

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let store = try ledger.open()
        guard let info = try store.runs.run(id: runID) else {
            printError("flipsyncctl: no run \(runID)")
            throw ExitCode(1)
        }
        let tasks = try store.runs.tasks(runID: runID)
        let decisions = info.kind == JobKind.repricingSweep.rawValue
            ? try store.repricing.decisions(sweep: try store.repricing.sweepID(ofRun: runID)) : []
        let shipping = info.kind == JobKind.shippingArbitrage.rawValue ? try ShippingShow(store: store.shipping, runID: runID) : nil
        if json {
            print(try showJSON(info, tasks, decisions, shipping))
            return
        }
        let zone = systemZone()
        func time(_ ms: Int64?) -> String { ms.map { localDescription(Timestamp(milliseconds: $0), in: zone) } ?? "-" }
        var lines = [
            "run \(info.id): \(info.job) (\(info.kind)) — \(info.status.rawValue)",
            "trigger:   \(info.trigger.rawValue)\(info.requestedBy.map { " by uid \($0)" } ?? "")",
            "scheduled: \(info.scheduledAt.map { localDescription(Timestamp(secondsSinceEpoch: $0), in: zone) } ?? "-")",
            "created:   \(time(info.createdAt))",
            "started:   \(time(info.startedAt))",
            "finished:  \(time(info.finishedAt)) (\(duration(info)))",
            "spend:     \(Money(micros: info.spendMicros, currency: ledger.currency))",
        ]
        if let resumes = info.resumes { lines.append("resumes:   run \(resumes)") }
        if let reason = info.skipReason { lines.append("skipped:   \(reason.rawValue)") }
        if let summary = info.summary { lines.append("summary:   \(summary)") }
        if let error = info.error { lines.append("error:     \(error)") }
        print(lines.joined(separator: "\n"))
        if !tasks.isEmpty {
            print()
            print(Table.render(taskTable(tasks, limit: 40)), terminator: "")
        }
        if !decisions.isEmpty {
            print()
            print(Table.render(decisionTable(decisions, limit: 40)), terminator: "")
        }
        if let shipping, !shipping.losingLines.isEmpty {
            print()
            print(Table.render(losingTable(shipping.losingLines, limit: 40)), terminator: "")
        }
    }

    /// Losing lines, worst first; at most `limit` rows.
    private func losingTable(_ rows: [ShippingRecommendation], limit: Int) -> [[String]] {
        var table = [["MARKETPLACE", "ORDER/LINE", "SKU", "LABEL", "PAID", "SHORT", "SERVICE"]]
        func money(_ micros: Int64?, _ currency: String) -> String {
            micros.map { Money(micros: $0, currency: Currency(code: currency) ?? .usd).decimalString } ?? "-"
        }
        for r in rows.prefix(limit) {
            table.append([r.marketplace.rawValue, "\(r.orderID)/\(r.lineID)", r.sku, money(r.labelMicros, r.currency),
                          money(r.buyerPaidMicros, r.currency), money(r.marginMicros.map { -$0 }, r.currency), r.serviceKey ?? "-"])
        }
        if rows.count > limit { table.append(["…", "\(rows.count - limit) more (--json shows all)", "", "", "", "", ""]) }
        return table
    }

    /// Decisions that change a price first, then holds; at most `limit` rows.
    private func decisionTable(_ decisions: [PricingDecision], limit: Int) -> [[String]] {
        var rows = [["MARKETPLACE", "SKU", "OLD", "NEW", "FLOOR", "CEILING", "LOWEST", "OFFERS", "STATE", "REASON"]]
        func money(_ amount: Money?) -> String { amount?.decimalString ?? "-" }
        let ordered = decisions.filter { $0.newPrice != nil } + decisions.filter { $0.newPrice == nil }
        for d in ordered.prefix(limit) {
            rows.append([d.marketplace.rawValue, d.sku, money(d.oldPrice), money(d.newPrice), money(d.floor), money(d.ceiling),
                         money(d.lowestCompetitorLanded), "\(d.offersConsidered)", d.state.rawValue, d.reason.rawValue])
        }
        if decisions.count > limit { rows.append(["…", "\(decisions.count - limit) more (--json shows all)", "", "", "", "", "", "", "", ""]) }
        return rows
    }

    /// The run and its tasks, with each task's recorded input and result embedded as JSON, not as strings.
    private func showJSON(_ info: RunInfo, _ tasks: [TaskInfo], _ decisions: [PricingDecision], _ shipping: ShippingShow?) throws -> String {
        let encoder = JSONEncoder()
        func object(_ value: some Encodable) throws -> Any { try JSONSerialization.jsonObject(with: encoder.encode(value)) }
        var taskObjects: [Any] = []
        for task in tasks {
            var object = try object(task) as? [String: Any] ?? [:]
            for (key, text) in [("result", task.result), ("input", task.input)] {
                if let text, let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) {
                    object[key] = parsed
                }
            }
            taskObjects.append(object)
        }
        var document: [String: Any] = ["run": try object(info), "tasks": taskObjects]
        if info.kind == JobKind.repricingSweep.rawValue { document["decisions"] = try decisions.map(object) }
        if let shipping {
            var section: [String: Any] = ["recommendations": try shipping.recommendations.map(object),
                                          "losing_lines": try shipping.losingLines.map(object)]
            if let verdicts = shipping.listingVerdicts {
                section["listing_verdicts"] = try verdicts.map(object)
                section["losing_listings"] = try shipping.losingListings.map(object)
            }
            document["shipping"] = section
        }
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

/// A shipping-arbitrage run's rows for `show`: every line's recommendation, the losing ones worst
/// first (as the run's summary orders them), and the sweep's listing verdicts when it judged any.
struct ShippingShow {
    var recommendations: [ShippingRecommendation]
    var losingLines: [ShippingRecommendation]
    var listingVerdicts: [ListingShippingVerdict]?
    var losingListings: [ListingShippingVerdict]

    init(store: any ShippingLedger, runID: Int64) throws {
        recommendations = try store.shippingRecommendations(runID: runID)
        losingLines = ShippingTally.worstFirst(recommendations.filter(\.losesMoney))
        let verdicts = try store.listingVerdicts(sweep: store.sweepID(ofRun: runID))
        listingVerdicts = verdicts.isEmpty ? nil : verdicts
        losingListings = ShippingTally.worstFirst(verdicts.filter(\.losesMoney))
    }
}
