import FlipSyncCore
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

extension ClusterEndpoint.TLSMode {
    /// This mode for a `PostgresClient`: `prefer` and `require` with NIOSSL's client defaults
    /// (the system's trust roots, the certificate and host name verified). The one place the
    /// mode becomes a TLS configuration, for the cluster's connections and the PostgreSQL ledger's.
    public var clientTLS: PostgresClient.Configuration.TLS {
        switch self {
        case .disable: return .disable
        case .prefer: return .prefer(.makeClientConfiguration())
        case .require: return .require(.makeClientConfiguration())
        }
    }

    /// This mode for one `PostgresConnection`: the same configuration in an SSL context of its own.
    public func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch self {
        case .disable: return .disable
        case .prefer: return .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }
}

extension ClusterEndpoint {
    /// The client configuration for this endpoint, with the password from the credential.
    public func clientConfiguration(password: String) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                                         database: database, tls: tls.clientTLS)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = 4
        return configuration
    }
}

extension ClusterEndpoint {
    /// One connection's configuration for this endpoint (``ClusterTaskListener``'s own).
    public func connectionConfiguration(password: String) throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                             database: database, tls: try tls.connectionTLS())
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }
}

/// The cluster's part of the daemon, as one `Service`: runs the database client, migrates the
/// cluster's tables, then heartbeats and holds (or waits for) the scheduler lease until the
/// daemon stops, when it gives the lease up at once. Listed before the scheduler in the service
/// group, it stops after the scheduler has drained.
public struct ClusterService: Service {
    public let client: PostgresClient
    public let coordinator: ClusterCoordinator
    let clock: any SchedulerClock
    let logger: Logger
    private let clientRun = ClientRun()

    public init(endpoint: ClusterEndpoint, password: String, nodeID: String, host: String, pid: Int64,
                clock: any SchedulerClock, logger: Logger, timing: ClusterCoordinator.Timing = .init()) {
        client = PostgresClient(configuration: endpoint.clientConfiguration(password: password), backgroundLogger: logger)
        coordinator = ClusterCoordinator(client: client, nodeID: nodeID, host: host, pid: pid, timing: timing, logger: logger)
        self.clock = clock
        self.logger = logger
    }

    /// At start, before the daemon says READY=1 and before its service group starts: migrates the
    /// cluster's tables and registers this node, so a `node_name` another live process
    /// heartbeats under is refused here (throws ``ClusterError/nodeNameInUse``). Returns false
    /// when the database could not be reached within `timeoutMilliseconds` (or failed otherwise):
    /// the node then starts anyway and ``run()`` retries, the check happening at its first
    /// heartbeat, as before.
    public func join(timeoutMilliseconds: Int64 = 10_000) async throws -> Bool {
        _ = clientRun.start(client)
        let coordinator = self.coordinator, clock = self.clock
        let outcome: Result<Bool, any Error> = await withTaskGroup(of: Result<Bool, any Error>?.self) { group in
            group.addTask {
                do {
                    try await coordinator.migrate()
                    try await coordinator.join()
                    return .success(true)
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                try? await clock.sleep(milliseconds: timeoutMilliseconds)
                return Task.isCancelled ? nil : .success(false)
            }
            var first: Result<Bool, any Error>?
            while first == nil, let next = await group.next() { first = next }
            group.cancelAll()
            return first ?? .success(false)
        }
        switch outcome {
        case .success(let joined):
            if !joined {
                logger.error("the cluster database did not answer within \(timeoutMilliseconds) ms at start-up; starting anyway (the node_name check happens at the first heartbeat)",
                             metadata: ["event": "cluster-unreachable"])
            }
            return joined
        case .failure(let error as ClusterError) where error.isNodeNameInUse:
            await stopClient()
            throw error
        case .failure(let error):
            logger.error("cannot join the cluster database at start-up; starting anyway (the node_name check happens at the first heartbeat): \(String(reflecting: error))",
                         metadata: ["event": "cluster-unreachable"])
            return false
        }
    }

    /// Stops the database client (after a refused ``join(timeoutMilliseconds:)``, when ``run()`` never runs).
    public func stopClient() async {
        let task = clientRun.start(client)
        task.cancel()
        await task.value
    }

    public func run() async throws {
        // Detached: PostgresClient.run() shuts its pool down on the group's graceful shutdown
        // itself, which would come before this node has released its lease. It is cancelled
        // once the lease is released. Started by `join` already when the daemon joined first.
        let clientTask = clientRun.start(client)
        var failure: (any Error)?
        do {
            try await cancelWhenGracefulShutdown {
                // Migrations first (retried: the database may come up after this node).
                while !Task.isCancelled {
                    do {
                        try await coordinator.migrate()
                        break
                    } catch {
                        logger.error("cannot migrate the cluster database; retrying: \(String(reflecting: error))",
                                     metadata: ["event": "cluster-unreachable"])
                        try? await clock.sleep(milliseconds: coordinator.timing.acquireMilliseconds * 5)
                    }
                }
                // Heartbeats until the daemon stops; a `node_name` another live process
                // heartbeats under ends this service with that error, and the daemon with it.
                try await coordinator.run(sleepingOn: clock)
            }
        } catch {
            failure = error
        }
        clientTask.cancel()
        await clientTask.value
        if let failure {
            logger.critical("\(failure)", metadata: ["event": "node-name-in-use"])
            throw failure
        }
    }
}

/// The database client's one run (`PostgresClient.run()` may be called once), started by the
/// first of `join` and `run`.
private final class ClientRun: Sendable {
    private let task = Mutex<Task<Void, Never>?>(nil)

    func start(_ client: PostgresClient) -> Task<Void, Never> {
        task.withLock { task in
            if let task { return task }
            let started = Task.detached { await client.run() }
            task = started
            return started
        }
    }
}
