import FlipSyncCore
import FlipSyncStore
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// The daemon's Prometheus metrics: one registry of its own (nothing is bootstrapped
/// globally), the `LedgerMetrics` the ledger records into, and the text exposition at
/// `/metrics` with the gauges read at each scrape (the pool's tasks, each quota's window).
public struct DaemonMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let ledger: LedgerMetrics

    /// Histogram buckets in seconds, chosen per metric: runs last seconds to hours, fires are
    /// late by milliseconds to minutes, a group commit takes microseconds to a second.
    public static let buckets: [String: [Duration]] = [
        LedgerMetrics.Name.runDuration: [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14_400].map { .seconds($0) },
        LedgerMetrics.Name.fireLateness: [.milliseconds(10), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5),
                                          .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(3600)],
        LedgerMetrics.Name.ledgerCommit: [.microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5),
                                          .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1)],
    ]

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = Self.buckets
        ledger = LedgerMetrics(factory: factory)
    }

    /// The Prometheus text format (0.0.4), the gauges refreshed first.
    public func scrape(pool: PermitPool?, quota: (any QuotaLedger)?) -> String {
        if let pool { ledger.setTasks(inFlight: pool.inUse, queued: pool.waiting) }
        if let quota { ledger.setQuota(quota.usage()) }
        return registry.emitToString()
    }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

/// `GET /metrics` on the config's loopback address (`daemon.metrics`), as a service of the
/// daemon's group: it stops with the daemon. Anything else is 404.
public struct MetricsServer {
    /// The server as a service; `onBound` is told the port once listening (port 0 asks the
    /// kernel for one).
    public static func service(address: MetricsAddress, metrics: DaemonMetrics, pool: PermitPool?, quota: (any QuotaLedger)?,
                               logger: Logger, onBound: @escaping @Sendable (Int) -> Void = { _ in }) -> any Service {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            let text = metrics.scrape(pool: pool, quota: quota)
            return Response(status: .ok, headers: [.contentType: DaemonMetrics.contentType],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "flipsyncd"),
            onServerRunning: { channel in onBound(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
