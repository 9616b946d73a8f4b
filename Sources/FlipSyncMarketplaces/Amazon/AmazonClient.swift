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
        let apiHost = URLParts(configuration.baseURL).map { "\($0.host):\($0.port)" } ?? configuration.baseURL
        let tokenHost = URLParts(configuration.tokenURL).map { "\($0.host):\($0.port)" } ?? configuration.tokenURL
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

    // MARK: Product Pricing

    /// The offers on one ASIN in one condition, with the summary's Buy Box and lowest prices.
    ///
    /// `GET /products/pricing/v0/items/{Asin}/offers?MarketplaceId=&ItemCondition=`.
    /// Reference: Product Pricing API v0, "getItemOffers" (usage plan 0.5 requests/s, burst 1;
    /// https://developer-docs.amazon.com/sp-api/docs/product-pricing-api-v0-reference#getitemoffers),
    /// types `GetOffersResult`, `Summary` (`LowestPrices`, `BuyBoxPrices` of `LandedPrice`,
    /// `ListingPrice`, `Shipping` as `MoneyType {CurrencyCode, Amount}`), `OfferDetail`
    /// (`SellerId`, `SubCondition`, `SellerFeedbackRating`, `ListingPrice`, `Shipping`,
    /// `IsBuyBoxWinner`, `MyOffer`, `IsFulfilledByAmazon`); model
    /// github.com/amzn/selling-partner-api-models/models/product-pricing-api-model/productPricingV0.json.
    public func itemOffers(asin: String, condition: AmazonItemCondition = .new) async throws -> AmazonItemOffers {
        let operation = AmazonOperation.getItemOffers
        let url = configuration.baseURL + "/products/pricing/v0/items/\(FormEncoding.escape(asin))/offers?"
            + FormEncoding.encode([("MarketplaceId", configuration.marketplaceID), ("ItemCondition", condition.rawValue)])
        let response = try await authorized(operation) { self.request(.get, url, token: $0) }
        guard let payload = try decode(AmazonWireOffersResponse.self, response, operation: operation).payload else {
            throw MarketplaceError.malformed("\(operation.rawValue): the response has no payload")
        }
        return try Self.offers(payload, asin: asin, condition: condition, field: operation.rawValue)
    }

    /// The offers on up to 20 of our SKUs, each in its own condition, in one request.
    ///
    /// `POST /batches/products/pricing/v0/listingOffers` with `{"requests":[{"uri":
    /// "/products/pricing/v0/listings/{SellerSKU}/offers","method":"GET","MarketplaceId",
    /// "ItemCondition","CustomerType":"Consumer"}]}`; the answer's `responses[]` each carry
    /// `status.statusCode`, `request.SellerSKU` and a `body` that is `getListingOffers`'s
    /// (`payload` as `GetOffersResult`, or `errors`). One entry's failure (an unknown SKU is a
    /// 404 inside the batch) is returned in that entry, not thrown; a failure of the whole
    /// request is thrown as for any call. Entries are matched to requests by
    /// `request.SellerSKU`, else `payload.SKU`, else position.
    /// Reference: Product Pricing API v0, "getListingOffersBatch" (usage plan 0.5 requests/s,
    /// burst 1; https://developer-docs.amazon.com/sp-api/docs/product-pricing-api-v0-reference#getlistingoffersbatch),
    /// types `GetListingOffersBatchRequest`, `ListingOffersRequest` (`BatchRequest` +
    /// `BatchOffersRequestParams`), `GetListingOffersBatchResponse`, `ListingOffersResponse`
    /// (`GetOffersHttpStatusLine`, `GetOffersResponse`, `ListingOffersRequestParams`); model
    /// github.com/amzn/selling-partner-api-models/models/product-pricing-api-model/productPricingV0.json.
    public func listingOffersBatch(_ requests: [AmazonListingOffersRequest]) async throws -> [AmazonListingOffersEntry] {
        let operation = AmazonOperation.getListingOffersBatch
        guard (1...Self.listingOffersBatchLimit).contains(requests.count) else {
            throw MarketplaceError.refused("getListingOffersBatch takes 1…\(Self.listingOffersBatchLimit) SKUs, not \(requests.count)")
        }
        let wireRequest = AmazonWireListingOffersBatchRequest(requests: requests.map { r in
            .init(uri: "/products/pricing/v0/listings/\(FormEncoding.escape(r.sku))/offers", method: "GET",
                  MarketplaceId: configuration.marketplaceID, ItemCondition: r.condition.rawValue, CustomerType: "Consumer")
        })
        let body = try JSONEncoder().encode(wireRequest)
        let url = configuration.baseURL + "/batches/products/pricing/v0/listingOffers"
        let response = try await authorized(operation) { self.request(.post, url, token: $0, body: Array(body)) }
        let wire = try decode(AmazonWireListingOffersBatchResponse.self, response, operation: operation)
        guard wire.responses.count == requests.count else {
            throw MarketplaceError.malformed("\(operation.rawValue): \(wire.responses.count) responses to \(requests.count) requests")
        }
        let asked = Set(requests.map(\.sku))
        var entries: [String: AmazonListingOffersEntry] = [:]
        for (index, entry) in wire.responses.enumerated() {
            let sku = entry.request?.SellerSKU ?? entry.body.payload?.SKU ?? requests[index].sku
            guard asked.contains(sku), entries[sku] == nil else {
                throw MarketplaceError.malformed("\(operation.rawValue): responses[\(index)] is for SKU \(sku), which was not asked or is repeated")
            }
            let request = requests.first { $0.sku == sku }!
            let status = entry.status?.statusCode ?? (entry.body.payload != nil ? 200 : 500)
            let field = "\(operation.rawValue) responses[\(index)] (SKU \(sku))"
            if (200...299).contains(status), let payload = entry.body.payload {
                entries[sku] = AmazonListingOffersEntry(
                    sku: sku, status: status,
                    offers: try Self.offers(payload, asin: payload.ASIN ?? "", condition: request.condition, field: field), error: nil)
            } else {
                let errors = (entry.body.errors ?? []).map { "Amazon error \($0)" }.joined(separator: "; ")
                entries[sku] = AmazonListingOffersEntry(sku: sku, status: status, offers: nil,
                                                        error: errors.isEmpty ? "HTTP \(status) without an Amazon error body" : errors)
            }
        }
        return requests.map { entries[$0.sku]! }
    }

    /// The most SKUs one `getListingOffersBatch` request may carry.
    public static let listingOffersBatchLimit = 20

    /// A `GetOffersResult` (of `getItemOffers`, or of one `getListingOffersBatch` entry) as offers.
    static func offers(_ payload: AmazonWireOffersResponse.Payload, asin: String, condition: AmazonItemCondition,
                       field prefix: String) throws -> AmazonItemOffers {
        let offers = try payload.Offers.enumerated().map { index, offer in
            let field = "\(prefix) Offers[\(index)]"
            let feedback = try offer.SellerFeedbackRating?.SellerPositiveFeedbackRating.map { rating in
                do { return try Percent(parsing: "\(rating)%") } catch {
                    throw MarketplaceError.malformed("\(field): SellerPositiveFeedbackRating is not a percentage")
                }
            }
            return AmazonOffer(sellerID: offer.SellerId ?? "", subCondition: offer.SubCondition.lowercased(),
                               positiveFeedback: feedback, feedbackCount: offer.SellerFeedbackRating?.FeedbackCount,
                               listingPrice: try Self.money(offer.ListingPrice, field: "\(field).ListingPrice"),
                               shipping: try Self.money(offer.Shipping, field: "\(field).Shipping"),
                               isBuyBoxWinner: offer.IsBuyBoxWinner ?? false, isMyOffer: offer.MyOffer ?? false,
                               isFulfilledByAmazon: offer.IsFulfilledByAmazon)
        }
        func prices(_ list: [AmazonWireOffersResponse.Payload.Summary.Price]?, _ name: String) throws -> [AmazonSummaryPrice] {
            try (list ?? []).enumerated().map { index, price in
                let field = "\(prefix) Summary.\(name)[\(index)]"
                let listing = try Self.money(price.ListingPrice, field: "\(field).ListingPrice")
                let shipping = try Self.money(price.Shipping, field: "\(field).Shipping")
                let landed = try price.LandedPrice.map { try Self.money($0, field: "\(field).LandedPrice") } ?? listing + shipping
                return AmazonSummaryPrice(condition: price.condition ?? "", landed: landed, listing: listing, shipping: shipping)
            }
        }
        return AmazonItemOffers(asin: payload.ASIN ?? asin, condition: condition, offers: offers,
                                buyBoxPrices: try prices(payload.Summary.BuyBoxPrices, "BuyBoxPrices"),
                                lowestPrices: try prices(payload.Summary.LowestPrices, "LowestPrices"),
                                totalOfferCount: payload.Summary.TotalOfferCount ?? offers.count)
    }

    // MARK: Listings Items

    /// One page of our listings, with summaries, attributes, offers and fulfillment availability.
    /// Start with `pageToken` nil, then pass the page's `nextPageToken`.
    ///
    /// `GET /listings/2021-08-01/items/{sellerId}?marketplaceIds=&includedData=&pageSize=&pageToken=`;
    /// `pageSize` is 1…20 (Amazon's maximum); at most 1,000 listings can be paged through.
    /// Reference: Listings Items API 2021-08-01, "searchListingsItems" (usage plan 5 requests/s,
    /// burst 5; https://developer-docs.amazon.com/sp-api/docs/listings-items-api-v2021-08-01-reference#searchlistingsitems),
    /// types `ItemSearchResults` (`numberOfResults`, `pagination.nextToken`, `items`), `Item`,
    /// `ItemSummaryByMarketplace`, `ItemOfferByMarketplace`, `FulfillmentAvailability`, `Money`
    /// (`amount` a decimal string); model
    /// github.com/amzn/selling-partner-api-models/models/listings-items-api-model/listingsItems_2021-08-01.json.
    public func listings(pageToken: String? = nil, pageSize: Int = 20) async throws -> AmazonListingsPage {
        guard (1...20).contains(pageSize) else { throw MarketplaceError.refused("listings page size must be 1…20, not \(pageSize)") }
        let operation = AmazonOperation.searchListingsItems
        var parameters = [("marketplaceIds", configuration.marketplaceID),
                          ("includedData", "summaries,attributes,offers,fulfillmentAvailability"),
                          ("pageSize", String(pageSize))]
        if let pageToken { parameters.append(("pageToken", pageToken)) }
        let url = configuration.baseURL + "/listings/2021-08-01/items/\(FormEncoding.escape(configuration.sellerID))?"
            + FormEncoding.encode(parameters)
        let response = try await authorized(operation) { self.request(.get, url, token: $0) }
        let wire = try decode(AmazonWireListingsResponse.self, response, operation: operation)
        let items = try wire.items.map { item in
            let summary = item.summaries?.first { $0.marketplaceId == configuration.marketplaceID }
            let offer = item.offers?.first { $0.marketplaceId == configuration.marketplaceID && $0.offerType == "B2C" }
            let price = try offer.map { offer in
                do { return try Money(parsing: "\(offer.price.amount) \(offer.price.currencyCode)") } catch {
                    throw MarketplaceError.malformed("\(operation.rawValue): price of SKU \(item.sku): \(error)")
                }
            }
            return AmazonListingItem(
                sku: item.sku, asin: summary?.asin, title: summary?.itemName, productType: summary?.productType,
                conditionType: summary?.conditionType, status: summary?.status ?? [], price: price,
                quantity: item.fulfillmentAvailability?.first { $0.fulfillmentChannelCode == "DEFAULT" }?.quantity,
                gtin: item.attributes?.externally_assigned_product_identifier?.first { $0.value?.isEmpty == false }?.value)
        }
        return AmazonListingsPage(items: items, numberOfResults: wire.numberOfResults, nextPageToken: wire.pagination?.nextToken)
    }

    /// Sets a listing's price (`purchasable_offer`'s `our_price`) and/or merchant-fulfilled
    /// quantity (`fulfillment_availability`, channel `DEFAULT`) in one PATCH.
    ///
    /// `PATCH /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=` with a
    /// `ListingsItemPatchRequest` of `replace` operations. Amazon answers 200 with `status`
    /// `ACCEPTED` (queued for processing) or `INVALID` with `issues`; both are returned, not thrown.
    /// `productType` is the listing's Amazon product type; `PRODUCT` is accepted for offer-only changes.
    /// References: Listings Items API 2021-08-01, "patchListingsItem" (usage plan 5 requests/s,
    /// burst 5, as `listingsItems_2021-08-01.json`'s usage-plan table gives it; https://developer-docs.amazon.com/sp-api/docs/listings-items-api-v2021-08-01-reference#patchlistingsitem),
    /// types `ListingsItemPatchRequest`, `PatchOperation`, `ListingsItemSubmissionResponse`, `Issue`;
    /// tutorial "Manage purchasable offer" (https://developer-docs.amazon.com/sp-api/docs/manage-purchasable-offer)
    /// for the `purchasable_offer` value (`marketplace_id`, `currency`, `audience`,
    /// `our_price[].schedule[].value_with_tax`).
    public func patchListing(sku: String, price: Money? = nil, quantity: Int? = nil,
                             productType: String = "PRODUCT") async throws -> AmazonSubmission {
        let operation = AmazonOperation.patchListingsItem
        let patches = try self.patches(sku: sku, price: price, quantity: quantity)
        let body = try JSONEncoder().encode(AmazonWirePatchRequest(productType: productType, patches: patches))
        let url = configuration.baseURL
            + "/listings/2021-08-01/items/\(FormEncoding.escape(configuration.sellerID))/\(FormEncoding.escape(sku))?"
            + FormEncoding.encode([("marketplaceIds", configuration.marketplaceID)])
        let response = try await authorized(operation) { self.request(.patch, url, token: $0, body: Array(body)) }
        let wire = try decode(AmazonWireSubmission.self, response, operation: operation)
        let status: AmazonSubmission.Status
        switch wire.status {
        case "ACCEPTED": status = .accepted
        case "INVALID": status = .invalid
        case "VALID": status = .valid
        default: status = .other(wire.status)
        }
        return AmazonSubmission(sku: wire.sku, status: status, submissionID: wire.submissionId,
                                issues: (wire.issues ?? []).map {
                                    AmazonListingIssue(code: $0.code, message: $0.message, severity: $0.severity,
                                                       attributeNames: $0.attributeNames ?? [])
                                })
    }

    // MARK: Orders

    /// One page of orders created at or after `createdAfter` (milliseconds since the epoch).
    /// Start with `nextToken` nil, then pass the page's `nextToken` (Amazon then ignores the
    /// other criteria).
    ///
    /// `GET /orders/v0/orders?MarketplaceIds=&CreatedAfter=&MaxResultsPerPage=&NextToken=`.
    /// Reference: Orders API v0, "getOrders" (usage plan 0.0167 requests/s, burst 20;
    /// https://developer-docs.amazon.com/sp-api/docs/orders-api-v0-reference#getorders), types
    /// `OrdersList` (`Orders`, `NextToken`), `Order` (`AmazonOrderId`, `PurchaseDate`,
    /// `OrderStatus`, `LatestDeliveryDate`, `ShippingAddress`, `OrderTotal`), `Money` (`Amount` a
    /// decimal string); model github.com/amzn/selling-partner-api-models/models/orders-api-model/ordersV0.json.
    public func orders(createdAfter: Int64, nextToken: String? = nil, maxResultsPerPage: Int = 100) async throws -> AmazonOrdersPage {
        guard (1...100).contains(maxResultsPerPage) else {
            throw MarketplaceError.refused("orders page size must be 1…100, not \(maxResultsPerPage)")
        }
        let operation = AmazonOperation.getOrders
        var parameters = [("MarketplaceIds", configuration.marketplaceID), ("CreatedAfter", Self.iso8601(createdAfter)),
                          ("MaxResultsPerPage", String(maxResultsPerPage))]
        if let nextToken { parameters.append(("NextToken", nextToken)) }
        let url = configuration.baseURL + "/orders/v0/orders?" + FormEncoding.encode(parameters)
        let response = try await authorized(operation) { self.request(.get, url, token: $0) }
        guard let payload = try decode(AmazonWireOrdersResponse.self, response, operation: operation).payload else {
            throw MarketplaceError.malformed("\(operation.rawValue): the response has no payload")
        }
        let orders = try payload.Orders.map { order in
            let field = "\(operation.rawValue) order \(order.AmazonOrderId)"
            return AmazonOrder(
                orderID: order.AmazonOrderId, purchasedAt: try Self.milliseconds(order.PurchaseDate, field: "\(field) PurchaseDate"),
                status: order.OrderStatus,
                latestDeliveryAt: try order.LatestDeliveryDate.map { try Self.milliseconds($0, field: "\(field) LatestDeliveryDate") },
                shippingAddress: order.ShippingAddress.map {
                    AmazonAddress(postalCode: $0.PostalCode, city: $0.City, stateOrRegion: $0.StateOrRegion, countryCode: $0.CountryCode)
                },
                orderTotal: try order.OrderTotal.map { try Self.money($0, field: "\(field) OrderTotal") })
        }
        return AmazonOrdersPage(orders: orders, nextToken: payload.NextToken)
    }

    /// Every line of one order, following `NextToken`.
    ///
    /// `GET /orders/v0/orders/{orderId}/orderItems[?NextToken=]`.
    /// Reference: Orders API v0, "getOrderItems" (usage plan 0.5 requests/s, burst 30;
    /// https://developer-docs.amazon.com/sp-api/docs/orders-api-v0-reference#getorderitems), types
    /// `OrderItemsList` (`OrderItems`, `NextToken`), `OrderItem` (`OrderItemId`, `SellerSKU`,
    /// `ASIN`, `QuantityOrdered`, `ItemPrice`, `ShippingPrice`).
    public func orderItems(orderID: String) async throws -> [AmazonOrderItem] {
        let operation = AmazonOperation.getOrderItems
        var items: [AmazonOrderItem] = []
        var nextToken: String?
        repeat {
            let path = configuration.baseURL + "/orders/v0/orders/\(FormEncoding.escape(orderID))/orderItems"
            let url = nextToken.map { path + "?" + FormEncoding.encode([("NextToken", $0)]) } ?? path
            let response = try await authorized(operation) { self.request(.get, url, token: $0) }
            guard let payload = try decode(AmazonWireOrderItemsResponse.self, response, operation: operation).payload else {
                throw MarketplaceError.malformed("\(operation.rawValue): the response has no payload")
            }
            items += try payload.OrderItems.map { item in
                let field = "\(operation.rawValue) order \(orderID) item \(item.OrderItemId)"
                return AmazonOrderItem(orderItemID: item.OrderItemId, sku: item.SellerSKU ?? "", asin: item.ASIN,
                                       quantityOrdered: item.QuantityOrdered,
                                       itemPrice: try item.ItemPrice.map { try Self.money($0, field: "\(field) ItemPrice") },
                                       shippingPrice: try item.ShippingPrice.map { try Self.money($0, field: "\(field) ShippingPrice") })
            }
            guard payload.NextToken == nil || payload.NextToken != nextToken else {
                throw MarketplaceError.malformed("\(operation.rawValue): NextToken did not advance")
            }
            nextToken = payload.NextToken
        } while nextToken != nil
        return items
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
