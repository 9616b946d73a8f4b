import FlipSyncCore
import Foundation
import Logging

/// The Login with Amazon credentials of one SP-API application, authorized by one seller.
public struct AmazonCredentials: Sendable, Hashable, CustomStringConvertible {
    /// The LWA client identifier (`amzn1.application-oa2-client.…`). Not secret, never logged.
    public var clientID: String
    public var clientSecret: SecretText
    /// The seller's refresh token (`Atzr|…`), from authorizing the application.
    public var refreshToken: SecretText

    public init(clientID: String, clientSecret: SecretText, refreshToken: SecretText) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
    }

    public var description: String { "AmazonCredentials(client secret: <redacted>, refresh token: <redacted>)" }
}

/// Where and how fast to call the Selling Partner API.
public struct AmazonClientConfiguration: Sendable, Hashable {
    /// `https://sellingpartnerapi-na.amazon.com`, or the local sandbox
    /// (`http://127.0.0.1:8780/amazon`). API paths are appended to it.
    public var baseURL: String
    /// LWA's token endpoint: `https://api.amazon.com/auth/o2/token` (North America), or the
    /// sandbox's `…/amazon/auth/o2/token`.
    public var tokenURL: String
    /// e.g. `ATVPDKIKX0DER` (amazon.com).
    public var marketplaceID: String
    /// Our selling partner id (merchant token), the `{sellerId}` of the Listings Items paths.
    public var sellerID: String
    /// Per-request timeout.
    public var timeout: TimeSpan
    /// What one call costs (`[prices.amazon] call`); zero today.
    public var callPrice: Money
    /// Usage plans by operation; missing operations use `AmazonOperation.defaultRate`. A
    /// response's `x-amzn-RateLimit-Limit` overrides the rate (not the burst).
    public var rates: [AmazonOperation: AmazonRate]
    /// Feeds: the first `getFeed` is sent at once; then the waits between polls start at
    /// `feedPollInterval` and double up to `feedPollMaxInterval`; a feed not finished within
    /// `feedDeadline` of the first poll is a `transient` error (the feed id stays recorded).
    public var feedPollInterval: TimeSpan = .seconds(5)
    public var feedPollMaxInterval: TimeSpan = .seconds(60)
    public var feedDeadline: TimeSpan = .seconds(1800)

    public static let northAmericaTokenURL = "https://api.amazon.com/auth/o2/token"

    public init(baseURL: String, tokenURL: String = AmazonClientConfiguration.northAmericaTokenURL,
                marketplaceID: String = "ATVPDKIKX0DER", sellerID: String, timeout: TimeSpan = .seconds(30),
                callPrice: Money = .zero(.usd), rates: [AmazonOperation: AmazonRate] = [:]) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.tokenURL = tokenURL
        self.marketplaceID = marketplaceID
        self.sellerID = sellerID
        self.timeout = timeout
        self.callPrice = callPrice
        self.rates = rates
    }

    /// Every operation at the same plan (tests against the sandbox use a generous one).
    public static func uniformRates(_ rate: AmazonRate) -> [AmazonOperation: AmazonRate] {
        Dictionary(uniqueKeysWithValues: AmazonOperation.allCases.map { ($0, rate) })
    }
}

/// Amazon's Selling Partner API: LWA tokens, Product Pricing v0 `getItemOffers` and
/// `getListingOffersBatch`, Listings
/// Items 2021-08-01 `searchListingsItems` and `patchListingsItem`, Orders v0 `getOrders` and
/// `getOrderItems`, and Feeds 2021-06-30 for JSON_LISTINGS_FEED price updates (`AmazonFeeds.swift`).
/// Each API's calls are in a file of their own (`AmazonClient+Pricing.swift`, `+Listings`,
/// `+Orders`); this one holds the client, its tokens and the plumbing they share.
///
/// Every request takes a token from its operation's bucket for this seller first
/// (`AmazonOperationLimits`; a response's `x-amzn-RateLimit-Limit` sets the rate from then on),
/// carries the LWA access token in `x-amz-access-token`, and is reported to the
/// `SpendRecorder` once sent (provider `amazon`, operation e.g. `pricing.getItemOffers`).
/// Access tokens are cached (`OAuthTokenCache`); when Amazon refuses one (HTTP 403 whose error
/// details name the access token: expired, revoked, malformed, missing) the token is dropped
/// and the request retried once with a fresh one.
///
/// Errors thrown are `MarketplaceError` (or `CancellationError` when the task is cancelled).
/// No error message, log line or description contains the client secret, the refresh token
/// or an access token.
public final class AmazonClient: Sendable {
    public let configuration: AmazonClientConfiguration
    let exchange: AmazonExchange
    private let tokens: OAuthTokenCache
    /// Waits between feed polls (`AmazonFeeds`).
    let clock: any SchedulerClock

    public static let provider = "amazon"

    public init(configuration: AmazonClientConfiguration, credentials: AmazonCredentials, transport: any HTTPTransport,
                recorder: any SpendRecorder, rateLimiters: RateLimiters, clock: any SchedulerClock = SystemSchedulerClock(),
                quota: (any QuotaLedger)? = nil, logger: Logger = Logger(label: "flipsync.marketplaces.amazon")) {
        self.configuration = configuration
        self.clock = clock
        let apiHost = HTTPURLAuthority.hostKey(of: configuration.baseURL)
        let tokenHost = HTTPURLAuthority.hostKey(of: configuration.tokenURL)
        let limits = AmazonOperationLimits(
            rateLimiters: rateLimiters,
            key: { operation in
                operation == .token ? "amazon|\(tokenHost)|\(credentials.clientID)|\(operation.rawValue)"
                                    : "amazon|\(apiHost)|\(configuration.sellerID)|\(operation.rawValue)"
            },
            rates: configuration.rates, clock: clock)
        exchange = AmazonExchange(pipeline: RequestPipeline(transport: transport, recorder: recorder, quota: quota, logger: logger, gate: rateLimiters.shared),
                                  limits: limits, price: configuration.callPrice)
        // The cache's fetch closure captures a minter value, not the client: no cycle.
        let minter = AmazonTokenMinter(tokenURL: configuration.tokenURL, timeout: configuration.timeout,
                                       credentials: credentials, exchange: exchange)
        tokens = OAuthTokenCache(clock: clock) { try await minter.mint() }
    }

    /// The rate (requests per second) now in force for `operation`: the configured one until a
    /// response's `x-amzn-RateLimit-Limit` said otherwise.
    public func rateLimit(for operation: AmazonOperation) -> Double {
        exchange.limits.rate(operation)
    }

    // MARK: Plumbing

    func request(_ method: HTTPRequest.Method, _ url: String, token: IssuedToken, body: [UInt8] = []) -> HTTPRequest {
        var headers: [(name: String, value: String)] = [
            ("x-amz-access-token", token.accessToken.reveal()),
            ("Accept", "application/json"),
            ("User-Agent", "FlipSync/1.0 (Language=Swift)"),
        ]
        if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
        return HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: configuration.timeout)
    }

    /// Sends with a cached token; when Amazon refuses the token, drops it and retries once with
    /// a fresh one. Non-2xx statuses become `MarketplaceError`s.
    func authorized(_ operation: AmazonOperation, _ build: @Sendable (IssuedToken) -> HTTPRequest) async throws -> HTTPResponse {
        var token = try await tokens.token()
        var response = try await exchange.send(build(token), operation)
        if Self.refusesToken(response) {
            await tokens.invalidate(token)
            token = try await tokens.token()
            response = try await exchange.send(build(token), operation)
            if Self.refusesToken(response) {
                throw MarketplaceError.auth("Amazon refused a freshly issued access token for \(operation.rawValue): \(Self.apiMessage(response))")
            }
        }
        try check(response, operation)
        return response
    }

    /// HTTP 401, or a 403 whose errors speak of the access token (expired, revoked, malformed,
    /// missing): a fresh token can help. Other 403s (a missing role, another seller) cannot.
    static func refusesToken(_ response: HTTPResponse) -> Bool {
        if response.status == 401 { return true }
        guard response.status == 403,
              let body = try? JSONDecoder().decode(AmazonWireErrorList.self, from: Data(response.body)) else { return false }
        return (body.errors ?? []).contains { error in
            error.code == "MissingAuthenticationToken" || error.code == "InvalidAccessToken"
                || "\(error.message) \(error.details ?? "")".lowercased().contains("access token")
        }
    }

    func check(_ response: HTTPResponse, _ operation: AmazonOperation) throws {
        switch response.status {
        case 200...299: return
        case 401, 403: throw MarketplaceError.auth("Amazon refused \(operation.rawValue) (HTTP \(response.status)): \(Self.apiMessage(response))")
        case 429:
            // Amazon rarely sends Retry-After; one request's worth of the operation's rate is the
            // earliest a retry can be admitted by its bucket.
            let perRequest = TimeSpan(milliseconds: Int64((1000 / exchange.limits.rate(operation)).rounded(.up)))
            throw MarketplaceError.rateLimited(retryAfter: StatusMapping.retryAfter(response) ?? perRequest)
        case 300...399:
            throw MarketplaceError.permanent(status: response.status, message: "\(operation.rawValue) answered with a redirect, which is not followed")
        case 500...599:
            throw MarketplaceError.transient("Amazon \(operation.rawValue) answered HTTP \(response.status): \(Self.apiMessage(response))")
        default:
            throw MarketplaceError.permanent(status: response.status, message: Self.apiMessage(response))
        }
    }

    /// Amazon's `ErrorList` as one line (`code: message (details)`), or the status alone.
    static func apiMessage(_ response: HTTPResponse) -> String {
        if let body = try? JSONDecoder().decode(AmazonWireErrorList.self, from: Data(response.body)), let errors = body.errors,
           !errors.isEmpty {
            return errors.map { "Amazon error \($0)" }.joined(separator: "; ")
        }
        return "HTTP \(response.status) without an Amazon error body"
    }

    func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse, operation: AmazonOperation) throws(MarketplaceError) -> T {
        try StatusMapping.decode(type, response, operation: operation.rawValue)
    }

    static func money(_ amount: AmazonWireNumberMoney, field: String) throws -> Money {
        do {
            return try Money(parsing: "\(amount.Amount) \(amount.CurrencyCode)", allowNegative: false)
        } catch {
            throw MarketplaceError.malformed("\(field): \(error)")
        }
    }

    static func money(_ amount: AmazonWireOrderMoney, field: String) throws -> Money {
        do {
            return try Money(parsing: "\(amount.Amount) \(amount.CurrencyCode)")
        } catch {
            throw MarketplaceError.malformed("\(field): \(error)")
        }
    }

    /// `2026-03-01T12:00:00Z` (whole seconds, rounded down: `Timestamp(milliseconds:)`).
    static func iso8601(_ milliseconds: Int64) -> String {
        Timestamp(milliseconds: milliseconds).iso8601UTC
    }

    /// An ISO 8601 date-time, with or without fractional seconds, as milliseconds since the epoch
    /// (`ISO8601.milliseconds`, the one reader).
    static func milliseconds(_ text: String, field: String) throws -> Int64 {
        guard let milliseconds = ISO8601.milliseconds(text) else {
            throw MarketplaceError.malformed("\(field) is not an ISO 8601 date-time")
        }
        return milliseconds
    }
}

/// Sends one request through its operation's bucket, reports it to the recorder and adopts
/// the rate Amazon states in `x-amzn-RateLimit-Limit`.
struct AmazonExchange: Sendable {
    let pipeline: RequestPipeline
    let limits: AmazonOperationLimits
    let price: Money

    /// Counted in the quota ledger per operation (`amazon`/`pricing.getItemOffers`): SP-API's
    /// limits are rates, enforced by the operation's bucket, not daily quotas.
    func send(_ request: HTTPRequest, _ operation: AmazonOperation) async throws -> HTTPResponse {
        let limits = self.limits
        return try await pipeline.send(request, PipelineCall(
            provider: AmazonClient.provider, operation: operation.rawValue, price: price,
            limit: { try await limits.bucket(operation).acquire() },
            shared: limits.bucket(operation).shared("amazon/\(operation.rawValue)"),
            finish: { response in if let response { limits.adopt(operation, header: response.header("x-amzn-RateLimit-Limit")) } }))
    }
}

/// Requests LWA access tokens with the refresh-token grant.
///
/// Reference: SP-API, "Connect to the Selling Partner API", step 1 "Request a Login with Amazon
/// access token" (https://developer-docs.amazon.com/sp-api/docs/connecting-to-the-selling-partner-api):
/// `POST https://api.amazon.com/auth/o2/token`, form `grant_type=refresh_token`,
/// `refresh_token`, `client_id`, `client_secret`; answer `access_token`, `token_type`,
/// `expires_in` (3600), errors `{"error","error_description"}`.
struct AmazonTokenMinter: Sendable {
    let tokenURL: String
    let timeout: TimeSpan
    let credentials: AmazonCredentials
    let exchange: AmazonExchange

    func mint() async throws -> IssuedToken {
        let form = [("grant_type", "refresh_token"), ("refresh_token", credentials.refreshToken.reveal()),
                    ("client_id", credentials.clientID), ("client_secret", credentials.clientSecret.reveal())]
        let request = HTTPRequest(method: .post, url: tokenURL,
                                  headers: [("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8"),
                                            ("Accept", "application/json")],
                                  body: Array(FormEncoding.encode(form).utf8), timeout: timeout)
        let response = try await exchange.send(request, .token)
        switch response.status {
        case 200:
            // Never echo this body anywhere: it is the token.
            guard let wire = try? JSONDecoder().decode(AmazonWireToken.self, from: Data(response.body)), !wire.access_token.isEmpty,
                  wire.expires_in > 0 else {
                throw MarketplaceError.malformed("the LWA token response lacks access_token/expires_in")
            }
            return IssuedToken(accessToken: SecretText(wire.access_token), expiresIn: .seconds(Int64(wire.expires_in)),
                               tokenType: wire.token_type ?? "")
        case 429:
            throw MarketplaceError.rateLimited(retryAfter: StatusMapping.retryAfter(response))
        case 500...599:
            throw MarketplaceError.transient("the LWA token endpoint answered HTTP \(response.status)")
        default:
            let oauth = try? JSONDecoder().decode(AmazonWireOAuthError.self, from: Data(response.body))
            let reason = [oauth?.error, oauth?.error_description].compactMap { $0 }.joined(separator: ": ")
            throw MarketplaceError.auth("LWA refused the refresh-token grant (HTTP \(response.status))\(reason.isEmpty ? "" : ": \(reason)")")
        }
    }
}
