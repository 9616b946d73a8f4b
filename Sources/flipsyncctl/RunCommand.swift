import ArgumentParser
import FlipSyncControl
import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncRuntime
import FlipSyncStore
import Logging
#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job now: through the daemon, or --local in the foreground without one.",
        discussion: """
            Without --local, asks the running flipsyncd to start a run of JOB now. The run is \
            recorded as manual, with your uid, and follows the job's overlap policy. --wait \
            waits for it to end and prints its status.

            With --local, runs the job here, in the foreground, without a daemon: same plan, same \
            agents, same limits (timeout, retries, concurrency, budget), recorded in the same run \
            ledger (the config's database). A progress bar shows on a terminal, and a summary of \
            every task at the end. With [daemon] cluster in the config, --local is refused: a \
            run here would not take the job's cluster-wide run lease, and could run beside the \
            cluster's run of the same job. Start it through a node's daemon, or add \
            --outside-cluster to run it here anyway.

            Exit status: 0 if the run succeeded (or, without --wait, was started), 1 otherwise.
            """
    )

    @OptionGroup var daemon: DaemonOptions

    @Argument(help: "The job's name.")
    var job: String

    @Flag(name: .long, help: "Wait for the run to end (through the daemon).")
    var wait = false

    @Flag(name: .long, help: "Run in the foreground, without the daemon.")
    var local = false

    @Flag(name: .long, help: """
        With --local: serve the built-in sandbox marketplace in-process on the loopback address the config's base URLs name, with its development credentials, for the run's duration.
        """)
    var sandbox = false

    @Option(name: .long, help: "With --sandbox: the seed of the sandbox's generated catalog (as flipsync-sandbox --seed).")
    var sandboxSeed: UInt64?

    @Option(name: .long, help: "With --sandbox: how many of our listings the sandbox generates, 1 to 1000000 (as flipsync-sandbox --listings).")
    var sandboxListings: Int?

    @Flag(name: .long, help: "With --local and [daemon] cluster: run here anyway, without the job's cluster-wide run lease.")
    var outsideCluster = false

    func validate() throws {
        if sandbox && !local { throw ValidationError("--sandbox works with --local only (the daemon talks to the endpoints its config names)") }
        if (sandboxSeed != nil || sandboxListings != nil) && !sandbox { throw ValidationError("--sandbox-seed and --sandbox-listings work with --sandbox only") }
        if let listings = sandboxListings, !(1...1_000_000).contains(listings) { throw ValidationError("--sandbox-listings must be 1…1000000") }
        if outsideCluster && !local { throw ValidationError("--outside-cluster works with --local only") }
    }

    func run() async throws {
        if local {
            try await runLocally()
            return
        }
        let response = try daemon.send(.run(job: job, wait: wait)) { started in
            if let run = started.run { print("started run \(run.id) of \(run.job)") }
        }
        guard let run = response.run else { return }
        guard wait else {
            print("started run \(run.id) of \(run.job)")
            return
        }
        let status = response.finalStatus ?? .failed
        print("run \(run.id) of \(run.job): \(status.rawValue)")
        if status != .succeeded { throw ExitCode(1) }
    }

    private func runLocally() async throws {
        let clock = SystemSchedulerClock()
        let loaded = DaemonSetup(configPath: daemon.config, environment: .current).load(now: clock.now())
        for diagnostic in loaded.diagnostics where !loaded.configIsValid || diagnostic.file.hasSuffix("/\(job).toml") {
            printError(diagnostic.description)
        }
        guard loaded.configIsValid else { throw ExitCode(1) }
        guard let definition = loaded.catalog[job] else {
            let names = loaded.catalog.jobs.map(\.name).joined(separator: ", ")
            printError("flipsyncctl: no valid job \"\(job)\" in \(loaded.config.jobsDirectory) (jobs: \(names.isEmpty ? "none" : names))")
            throw ExitCode(1)
        }
        let config = loaded.config
        if config.cluster != nil && !outsideCluster {
            printError("""
                flipsyncctl: \(config.file) has [daemon] cluster: a --local run would not take \(job)'s cluster-wide run lease \
                and could run beside the cluster's run of it; start it through a node's daemon (flipsyncctl run \(job)), \
                or add --outside-cluster to run it here anyway
                """)
            throw ExitCode(1)
        }
        var logger = Logger(label: "flipsyncctl", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .warning
        var local: LocalSandbox?
        if sandbox {
            do {
                local = try await LocalSandbox.start(config: config, seed: sandboxSeed ?? 1, listings: sandboxListings ?? 200, logger: logger)
                print("sandbox marketplace serving on \(local!.server.baseURL)")
            } catch {
                printError("flipsyncctl: \(error)")
                throw ExitCode(1)
            }
        }
        defer { if let server = local?.server { Task { await server.stop() } } }
        let runtime: Runtime
        do {
            // With --sandbox, the channels' credentials are the sandbox's; a PostgreSQL ledger's
            // password is still the credential postgres-password.
            let secret: ChannelFactory.SecretLookup? = local.map { local in
                let sandboxSecret = local.secret, credentials = Runtime.credentials(config)
                return { name in name == ClusterEndpoint.passwordCredential ? try credentials(name) : try sandboxSecret(name) }
            }
            runtime = try Runtime.open(config: config, jobs: loaded.catalog.jobs, clock: clock, logger: logger, secret: secret)
        } catch {
            printError("flipsyncctl: \(error)")
            throw ExitCode(1)
        }
        let bar = ProgressBar(enabled: isatty(2) == 1)
        let run: RunInfo, status: RunStatus
        do {
            (run, status) = try await runtime.runOnce(
                job: definition, requestedBy: getuid(), pool: PermitPool(permits: config.poolSize), clock: clock, logger: logger,
                onStarted: { run in print("run \(run.id) of \(definition.name) (\(definition.kind.rawValue)), ledger \(config.databasePath)") },
                onProgress: { bar.show($0) })
        } catch {
            // Still shut down: the quota's calls counted ahead go back to the ledger.
            await runtime.shutdown()
            printError("flipsyncctl: \(error)")
            throw ExitCode(1)
        }
        // Read before the shutdown closes the ledger (a PostgreSQL ledger's connection).
        let read = Result { try runtime.ledger.runs.tasks(runID: run.id) }
        await runtime.shutdown()
        let tasks = try read.get()
        bar.finish()
        print(Table.render(taskTable(tasks, limit: 30)), terminator: "")
        print("run \(run.id): \(status.rawValue) in \(duration(run))\(run.summary.map { " — \($0)" } ?? "")")
        if let error = run.error, status != .succeeded { print("error: \(error)") }
        if status != .succeeded { throw ExitCode(1) }
    }
}

/// A one-line progress bar on stderr, redrawn in place; silent when stderr is not a terminal.
final class ProgressBar: Sendable {
    let enabled: Bool

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ progress: RunProgress) {
        guard enabled, progress.total > 0 else { return }
        let width = 30
        let filled = progress.finished * width / progress.total
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            + "] \(progress.finished)/\(progress.total) tasks"
        FileSystem.writeToStandardError(line)
    }

    func finish() {
        if enabled { FileSystem.writeToStandardError("\n") }
    }
}

/// The tasks as table rows; past `limit` tasks, the failed ones (up to `limit`) and a count by
/// agent and status instead of every row.
func taskTable(_ tasks: [TaskInfo], limit: Int = .max) -> [[String]] {
    var rows = [["TASK", "AGENT", "STATUS", "TRIES", "TIME", "RESULT"]]
    var shown = tasks
    if tasks.count > limit {
        shown = Array(tasks.filter { $0.status != .succeeded }.prefix(limit))
        let counts = Dictionary(grouping: tasks, by: { "\($0.agent) \($0.status.rawValue)" }).mapValues(\.count)
        for (key, count) in counts.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: " ")
            rows.append(["(\(count) tasks)", String(parts[0]), String(parts[1]), "", "", ""])
        }
    }
    for task in shown {
        let time = zip(task.startedAt, task.finishedAt).map { "\($1 - $0)ms" } ?? "-"
        var result = task.status == .succeeded ? (task.result ?? "") : (task.error ?? "")
        if result.count > 100 { result = String(result.prefix(97)) + "..." }
        rows.append([task.key, task.agent, task.status.rawValue, "\(task.attempts)", time, result])
    }
    return rows
}

func duration(_ run: RunInfo) -> String {
    guard let started = run.startedAt, let finished = run.finishedAt else { return "-" }
    let ms = finished - started
    return ms < 10_000 ? "\(ms)ms" : span(ms / 1000)
}

private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
