import ArgumentParser
import FlipSyncCore
import FlipSyncStore

struct QuotaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota",
        abstract: "Show the API quotas: used, limit, remaining, reset and reserved, per provider and API.",
        discussion: """
            Reads the run ledger (SQLite read-only, or PostgreSQL), like `runs`. One row per provider/API counted \
            today or with a daily limit: USED in the current window, LIMIT (eBay's documented \
            default or [marketplaces.ebay] daily_quota; - when the API has rates, not a daily \
            quota), REMAINING (0 while eBay says the quota is exhausted), RESETS (the window's \
            end, eBay's at midnight Pacific time, and how long until then), RESERVED (the calls \
            [quotas] reserve keeps for its jobs). --json prints the same rows. A quota table that \
            cannot be read, or a row of it that does not decode, is an error (exit status 1) naming \
            the file, the table and the row.
            """
    )

    @OptionGroup var ledger: LedgerOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let store = try ledger.open()
        let clock = SystemSchedulerClock()
        let loaded = DaemonSetup(configPath: ledger.config, environment: .current).load(now: clock.now())
        let now = clock.wallMilliseconds()
        let policy = QuotaPolicy(config: loaded.config, jobs: loaded.catalog.jobs)
        // A `quota` table that cannot be read, or a row that does not decode, is an error, never
        // "no calls counted".
        let usage: [QuotaUsage]
        do {
            usage = try store.quotaUsage(policy, now)
        } catch {
            printError("flipsyncctl: \(ledger.path): \(error)")
            throw ExitCode(1)
        }
        let report = QuotaReport(usage, now: now)
        if json {
            print(try JSONOutput.encode(report))
            return
        }
        print(Table.render(report.table), terminator: "")
    }
}
