import FlipSyncCore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Wakes this node's worker and dispatcher as soon as the queue changes on any node, instead of
/// at their next poll: one connection of its own (not the client's pool) LISTENs on
/// `flipsync_cluster_tasks`, where the queue's trigger (cluster migration 6, `task-notify`)
/// says `pending` when a task becomes claimable and `ended NODE` when a task of NODE's runs
/// ends. `pending` signals the worker (`ClusterTaskSignals.enqueued`), `ended` with this node's
/// name its dispatcher (`ended`). The polls stay as they were, the fallback for what no
/// notification says (an expired lease) and for a lost connection: on a failure the listener
/// logs once (`cluster-listen-lost`), retries every `retryMilliseconds`, and, listening again,
/// signals both once to look at what changed meanwhile (`cluster-listen-resumed`).
public struct ClusterTaskListener: Service {
    public static let channel = "flipsync_cluster_tasks"

    let connect: @Sendable () async throws -> PostgresConnection
    let node: String
    let signals: ClusterTaskSignals
    let clock: any SchedulerClock
    let logger: Logger
    let retryMilliseconds: Int64

    public init(configuration: PostgresConnection.Configuration, node: String, signals: ClusterTaskSignals,
                clock: any SchedulerClock, logger: Logger, retryMilliseconds: Int64 = 2_000) {
        let connectionLogger = logger
        connect = { try await PostgresConnection.connect(configuration: configuration, id: 0, logger: connectionLogger) }
        self.node = node
        self.signals = signals
        self.clock = clock
        self.logger = logger
        self.retryMilliseconds = max(10, retryMilliseconds)
    }

    /// For `endpoint` with its password (throws when its TLS context cannot be made).
    public init(endpoint: ClusterEndpoint, password: String, node: String, signals: ClusterTaskSignals,
                clock: any SchedulerClock, logger: Logger, retryMilliseconds: Int64 = 2_000) throws {
        self.init(configuration: try endpoint.connectionConfiguration(password: password), node: node, signals: signals,
                  clock: clock, logger: logger, retryMilliseconds: retryMilliseconds)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.listen() }
    }

    /// Listens until cancelled, reconnecting after every failure.
    public func listen() async {
        var lost = false
        while !Task.isCancelled {
            do {
                let connection = try await connect()
                let ended: (any Error)?
                do {
                    try await withTaskCancellationHandler {
                        try await connection.listen(on: Self.channel) { notifications in
                            if lost {
                                logger.notice("listening to the cluster's task queue again", metadata: ["event": "cluster-listen-resumed"])
                                lost = false
                            }
                            // What changed while this node was not listening is looked at now.
                            signals.enqueued.signal()
                            signals.ended.signal()
                            for try await notification in notifications { handle(notification.payload) }
                        }
                    } onCancel: {
                        let _: EventLoopFuture<Void> = connection.close()
                    }
                    ended = nil
                } catch {
                    ended = error
                }
                // Closed before it is let go (postgres-nio requires it), whatever ended the listening.
                try? await connection.close()
                if let ended { throw ended }
            } catch {
                if Task.isCancelled { return }
                if !lost {
                    logger.warning("cannot listen to the cluster's task queue (the polls go on); retrying: \(String(reflecting: error))",
                                   metadata: ["event": "cluster-listen-lost"])
                    lost = true
                }
            }
            if Task.isCancelled { return }
            do { try await clock.sleep(milliseconds: retryMilliseconds) } catch { return }
        }
    }

    /// One notification's payload: `pending`, or `ended NODE`. Anything else is ignored.
    func handle(_ payload: String) {
        if payload == "pending" {
            signals.enqueued.signal()
        } else if payload.hasPrefix("ended "), payload.dropFirst("ended ".count) == node {
            signals.ended.signal()
        }
    }
}
