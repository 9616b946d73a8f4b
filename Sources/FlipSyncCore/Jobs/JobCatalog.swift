import FlipSyncTOML

/// Reading a TOML file from disk with the limits every config and job file gets.
enum ConfigFileLoader {
    /// Job and config files are small; anything larger is refused before parsing.
    static let maxFileSize = 256 * 1024

    static func parse(path: String, log: DiagnosticLog) -> TOMLTable? {
        switch FileSystem.readFile(path, limit: maxFileSize) {
        case .failure(.cannotOpen(let reason)):
            log.error(path, 1, "cannot read: \(reason)")
        case .failure(.notAFile):
            log.error(path, 1, "not a regular file")
        case .failure(.tooLarge(let limit)):
            log.error(path, 1, "file is larger than \(limit / 1024) KiB; job and config files are small, refusing it")
        case .failure(.writableByOthers):
            log.error(path, 1, "file is writable by other users; refusing it (fix with: chmod o-w \(path))")
        case .failure(let refused):
            // Group-writable, not owned by root or us, in an untrusted directory.
            log.error(path, 1, refused.message(path: path))
        case .success(let bytes):
            do {
                return try TOML.parse(bytes: bytes)
            } catch {
                log.error(path, error.position.line, error.message)
            }
        }
        return nil
    }
}

/// A loaded, validated set of jobs. Building one never changes a running daemon: reload builds a
/// new catalog and swaps it in only if it is valid.
public struct JobCatalog: Sendable {
    public var jobs: [JobDefinition]

    public init(jobs: [JobDefinition]) {
        self.jobs = jobs.sorted { $0.name < $1.name }
    }

    public subscript(name: String) -> JobDefinition? { jobs.first { $0.name == name } }

    /// The job files of a directory: `*.toml`, not hidden, sorted by name.
    public static func jobFiles(in directory: String) -> [String]? {
        let directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        return FileSystem.contents(of: directory)?
            .filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }
            .map { directory + "/" + $0 }
    }

    /// Loads job files (and the files of any directories given). Every file is read and every
    /// problem reported; the catalog holds the jobs that are valid. Duplicate names are errors
    /// on the second definition.
    public static func load(paths: [String], defaults: JobDefaults, now: Timestamp) -> (JobCatalog, [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        var files: [String] = []
        for path in paths {
            switch FileSystem.kind(of: path) {
            case .directory:
                if let found = jobFiles(in: path) { files += found } else {
                    diagnostics.append(Diagnostic(file: path, line: 1, message: "cannot read directory"))
                }
            case .file:
                files.append(path)
            case .other:
                diagnostics.append(Diagnostic(file: path, line: 1, message: "not a regular file or directory"))
            case nil:
                diagnostics.append(Diagnostic(file: path, line: 1, message: "no such file or directory"))
            }
        }
        var jobs: [JobDefinition] = []
        for file in files {
            let log = DiagnosticLog()
            if let table = ConfigFileLoader.parse(path: file, log: log),
               let job = JobFileReader.read(file: file, table: table, defaults: defaults, now: now, log: log) {
                if let first = jobs.first(where: { $0.name == job.name }) {
                    log.error(file, job.line, "job name \"\(job.name)\" is already used by \(first.file):\(first.line)")
                } else {
                    jobs.append(job)
                }
            }
            diagnostics += log.entries
        }
        return (JobCatalog(jobs: jobs), diagnostics + crossJobWarnings(jobs))
    }

    /// Warnings about valid jobs that work against each other (the jobs still load): a
    /// `marketplace-sync` job with `push_price = true` (not `dry_run`) copying `price_source`'s
    /// price onto a marketplace that an enabled `repricing-sweep` job (not `dry_run`) reprices
    /// puts the old price back at each sync, undoing the sweep's. Told at the sync job's line.
    public static func crossJobWarnings(_ jobs: [JobDefinition]) -> [Diagnostic] {
        var warnings: [Diagnostic] = []
        for sync in jobs {
            guard case .marketplaceSync(let p) = sync.parameters, p.pushPrice, !p.dryRun, let source = p.priceSource else { continue }
            let pushedTo = Set(p.marketplaces.map(\.value)).subtracting([source])
            for sweep in jobs where sweep.enabled {
                guard case .repricingSweep(let r) = sweep.parameters, !r.dryRun else { continue }
                let both = pushedTo.intersection(r.marketplaces.map(\.value)).sorted()
                guard !both.isEmpty else { continue }
                warnings.append(Diagnostic(
                    file: sync.file, line: sync.line, severity: .warning,
                    message: "job \"\(sync.name)\" pushes \(source.rawValue)'s prices (params.push_price) to "
                        + "\(both.map(\.rawValue).joined(separator: ", ")), which job \"\(sweep.name)\" (\(sweep.file):\(sweep.line)) reprices: "
                        + "each sync undoes the sweep's prices; set push_price = false or leave those marketplaces to one job"))
            }
        }
        return warnings
    }
}
