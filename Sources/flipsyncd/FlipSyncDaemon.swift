import ArgumentParser
import FlipSyncCore

/// The FlipSync daemon. This build loads and checks its configuration; the scheduler loop,
/// run ledger and systemd integration are the next piece of work (see README, "Status").
@main
struct FlipSyncDaemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flipsyncd",
        abstract: "The FlipSync job daemon.",
        discussion: """
            Reads the config file (default: $CONFIGURATION_DIRECTORY/flipsync.toml under systemd, \
            else config/flipsync.toml) and the job files of its jobs directory.

            --check loads and validates everything, prints each job's next run and exits: 0 if \
            valid, 1 if not. Running the scheduler itself is not available in this build.
            """
    )

    @Option(name: .long, help: "The config file.")
    var config: String?

    @Flag(name: .long, help: "Validate the config and jobs, print the next runs, and exit.")
    var check = false

    func run() throws {
        let environment = FlipSyncConfig.Environment.current
        let explicit = config ?? FileSystem.environment("CONFIGURATION_DIRECTORY").map { $0 + "/flipsync.toml" }
        let loaded = ConfigLocator.load(explicit: explicit, environment: environment)
        let now = SystemClock.now()
        let (catalog, jobDiagnostics) = JobCatalog.load(paths: [loaded.config.jobsDirectory],
                                                        defaults: loaded.jobDefaults, now: now)
        let diagnostics = (loaded.diagnostics + jobDiagnostics).sorted()
        for diagnostic in diagnostics { FileSystem.writeToStandardError(diagnostic.description + "\n") }
        for job in catalog.jobs {
            let next = job.nextFire(after: now).map(\.iso8601UTC) ?? "never"
            print("\(job.name) (\(job.kind.rawValue)): next run \(next)")
        }
        let errors = diagnostics.filter { $0.severity == .error }.count
        if check {
            print("\(catalog.jobs.count) jobs, \(errors) errors")
            throw ExitCode(errors > 0 ? 1 : 0)
        }
        FileSystem.writeToStandardError("flipsyncd: the scheduler loop is not available in this build; use --check, or `flipsyncctl validate`\n")
        throw ExitCode(1)
    }
}
