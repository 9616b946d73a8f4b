import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncPostgres
import FlipSyncStore
import FlipSyncSystemd
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Every store a run needs, as protocols, over one ledger: the SQLite file (`RunStore` and the
/// stores over it) or a PostgreSQL database (`PostgresLedger` and the stores over it), chosen by
/// `[daemon] database`. `Runtime` and the daemon use only these, except for what exists only
/// on SQLite, which is in `sqlite` and is `nil` on PostgreSQL:
///
/// - the group-commit drainer (`GroupCommitService`): PostgreSQL's writes are synchronous, each
///   its own transaction, so there is nothing to drain;
/// - the group commit's metric (`flipsync_ledger_commit_seconds`); every other ledger metric
///   (runs, fire lateness, API calls and spend, decisions, breaker trips, oversells, drift) is
///   recorded by both stores at the same points.
public struct LedgerStores: Sendable {
    /// Which ledger: the SQLite file's path, or the PostgreSQL URL (no password).
    public enum Location: Sendable, Hashable, CustomStringConvertible {
        case sqlite(path: String)
        case postgres(ClusterEndpoint)

        public var description: String {
            switch self {
            case .sqlite(let path): return path
            case .postgres(let endpoint): return "\(endpoint)"
            }
        }
    }

    /// What exists only on an SQLite ledger (see the type's comment).
    public struct SQLiteOnly: Sendable {
        /// The ledger file: its group commit.
        public let store: RunStore
        /// The spend ledger over it (its `history` for reports).
        public let spend: SpendLedger
        /// The quota ledger over it.
        public let quota: QuotaStore
    }

    public let location: Location
    /// Runs, tasks, schedule state; at start, this node's leftovers and interrupted runs.
    public let runs: any ResumableRunLedger
    public let probe: any LedgerProbe
    public let repricing: any RepricingLedger
    public let offers: any OfferMemory
    public let competitors: any CompetitorMemory
    public let matches: any MatchCache
    public let sync: any SyncLedger
    public let shipping: any ShippingLedger
    /// The quota ledger (its `usage()` for the metrics' gauges), what plans may still use, and
    /// its policy (limits, reserves, job kinds) replaced by a reload.
    public let quota: any QuotaLedgerWithState
    /// Every metered call, the budgets enforced, a run's spend read back, budgets reloaded.
    public let spend: any BudgetedSpendRecorder
    public let spendHistory: any SpendHistoryReading
    public let spendEvidence: any SpendEvidenceSource
    /// What `flipsyncctl report` and `spend --llm-savings` read.
    public let reports: any ReportReading
    /// `nil` on PostgreSQL.
    public let sqlite: SQLiteOnly?
    private let closeLedger: @Sendable () -> Void

    /// Closes the ledger's connection (PostgreSQL); an SQLite ledger closes with its last reference.
    public func close() { closeLedger() }

    /// The SQLite ledger at `path`, created (with its directory, mode 0700) if needed.
    /// `metrics` is told of what the ledger records.
    public static func sqlite(path: String, budgets: SpendBudgets, policy: QuotaPolicy, clock: any SchedulerClock,
                              logger: Logger, metrics: LedgerMetrics = .off) throws -> LedgerStores {
        try FileSystem.makeDirectories(FileSystem.directory(of: path), mode: 0o700)
        let store = try RunStore(path: path, metrics: metrics)
        let spend = try SpendLedger(store: store, budgets: budgets, clock: clock, onEvent: { $0.log(to: logger) })
        let quota = QuotaStore(store: store, policy: policy, clock: clock,
                               onError: { logger.error("\($0)", metadata: ["event": "quota-ledger-error"]) })
        return LedgerStores(location: .sqlite(path: path), runs: store, probe: store, repricing: store, offers: store,
                            competitors: store, matches: store, sync: SyncStore(store: store), shipping: store, quota: quota,
                            spend: spend, spendHistory: spend.history, spendEvidence: SpendEvidence(store: store, spend: spend),
                            reports: store, sqlite: SQLiteOnly(store: store, spend: spend, quota: quota), closeLedger: {})
    }

    /// The PostgreSQL ledger at `endpoint` (migrated on open), recording its runs as `node`'s and
    /// its facts as `metrics` (the SQLite store's, but no group commit's).
    public static func postgres(endpoint: ClusterEndpoint, password: String, node: String, budgets: SpendBudgets,
                                policy: QuotaPolicy, clock: any SchedulerClock, logger: Logger,
                                metrics: LedgerMetrics = .off) throws -> LedgerStores {
        let ledger = try PostgresLedger(endpoint: endpoint, password: password, node: node, metrics: metrics)
        do {
            let spend = try PostgresSpendLedger(ledger: ledger, budgets: budgets, clock: clock, onEvent: { $0.log(to: logger) })
            let quota = PostgresQuotaLedger(ledger: ledger, policy: policy, clock: clock,
                                            onError: { logger.error("\($0)", metadata: ["event": "quota-ledger-error"]) })
            let repricing = PostgresRepricingLedger(ledger: ledger)
            return LedgerStores(location: .postgres(endpoint), runs: ledger, probe: ledger, repricing: repricing, offers: repricing,
                                competitors: repricing, matches: repricing, sync: PostgresSyncLedger(ledger: ledger),
                                shipping: PostgresShippingLedger(ledger: ledger), quota: quota, spend: spend,
                                spendHistory: PostgresSpendHistory(ledger: ledger),
                                spendEvidence: PostgresSpendEvidence(ledger: ledger, budgets: { spend.budgets }),
                                reports: PostgresReports(ledger: ledger), sqlite: nil, closeLedger: { ledger.close() })
        } catch {
            ledger.close()
            throw error
        }
    }

    /// The ledger `config` names (`[daemon] database`): PostgreSQL for a `postgres://` URL, its
    /// password the credential `postgres-password` read through `secret`, its runs recorded as
    /// `node` (default: `[daemon] node_name`, else the host name); else the SQLite file.
    public static func open(config: FlipSyncConfig, budgets: SpendBudgets, policy: QuotaPolicy, clock: any SchedulerClock,
                            logger: Logger, secret: ChannelFactory.SecretLookup, node: String? = nil,
                            metrics: LedgerMetrics = .off) throws -> LedgerStores {
        guard let endpoint = config.databaseEndpoint else {
            return try sqlite(path: config.databasePath, budgets: budgets, policy: policy, clock: clock, logger: logger,
                              metrics: metrics)
        }
        let password: String
        do {
            password = try secret(ClusterEndpoint.passwordCredential).reveal()
        } catch {
            throw LedgerError.storage("cannot read the password of \(endpoint) (the credential \"\(ClusterEndpoint.passwordCredential)\"): \(error)")
        }
        return try postgres(endpoint: endpoint, password: password, node: node ?? config.nodeName ?? hostName(), budgets: budgets,
                            policy: policy, clock: clock, logger: logger, metrics: metrics)
    }

    /// This machine's host name (a node's default name).
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
