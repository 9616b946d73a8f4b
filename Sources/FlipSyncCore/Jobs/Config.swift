import FlipSyncTOML

/// The daemon's configuration (`config/flipsync.toml`; under systemd `/etc/flipsync/flipsync.toml`).
///
/// Relative paths in the file are relative to the file's own directory. Missing keys take the
/// defaults documented in README.md.
public struct FlipSyncConfig: Sendable {
    public enum LogLevel: String, CaseIterable, Sendable {
        case trace, debug, info, notice, warning, error, critical
    }

    /// Requests per second and burst, e.g. `rate_limit = "5/s"`, `burst = 10`.
    public struct RateLimit: Sendable, Hashable {
        public var requests: Int
        public var per: TimeSpan
        public var burst: Int
    }

    public struct Marketplace: Sendable, Hashable {
        public var name: MarketplaceName
        public var baseURL: String
        /// Credential names (looked up in `$CREDENTIALS_DIRECTORY` or `credentials_directory`),
        /// by role: `client_id`, `client_secret`, `refresh_token`, …
        public var credentials: [String: String]
        public var rateLimit: RateLimit
        public var feePercent: Percent
        public var feeFixed: Money
        /// eBay's `X-EBAY-C-MARKETPLACE-ID`, Amazon's marketplace id, Shopify's shop.
        public var marketplaceID: String?
        /// Where tokens come from when not under `base_url` (Amazon's LWA endpoint).
        public var tokenURL: String?
        /// Our seller id on the channel (Amazon's selling partner id, eBay's user name): our own
        /// offers are recognised by it.
        public var sellerID: String?
        /// `daily_quota = { browse = 5000, … }` (eBay only): the API's daily call limit when eBay
        /// raised it (Application Growth Check); absent keys keep eBay's documented defaults.
        public var dailyQuota: [String: Int64] = [:]
        /// `refresh_task_listings = 500` (eBay only): the most listings one decide task refreshes
        /// from remembered searches (getItems); nil: the channel's default.
        public var refreshTaskListings: Int?
        /// `search_task_gtins = 8` (eBay only): the most GTINs (Browse searches) one decide task
        /// searches and decides, one after the other; nil: the channel's default.
        public var searchTaskGTINs: Int?
    }

    /// A carrier rate-shopping API or an LLM endpoint: where it is, its credentials (names, not
    /// values), how fast it may be called, and for an LLM, which model.
    public struct Endpoint: Sendable, Hashable {
        public var name: String
        public var baseURL: String
        public var credentials: [String: String]
        public var rateLimit: RateLimit
        public var model: String?
    }

    /// Where the file came from (`"(built-in defaults)"` when none was read).
    public var file: String
    public var databasePath: String
    public var jobsDirectory: String
    /// `daemon.rate_cards`: the rate-card files (`RateCardFile`) the `rate-cards` rate source
    /// quotes from, resolved against the config's directory, in the order written. Read when the
    /// channels are built, not here: a bad card is reported and left out, the config stays valid.
    public var rateCards: [String] = []
    public var timezone: ZoneRules
    public var poolSize: Int
    public var controlSocket: String
    /// Who may use the control socket besides root and the daemon's own user: user names or uids.
    public var controlUsers: [String]
    /// Members of this group (primary or supplementary) may use the control socket.
    public var controlGroup: String?
    public var logLevel: LogLevel
    public var currency: Currency
    public var runRetention: TimeSpan
    public var drainTimeout: TimeSpan
    /// Development only: a directory holding credential files when not run under systemd.
    public var credentialsDirectory: String?
    /// `daemon.cluster`: the PostgreSQL database several nodes share (one scheduler elected,
    /// each fire claimed once); `nil` for one node on its own.
    public var cluster: ClusterEndpoint? = nil
    /// `daemon.database = "postgres://…"`: the run ledger is in this PostgreSQL database (its
    /// password the credential `postgres-password`, as for `cluster`); `nil`: the SQLite file at
    /// `databasePath`. When set, `databasePath` is the URL as written (for logs), not a file.
    public var databaseEndpoint: ClusterEndpoint? = nil
    /// `daemon.node_name`: this node's name in the cluster (default: the host name).
    public var nodeName: String? = nil
    public var marketplaces: [MarketplaceName: Marketplace]
    /// Unit prices by provider and operation (per call, or per million units for keys ending in `_per_million`).
    public var prices: [String: [String: Money]]
    public var dailyBudget: Money?
    public var monthlyBudget: Money?
    /// `[carriers.NAME]`: rate-shopping APIs (`easypost`).
    public var carriers: [String: Endpoint] = [:]
    /// `[llm.NAME]`: `ollama` (asked first) and `openai` (an OpenAI-compatible API, for escalation).
    public var llm: [String: Endpoint] = [:]
    /// `[quotas] reserve = { marketplace-sync = "20%" }`: the share of each daily quota kept
    /// for a job kind or a job name.
    public var quotaReserves: [String: QuotaShare] = [:]
    /// `daemon.metrics = "127.0.0.1:9466"`: where flipsyncd serves Prometheus metrics at
    /// `/metrics` (loopback only); nil (the default) serves none.
    public var metrics: MetricsAddress? = nil

    public var jobDefaults: JobDefaults {
        JobDefaults(timezone: timezone, currency: currency, configuredMarketplaces: Set(marketplaces.keys), configFile: file)
    }

    /// The environment a path default depends on (systemd sets these for the service).
    public struct Environment: Sendable {
        public var stateDirectory: String?
        public var runtimeDirectory: String?
        public var workingDirectory: String

        public init(stateDirectory: String? = nil, runtimeDirectory: String? = nil, workingDirectory: String) {
            self.stateDirectory = stateDirectory
            self.runtimeDirectory = runtimeDirectory
            self.workingDirectory = workingDirectory
        }

        public static var current: Environment {
            Environment(stateDirectory: FileSystem.environment("STATE_DIRECTORY"),
                        runtimeDirectory: FileSystem.environment("RUNTIME_DIRECTORY"),
                        workingDirectory: FileSystem.currentDirectory())
        }
    }

    /// Built-in defaults, used when no config file exists: local SQLite, jobs in `./jobs`, UTC,
    /// no marketplaces.
    public static func defaults(environment: Environment) -> FlipSyncConfig {
        let log = DiagnosticLog()
        // Reading an empty table yields exactly the documented defaults.
        return read(file: "(built-in defaults)", directory: environment.workingDirectory,
                    table: TOMLTable(entries: [], position: TOMLPosition(line: 1, column: 1)),
                    environment: environment, log: log)!
    }

    /// Loads and validates a config file. Problems go to `log`; `nil` if there was any.
    public static func load(path: String, environment: Environment, log: DiagnosticLog) -> FlipSyncConfig? {
        guard let table = ConfigFileLoader.parse(path: path, log: log) else { return nil }
        let directory = FileSystem.directory(of: path)
        return read(file: path, directory: directory, table: table, environment: environment, log: log)
    }

    static func read(file: String, directory: String, table: TOMLTable, environment: Environment,
                     log: DiagnosticLog) -> FlipSyncConfig? {
        var r = TableReader(file: file, table: table, scope: "", log: log)
        func resolve(_ path: String) -> String { FileSystem.resolve(path, against: directory) }

        var d = r.table("daemon") ?? TableReader(file: file, table: TOMLTable(entries: [], position: table.position),
                                                  scope: "daemon", log: log)
        let database = d.string("database")
        let jobs = d.string("jobs_directory")
        let rateCards = d.strings("rate_cards")
        let tz = d.string("timezone")
        var zone = ZoneRules.utc
        if let tz {
            if let z = try? ZoneRules.named(tz.value) { zone = z } else {
                d.error(tz.line, "\"daemon.timezone\": unknown time zone \"\(tz.value)\"")
            }
        }
        let pool = d.integer("pool_size", in: 1...4096)
        let socket = d.string("control_socket")
        let controlUsers = d.strings("control_users")
        let controlGroup = d.string("control_group")
        let level: Located<LogLevel>? = d.choice("log_level")
        let currencyText = d.string("currency")
        var currency = Currency.usd
        if let currencyText {
            if let c = Currency(code: currencyText.value) { currency = c } else {
                d.error(currencyText.line, "\"daemon.currency\": unknown currency \"\(currencyText.value)\"")
            }
        }
        let retention = d.duration("run_retention", in: .seconds(3600)...TimeSpan.seconds(3650 * 86_400))
        let drain = d.duration("drain_timeout", in: .zero...TimeSpan.seconds(3600))
        let credentials = d.string("credentials_directory")
        var metrics: MetricsAddress?
        if let text = d.string("metrics") {
            switch MetricsAddress.parse(text.value) {
            case .success(let address): metrics = address
            case .failure(let problem): d.error(text.line, "\"daemon.metrics\": \(problem.message)")
            }
        }
        // `database`: a path is the SQLite ledger; `postgres://…` (or `postgresql://…`) is a
        // PostgreSQL ledger, parsed by the same rules as `cluster` (no password in the URL).
        var databaseEndpoint: ClusterEndpoint?
        if let database, database.value.hasPrefix("postgres://") || database.value.hasPrefix("postgresql://") {
            switch ClusterEndpoint.parse(database.value) {
            case .success(let endpoint): databaseEndpoint = endpoint
            case .failure(let problem): d.error(database.line, "\"daemon.database\" \(problem.message)")
            }
        }
        var cluster: ClusterEndpoint?
        if let text = d.string("cluster") {
            switch ClusterEndpoint.parse(text.value) {
            case .success(let endpoint): cluster = endpoint
            case .failure(let problem): d.error(text.line, "\"daemon.cluster\" \(problem.message)")
            }
        }
        let nodeName = d.string("node_name")
        if let nodeName, nodeName.value.isEmpty || nodeName.value.count > 200 || nodeName.value.contains(where: { $0.isWhitespace }) {
            d.error(nodeName.line, "\"daemon.node_name\" must be 1 to 200 characters without spaces")
        }
        d.finish()

        var marketplaces: [MarketplaceName: Marketplace] = [:]
        if var m = r.table("marketplaces") {
            for entry in m.table.entries {
                guard let name = MarketplaceName(rawValue: entry.key) else {
                    _ = m.node(entry.key)
                    m.error(entry.keyPosition.line, Suggestion.unknown("marketplace", entry.key, in: "[marketplaces]",
                                                                       options: MarketplaceName.allCases.map(\.rawValue)))
                    continue
                }
                guard var t = m.table(entry.key) else { continue }
                if let marketplace = readMarketplace(name, &t, currency: currency) { marketplaces[name] = marketplace }
                t.finish()
            }
            m.finish()
        }

        var prices: [String: [String: Money]] = [:]
        if var p = r.table("prices") {
            for entry in p.table.entries {
                guard var t = p.table(entry.key) else { continue }
                var table: [String: Money] = [:]
                for item in t.table.entries {
                    if let price = t.money(item.key) {
                        if price.value.currency != currency {
                            t.error(price.line, "price \"\(t.qualified(item.key))\" is in \(price.value.currency) but the config's currency is \(currency)")
                        }
                        table[item.key] = price.value
                    }
                }
                t.finish()
                prices[entry.key] = table
            }
            p.finish()
        }

        let carriers = readEndpoints("carriers", from: &r, known: ["easypost"], models: false)
        let llm = readEndpoints("llm", from: &r, known: ["ollama", "openai"], models: true)

        var daily: Located<Money>?, monthly: Located<Money>?
        if var b = r.table("budgets") {
            daily = b.money("daily")
            monthly = b.money("monthly")
            for budget in [daily, monthly].compactMap({ $0 }) where budget.value.currency != currency {
                b.error(budget.line, "budget \(budget.value) is in \(budget.value.currency) but the config's currency is \(currency)")
            }
            b.finish()
        }
        var reserves: [String: QuotaShare] = [:]
        if var q = r.table("quotas") {
            if var res = q.table("reserve") {
                var total: Int64 = 0
                for entry in res.table.entries {
                    guard let share = res.percent(entry.key, in: 10_000...1_000_000) else { continue }
                    guard share.value.partsPerMillion % 10_000 == 0 else {
                        res.error(share.line, "\"\(res.qualified(entry.key))\" must be a whole percentage, like \"20%\"")
                        continue
                    }
                    total += share.value.partsPerMillion
                    if total > 1_000_000 { res.error(share.line, "the reserves in [quotas] reserve add up to more than 100%") }
                    reserves[entry.key] = .percent(Int(share.value.partsPerMillion / 10_000))
                }
                res.finish()
            }
            q.finish()
        }
        r.finish()
        guard !log.hasErrors else { return nil }

        let databasePath = databaseEndpoint.map { "\($0)" } ?? database.map { resolve($0.value) }
            ?? environment.stateDirectory.map { $0 + "/flipsync.sqlite" }
            ?? FileSystem.resolve("var/flipsync.sqlite", against: environment.workingDirectory)
        let socketPath = socket.map { resolve($0.value) }
            ?? environment.runtimeDirectory.map { $0 + "/control.sock" }
            ?? FileSystem.resolve("var/flipsyncd.sock", against: environment.workingDirectory)
        var config = FlipSyncConfig(
            file: file, databasePath: databasePath,
            jobsDirectory: resolve(jobs?.value ?? "jobs"), rateCards: rateCards?.value.map { resolve($0.value) } ?? [], timezone: zone, poolSize: pool?.value ?? 64,
            controlSocket: socketPath, controlUsers: controlUsers?.value.map(\.value) ?? [],
            controlGroup: controlGroup?.value, logLevel: level?.value ?? .info, currency: currency,
            runRetention: retention?.value ?? .seconds(90 * 86_400), drainTimeout: drain?.value ?? .seconds(30),
            credentialsDirectory: credentials.map { resolve($0.value) }, marketplaces: marketplaces, prices: prices,
            dailyBudget: daily?.value, monthlyBudget: monthly?.value, carriers: carriers, llm: llm, quotaReserves: reserves,
            metrics: metrics)
        config.cluster = cluster
        config.databaseEndpoint = databaseEndpoint
        config.nodeName = nodeName?.value
        return config
    }

    /// `[SECTION.NAME]` tables of endpoints, each with `base_url`, `credentials`, `rate_limit`,
    /// `burst` and (for LLMs) `model`.
    private static func readEndpoints(_ section: String, from r: inout TableReader, known: [String], models: Bool) -> [String: Endpoint] {
        var out: [String: Endpoint] = [:]
        guard var s = r.table(section) else { return out }
        for entry in s.table.entries {
            guard known.contains(entry.key) else {
                _ = s.node(entry.key)
                s.error(entry.keyPosition.line, Suggestion.unknown(section == "llm" ? "LLM provider" : "carrier API", entry.key,
                                                                   in: "[\(section)]", options: known))
                continue
            }
            guard var t = s.table(entry.key) else { continue }
            let url = readBaseURL(&t)
            let credentials = readCredentialNames(&t)
            let rate = readRate(&t)
            let model = models ? t.string("model", required: true) : nil
            t.finish()
            if let url { out[entry.key] = Endpoint(name: entry.key, baseURL: url, credentials: credentials, rateLimit: rate, model: model?.value) }
        }
        s.finish()
        return out
    }

    /// `base_url`: https, or plain http on a loopback host (the sandbox, a local Ollama), as
    /// `LoopbackHost` decides it from the parsed host — never from a prefix of the text.
    private static func readBaseURL(_ t: inout TableReader) -> String? {
        let url = t.string("base_url", required: true)
        if let url { checkURL(url, key: "base_url", &t) }
        return url?.value
    }

    private static func checkURL(_ url: Located<String>, key: String, _ t: inout TableReader) {
        if HTTPURLAuthority(url.value) == nil {
            t.error(url.line, "\"\(t.qualified(key))\" must be an absolute https:// URL with a plain host name or address and no user@ part (found \"\(url.value)\")")
        } else if !LoopbackHost.isSecureOrLoopback(url: url.value) {
            t.error(url.line, "\"\(t.qualified(key))\" must be https:// (plain http is allowed only on loopback, for the sandbox)")
        }
    }

    /// `credentials = { role = "credential-file-name", … }`: names only, never values.
    private static func readCredentialNames(_ t: inout TableReader) -> [String: String] {
        var credentials: [String: String] = [:]
        guard var c = t.table("credentials") else { return credentials }
        for entry in c.table.entries {
            if let value = c.string(entry.key) {
                if !value.value.isEmpty, value.value.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 || $0 == 46 }),
                   !value.value.hasPrefix(".") {
                    credentials[entry.key] = value.value
                } else {
                    // The value is a credential *name*, never the secret; refuse anything that
                    // could be a secret pasted in by mistake, and do not echo it.
                    c.error(value.line, "\"\(c.qualified(entry.key))\" must name a credential file ([a-z0-9._-]), not hold the secret itself")
                }
            }
        }
        c.finish()
        return credentials
    }

    /// `rate_limit = "5/s"` and `burst = 10`.
    private static func readRate(_ t: inout TableReader) -> RateLimit {
        var rate = RateLimit(requests: 5, per: .seconds(1), burst: 10)
        if let limit = t.parsed("rate_limit", { (text) throws(ValueError) in try parseRate(text) }) {
            rate.requests = limit.value.0
            rate.per = limit.value.1
        }
        if let burst = t.integer("burst", in: 1...100_000) { rate.burst = burst.value }
        return rate
    }

    private static func readMarketplace(_ name: MarketplaceName, _ t: inout TableReader, currency: Currency) -> Marketplace? {
        let url = readBaseURL(&t)
        let credentials = readCredentialNames(&t)
        let rate = readRate(&t)
        let feePercent = t.percent("fee_percent", in: 0...500_000)
        let feeFixed = t.money("fee_fixed")
        if let feeFixed, feeFixed.value.currency != currency {
            t.error(feeFixed.line, "\"\(t.qualified("fee_fixed"))\" is in \(feeFixed.value.currency) but the config's currency is \(currency)")
        }
        let id = t.string("marketplace_id")
        let tokenURL = t.string("token_url")
        if let tokenURL { checkURL(tokenURL, key: "token_url", &t) }
        let sellerID = t.string("seller_id")
        var quotas: [String: Int64] = [:]
        if var q = t.table("daily_quota") {
            let known = QuotaPolicy.documentedLimits.keys.filter { $0.provider == name.rawValue }.map(\.api).sorted()
            if known.isEmpty {
                // Amazon's limits are rates and Shopify's a cost bucket, both followed from their answers.
                let line = t.table.entries.first { $0.key == "daily_quota" }?.keyPosition.line ?? q.table.position.line
                q.error(line, "\"\(t.qualified("daily_quota"))\": \(name.rawValue) has no daily call quotas; only eBay's APIs have them")
            } else {
                for entry in q.table.entries {
                    guard let n = q.integer(entry.key, in: 1...1_000_000_000) else { continue }
                    if known.contains(entry.key) {
                        quotas[entry.key] = Int64(n.value)
                    } else {
                        q.error(n.line, Suggestion.unknown("API", entry.key, in: "[\(t.qualified("daily_quota"))]", options: known))
                    }
                }
                q.finish()
            }
        }
        let refreshTask = t.integer("refresh_task_listings", in: 1...100_000)
        if let refreshTask, name != .ebay {
            t.error(refreshTask.line, "\"\(t.qualified("refresh_task_listings"))\": only eBay refreshes remembered searches")
        }
        let searchTask = t.integer("search_task_gtins", in: 1...64)
        if let searchTask, name != .ebay {
            t.error(searchTask.line, "\"\(t.qualified("search_task_gtins"))\": only eBay searches by GTIN")
        }
        guard let url else { return nil }
        return Marketplace(name: name, baseURL: url, credentials: credentials, rateLimit: rate,
                           feePercent: feePercent?.value ?? Percent(partsPerMillion: 0),
                           feeFixed: feeFixed?.value ?? .zero(currency), marketplaceID: id?.value,
                           tokenURL: tokenURL?.value, sellerID: sellerID?.value, dailyQuota: quotas,
                           refreshTaskListings: name == .ebay ? refreshTask?.value : nil,
                           searchTaskGTINs: name == .ebay ? searchTask?.value : nil)
    }

    /// `"5/s"`, `"100/min"`, `"1/2s"`.
    static func parseRate(_ text: String) throws(ValueError) -> (Int, TimeSpan) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let n = Int(String(parts[0]).trimmingASCIISpaces()), n > 0, n <= 1_000_000 else {
            throw ValueError("expected a rate like \"5/s\" or \"100/min\", found \"\(text)\"")
        }
        var unit = String(parts[1]).trimmingASCIISpaces()
        if let first = unit.first, !first.isNumber { unit = "1" + unit }
        let span = try TimeSpan(parsing: unit)
        guard span.milliseconds > 0 else { throw ValueError("rate period must be positive in \"\(text)\"") }
        return (n, span)
    }
}
