import FlipSyncCluster
import FlipSyncControl
import FlipSyncCore
import FlipSyncRuntime
import FlipSyncStore
import FlipSyncSystemd
import Logging
import ServiceLifecycle
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// Wires the daemon together and runs it: the config and jobs, the runtime (ledger, channels,
/// plans), the scheduler, the control socket, and one `ServiceGroup` of the services that live
/// until the daemon stops. SIGTERM and SIGINT are the group's `gracefulShutdownSignals`; SIGHUP
/// (trapped by the caller first thing at start-up) is `ReloadService`'s. Every decision lives in
/// the libraries.
struct Daemon {
    let setup: DaemonSetup
    let forceJournal: Bool
    /// SIGHUP, trapped before anything else: a SIGHUP during start-up waits in it.
    let hangups: UnixSignalsSequence

    /// Runs until stopped; returns the exit status (0 after a clean stop).
    func run() async -> Int32 {
        let clock = SystemSchedulerClock()
        let loaded = setup.load(now: clock.now())
        LogSetup.bootstrap(identifier: "flipsyncd", level: Logger.Level(loaded.config.logLevel), forceJournal: forceJournal)
        var logger = Logger(label: "flipsyncd")
        let notifier = Notifier.fromEnvironment()
        if !GlobalExecutor.installed {
            logger.warning("SwiftNIO could not become the global executor; idle, the daemon wakes about once a second",
                           metadata: ["event": "executor-not-installed"])
        }

        guard loaded.configIsValid else {
            for diagnostic in loaded.errors { logger.critical("\(diagnostic)", metadata: ["event": "config-invalid"]) }
            logger.critical("\(loaded.config.file) is invalid; not starting", metadata: ["event": "config-invalid"])
            return 1
        }
        Diagnostic.log(loaded.diagnostics, to: logger)
        let config = loaded.config
        logger[metadataKey: "config"] = "\(config.file)"

        // Prometheus metrics only when `daemon.metrics` names a (loopback) address.
        let metrics = config.metrics.map { _ in DaemonMetrics() }
        // Several nodes on one PostgreSQL: fire only while holding the scheduler lease.
        var cluster: ClusterService?
        var sharedRates: (any SharedRateGate)?
        var listenTo: (endpoint: ClusterEndpoint, password: String)?
        if let endpoint = config.cluster {
            let password: String
            do {
                password = try Credentials.read(ClusterEndpoint.passwordCredential, credentialsDirectory: config.credentialsDirectory).reveal()
            } catch {
                logger.critical("cannot read the cluster database's password: \(error)", metadata: ["event": "config-invalid"])
                return 1
            }
            let host = Self.hostName()
            let service = ClusterService(endpoint: endpoint, password: password, nodeID: config.nodeName ?? host, host: host,
                                         pid: Int64(getpid()), clock: clock, logger: logger)
            cluster = service
            listenTo = (endpoint, password)
            // Per-API rate limits shared by every node (issue 16, item 3).
            sharedRates = ClusterRateGate(limiter: ClusterRateLimiter(client: service.client, node: config.nodeName ?? host, logger: logger), clock: clock, logger: logger)
            logger.info("cluster \(endpoint) as node \(config.nodeName ?? host)", metadata: ["event": "cluster-joined"])
            // The node_name check, before READY=1, the control socket and the scheduler: a
            // process refused here never says it is ready.
            do {
                _ = try await cluster?.join()
            } catch {
                // The ledger is not open yet; `join` stopped the database client.
                logger.critical("\(error)", metadata: ["event": "node-name-in-use"])
                return 1
            }
        }

        let runtime: Runtime
        do {
            // A PostgreSQL ledger (`database = "postgres://…"`) records runs as this node's.
            runtime = try Runtime.open(config: config, jobs: loaded.catalog.jobs, clock: clock, logger: logger,
                                       metrics: metrics?.ledger ?? .off, sharedRates: sharedRates,
                                       node: config.nodeName ?? Self.hostName())
        } catch {
            logger.critical("cannot open the run ledger: \(error)", metadata: ["event": "database-failed"])
            return 1
        }
        logger.info("run ledger \(config.databasePath); marketplaces: \(runtime.services.marketplaces.keys.map(\.rawValue).sorted().joined(separator: ", "))")

        let status = DaemonStatus()
        let pool = PermitPool(permits: config.poolSize)
        // A cluster on a shared PostgreSQL ledger: runs dispatch their plans' distributed tasks
        // to the cluster's queue, and every node claims them (issue 16, item 3).
        let nodeName = config.nodeName ?? Self.hostName()
        let queue = cluster.flatMap { runtime.sqlite == nil ? ClusterTaskQueue(client: $0.client, logger: logger) : nil }
        let signals = ClusterTaskSignals()
        let dispatcher = queue.map { ClusterTaskDispatcher(queue: $0, node: nodeName, clock: clock, logger: logger, signals: signals) }
        let scheduler = runtime.scheduler(catalog: loaded.catalog, pool: pool, clock: clock,
                                          notifier: notifier, status: status, logger: logger, gate: cluster?.coordinator,
                                          runGate: cluster?.coordinator, dispatch: dispatcher)
        let worker = queue.map { queue in
            // Runs claimed tasks here, as their run's own coordinator would, with this node's jobs.
            let here = runtime.coordinator(pool: pool, clock: clock, logger: logger)
            return ClusterTaskWorker(queue: queue, node: nodeName, pool: pool,
                                     perform: { task in try await here.performDispatched(task, job: await scheduler.definition(named: task.job)) },
                                     clock: clock, logger: logger, signals: signals)
        }
        if let cluster {
            // One PostgreSQL run ledger for every node: run ids are one sequence, so a resume
            // can tell whether another node's run of its job started after it.
            await cluster.coordinator.shareRunIDs(runtime.sqlite == nil)
            await cluster.coordinator.observe(inFlight: { Int64(await scheduler.jobs().filter { $0.running != nil }.count) },
                                              onLeadership: { _ in await scheduler.leadershipChanged() })
        }
        await runtime.resumeInterrupted(in: scheduler, at: clock.wallMilliseconds(), logger: logger)

        let access = ControlAccess.resolving(users: config.controlUsers, group: config.controlGroup, daemonUID: geteuid(),
                                             warn: { logger.warning("\($0)") })
        let control = ControlServer(path: config.controlSocket, access: access,
                                    handler: SchedulerControl(scheduler: scheduler, statusNote: { status.reloadProblem },
                                                              nodes: Self.nodesReader(cluster)),
                                    logger: logger)
        do {
            try FileSystem.makeDirectories(FileSystem.directory(of: config.controlSocket), mode: 0o750)
            try control.start()
        } catch {
            logger.critical("cannot open the control socket: \(error)", metadata: ["event": "control-failed"])
            return 1
        }

        // Started in this order, shut down in reverse: the reload service and the pruner end
        // first, the scheduler drains its runs, then the control socket closes and the ledger's
        // last group commit is flushed. The scheduler service sends READY=1 when it starts,
        // after the group has trapped SIGTERM and SIGINT.
        let reloader = Reloader(setup: setup, running: config, scheduler: scheduler, spend: runtime.ledger.spend,
                                quota: runtime.ledger.quota, notifier: notifier,
                                status: status, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // SQLite only: its group commit's drainer. A PostgreSQL ledger writes synchronously,
        // each write its own transaction, so it has none.
        if let sqlite = runtime.sqlite { services.append(.init(service: GroupCommitService(store: sqlite.store))) }
        services.append(.init(service: control))
        if let metrics, let address = config.metrics {
            let metricsLogger = logger
            services.append(.init(service: MetricsServer.service(
                address: address, metrics: metrics, pool: pool, quota: runtime.ledger.quota, logger: logger,
                onBound: { port in
                    metricsLogger.notice("metrics on http://\(MetricsAddress(host: address.host, port: port))/metrics",
                                         metadata: ["event": "metrics-listening"])
                })))
        }
        // Before the scheduler: it stops after the scheduler has drained, releasing the lease.
        if let cluster { services.append(.init(service: cluster)) }
        // Between the two: it claims tasks while the scheduler drains (its own runs' only), and
        // hands back what it has not finished before the cluster client stops.
        if let worker { services.append(.init(service: worker)) }
        // Wakes the worker and the dispatcher when any node's queue changes (else they poll).
        if queue != nil, let listenTo {
            do {
                services.append(.init(service: try ClusterTaskListener(endpoint: listenTo.endpoint, password: listenTo.password, node: nodeName,
                                                                       signals: signals, clock: clock, logger: logger)))
            } catch {
                logger.error("cannot configure the cluster queue's listening connection (the polls go on): \(error)",
                             metadata: ["event": "cluster-listen-lost"])
            }
        }
        services.append(.init(service: SchedulerService(scheduler: scheduler, drain: config.drainTimeout, notifier: notifier,
                                                        status: status, logger: logger, onStopping: { worker?.beginDrain() })))
        // On a shared PostgreSQL ledger the scheduler node takes over the runs of nodes that
        // died. After the scheduler, so it stops first: a stopping node takes nothing over that
        // its draining scheduler would not resume.
        if let cluster, let adopting = runtime.ledger.runs as? any RunAdopting {
            services.append(.init(service: ClusterRunAdopter(coordinator: cluster.coordinator, ledger: adopting, clock: clock, logger: logger,
                                                             resume: { run in await scheduler.resume(interrupted: run) })))
        }
        services += [
                RetentionPruner(ledger: runtime.ledger.runs, clock: clock, retention: config.runRetention, logger: logger).service,
                .init(service: ReloadService(hangups: hangups, reloader: reloader, status: status),
                      successTerminationBehavior: .ignore),
            ]
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("flipsyncd failed: \(error)")
            await runtime.shutdown()
            return 1
        }
        await runtime.shutdown()
        logger.notice("flipsyncd stopped", metadata: ["event": "daemon-stopped"])
        return 0
    }

    static func nodesReader(_ cluster: ClusterService?) -> (@Sendable () async throws -> [ClusterNodeStatus])? {
        guard let coordinator = cluster?.coordinator else { return nil }
        return { try await coordinator.nodes() }
    }

    static func hostName() -> String { LedgerStores.hostName() }
}
