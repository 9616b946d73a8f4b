import FlipSyncCore
import Logging
import PostgresNIO
import ServiceLifecycle

extension ClusterEndpoint {
    /// The client configuration for this endpoint, with the password from the credential.
    public func clientConfiguration(password: String) -> PostgresClient.Configuration {
        let tlsMode: PostgresClient.Configuration.TLS
        switch tls {
        case .disable: tlsMode = .disable
        case .prefer: tlsMode = .prefer(.makeClientConfiguration())
        case .require: tlsMode = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                                         database: database, tls: tlsMode)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = 4
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

    public init(endpoint: ClusterEndpoint, password: String, nodeID: String, host: String, pid: Int64,
                clock: any SchedulerClock, logger: Logger, timing: ClusterCoordinator.Timing = .init()) {
        client = PostgresClient(configuration: endpoint.clientConfiguration(password: password), backgroundLogger: logger)
        coordinator = ClusterCoordinator(client: client, nodeID: nodeID, host: host, pid: pid, timing: timing, logger: logger)
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        // Detached: PostgresClient.run() shuts its pool down on the group's graceful shutdown
        // itself, which would come before this node has released its lease. It is cancelled
        // once the lease is released.
        let client = self.client
        let clientTask = Task.detached { await client.run() }
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
