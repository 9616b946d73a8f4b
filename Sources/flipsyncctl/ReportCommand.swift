import ArgumentParser
import FlipSyncCore
import FlipSyncRuntime
import FlipSyncStore
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML report with charts: one repricing run, or a period.",
        discussion: """
            Reads the run ledger (SQLite or PostgreSQL) read-only and writes one self-contained HTML file (inline \
            SVG charts drawn by FlipSync; no JavaScript, nothing loaded from the network). With \
            RUN (a repricing-sweep run id): a histogram of its price changes in percent, old \
            against new price with every floor/ceiling violation in red, decisions by reason and \
            the circuit breaker's verdict. With --since DATE (a local date in the daemon's time \
            zone; the default when no RUN is given is the first of this month): spend per day per \
            provider against the daily budget, runs per job with their status and lateness, and \
            each repricing sweep's coverage. Every SKU, title and other text from the ledger is \
            HTML-escaped.
            """
    )

    @OptionGroup var ledger: LedgerOptions

    @Argument(help: ArgumentHelp("A repricing-sweep run id (flipsyncctl runs).", valueName: "run"))
    var runID: Int64?

    @Option(name: .long, help: ArgumentHelp("The first local day of a period report.", valueName: "YYYY-MM-DD"))
    var since: String?

    @Option(name: .long, help: ArgumentHelp("Where to write the HTML file.", valueName: "file"))
    var html: String

    func validate() throws {
        if runID != nil && since != nil { throw ValidationError("give RUN or --since, not both") }
    }

    func run() throws {
        let store = try ledger.open().reports
        let config = ConfigLocator.load(explicit: ledger.config, environment: .current).config
        let page: String
        do {
            if let runID {
                page = try RunReport.load(store: store, runID: runID, timezone: config.timezone).html()
            } else {
                let periods = LocalPeriods(zone: config.timezone)
                let now = SystemSchedulerClock().wallMilliseconds()
                let start: Int64
                if let since {
                    guard let date = Timestamp(parsing: since), since.utf8.count == 10 else {
                        printError("flipsyncctl: --since \"\(since)\": expected a date like 2026-11-01")
                        throw ExitCode(1)
                    }
                    start = periods.start(of: CivilDateTime(utcSeconds: date.secondsSinceEpoch).date)
                } else {
                    start = periods.month(containing: now).lowerBound
                }
                page = try PeriodReport.load(store: store, config: config, since: start, until: max(now, start + 1)).html()
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("flipsyncctl: \(error)")
            throw ExitCode(1)
        }
        do {
            try Data(page.utf8).write(to: URL(fileURLWithPath: html), options: .atomic)
        } catch {
            printError("flipsyncctl: cannot write \(html): \(error)")
            throw ExitCode(1)
        }
        print("wrote \(html) (\(page.utf8.count) bytes)")
    }
}
