/// What the daemon reads at start and on every reload: the config file and its jobs directory.
///
/// Contract: `load` never changes anything; it returns the config, the valid jobs and every
/// problem. The daemon starts with the valid jobs of a valid config (a bad job file is reported
/// and skipped, nothing else breaks); a reload is applied only if `errors` is empty, otherwise
/// the running catalog stays as it was.
public struct DaemonSetup: Sendable {
    public struct Loaded: Sendable {
        public var config: FlipSyncConfig
        public var catalog: JobCatalog
        /// Every problem of the config and job files, sorted by file and line.
        public var diagnostics: [Diagnostic]
        /// Whether the config file itself was read without errors (its jobs may still have some).
        public var configIsValid: Bool

        public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    }

    public var configPath: String?
    public var environment: FlipSyncConfig.Environment

    public init(configPath: String?, environment: FlipSyncConfig.Environment) {
        self.configPath = configPath
        self.environment = environment
    }

    public func load(now: Timestamp) -> Loaded {
        let located = ConfigLocator.load(explicit: configPath, environment: environment)
        let configIsValid = !located.diagnostics.contains { $0.severity == .error }
        let (catalog, jobDiagnostics) = JobCatalog.load(paths: [located.config.jobsDirectory],
                                                        defaults: located.jobDefaults, now: now)
        return Loaded(config: located.config, catalog: catalog,
                      diagnostics: (located.diagnostics + jobDiagnostics).sorted(), configIsValid: configIsValid)
    }
}

extension FlipSyncConfig {
    /// The settings a reload cannot change in a running daemon (they need a restart), by name,
    /// where `other` differs from `self`.
    public func restartOnlyChanges(comparedTo other: FlipSyncConfig) -> [String] {
        var changed: [String] = []
        if databasePath != other.databasePath { changed.append("daemon.database") }
        if controlSocket != other.controlSocket { changed.append("daemon.control_socket") }
        if controlUsers != other.controlUsers { changed.append("daemon.control_users") }
        if controlGroup != other.controlGroup { changed.append("daemon.control_group") }
        if poolSize != other.poolSize { changed.append("daemon.pool_size") }
        if metrics != other.metrics { changed.append("daemon.metrics") }
        if jobsDirectory != other.jobsDirectory { changed.append("daemon.jobs_directory") }
        // Rate cards are read when the channels are built, at start.
        if rateCards != other.rateCards { changed.append("daemon.rate_cards") }
        // The channel clients hold their endpoints, limits and credentials (systemd re-reads
        // LoadCredential= files only on restart, too).
        if marketplaces != other.marketplaces { changed.append("[marketplaces]") }
        if carriers != other.carriers { changed.append("[carriers]") }
        if llm != other.llm { changed.append("[llm]") }
        if prices != other.prices { changed.append("[prices]") }
        return changed
    }
}
