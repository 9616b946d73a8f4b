import FlipSyncCluster
import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// Two "nodes" (each its own PostgreSQL client, gate, rate limiters and carrier client) quoting
/// against one loopback sandbox.
private struct Node {
    let client: CarrierClient
    let gate: ClusterRateGate
}

private func node(_ postgres: PostgresClient, sandbox: SandboxServer, transport: any HTTPTransport, requests: Int, burst: Int,
                  timeout: TimeSpan = .seconds(10), statementTimeout: TimeSpan = .seconds(2), logger: Logger = quietLogger) -> Node {
    let clock = SystemSchedulerClock()
    let gate = ClusterRateGate(limiter: ClusterRateLimiter(client: postgres, node: "node-\(UUID().uuidString.prefix(8))", logger: logger), clock: clock,
                               statementTimeout: statementTimeout, logger: logger)
    let client = CarrierClient(
        configuration: CarrierClientConfiguration(baseURL: sandbox.baseURL + "/easypost", requests: requests, per: .seconds(1), burst: burst,
                                                  quotePrice: Money(micros: 5_000, currency: .usd), timeout: timeout),
        apiKey: SecretText(SandboxServer.easyPostAPIKey), transport: transport, recorder: InMemorySpendRecorder(),
        rateLimiters: RateLimiters(clock: clock, shared: gate), logger: logger)
    return Node(client: client, gate: gate)
}

private let shipment = Shipment(from: ShippingAddress(zip: "94105"), to: ShippingAddress(zip: "94110"),
                                parcel: Parcel(inches: 6, 6, 6, ounces: 16))

private func withSandbox<T: Sendable>(_ body: @Sendable (SandboxServer, any HTTPTransport) async throws -> T) async throws -> T {
    let sandbox = try await SandboxServer.start(
        SandboxConfiguration(port: 0, seed: 7, listings: 1,
                             credentials: SandboxCredentials(clientID: "c", clientSecret: "s", refreshToken: "r")),
        clock: SystemSchedulerClock(), logger: quietLogger)
    let transport = URLSessionTransport(allowList: HostAllowList(["127.0.0.1:\(sandbox.port)"]))
    do {
        let result = try await body(sandbox, transport)
        await sandbox.stop()
        return result
    } catch {
        await sandbox.stop()
        throw error
    }
}

/// Four workers per client quoting back to back for `seconds`: how many each client sent.
private func quoteFor(seconds: Int, _ clients: [CarrierClient]) async throws -> [Int] {
    try await withThrowingTaskGroup(of: Int.self) { group in
        for (index, client) in clients.enumerated() {
            for _ in 0..<4 {
                group.addTask {
                    let end = ContinuousClock.now + .seconds(seconds)
                    var sent = 0
                    while ContinuousClock.now < end {
                        _ = try await client.rates(for: shipment)
                        sent += 1
                    }
                    return index * 1_000_000 + sent
                }
            }
        }
        var perClient = Array(repeating: 0, count: clients.count)
        for try await tagged in group { perClient[tagged / 1_000_000] += tagged % 1_000_000 }
        return perClient
    }
}

private func quotesSent(_ sandbox: SandboxServer) -> Int {
    sandbox.state.requestCounts[SandboxRoute.carrierRates.rawValue] ?? 0
}

@Suite("Per-API rate limits shared by the cluster's nodes (issue 16 item 3)", .postgresInstalled, .postgres, .serialized,
       .timeLimit(.minutes(3)))
struct ClusterSharedRateTests {
    @Test("two nodes quoting for ~2 s through their request pipelines send ≤ burst + rate × window in all (database clock), not each")
    func twoNodesShareOneRate() async throws {
        let rate = 20, burst = 5
        try await withClients(2) { clients in
            try await withSandbox { sandbox, transport in
                let nodes = clients.map { node($0, sandbox: sandbox, transport: transport, requests: rate, burst: burst) }
                func dbNow() async throws -> Int64 {
                    let rows = try await clients[0].query("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
                    for try await ms in rows.decode(Int64.self) { return ms }
                    throw ClusterError.noRow("now")
                }
                let began = try await dbNow()
                let perNode = try await quoteFor(seconds: 2, nodes.map(\.client))
                let ended = try await dbNow()
                let window = Double(ended - began) / 1000
                let total = quotesSent(sandbox)
                let bound = Double(burst) + Double(rate) * window
                print("shared rate: \(total) quotes from 2 nodes in \(window) s; bound burst + rate × window = \(bound); per node \(perNode)")
                #expect(perNode.reduce(0, +) == total, "every quote the workers made reached the sandbox")
                #expect(perNode.allSatisfy { $0 > 0 }, "both nodes sent: \(perNode)")
                #expect(Double(total) <= bound, "\(total) quotes in \(window) s exceed burst + rate × window = \(bound)")
                #expect(Double(total) >= Double(rate) * window * 0.5, "the nodes still got the rate: \(total) in \(window) s")
                #expect(nodes.allSatisfy { !$0.gate.isFallingBack }, "PostgreSQL answered throughout")
                // The same two nodes' own buckets, without the cluster's: each keeps its rate, so twice it.
                let alone = (0..<2).map { _ in
                    CarrierClient(configuration: nodes[0].client.configuration, apiKey: SecretText(SandboxServer.easyPostAPIKey),
                                  transport: transport, recorder: InMemorySpendRecorder(),
                                  rateLimiters: RateLimiters(clock: SystemSchedulerClock()), logger: quietLogger)
                }
                let unshared = try await quoteFor(seconds: 2, alone).reduce(0, +)
                print("without the shared rate: \(unshared) quotes from 2 nodes in ~2 s")
                #expect(Double(unshared) > 1.5 * bound, "each node alone keeps its own rate: \(unshared) quotes")
            }
        }
    }

    @Test("a turn further away than the request's timeout is refused as rate limited, without sending")
    func deadline() async throws {
        try await withClients(2) { clients in
            try await withSandbox { sandbox, transport in
                let a = node(clients[0], sandbox: sandbox, transport: transport, requests: 1, burst: 1)
                let b = node(clients[1], sandbox: sandbox, transport: transport, requests: 1, burst: 1, timeout: TimeSpan(milliseconds: 300))
                _ = try await a.client.rates(for: shipment)
                let started = ContinuousClock.now
                do {
                    _ = try await b.client.rates(for: shipment)
                    Issue.record("node b sent within its 300 ms timeout although node a took the one token of a 1/s rate")
                } catch let error as MarketplaceError {
                    guard case .rateLimited(let retryAfter) = error else { Issue.record("\(error)"); return }
                    #expect((retryAfter?.milliseconds ?? 0) > 300)
                }
                #expect(ContinuousClock.now - started < .seconds(1), "refused at once, not after waiting")
                #expect(quotesSent(sandbox) == 1)
            }
        }
    }

    @Test("a gate whose PostgreSQL does not answer lets calls through under the node's own bucket within the statement timeout, logged once")
    func databaseDown() async throws {
        let logged = LogCapture()
        let logger = Logger(label: "test") { _ in logged }
        // Nothing listens on this port: the client cannot connect.
        let endpoint = ClusterEndpoint(user: "flipsync", host: "127.0.0.1", port: TestPostgres.freePort(), database: "none", tls: .disable)
        let postgres = PostgresClient(configuration: endpoint.clientConfiguration(password: "x"), backgroundLogger: quietLogger)
        let run = Task { await postgres.run() }
        defer { run.cancel() }
        try await withSandbox { sandbox, transport in
            let n = node(postgres, sandbox: sandbox, transport: transport, requests: 1000, burst: 1000,
                         statementTimeout: TimeSpan(milliseconds: 500), logger: logger)
            let started = ContinuousClock.now
            for _ in 0..<5 { _ = try await n.client.rates(for: shipment) }
            let took = ContinuousClock.now - started
            print("database down: 5 quotes in \(took)")
            #expect(took < .seconds(3), "one statement timeout (500 ms) at most, then no database for the retry interval: \(took)")
            #expect(quotesSent(sandbox) == 5)
            #expect(n.gate.isFallingBack)
            #expect(logged.events.filter { $0 == "cluster-rate-fallback" }.count == 1)
        }
    }
}

/// Collects the `event` metadata of what is logged.
private final class LogCapture: LogHandler, Sendable {
    private let store = Mutex<[String]>([])
    var events: [String] { store.withLock { $0 } }
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
    func log(event: LogEvent) {
        if case .string(let name)? = event.metadata?["event"] { store.withLock { $0.append(name) } }
    }
}
