import ArgumentParser
import FlipSyncCore
import Foundation

struct ReadinessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readiness",
        abstract: "Show the latest readiness report: the score, each category, each check with its evidence.",
        discussion: """
            Reads the run ledger (SQLite or PostgreSQL) read-only and shows the report of the newest finished \
            readiness-scan run that has one: the 0-100 score, each category with its weight and \
            score, and each check (failed first) with what was measured, its threshold and \
            pass/fail. --json prints the report as the scan recorded it: "score", "score_bp" \
            (hundredths of a point), "categories", "checks", "probes" (each probe's raw \
            evidence: latencies in µs or ms, counts, statuses) and "notes".
            """
    )

    @OptionGroup var ledger: LedgerOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let store = try ledger.open()
        guard let (run, text) = try ReadinessReport.latest(in: store.runs) else {
            printError("flipsyncctl: no readiness report yet (run the readiness-scan job: flipsyncctl run readiness-scan)")
            throw ExitCode(1)
        }
        if json {
            print(text)
            return
        }
        let report: ReadinessReport
        do {
            report = try JSONDecoder().decode(ReadinessReport.self, from: Data(text.utf8))
        } catch {
            printError("flipsyncctl: the report of run \(run.id) is unreadable: \(error)")
            throw ExitCode(1)
        }
        let zone = systemZone()
        print("readiness \(report.scoreText)/100 — \(report.checksPassed) of \(report.checksTotal) checks passed")
        print("run \(run.id) (\(run.job), \(run.status.rawValue)), measured \(localDescription(Timestamp(milliseconds: report.measuredAt), in: zone))")
        print()
        print(Table.render(report.categoryRows), terminator: "")
        print()
        print(Table.render(report.checkRows), terminator: "")
        for probe in report.probes where probe.error != nil {
            print("probe \(probe.key) could not run: \(probe.error!)")
        }
        for note in report.notes { print("note: \(note)") }
    }
}
