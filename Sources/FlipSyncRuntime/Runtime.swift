import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncStore
import FlipSyncSystemd
import Logging

/// Everything a run needs, assembled once from the config: the ledger, the spend ledger that
/// enforces the budgets, the channel clients and the plans. `flipsyncd` and
/// `flipsyncctl run --local` assemble the same thing, so a local run is the daemon's run.
public struct Runtime: Sendable {
    /// The run ledger's stores, SQLite or PostgreSQL (`[daemon] database`).
    public let ledger: LedgerStores
    public let services: WorkflowServices
    public let plans: WorkflowPlans
    /// Closes the HTTP transport `open` made (nothing when the caller passed its own).
    private let closeTransport: @Sendable () async -> Void

    /// What exists only on an SQLite ledger (`nil` on PostgreSQL): see `LedgerStores`.
    public var sqlite: LedgerStores.SQLiteOnly? { ledger.sqlite }

    /// Opens (creating if needed) the ledger and builds the channels. Channels whose credentials
    /// cannot be read are left out with the reason; a ledger that cannot be opened throws.
    /// `metrics` is told of what the ledger records (`DaemonMetrics.ledger` when the config
    /// has `daemon.metrics`; SQLite only: a PostgreSQL ledger records no ledger metrics).
    /// `[daemon] database = "postgres://…"` opens the PostgreSQL ledger (password: the
    /// credential `postgres-password`, read through `secret`), its runs recorded as `node`'s
    /// (default `[daemon] node_name`, else the host name).
    public static func open(config: FlipSyncConfig, jobs: [JobDefinition], clock: any SchedulerClock, logger: Logger,
                            secret: ChannelFactory.SecretLookup? = nil,
                            transport: (any HTTPTransport)? = nil, metrics: LedgerMetrics = .off,
                            sharedRates: (any SharedRateGate)? = nil, node: String? = nil) throws -> Runtime {
        let secret = secret ?? credentials(config)
        let ledger = try LedgerStores.open(config: config, budgets: SpendBudgets(config: config, jobs: jobs),
                                           policy: QuotaPolicy(config: config, jobs: jobs), clock: clock, logger: logger,
                                           secret: secret, node: node, metrics: metrics)
        // One HTTP client for every channel, as many connections per host as the pool runs tasks.
        let owned = transport == nil ? defaultTransport(config) : nil
        let services = ChannelFactory.services(
            config: config, secret: secret, transport: transport ?? owned!.transport,
            recorder: ledger.spend, rateLimiters: RateLimiters(clock: clock, shared: sharedRates), clock: clock,
            matchCache: ledger.matches, quota: ledger.quota, offerMemory: ledger.offers, logger: logger)
        let plans = WorkflowPlans(ledger: ledger.runs, probe: ledger.probe, repricing: ledger.repricing, sync: ledger.sync,
                                  shipping: ledger.shipping, spend: ledger.spendEvidence, services: services, clock: clock,
                                  quota: ledger.quota, competitors: ledger.competitors)
        return Runtime(ledger: ledger, services: services, plans: plans, closeTransport: { await owned?.close() })
    }

    /// The transport `open` makes when given none, and how to close it: AsyncHTTPClient on
    /// SwiftNIO's event loops, as many connections per host as the pool runs tasks. It took
    /// two thirds of URLSession's time and CPU for the same sweep, measured side by side in one
    /// run (issue 15, item 6; BENCHMARKS.md).
    static func defaultTransport(_ config: FlipSyncConfig) -> (transport: any HTTPTransport, close: @Sendable () async -> Void) {
        let transport = AsyncHTTPClientTransport(allowList: ChannelFactory.allowList(config), connectionsPerHost: config.poolSize)
        return (transport, { await transport.shutdown() })
    }

    /// Closes the HTTP client's connections and the ledger's (PostgreSQL); the daemon calls it
    /// once it has stopped.
    public func shutdown() async {
        await closeTransport()
        // Calls counted ahead (the quota's leases) and not sent go back to the ledger.
        ledger.sqlite?.quota.returnLeases()
        ledger.close()
    }

    /// The run coordinator over this runtime's ledger and plans, its runs' spend read from the
    /// spend ledger.
    /// With `dispatch` (a cluster on a shared PostgreSQL ledger), the tasks of each plan's
    /// `distributedAgents` go to the cluster's task queue.
    public func coordinator(pool: PermitPool, clock: any SchedulerClock, logger: Logger,
                            onProgress: (@Sendable (RunProgress) -> Void)? = nil,
                            dispatch: (any TaskDispatch)? = nil) -> RunCoordinator {
        let plans = self.plans, spend = ledger.spend
        return RunCoordinator(ledger: ledger.runs, pool: pool, clock: clock, plan: { plans.plan(for: $0) }, logger: logger,
                              onProgress: onProgress, runSpend: { (try? spend.spent(runID: $0).micros) ?? 0 },
                              dispatch: dispatch)
    }

    /// One run of `job`, now, outside the scheduler — `flipsyncctl run --local` and anything
    /// else that starts a single run: recorded as a `manual` run requested by `requestedBy` (a
    /// uid), told to `onStarted` once recorded, executed by this runtime's run coordinator (same
    /// plan, agents, limits and ledger as the daemon's runs) and read back once it has ended.
    public func runOnce(job: JobDefinition, requestedBy: UInt32?, pool: PermitPool, clock: any SchedulerClock, logger: Logger,
                        onStarted: (RunInfo) -> Void = { _ in },
                        onProgress: (@Sendable (RunProgress) -> Void)? = nil,
                        dispatch: (any TaskDispatch)? = nil) async throws(LedgerError) -> (run: RunInfo, status: RunStatus) {
        let recorded: RunInfo?
        do {
            recorded = try ledger.runs.recordFire(job: job.name, kind: job.kind.rawValue, trigger: .manual, requestedBy: requestedBy,
                                                  scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                  at: clock.wallMilliseconds(), resumes: nil)
        } catch {
            throw Self.ledgerError(error)
        }
        guard let run = recorded else {
            // Only a second record of one scheduled fire returns nil; a manual run has none.
            throw .storage("could not record a run of \(job.name)")
        }
        onStarted(run)
        let status = await coordinator(pool: pool, clock: clock, logger: logger, onProgress: onProgress, dispatch: dispatch)
            .execute(run: run, job: job)
        do {
            return (try ledger.runs.run(id: run.id) ?? run, status)
        } catch {
            throw Self.ledgerError(error)
        }
    }

    /// A ledger's error as `LedgerError` (both ledgers throw only that; anything else is wrapped).
    static func ledgerError(_ error: any Error) -> LedgerError {
        (error as? LedgerError) ?? .storage("\(error)")
    }

    /// Credentials as the daemon reads them: `$CREDENTIALS_DIRECTORY` (systemd's
    /// `LoadCredential=`), else the config's `credentials_directory` (development).
    public static func credentials(_ config: FlipSyncConfig) -> ChannelFactory.SecretLookup {
        let directory = config.credentialsDirectory
        return { name in SecretText(try Credentials.read(name, credentialsDirectory: directory).reveal()) }
    }
}
