@testable import FlipSyncCluster
import FlipSyncCore
import FlipSyncTestKit
import Logging
import PostgresNIO
import Testing

@Suite("Cluster: the queue listener's notifications", .timeLimit(.minutes(1)))
struct ClusterTaskListenerTests {
    @Test("`pending` wakes the worker; `ended NODE` wakes the dispatcher of NODE only; any other payload wakes nothing")
    func payloads() {
        let signals = ClusterTaskSignals()
        let configuration = PostgresConnection.Configuration(host: "127.0.0.1", port: 1, username: "u", password: nil, database: nil, tls: .disable)
        let listener = ClusterTaskListener(configuration: configuration, node: "node-a", signals: signals,
                                           clock: ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!),
                                           logger: Logger(label: "test"))
        func heard(_ payload: String) -> (enqueued: Bool, ended: Bool) {
            listener.handle(payload)
            return (signals.enqueued.takePendingSignal(), signals.ended.takePendingSignal())
        }
        #expect(heard("pending") == (true, false))
        #expect(heard("ended node-a") == (false, true))
        for other in ["ended node-b", "ended node-ab", "ended node-a ", "ended  node-a", "ended", "ended ", "Pending", "pending ",
                      "", "node-a", "ended\nnode-a", String(repeating: "x", count: 8_000)] {
            #expect(heard(other) == (false, false), "\(other.prefix(20).debugDescription)")
        }
    }
}
