import FlipSyncCore
import Foundation
import Logging
import Synchronization

/// Where and how fast to call one Shopify shop's GraphQL Admin API.
public struct ShopifyClientConfiguration: Sendable, Hashable {
    /// `https://{shop}.myshopify.com`, or the local sandbox (`http://127.0.0.1:8780/shopify`).
    /// `/admin/api/{version}/graphql.json` is appended to it.
    public var baseURL: String
    /// The API version in the path, e.g. `2025-01`. Fixed, so a Shopify release cannot change
    /// the shapes under us.
    public var apiVersion: String
    /// The location whose stock is read and set; nil: the shop's only active location, looked
    /// up once (refused if the shop has several).
    public var locationID: Int64?
    /// The shop's currency: product prices and unit costs are in it.
    public var currency: Currency
    /// Our own token bucket, on top of Shopify's cost bucket: `requests` per `per`, holding at most `burst`.
    public var requests: Int
    public var per: TimeSpan
    public var burst: Int
    /// What one call costs (`[prices.shopify] call`); zero for Shopify.
    public var callPrice: Money
    /// Per-request timeout.
    public var timeout: TimeSpan
    /// Variants per `productVariants` page, 1…250. 100 keeps the page's requested cost (about
    /// 7 points a variant) under Shopify's 1,000-point limit for one query.
    public var pageSize: Int
    /// Orders per `orders` page (each with its first 10 lines), 1…250; 25 costs about 900 points.
    public var orderPageSize: Int
    /// Zones per `locationGroupZones` page, 1…8 (each with its first 25 rates, about 106 points
    /// a zone): 5 requests about 533 points, 8 about 850, under Shopify's 1,000 for one query. A
    /// zone with more rates has the rest read 100 at a time (about 407 points a query).
    public var zonePageSize: Int
    /// Follow-up rate pages read for one zone at most (100 rates a page, after the 25 read with
    /// the zone): a zone that needs more is an error naming it and this cap, not a read bounded
    /// only by the job's timeout. 100.
    public var zoneRatePageLimit: Int
    /// How many times a stale `compareQuantity` is re-read and retried before the change fails.
    public var compareRetries: Int
    /// How many times a `THROTTLED` query is sent again before `.rateLimited` is thrown.
    public var throttleRetries: Int
    /// Above this many variants the catalog is read with a bulk operation, not page by page.
    public var bulkThreshold: Int
    /// How long to wait between polls of a running bulk operation.
    public var bulkPollInterval: TimeSpan

    public static let defaultAPIVersion = "2025-01"

    public init(baseURL: String, apiVersion: String = ShopifyClientConfiguration.defaultAPIVersion, locationID: Int64? = nil,
                currency: Currency = .usd, requests: Int = 2, per: TimeSpan = .seconds(1), burst: Int = 40,
                callPrice: Money = .zero(.usd), timeout: TimeSpan = .seconds(30), pageSize: Int = 100, orderPageSize: Int = 25,
                compareRetries: Int = 3, throttleRetries: Int = 5, bulkThreshold: Int = 2000, bulkPollInterval: TimeSpan = .seconds(1),
                zonePageSize: Int = 5, zoneRatePageLimit: Int = ShopifyClient.maxRatePagesPerZone) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiVersion = apiVersion
        self.locationID = locationID
        self.currency = currency
        self.requests = requests
        self.per = per
        self.burst = burst
        self.callPrice = callPrice
        self.timeout = timeout
        self.pageSize = pageSize
        self.orderPageSize = orderPageSize
        self.zonePageSize = zonePageSize
        self.zoneRatePageLimit = zoneRatePageLimit
        self.compareRetries = compareRetries
        self.throttleRetries = throttleRetries
        self.bulkThreshold = bulkThreshold
        self.bulkPollInterval = bulkPollInterval
    }

    /// From `[marketplaces.shopify]` and `[prices.shopify] call`; the currency is `fee_fixed`'s.
    public init(_ marketplace: FlipSyncConfig.Marketplace, callPrice: Money?) {
        let rate = marketplace.rateLimit
        self.init(baseURL: marketplace.baseURL, currency: marketplace.feeFixed.currency, requests: rate.requests, per: rate.per,
                  burst: rate.burst, callPrice: callPrice ?? .zero(marketplace.feeFixed.currency))
    }
}

/// One shop's GraphQL Admin API (`POST /admin/api/{version}/graphql.json`): product variants
/// with their inventory items and levels, locations, prices (`productVariantsBulkUpdate`),
/// stock (`inventorySetQuantities` with `compareQuantity`), orders and shipping zones (delivery
/// profiles). Nothing is read over REST.
///
/// Every request takes a token from our bucket for (host, token), then waits until Shopify's
/// cost bucket holds the query's requested cost (`ShopifyCostLimit`, fed by every response's
/// `extensions.cost.throttleStatus`), and is reported to the `SpendRecorder` once sent
/// (provider `shopify`, the operation's root field). A `THROTTLED` answer (HTTP 200) waits for
/// the points it lacks and is sent again, up to `throttleRetries` times. Authentication is the
/// shop's Admin API access token in `X-Shopify-Access-Token`; it does not expire, so a 401 is final.
///
/// Errors thrown are `MarketplaceError` (or `CancellationError`). A GraphQL error other than
/// `THROTTLED` (an unknown field, a bad argument, a query over the cost limit) is
/// `.permanent(status: 200, message: "Shopify {operation}: {code}: {message}")`, never
/// retried; `INTERNAL_SERVER_ERROR` is `.transient`, `ACCESS_DENIED` `.auth`. Mutations' user
/// errors are returned, not thrown. No message, log line or description contains the token.
/// Reference: GraphQL Admin API (https://shopify.dev/docs/api/admin-graphql/2025-01), its
/// authentication (https://shopify.dev/docs/api/usage/authentication) and rate limits
/// (https://shopify.dev/docs/api/usage/limits#graphql-admin-api-rate-limits).
public final class ShopifyClient: Sendable {
    public let configuration: ShopifyClientConfiguration
    private let accessToken: SecretText
    private let pipeline: RequestPipeline
    let bucket: TokenBucket
    let costLimit: ShopifyCostLimit
    let clock: any SchedulerClock
    private let logger: Logger
    let resolvedLocation = Mutex<Int64?>(nil)
    /// The requested cost Shopify last reported for each operation: what `acquire` waits for.
    private let requestedCosts = Mutex<[String: Double]>([:])

    public static let provider = "shopify"
    /// Shopify serves at most this many nodes per connection page.
    public static let maxPageSize = 250
    /// Lines read with each order; an order with more is completed with `order(id:)`.
    public static let linesPerOrder = 10

    public init(configuration: ShopifyClientConfiguration, accessToken: SecretText, transport: any HTTPTransport,
                recorder: any SpendRecorder, rateLimiters: RateLimiters, clock: any SchedulerClock = SystemSchedulerClock(),
                quota: (any QuotaLedger)? = nil, logger: Logger = Logger(label: "flipsync.marketplaces.shopify")) {
        self.configuration = configuration
        self.accessToken = accessToken
        pipeline = RequestPipeline(transport: transport, recorder: recorder, quota: quota, logger: logger, gate: rateLimiters.shared)
        self.logger = logger
        self.clock = clock
        let host = HTTPURLAuthority.hostKey(of: configuration.baseURL)
        // One shop per host; the key must not hold the token.
        bucket = rateLimiters.bucket("\(host)|shopify", requests: configuration.requests, per: configuration.per,
                                     burst: configuration.burst)
        costLimit = ShopifyCostLimit(clock: clock)
    }

    // MARK: Plumbing

    /// What a query is assumed to cost before Shopify has said: a page of variants about 7
    /// points a node, a page of orders about 36, a page of zones about 106, a follow-up page of
    /// one zone's rates about 4 a rate, anything else 10. `key`: the operation, or the
    /// `costKey` of a second query on the same root field.
    private func estimatedCost(_ key: String) -> Double {
        if let known = requestedCosts.withLock({ $0[key] }) { return known }
        switch key {
        case "productVariants": return Double(2 + configuration.pageSize * 7)
        case "orders": return Double(2 + configuration.orderPageSize * 36)
        case "deliveryProfile": return Double(3 + configuration.zonePageSize * 106)
        case "deliveryProfile.rates": return Double(7 + Self.ratesPerPage * 4)
        default: return 10
        }
    }

    /// Sends one GraphQL operation and decodes its `data`. Waits for the cost bucket before
    /// sending, retries `THROTTLED` after the wait it implies, and maps errors (see the type).
    /// `costKey` (default: the operation) keys the requested cost remembered for the next
    /// such query, for a second document on the same root field with another cost.
    func graphQL<T: Decodable>(_ operation: String, _ document: String, _ variables: [String: Any], as type: T.Type,
                               costKey: String? = nil) async throws -> T {
        let costKey = costKey ?? operation
        let body: [UInt8]
        do {
            body = Array(try JSONSerialization.data(withJSONObject: ["query": document, "variables": variables] as [String: Any],
                                                    options: [.sortedKeys]))
        } catch {
            throw MarketplaceError.refused("\(operation): the variables are not JSON")
        }
        var throttled = 0
        while true {
            let cost = estimatedCost(costKey)
            let response = try await send(body: body, cost: cost, operation: operation)
            let envelope = try StatusMapping.decode(ShopifyWire.ErrorsEnvelope.self, response, operation: operation)
            let reported = envelope.extensions?.cost
            if let requested = reported?.requestedQueryCost { requestedCosts.withLock { $0[costKey] = requested } }
            if let errors = envelope.errors, let first = errors.first {
                let code = first.extensions?.code ?? "GRAPHQL_ERROR"
                if errors.contains(where: { $0.extensions?.code == "THROTTLED" }) {
                    let wait = reported?.throttleStatus.map {
                        ShopifyCostLimit.throttledWait(requested: reported?.requestedQueryCost ?? cost, status: $0)
                    } ?? .seconds(1)
                    throttled += 1
                    guard throttled <= configuration.throttleRetries else { throw MarketplaceError.rateLimited(retryAfter: wait) }
                    logger.debug("Shopify query throttled", metadata: ["operation": "\(operation)", "wait": "\(wait)"])
                    try await clock.sleep(milliseconds: wait.milliseconds)
                    continue
                }
                let message = "Shopify \(operation): \(code): \(first.message)"
                switch code {
                case "INTERNAL_SERVER_ERROR": throw MarketplaceError.transient(message)
                case "ACCESS_DENIED": throw MarketplaceError.auth(message)
                default: throw MarketplaceError.permanent(status: response.status, message: message)
                }
            }
            return try StatusMapping.decode(ShopifyWire.DataEnvelope<T>.self, response, operation: operation).data
        }
    }

    /// Sends one GraphQL request through both buckets, records it, and turns a non-2xx status
    /// into a `MarketplaceError`.
    private func send(body: [UInt8], cost: Double, operation: String) async throws -> HTTPResponse {
        let url = configuration.baseURL + "/admin/api/\(configuration.apiVersion)/graphql.json"
        let request = HTTPRequest(method: .post, url: url,
                                  headers: [("X-Shopify-Access-Token", accessToken.reveal()), ("Accept", "application/json"),
                                            ("Content-Type", "application/json")],
                                  body: body, timeout: configuration.timeout)
        let bucket = self.bucket, costLimit = self.costLimit
        // The ledger counts the requested cost points (Shopify's quota is points, not calls).
        let call = PipelineCall(provider: Self.provider, operation: operation, quota: Self.graphQLQuota,
                                units: Int64(cost.rounded(.up)), price: configuration.callPrice,
                                limit: { try await bucket.acquire(); try await costLimit.acquire(cost: cost) },
                                shared: bucket.shared("shopify/requests"),
                                finish: { response in costLimit.finish(cost: cost, reported: response.flatMap(Self.throttleStatus)) })
        return try await exchange(request, call)
    }

    /// The quota-ledger key of every GraphQL call: its units are cost points.
    static let graphQLQuota = QuotaKey(provider: provider, api: "graphql")

    static func throttleStatus(_ response: HTTPResponse) -> ShopifyCostLimit.ThrottleStatus? {
        (try? JSONDecoder().decode(ShopifyWire.ErrorsEnvelope.self, from: Data(response.body)))?.extensions?.cost?.throttleStatus
    }

    func exchange(_ request: HTTPRequest, _ call: PipelineCall) async throws -> HTTPResponse {
        let response = try await pipeline.send(request, call)
        try Self.check(response, operation: call.operation)
        return response
    }

    static func check(_ response: HTTPResponse, operation: String) throws {
        try StatusMapping.check(response, api: "Shopify", operation: operation, apiMessage: { apiMessage($0) },
                                retryAfter: { retryAfter($0) })
    }

    /// Shopify's error body as one line: `{"errors":"…"}`, `{"errors":["…"]}` or
    /// `{"errors":{"price":["must be …"]}}` (fields in name order, `price must be …`).
    static func apiMessage(_ response: HTTPResponse) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let errors = object["errors"] ?? object["error"] else {
            return "HTTP \(response.status) without a Shopify error body"
        }
        func texts(_ value: Any) -> [String] {
            if let text = value as? String { return [text] }
            if let list = value as? [Any] { return list.flatMap(texts) }
            return []
        }
        if let fields = errors as? [String: Any] {
            let lines = fields.keys.sorted().flatMap { field in
                texts(fields[field]!).map { field == "base" ? $0 : "\(field) \($0)" }
            }
            if !lines.isEmpty { return lines.joined(separator: "; ") }
        }
        let lines = texts(errors)
        return lines.isEmpty ? "HTTP \(response.status) with an unreadable Shopify error body" : lines.joined(separator: "; ")
    }

    /// `Retry-After` in seconds, possibly fractional (Shopify sends `2.0`), rounded up to the millisecond.
    static func retryAfter(_ response: HTTPResponse) -> TimeSpan? {
        guard let text = response.header("Retry-After"), let seconds = Double(text.trimmingCharacters(in: .whitespaces)),
              seconds >= 0, seconds < 86_400 else { return nil }
        return TimeSpan(milliseconds: Int64((seconds * 1000).rounded(.up)))
    }
}
