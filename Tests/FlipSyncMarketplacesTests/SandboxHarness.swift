import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
import Logging

/// A sandbox on an ephemeral loopback port and an `EbayClient` pointed at it over real HTTP.
struct Harness: Sendable {
    let sandbox: SandboxServer
    let client: EbayClient
    let recorder: InMemorySpendRecorder
    let transport: any HTTPTransport

    static let credentials = SandboxCredentials(clientID: "test-client", clientSecret: "s3cr3t-CLIENT-value",
                                                refreshToken: "r3fr3sh-TOKEN-value")

    static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// Runs `body` with a fresh sandbox and client, and always stops the sandbox afterwards.
    /// `clock` drives the client (rate limits, token renewal); `sandboxClock` the sandbox (order
    /// times, token expiry), the system clock for each if nil.
    static func with<T: Sendable>(listings: Int = 80, clientSecret: String = credentials.clientSecret,
                                  refreshToken: String = credentials.refreshToken, allowList: HostAllowList? = nil,
                                  clock: (any SchedulerClock)? = nil, sandboxClock: (any SchedulerClock)? = nil,
                                  timeout: TimeSpan = .seconds(10), transport kind: TestTransport = .urlSession,
                                  requests: Int = 1000, per: TimeSpan = .seconds(1), burst: Int = 1000,
                                  _ body: @Sendable (Harness) async throws -> T) async throws -> T {
        let sandbox = try await SandboxServer.start(
            SandboxConfiguration(port: 0, seed: 7, listings: listings, credentials: credentials),
            clock: sandboxClock ?? SystemSchedulerClock(), logger: quietLogger)
        do {
            let transport = kind.make(allowList ?? HostAllowList(["127.0.0.1:\(sandbox.port)"]))
            let recorder = InMemorySpendRecorder()
            let clock = clock ?? SystemSchedulerClock()
            let client = makeClient(sandbox: sandbox, transport: transport, recorder: recorder, clock: clock, clientSecret: clientSecret,
                                    refreshToken: refreshToken, timeout: timeout, requests: requests, per: per, burst: burst)
            let result = try await body(Harness(sandbox: sandbox, client: client, recorder: recorder, transport: transport))
            await sandbox.stop()
            return result
        } catch {
            await sandbox.stop()
            throw error
        }
    }

    /// An `EbayClient` of the sandbox's eBay, sending through `transport`.
    static func makeClient(sandbox: SandboxServer, transport: any HTTPTransport, recorder: any SpendRecorder = InMemorySpendRecorder(),
                           clock: any SchedulerClock = SystemSchedulerClock(), clientSecret: String = credentials.clientSecret,
                           refreshToken: String = credentials.refreshToken, timeout: TimeSpan = .seconds(10),
                           requests: Int = 1000, per: TimeSpan = .seconds(1), burst: Int = 1000) -> EbayClient {
        EbayClient(
            configuration: EbayClientConfiguration(baseURL: sandbox.baseURL + "/ebay", requests: requests, per: per,
                                                   burst: burst, timeout: timeout),
            credentials: EbayCredentials(clientID: credentials.clientID, clientSecret: SecretText(clientSecret),
                                         refreshToken: SecretText(refreshToken)),
            transport: transport, recorder: recorder, rateLimiters: RateLimiters(clock: clock), clock: clock,
            logger: quietLogger)
    }

    /// An admin call over HTTP, decoded.
    func admin<T: Decodable>(_ method: HTTPRequest.Method = .get, _ path: String, body: some Encodable = [String: String](),
                             as type: T.Type) async throws -> T {
        let bytes = method == .get ? [] : Array(try JSONEncoder().encode(body))
        let response = try await transport.send(HTTPRequest(method: method, url: sandbox.baseURL + "/_admin/" + path,
                                                            headers: [("Content-Type", "application/json")], body: bytes))
        guard response.status == 200 else { throw AdminError(status: response.status) }
        return try JSONDecoder().decode(type, from: Data(response.body))
    }

    func inject(_ fault: SandboxFault) async throws {
        _ = try await admin(.post, "faults", body: fault, as: [String: Bool].self)
    }

    struct AdminError: Error { var status: Int }

    /// Places `count` one-unit eBay orders, going round the listings that still list stock.
    func placeEbayOrders(_ count: Int) throws -> [SandboxOrder] {
        let skus = sandbox.state.listings.map(\.sku)
        var placed: [SandboxOrder] = []
        var index = 0
        while placed.count < count {
            guard index < skus.count * 100 else { throw OutOfStock() }
            if let order = try? sandbox.state.placeOrder(.ebay, sku: skus[index % skus.count], quantity: 1) { placed.append(order) }
            index += 1
        }
        return placed
    }

    struct OutOfStock: Error {}
}

extension OrderLine {
    /// The line the eBay adapter should report for a sandbox order.
    init(_ order: SandboxOrder) {
        self.init(marketplace: .ebay, orderID: order.orderID, lineID: order.lineID, sku: order.sku, quantity: order.quantity,
                  placedAt: order.placedAtMilliseconds, itemPrice: Money(micros: order.itemTotalMicros, currency: .usd),
                  shippingPaid: Money(micros: order.shippingPaidMicros, currency: .usd),
                  destination: Destination(postalCode: order.shipTo.postalCode, country: order.shipTo.country, region: order.shipTo.region),
                  deliverBy: order.deliverByMilliseconds, open: true)
    }
}

/// The error `body` throws, or nil.
func caught(_ body: () async throws -> Void) async -> (any Error)? {
    do {
        try await body()
        return nil
    } catch {
        return error
    }
}
