import ArgumentParser
import FlipSyncCore
import FlipSyncMarketplaces

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check the config and job files; show each job and its next run.",
        discussion: """
            Reads the config file (default config/flipsync.toml, or built-in defaults if it does \
            not exist) and the job files given — files or directories — or, with none given, the \
            config's jobs directory. Every error of every file is printed, GNU style:

                jobs/nightly.toml:7: error: unknown key "timout"; did you mean "timeout"?

            --json prints {"config": FILE or null, "jobs": [...], "diagnostics": [...], "errors": N} \
            on stdout instead (each job with its kind, schedules, zone, enabled and next run in UTC; \
            each diagnostic with file, line, severity and message).

            Exit status: 0 if everything is valid, 1 if anything is not.
            """
    )

    @Option(name: .long, help: "The config file.")
    var config: String?

    @Option(name: .long, help: "Compute next runs after this time instead of now (2026-03-08T01:30:00Z).")
    var now: String?

    @Argument(help: "Job files or directories (default: the config's jobs directory).")
    var paths: [String] = []

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let environment = FlipSyncConfig.Environment.current
        let loaded = ConfigLocator.load(explicit: config, environment: environment)
        var diagnostics = loaded.diagnostics
        diagnostics += RateCardSet.load(loaded.config).diagnostics
        var current = SystemClock.now()
        if let now {
            guard let t = Timestamp(parsing: now) else {
                printError("flipsyncctl: --now \"\(now)\" is not a time (use 2026-03-08T01:30:00Z)")
                throw ExitCode(2)
            }
            current = t
        }
        let jobPaths = paths.isEmpty ? [loaded.config.jobsDirectory] : paths
        let (catalog, jobDiagnostics) = JobCatalog.load(paths: jobPaths, defaults: loaded.jobDefaults, now: current)
        diagnostics += jobDiagnostics

        let errors = diagnostics.filter { $0.severity == .error }.count
        if json {
            let report = ValidateJSON(
                config: loaded.usedBuiltInDefaults ? nil : loaded.config.file,
                jobs: catalog.jobs.map {
                    .init(name: $0.name, kind: $0.kind.rawValue, schedules: $0.scheduleText, timezone: $0.timezone.identifier,
                          enabled: $0.enabled, next_run: $0.nextFire(after: current)?.iso8601UTC)
                },
                diagnostics: diagnostics.sorted().map {
                    .init(file: $0.file, line: $0.line, severity: $0.severity.rawValue, message: $0.message)
                },
                errors: errors)
            print(try JSONOutput.encode(report))
            if errors > 0 { throw ExitCode(1) }
            return
        }
        if loaded.usedBuiltInDefaults {
            print("config: built-in defaults (no \(ConfigLocator.defaultPath))")
        } else {
            print("config: \(loaded.config.file)")
        }
        if !catalog.jobs.isEmpty {
            var rows = [["JOB", "KIND", "SCHEDULE", "TIMEZONE", "NEXT (LOCAL)", "NEXT (UTC)"]]
            for job in catalog.jobs {
                let next = job.nextFire(after: current)
                rows.append([
                    job.name + (job.enabled ? "" : " (disabled)"), job.kind.rawValue,
                    job.scheduleText.joined(separator: "; "), job.timezone.identifier,
                    next.map { localDescription($0, in: job.timezone) } ?? "never",
                    next?.iso8601UTC ?? "-",
                ])
            }
            print(Table.render(rows), terminator: "")
        }
        for diagnostic in diagnostics.sorted() { printError(diagnostic.description) }
        let files = Set(diagnostics.filter { $0.severity == .error }.map(\.file)).count
        print("\(catalog.jobs.count) valid job\(catalog.jobs.count == 1 ? "" : "s"), \(errors) error\(errors == 1 ? "" : "s")"
              + (errors > 0 ? " in \(files) file\(files == 1 ? "" : "s")" : ""))
        if errors > 0 { throw ExitCode(1) }
    }
}

/// `flipsyncctl validate --json`.
struct ValidateJSON: Encodable {
    struct Job: Encodable {
        var name: String
        var kind: String
        var schedules: [String]
        var timezone: String
        var enabled: Bool
        var next_run: String?
    }
    struct Diagnostic: Encodable {
        var file: String
        var line: Int
        var severity: String
        var message: String
    }
    var config: String?
    var jobs: [Job]
    var diagnostics: [Diagnostic]
    var errors: Int
}
