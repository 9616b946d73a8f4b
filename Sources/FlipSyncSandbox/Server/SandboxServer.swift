import FlipSyncCore
import Hummingbird
import Logging
import ServiceLifecycle

/// How to build and where to serve a sandbox.
public struct SandboxConfiguration: Sendable, Hashable {
    /// Always loopback by default; the sandbox is not meant to be reachable from elsewhere.
    public var host: String
    /// 0 picks a free port (tests); `SandboxServer.port` says which.
    public var port: Int
    public var seed: UInt64
    public var listings: Int
    public var credentials: SandboxCredentials
    /// `expires_in` of issued tokens (eBay's are 7200 s).
    public var tokenLifetime: TimeSpan
    /// Buyers' orders arriving by themselves, spread over the channels (0: only the orders
    /// placed through `/_admin/orders`).
    public var ordersPerHour: Int
    /// What the Amazon LWA token endpoint accepts (client id, secret, refresh token).
    public var amazonCredentials: SandboxCredentials
    /// The Admin API access token the Shopify routes accept (`X-Shopify-Access-Token`).
    public var shopifyAccessToken: String
    /// The EasyPost API key and the OpenAI key accepted.
    public var easyPostAPIKey: String = SandboxServer.easyPostAPIKey
    public var openAIAPIKey: String = SandboxServer.openAIAPIKey
    /// How strict: `.generous` (the default, for quick demos) or `.production` (each
    /// operation's real rate, burst and daily quota; `SandboxLimits.production`).
    public var limits: SandboxLimits = .generous
    /// The share of listings that are another listing of a product already listed (same GTIN):
    /// 0 by default (every GTIN distinct, every seed's catalog as it always was). See `SeededCatalog`.
    public var sharedGTINPercent: Int = 0
    /// Of ten products, how many are also listed on Amazon (6 by default; 10: every one).
    public var amazonTenths: Int = 6

    public init(host: String = "127.0.0.1", port: Int = 0, seed: UInt64 = 1, listings: Int = 200,
                credentials: SandboxCredentials = .development, tokenLifetime: TimeSpan = .seconds(7200),
                ordersPerHour: Int = 0, amazonCredentials: SandboxCredentials = .amazonDevelopment,
                shopifyAccessToken: String = "sandbox-shopify-token") {
        self.ordersPerHour = ordersPerHour
        self.amazonCredentials = amazonCredentials
        self.shopifyAccessToken = shopifyAccessToken
        self.host = host
        self.port = port
        self.seed = seed
        self.listings = listings
        self.credentials = credentials
        self.tokenLifetime = tokenLifetime
    }
}

public enum SandboxError: Error, CustomStringConvertible {
    case didNotStart(String)
    /// `host` is not loopback (`LoopbackHost`): the sandbox accepts well-known development
    /// credentials and is never served anywhere else.
    case notLoopback(String)

    public var description: String {
        switch self {
        case .didNotStart(let reason): return "the sandbox did not start: \(reason)"
        case .notLoopback(let host):
            return "the sandbox serves only on a loopback address (127.x.x.x, ::1 or localhost), not \"\(host)\""
        }
    }

    /// Throws ``notLoopback(_:)`` unless `host` is loopback.
    static func requireLoopback(_ host: String) throws(SandboxError) {
        guard LoopbackHost.isLoopback(host: host) else { throw .notLoopback(host) }
    }
}

/// The local marketplace simulator: a Hummingbird server speaking eBay's REST shapes under
/// `/ebay`, with admin endpoints under `/_admin`, over seeded, mutable `SandboxState`.
///
/// In-process use (tests): `let sandbox = try await SandboxServer.start(...)`, use
/// `sandbox.baseURL`, then `await sandbox.stop()`; stopping ends the server task and returns
/// once it has finished. Standalone use: `SandboxServer.runUntilSignalled(...)`.
public final class SandboxServer: Sendable {
    public let state: SandboxState
    /// The port actually bound.
    public let port: Int
    public let host: String
    private let task: Task<Void, any Error>
    private let services: ServiceGroup

    /// `http://127.0.0.1:PORT`; eBay's API lives under `baseURL + "/ebay"`.
    public var baseURL: String { host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)" }

    private init(state: SandboxState, host: String, port: Int, task: Task<Void, any Error>, services: ServiceGroup) {
        self.services = services
        self.state = state
        self.host = host
        self.port = port
        self.task = task
    }

    static func makeState(_ configuration: SandboxConfiguration, clock: any SchedulerClock) -> SandboxState {
        SandboxState(catalog: SeededCatalog(seed: configuration.seed, listings: configuration.listings,
                                            sharedGTINPercent: configuration.sharedGTINPercent),
                     credentials: configuration.credentials, tokenLifetime: configuration.tokenLifetime, clock: clock,
                     ordersPerHour: configuration.ordersPerHour, seed: configuration.seed,
                     amazonCredentials: configuration.amazonCredentials, shopifyAccessToken: configuration.shopifyAccessToken,
                     easyPostAPIKey: configuration.easyPostAPIKey, openAIAPIKey: configuration.openAIAPIKey,
                     limits: configuration.limits, amazonTenths: configuration.amazonTenths)
    }

    static func makeRouter(_ state: SandboxState) -> Router<BasicRequestContext> {
        let router = Router()
        // Before the routes: a router's middleware applies to the routes added after it.
        router.add(middleware: SandboxFaultMiddleware(state: state))
        EbayRoutes(state: state).register(on: router)
        EbayAccountRoutes(state: state).register(on: router)
        AmazonRoutes(state: state).register(on: router)
        ShopifyRoutes(state: state).register(on: router)
        CarrierRoutes(state: state).register(on: router)
        LLMRoutes(state: state).register(on: router)
        AdminRoutes(state: state).register(on: router)
        return router
    }

    /// Starts serving in a background task and returns once the port is bound. `clock` drives
    /// everything timed (tokens, orders, the limits' buckets and Pacific days): a test's
    /// `ManualClock` moves them all.
    public static func start(_ configuration: SandboxConfiguration = SandboxConfiguration(),
                             clock: any SchedulerClock = SystemSchedulerClock(),
                             logger: Logger = Logger(label: "flipsync.sandbox")) async throws -> SandboxServer {
        try SandboxError.requireLoopback(configuration.host)
        let state = makeState(configuration, clock: clock)
        let (bound, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: makeRouter(state),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "flipsync-sandbox"),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: logger)
        // Run in a service group so `stop()` can shut down gracefully: cancelling the server task
        // instead traps in NIO when an accepted connection is still buffered ("Deinited
        // NIOAsyncWriter without calling finish()", apple/swift-nio#2637), which a request
        // cancelled mid-connect leaves behind.
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await services.run()
        }
        var iterator = bound.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            // The server ended before binding: surface its error.
            task.cancel()
            try await task.value
            throw SandboxError.didNotStart("no port was bound on \(configuration.host):\(configuration.port)")
        }
        return SandboxServer(state: state, host: configuration.host, port: port, task: task, services: services)
    }

    /// Stops serving: held (delayed) requests are released, the server shuts down gracefully
    /// (it stops accepting, serves every connection already accepted, closes idle keep-alive
    /// connections) and its task is awaited. A shutdown still under way after
    /// `SandboxServer.stopGrace` is cancelled instead, so a stuck connection cannot hold `stop()`.
    public func stop() async {
        state.markStopping()
        await services.triggerGracefulShutdown()
        let task = self.task
        let deadline = Task {
            try await Task.sleep(for: Self.stopGrace)
            task.cancel()
        }
        _ = try? await task.value
        deadline.cancel()
    }

    /// How long `stop()` lets a graceful shutdown take before cancelling the server.
    public static let stopGrace: Duration = .seconds(10)

    /// Serves until SIGINT or SIGTERM (the `flipsync-sandbox` executable).
    public static func runUntilSignalled(_ configuration: SandboxConfiguration,
                                         logger: Logger = Logger(label: "flipsync.sandbox"),
                                         onBound: @escaping @Sendable (Int) -> Void) async throws {
        try SandboxError.requireLoopback(configuration.host)
        let state = makeState(configuration, clock: SystemSchedulerClock())
        let app = Application(
            router: makeRouter(state),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "flipsync-sandbox"),
            onServerRunning: { channel in onBound(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.runService()
    }
}

extension SandboxServer {
    /// The sandbox's development value of every credential `config` names, by credential name,
    /// chosen by the role the config gives it (eBay's and Amazon's client id, secret and refresh
    /// token; Shopify's access token; the EasyPost and OpenAI keys). Not secrets: the sandbox's.
    public func developmentCredentials(for config: FlipSyncConfig) -> [String: String] {
        let byMarketplace: [MarketplaceName: [String: String]] = [
            .ebay: ["client_id": state.credentials.clientID, "client_secret": state.credentials.clientSecret,
                    "refresh_token": state.credentials.refreshToken],
            .amazon: ["client_id": state.amazonCredentials.clientID, "client_secret": state.amazonCredentials.clientSecret,
                      "refresh_token": state.amazonCredentials.refreshToken],
            .shopify: ["access_token": state.shopifyAccessToken],
        ]
        var values: [String: String] = [:]
        for (name, marketplace) in config.marketplaces {
            for (role, file) in marketplace.credentials { values[file] = byMarketplace[name]?[role] }
        }
        for endpoint in config.carriers.values { for file in endpoint.credentials.values { values[file] = state.easyPostAPIKey } }
        for endpoint in config.llm.values { for file in endpoint.credentials.values { values[file] = state.openAIAPIKey } }
        return values
    }
}
