/// Finding and loading the config file the way every command and the daemon do.
public enum ConfigLocator {
    public static let defaultPath = "config/flipsync.toml"

    public struct Loaded: Sendable {
        public var config: FlipSyncConfig
        public var diagnostics: [Diagnostic]
        public var usedBuiltInDefaults: Bool
        /// Defaults for job files. If the config was invalid, jobs are still checked (against the
        /// built-in defaults, with every marketplace allowed) so that all errors show at once.
        public var jobDefaults: JobDefaults
    }

    /// `explicit` must exist; without it, `config/flipsync.toml` is used if present, else the
    /// built-in defaults.
    public static func load(explicit: String?, environment: FlipSyncConfig.Environment) -> Loaded {
        let log = DiagnosticLog()
        let path = explicit ?? defaultPath
        if explicit == nil && FileSystem.kind(of: path) == nil {
            let config = FlipSyncConfig.defaults(environment: environment)
            return Loaded(config: config, diagnostics: [], usedBuiltInDefaults: true, jobDefaults: config.jobDefaults)
        }
        if let config = FlipSyncConfig.load(path: path, environment: environment, log: log) {
            return Loaded(config: config, diagnostics: log.entries, usedBuiltInDefaults: false, jobDefaults: config.jobDefaults)
        }
        var fallback = FlipSyncConfig.defaults(environment: environment)
        fallback.file = path
        var defaults = fallback.jobDefaults
        defaults.configuredMarketplaces = Set(MarketplaceName.allCases)
        return Loaded(config: fallback, diagnostics: log.entries, usedBuiltInDefaults: false, jobDefaults: defaults)
    }
}
