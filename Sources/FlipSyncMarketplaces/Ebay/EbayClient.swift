import FlipSyncCore
import Foundation
import Logging

/// The credentials of one eBay application (and, for the Sell APIs, one seller).
public struct EbayCredentials: Sendable, Hashable, CustomStringConvertible {
    /// The App ID (client id). Not secret, but never logged either.
    public var clientID: String
    /// The Cert ID (client secret).
    public var clientSecret: SecretText
    /// The seller's long-lived refresh token; needed only for the Sell APIs.
    public var refreshToken: SecretText?

    public init(clientID: String, clientSecret: SecretText, refreshToken: SecretText? = nil) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
    }

    public var description: String { "EbayCredentials(client secret: <redacted>, refresh token: \(refreshToken == nil ? "none" : "<redacted>"))" }
}

/// Where and how fast to call eBay.
public struct EbayClientConfiguration: Sendable, Hashable {
    /// `https://api.ebay.com`, `https://api.sandbox.ebay.com`, or the local sandbox
    /// (`http://127.0.0.1:8780/ebay`). API paths are appended to it.
    public var baseURL: String
    /// `X-EBAY-C-MARKETPLACE-ID`, e.g. `EBAY_US`.
    public var marketplaceID: String
    /// The token bucket: `requests` per `per`, holding at most `burst`. The Browse API's calls
    /// and the rest (OAuth, Inventory, Fulfillment, Account) each have a bucket of this size:
    /// eBay publishes daily call limits per API, no per-second rate, so the two APIs' calls do
    /// not wait for each other.
    public var requests: Int
    public var per: TimeSpan
    public var burst: Int
    /// What one call costs (`[prices.ebay] call`); zero for eBay today.
    public var callPrice: Money
    /// Per-request timeout.
    public var timeout: TimeSpan
    /// Scopes asked for with the refresh-token grant (user token, Sell APIs).
    public var userScopes: [String]

    public static let applicationScope = "https://api.ebay.com/oauth/api_scope"
    public static let inventoryScope = "https://api.ebay.com/oauth/api_scope/sell.inventory"
    /// Read-only access to orders: all `getOrders` needs.
    public static let fulfillmentScope = "https://api.ebay.com/oauth/api_scope/sell.fulfillment.readonly"
    /// Read-only access to business policies: all the fulfillment-policy reads need.
    public static let accountScope = "https://api.ebay.com/oauth/api_scope/sell.account.readonly"

    public init(baseURL: String, marketplaceID: String = "EBAY_US", requests: Int = 5, per: TimeSpan = .seconds(1),
                burst: Int = 10, callPrice: Money = .zero(.usd), timeout: TimeSpan = .seconds(30),
                userScopes: [String] = [EbayClientConfiguration.inventoryScope, EbayClientConfiguration.fulfillmentScope,
                                        EbayClientConfiguration.accountScope]) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.marketplaceID = marketplaceID
        self.requests = requests
        self.per = per
        self.burst = burst
        self.callPrice = callPrice
        self.timeout = timeout
        self.userScopes = userScopes
    }

    /// From `[marketplaces.ebay]` and `[prices.ebay] call` in the daemon's config.
    public init(_ marketplace: FlipSyncConfig.Marketplace, callPrice: Money?) {
        self.init(baseURL: marketplace.baseURL, marketplaceID: marketplace.marketplaceID ?? "EBAY_US",
                  requests: marketplace.rateLimit.requests, per: marketplace.rateLimit.per,
                  burst: marketplace.rateLimit.burst, callPrice: callPrice ?? .zero(marketplace.feeFixed.currency))
    }
}

/// eBay's REST APIs: OAuth tokens, Browse search, the Inventory API's offers, inventory items
/// and bulk price/quantity updates, and the Fulfillment API's orders.
///
/// Every request takes a token from its API's bucket for (host, client id) first — Browse calls
/// from one, every other call from another, each at the configured rate — and is reported to
/// the `SpendRecorder` once sent. Access tokens are cached per grant (`OAuthTokenCache`); a 401
/// drops the token and the request is retried once with a fresh one.
///
/// Errors thrown are `MarketplaceError` (or `CancellationError` when the task is cancelled).
/// No error message, log line or description contains a secret or a token.
public final class EbayClient: Sendable {
    public let configuration: EbayClientConfiguration
    let credentials: EbayCredentials
    let pipeline: RequestPipeline
    let bucket: TokenBucket
    /// The Browse API's calls (`browse.*`): their own bucket at the same configured rate.
    let browseBucket: TokenBucket
    let logger: Logger
    let applicationTokens: OAuthTokenCache
    let userTokens: OAuthTokenCache

    public static let provider = "ebay"

    public init(configuration: EbayClientConfiguration, credentials: EbayCredentials, transport: any HTTPTransport,
                recorder: any SpendRecorder, rateLimiters: RateLimiters, clock: any SchedulerClock = SystemSchedulerClock(),
                quota: (any QuotaLedger)? = nil, logger: Logger = Logger(label: "flipsync.marketplaces.ebay")) {
        self.configuration = configuration
        self.credentials = credentials
        pipeline = RequestPipeline(transport: transport, recorder: recorder, quota: quota, logger: logger, gate: rateLimiters.shared)
        self.logger = logger
        let host = HTTPURLAuthority.hostKey(of: configuration.baseURL)
        bucket = rateLimiters.bucket("\(host)|\(credentials.clientID)", requests: configuration.requests,
                                     per: configuration.per, burst: configuration.burst)
        browseBucket = rateLimiters.bucket("\(host)|\(credentials.clientID)|browse", requests: configuration.requests,
                                           per: configuration.per, burst: configuration.burst)
        // The caches' fetch closures capture a `TokenMinter` value, not the client: no cycle.
        let mint = TokenMinter(configuration: configuration, credentials: credentials, pipeline: pipeline, bucket: bucket)
        applicationTokens = OAuthTokenCache(clock: clock) { try await mint.applicationToken() }
        userTokens = OAuthTokenCache(clock: clock) { try await mint.userToken() }
    }
}
