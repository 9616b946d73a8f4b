import ArgumentParser
import FlipSyncControl
import FlipSyncCore
import Foundation

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the daemon's jobs with their next and last runs, like systemctl list-timers.",
        discussion: """
            Asks the running flipsyncd over its control socket. Columns: NEXT (next fire, local \
            time), LEFT (time until it), LAST (last handled fire), PASSED (time since it), JOB, \
            KIND, STATE (scheduled, running run N, queued, paused, disabled).
            """
    )

    @OptionGroup var daemon: DaemonOptions

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let jobs = try daemon.send(.list).jobs ?? []
        if json {
            print(try JSONOutput.encode(jobs))
            return
        }
        print(Table.render(jobTable(jobs)), terminator: "")
        print("\n\(jobs.count) job\(jobs.count == 1 ? "" : "s") listed.")
    }
}

func jobTable(_ jobs: [Scheduler.JobStatus]) -> [[String]] {
    let now = SystemClock.now().secondsSinceEpoch
    let zone = systemZone()
    var rows = [["NEXT", "LEFT", "LAST", "PASSED", "JOB", "KIND", "STATE"]]
    for job in jobs {
        let state: String
        if let running = job.running { state = "running run \(running)" + (job.queued ? ", 1 queued" : "") }
        else if !job.enabled { state = "disabled" }
        else if job.paused { state = "paused" }
        else { state = "scheduled" }
        rows.append([
            job.next.map { localDescription(Timestamp(secondsSinceEpoch: $0), in: zone) } ?? "-",
            job.next.map { span($0 - now) } ?? "-",
            job.last.map { localDescription(Timestamp(secondsSinceEpoch: $0), in: zone) } ?? "-",
            job.last.map { span(now - $0) + " ago" } ?? "-",
            job.name, job.kind, state,
        ])
    }
    return rows
}

/// JSON for `--json`: sorted keys, pretty, stable.
enum JSONOutput {
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
