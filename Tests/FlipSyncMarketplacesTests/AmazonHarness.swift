import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
import Logging
import Synchronization

/// A clock whose monotonic time moves only by its sleeps: a sleep returns at once and moves
/// the clock forward instead. Token buckets then refill only by what their own waits add, so
/// pacing is exact however loaded the machine, and `slept` says how long they would have
/// waited. Wall time is the machine's plus the same offset (the sandbox stamps orders with
/// the machine's time).
final class VirtualSleepClock: SchedulerClock {
    private let offset = Mutex<Int64>(0)
    private let system = SystemSchedulerClock()
    private let start = SystemSchedulerClock().monotonicMilliseconds()

    func wallMilliseconds() -> Int64 { system.wallMilliseconds() + offset.withLock { $0 } }
    func monotonicMilliseconds() -> Int64 { start + offset.withLock { $0 } }

    func sleep(milliseconds: Int64) async throws {
        try Task.checkCancellation()
        offset.withLock { $0 += max(0, milliseconds) }
        await Task.yield()
    }

    /// Milliseconds all sleeps so far would have waited.
    var slept: Int64 { offset.withLock { $0 } }
}

/// A transport that records each request (method, URL, header names) and passes it on.
final class RecordingTransport: HTTPTransport {
    struct Sent: Sendable {
        var method: String
        var url: String
        var headerNames: [String]
    }

    let inner: URLSessionTransport
    private let log = Mutex<[Sent]>([])

    init(_ inner: URLSessionTransport) { self.inner = inner }

    var requests: [Sent] { log.withLock { $0 } }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        log.withLock { $0.append(Sent(method: request.method.rawValue, url: request.url, headerNames: request.headers.map { $0.name.lowercased() })) }
        return try await inner.send(request)
    }

    func admit(_ request: HTTPRequest) throws(HTTPTransportError) -> AdmittedRequest { try inner.admit(request) }
}

/// A sandbox on an ephemeral loopback port, and an `AmazonClient` and `AmazonMarketplace`
/// pointed at it over real HTTP.
struct AmazonHarness: Sendable {
    let sandbox: SandboxServer
    let client: AmazonClient
    let marketplace: AmazonMarketplace
    let recorder: InMemorySpendRecorder
    let transport: URLSessionTransport
    let clock: VirtualSleepClock
    /// Every request the client sent, as it left the pipeline.
    let sent: RecordingTransport

    static let credentials = SandboxCredentials(clientID: "amzn1.application-oa2-client.test",
                                                clientSecret: "LWA-s3cr3t-CLIENT-value", refreshToken: "Atzr|r3fr3sh-TOKEN-value")
    /// Generous enough that only an adopted `x-amzn-RateLimit-Limit` slows a test down.
    static let generous = AmazonRate(requestsPerSecond: 1000, burst: 1000)
    /// What issued sandbox access tokens look like (`v^1.1#i^1#sandbox#amazon#…`).
    static let accessTokenMarker = "#sandbox#amazon#"

    /// Runs `body` with a fresh sandbox and client, and always stops the sandbox afterwards.
    static func with<T: Sendable>(listings: Int = 80, clientSecret: String = credentials.clientSecret,
                                  refreshToken: String = credentials.refreshToken, sellerID: String = SandboxState.amazonSellerID,
                                  timeout: TimeSpan = .seconds(10), sandboxOnClientClock: Bool = false,
                                  _ body: @Sendable (AmazonHarness) async throws -> T) async throws -> T {
        // On the client's clock, the sandbox's feed processing waits exactly as long as the client's polls.
        let clock = VirtualSleepClock()
        let sandbox = try await SandboxServer.start(
            SandboxConfiguration(port: 0, seed: 7, listings: listings, tokenLifetime: .seconds(3600), amazonCredentials: credentials),
            clock: sandboxOnClientClock ? clock : SystemSchedulerClock(), logger: Harness.quietLogger)
        do {
            let transport = URLSessionTransport(allowList: HostAllowList(["127.0.0.1:\(sandbox.port)"]))
            let sent = RecordingTransport(transport)
            let recorder = InMemorySpendRecorder()
            let client = AmazonClient(
                configuration: AmazonClientConfiguration(
                    baseURL: sandbox.baseURL + "/amazon", tokenURL: sandbox.baseURL + "/amazon/auth/o2/token",
                    marketplaceID: SandboxState.amazonMarketplaceID, sellerID: sellerID, timeout: timeout,
                    rates: AmazonClientConfiguration.uniformRates(generous)),
                credentials: AmazonCredentials(clientID: credentials.clientID, clientSecret: SecretText(clientSecret),
                                               refreshToken: SecretText(refreshToken)),
                transport: sent, recorder: recorder, rateLimiters: RateLimiters(clock: clock), clock: clock,
                logger: Harness.quietLogger)
            let harness = AmazonHarness(sandbox: sandbox, client: client,
                                        marketplace: AmazonMarketplace(client: client, clock: clock),
                                        recorder: recorder, transport: transport, clock: clock, sent: sent)
            let result = try await body(harness)
            await sandbox.stop()
            return result
        } catch {
            await sandbox.stop()
            throw error
        }
    }

    var state: SandboxState { sandbox.state }

    /// An access token fetched over HTTP, for requests the client would refuse to send.
    func rawAccessToken() async throws -> String {
        let form = "grant_type=refresh_token&refresh_token=\(Self.credentials.refreshToken.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
            + "&client_id=\(Self.credentials.clientID)&client_secret=\(Self.credentials.clientSecret)"
        let response = try await transport.send(HTTPRequest(method: .post, url: sandbox.baseURL + "/amazon/auth/o2/token",
                                                            headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                                            body: Array(form.utf8)))
        struct Token: Decodable { var access_token: String }
        return try JSONDecoder().decode(Token.self, from: Data(response.body)).access_token
    }

    /// Amazon listings of new items that are in stock, with at least `competitors` competitor
    /// offers Amazon would show in condition New.
    func stockedNewListings(competitors: Int = 1) -> [SandboxChannelListing] {
        state.channelListings(.amazon).filter { listing in
            guard listing.quantity > 0, state.listing(sku: listing.sku)?.condition == .new,
                  let gtin = state.product(sku: listing.sku)?.gtin else { return false }
            return state.competitors.filter { $0.gtin == gtin && [1000, 1500].contains($0.condition.id) }.count >= competitors
        }
    }

    /// Every text an error shows, for checking that no secret is in any of them.
    static func texts(of error: any Error) -> [String] {
        ["\(error)", String(reflecting: error), (error as? MarketplaceError)?.description ?? "",
         (error as? MarketplaceError).map { "\($0.taskFailure)" } ?? ""]
    }

    /// True when none of `error`'s texts shows the client secret, the refresh token or an access token.
    static func showsNoSecret(_ error: any Error) -> Bool {
        texts(of: error).allSatisfy { text in
            !text.contains(credentials.clientSecret) && !text.contains(credentials.refreshToken)
                && !text.contains("r3fr3sh") && !text.contains(accessTokenMarker)
        }
    }
}
