import ArgumentParser
import FlipSyncCore
import FlipSyncRuntime
import UnixSignals

/// The FlipSync daemon: the command line (`Entry` starts it). `Daemon` does the wiring.
struct FlipSyncDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flipsyncd",
        abstract: "The FlipSync job daemon.",
        discussion: """
            Reads the config file (default: $CONFIGURATION_DIRECTORY/flipsync.toml under systemd, \
            else config/flipsync.toml, else the built-in defaults) and the job files of its jobs \
            directory, then schedules and runs the jobs until SIGTERM. SIGHUP re-reads config and \
            jobs (an invalid set is refused and the running jobs stay). Meant to run as the systemd \
            service systemd/flipsyncd.service (Type=notify): it logs to the journal, reports \
            READY, STATUS, RELOADING, STOPPING and WATCHDOG through sd_notify, and takes commands \
            from `flipsyncctl` on its control socket.

            --check loads and validates everything, prints each job's next run and exits: 0 if \
            valid, 1 if not. --version prints FlipSync's version and the exact version of every \
            package it was built from.
            """,
        version: BuildInfo.versionText(program: "flipsyncd")
    )

    @Option(name: .long, help: "The config file.")
    var config: String?

    @Flag(name: .long, help: "Validate the config and jobs, print the next runs, and exit.")
    var check = false

    @Flag(name: .long, help: "Log to the journal even when stderr is not connected to it.")
    var journal = false

    func run() async throws {
        if check { try validate() }
        // First thing: SIGHUP's default action is to end the process, and systemd (or anyone)
        // may send one while the daemon is still starting. Trapped now, it waits in this
        // sequence until the reload service handles it, after READY=1.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let code = await Daemon(setup: setup, forceJournal: journal, hangups: hangups).run()
        throw ExitCode(code)
    }

    private var setup: DaemonSetup {
        let explicit = config ?? FileSystem.environment("CONFIGURATION_DIRECTORY").map { $0 + "/flipsync.toml" }
        return DaemonSetup(configPath: explicit, environment: .current)
    }

    /// `--check`: always ends the process (0 valid, 1 not).
    private func validate() throws -> Never {
        let now = SystemClock.now()
        let loaded = setup.load(now: now)
        for diagnostic in loaded.diagnostics { FileSystem.writeToStandardError(diagnostic.description + "\n") }
        for job in loaded.catalog.jobs {
            print("\(job.name) (\(job.kind.rawValue)): next run \(job.nextFire(after: now).map(\.iso8601UTC) ?? "never")")
        }
        print("\(loaded.catalog.jobs.count) jobs, \(loaded.errors.count) errors")
        throw ExitCode(loaded.errors.isEmpty ? 0 : 1)
    }
}
