import ArgumentParser
import FlipSyncCore

struct NextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next",
        abstract: "Print the next fire times of a schedule expression.",
        discussion: """
            EXPR is a systemd OnCalendar expression ("Mon..Fri *-*-* 02:00", "daily", \
            "*-*-* 02:30 Europe/Berlin") or a five-field cron line ("30 2 * * 1-5", "@daily"). \
            Five fields or an @macro mean cron; a "cron:" or "calendar:" prefix forces a reading.

            Prints the next COUNT fire times strictly after --from, one per line, as \
            YYYY-MM-DDTHH:MM:SSZ (UTC). Fire times equal systemd-analyze calendar's and Debian \
            cron's, daylight-saving days included (see README: "Schedules and daylight saving").

            --json prints {"expression": EXPR, "timezone": ZONE, "after": FROM, "times": [...]} \
            instead, with the same UTC times.

            Exit status: 0 on success (fewer lines if the expression stops firing), 2 if the \
            expression, the zone or --from is invalid.
            """
    )

    @Argument(help: "The schedule expression (quote it).")
    var expression: String

    @Option(name: .long, help: "Zone for expressions without a zone suffix (default: $TZ, then the system zone).")
    var timezone: String?

    @Option(name: .long, help: "Start after this time: 2026-03-08T01:30:00Z, an offset, or @EPOCH (default: now).")
    var from: String?

    @Option(name: .long, help: "How many fire times to print (1...10000).")
    var count: Int = 5

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let zone: ZoneRules
        if let timezone {
            guard let z = try? ZoneRules.named(timezone) else {
                printError("flipsyncctl: unknown time zone \"\(timezone)\"")
                throw ExitCode(2)
            }
            zone = z
        } else {
            zone = systemZone()
        }
        let start: Timestamp
        if let from {
            guard let t = Timestamp(parsing: from) else {
                printError("flipsyncctl: --from \"\(from)\" is not a time (use 2026-03-08T01:30:00Z)")
                throw ExitCode(2)
            }
            start = t
        } else {
            start = SystemClock.now()
        }
        guard (1...10_000).contains(count) else {
            printError("flipsyncctl: --count must be 1...10000")
            throw ExitCode(2)
        }
        let schedule: ScheduleExpression
        do {
            schedule = try ScheduleExpression(parsing: expression)
        } catch {
            printError("flipsyncctl: \(error)")
            throw ExitCode(2)
        }
        let times = ScheduleSet([schedule]).upcoming(after: start, in: zone, count: count)
        if json {
            print(try JSONOutput.encode(NextJSON(expression: expression, timezone: zone.identifier, after: start.iso8601UTC,
                                                 times: times.map(\.iso8601UTC))))
        } else {
            var out = ""
            for t in times { out += t.iso8601UTC + "\n" }
            print(out, terminator: "")
        }
        if times.count < count {
            printError("flipsyncctl: \"\(expression)\" fires \(times.isEmpty ? "never" : "only \(times.count) more times") after \(start)")
        }
    }
}

/// `flipsyncctl next --json`.
struct NextJSON: Encodable {
    var expression: String
    var timezone: String
    var after: String
    var times: [String]
}
