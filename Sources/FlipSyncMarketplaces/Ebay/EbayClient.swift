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
    private let credentials: EbayCredentials
    private let pipeline: RequestPipeline
    private let bucket: TokenBucket
    /// The Browse API's calls (`browse.*`): their own bucket at the same configured rate.
    private let browseBucket: TokenBucket
    private let logger: Logger
    private let applicationTokens: OAuthTokenCache
    private let userTokens: OAuthTokenCache

    public static let provider = "ebay"

    public init(configuration: EbayClientConfiguration, credentials: EbayCredentials, transport: any HTTPTransport,
                recorder: any SpendRecorder, rateLimiters: RateLimiters, clock: any SchedulerClock = SystemSchedulerClock(),
                quota: (any QuotaLedger)? = nil, logger: Logger = Logger(label: "flipsync.marketplaces.ebay")) {
        self.configuration = configuration
        self.credentials = credentials
        pipeline = RequestPipeline(transport: transport, recorder: recorder, quota: quota, logger: logger, gate: rateLimiters.shared)
        self.logger = logger
        let host = URLParts(configuration.baseURL).map { "\($0.host):\($0.port)" } ?? configuration.baseURL
        bucket = rateLimiters.bucket("\(host)|\(credentials.clientID)", requests: configuration.requests,
                                     per: configuration.per, burst: configuration.burst)
        browseBucket = rateLimiters.bucket("\(host)|\(credentials.clientID)|browse", requests: configuration.requests,
                                           per: configuration.per, burst: configuration.burst)
        // The caches' fetch closures capture a `TokenMinter` value, not the client: no cycle.
        let mint = TokenMinter(configuration: configuration, credentials: credentials, pipeline: pipeline, bucket: bucket)
        applicationTokens = OAuthTokenCache(clock: clock) { try await mint.applicationToken() }
        userTokens = OAuthTokenCache(clock: clock) { try await mint.userToken() }
    }

    // MARK: Browse

    /// One page of competitor listings, cheapest first (price plus shipping).
    ///
    /// `GET /buy/browse/v1/item_summary/search` with `gtin` or `q`, `filter=conditionIds:{…}`,
    /// `sort=price`, `limit`, `offset` (a record offset); application token.
    /// References: eBay Browse API overview (https://developer.ebay.com/api-docs/buy/browse/overview.html),
    /// type `ItemSummary` (https://developer.ebay.com/api-docs/buy/browse/types/gct:ItemSummary),
    /// type `Seller` (https://developer.ebay.com/api-docs/buy/browse/types/gct:Seller; `feedbackPercentage`
    /// is a string), and `SearchPagedCollection` (`itemSummaries`, `total`, `offset`, `limit`, `next`).
    public func searchPage(_ query: BrowseQuery, offset: Int = 0) async throws -> BrowsePage {
        guard (1...200).contains(query.pageSize) else { throw MarketplaceError.refused("Browse page size must be 1…200, not \(query.pageSize)") }
        var parameters: [(String, String)] = []
        switch query.key {
        case .gtin(let gtin): parameters.append(("gtin", gtin))
        case .keywords(let words): parameters.append(("q", words))
        }
        if !query.conditionIDs.isEmpty {
            parameters.append(("filter", "conditionIds:{\(query.conditionIDs.map(String.init).joined(separator: "|"))}"))
        }
        parameters += [("sort", "price"), ("limit", String(query.pageSize)), ("offset", String(offset))]
        let url = configuration.baseURL + "/buy/browse/v1/item_summary/search?" + FormEncoding.encode(parameters)
        let response = try await authorized("browse.item_summary.search", tokens: applicationTokens) { token in
            self.request(.get, url, token: token)
        }
        let wire = try decode(WireSearchResponse.self, response, operation: "browse.item_summary.search")
        let items = try (wire.itemSummaries ?? []).map { try competitor($0) }
        return BrowsePage(items: items, total: wire.total ?? items.count, offset: wire.offset ?? offset,
                          limit: wire.limit ?? query.pageSize, hasNext: wire.next != nil)
    }

    /// The most item ids one getItems call takes.
    public static let getItemsLimit = 20

    /// The current state of up to 20 items by id: the items eBay still returns (an ended or
    /// unknown item is left out), in eBay's order.
    ///
    /// `GET /buy/browse/v1/item/?item_ids=ID1,ID2,…`; application token; its own daily quota
    /// (`ebay/browse_get_items`). Reference: Browse API `getItems`
    /// (https://developer.ebay.com/api-docs/buy/browse/resources/item/methods/getItems), response
    /// type `Items` (`items`: array of `CoreItem` with `itemId`, `title`, `price`, `condition`,
    /// `conditionId`, `gtin`, `seller`, `shippingOptions`; `total`; `warnings`).
    public func items(ids: [String]) async throws -> [CompetitorListing] {
        guard (1...Self.getItemsLimit).contains(ids.count) else {
            throw MarketplaceError.refused("getItems takes 1…\(Self.getItemsLimit) item ids, not \(ids.count)")
        }
        let url = configuration.baseURL + "/buy/browse/v1/item/?" + FormEncoding.encode([("item_ids", ids.joined(separator: ","))])
        let response = try await authorized("browse.item.get_items", tokens: applicationTokens) { token in
            self.request(.get, url, token: token)
        }
        let wire = try decode(WireItemsResponse.self, response, operation: "browse.item.get_items")
        return try (wire.items ?? []).map { try competitor($0) }
    }

    private func competitor(_ item: WireSearchResponse.Item) throws -> CompetitorListing {
            guard let price = item.price else { throw MarketplaceError.malformed("item \(item.itemId) has no price") }
            let seller = try item.seller.map { s in
                let percentage = try s.feedbackPercentage.map { text in
                    do { return try Percent(parsing: text + "%") } catch {
                        throw MarketplaceError.malformed("item \(item.itemId): seller feedbackPercentage is not a number")
                    }
                }
                return CompetitorListing.Seller(username: s.username ?? "", feedbackPercentage: percentage, feedbackScore: s.feedbackScore)
            }
            return CompetitorListing(
                itemID: item.itemId, title: item.title ?? "", price: try money(price, field: "price of \(item.itemId)"),
                shippingCost: try item.shippingOptions?.first?.shippingCost.map { try money($0, field: "shipping of \(item.itemId)") },
                condition: item.condition, conditionID: item.conditionId.flatMap { Int($0) }, gtin: item.gtin, seller: seller)
    }

    /// Every listing matching `query`, paging with `offset` until eBay has no `next` page or
    /// `maxItems` were read (eBay serves at most 10,000 results of one search).
    public func searchAll(_ query: BrowseQuery, maxItems: Int = 10_000) async throws -> [CompetitorListing] {
        var all: [CompetitorListing] = []
        var offset = 0
        while all.count < maxItems {
            let page = try await searchPage(query, offset: offset)
            all += page.items
            guard page.hasNext, !page.items.isEmpty else { break }
            offset = page.offset + page.items.count
            // eBay refuses offsets past its 10,000-result window rather than serving them.
            guard offset < 10_000 else { break }
        }
        return Array(all.prefix(maxItems))
    }

    // MARK: Inventory

    /// Our offers for one SKU.
    ///
    /// `GET /sell/inventory/v1/offer?sku=…`; user token.
    /// Reference: eBay Inventory API, "getOffers" and type `Offers` / `EbayOfferDetailsWithAll`
    /// (https://developer.ebay.com/api-docs/sell/inventory/types/slr:Offers,
    /// https://developer.ebay.com/api-docs/sell/inventory/types/slr:EbayOfferDetailsWithAll),
    /// `ListingPolicies.shippingCostOverrides` of type `ShippingCostOverride`
    /// (https://developer.ebay.com/api-docs/sell/inventory/types/slr:ShippingCostOverride).
    public func offers(sku: String) async throws -> [SellerOffer] {
        let url = configuration.baseURL + "/sell/inventory/v1/offer?" + FormEncoding.encode([("sku", sku)])
        let response = try await authorized("inventory.offer.get_offers", tokens: userTokens) { token in
            self.request(.get, url, token: token)
        }
        let wire = try decode(WireOffersResponse.self, response, operation: "inventory.offer.get_offers")
        return try (wire.offers ?? []).map { offer in
            let domestic = offer.listingPolicies?.shippingCostOverrides?
                .first { $0.shippingServiceType == "DOMESTIC" && ($0.priority ?? 1) == 1 }?.shippingCost
            return SellerOffer(offerID: offer.offerId, sku: offer.sku, marketplaceID: offer.marketplaceId,
                               price: try offer.pricingSummary?.price.map { try money($0, field: "price of offer \(offer.offerId)") },
                               availableQuantity: offer.availableQuantity, status: offer.status,
                               domesticShippingCost: try domestic.map { try money($0, field: "shipping cost of offer \(offer.offerId)") },
                               fulfillmentPolicyID: offer.listingPolicies?.fulfillmentPolicyId)
        }
    }

    /// One page of our inventory items. Start with `offset` 0 and then pass `nextOffset`.
    ///
    /// `GET /sell/inventory/v1/inventory_item?limit=&offset=`; user token. `limit` is 1…200
    /// (default 25); eBay documents `offset` here as the page number (0 first, 1 second, …).
    /// Reference: eBay Inventory API, "getInventoryItems" (`inventoryItems[]`, `total`, `next`;
    /// https://developer.ebay.com/api-docs/sell/inventory/resources/inventory_item/methods/getInventoryItems),
    /// type `Availability.shipToLocationAvailability`
    /// (https://developer.ebay.com/api-docs/sell/inventory/types/slr:Availability).
    public func inventoryItems(limit: Int = 100, offset: Int = 0) async throws -> InventoryPage {
        guard (1...200).contains(limit) else { throw MarketplaceError.refused("inventory page size must be 1…200, not \(limit)") }
        let url = configuration.baseURL + "/sell/inventory/v1/inventory_item?"
            + FormEncoding.encode([("limit", String(limit)), ("offset", String(offset))])
        let response = try await authorized("inventory.inventory_item.get_inventory_items", tokens: userTokens) { token in
            self.request(.get, url, token: token)
        }
        let wire = try decode(WireInventoryResponse.self, response, operation: "inventory.inventory_item.get_inventory_items")
        let items = (wire.inventoryItems ?? []).map { item in
            InventoryItem(sku: item.sku, title: item.product?.title, condition: item.condition,
                          quantity: item.availability?.shipToLocationAvailability?.quantity,
                          upc: item.product?.upc ?? [], ean: item.product?.ean ?? [], aspects: item.product?.aspects ?? [:])
        }
        var nextOffset: Int?
        if let next = wire.next {
            guard let value = Self.queryValue("offset", in: next).flatMap({ Int($0) }) else {
                throw MarketplaceError.malformed("inventory.inventory_item.get_inventory_items: \"next\" has no numeric offset")
            }
            nextOffset = value
        }
        return InventoryPage(items: items, total: wire.total ?? items.count, nextOffset: nextOffset)
    }

    /// eBay accepts at most this many SKUs per `bulkUpdatePriceQuantity` call.
    public static let bulkUpdateLimit = 25

    /// Updates prices and quantities, 25 SKUs per call, returning every item's own status.
    ///
    /// `POST /sell/inventory/v1/bulk_update_price_quantity`; user token. eBay answers 200 when
    /// every item succeeded and 207 when some did not; each item carries `statusCode`, `errors`
    /// and `warnings`. A chunk that fails as a whole stops the run: its updates and the later
    /// ones are returned as `unconfirmed` with the `failure`.
    /// Reference: eBay Inventory API, "bulkUpdatePriceQuantity"
    /// (https://developer.ebay.com/api-docs/sell/static/inventory/bulk-updates.html), types
    /// `PriceQuantity`, `BulkPriceQuantityResponse`, `PriceQuantityResponse`
    /// (https://developer.ebay.com/api-docs/sell/inventory/types/slr:PriceQuantityResponse).
    public func bulkUpdatePriceQuantity(_ updates: [PriceQuantityUpdate]) async throws -> BulkUpdateOutcome {
        // Validate everything before sending anything, so a bad value cannot leave half a batch applied.
        let requests = try updates.map(Self.wireRequest)
        var outcome = BulkUpdateOutcome(results: [], calls: 0, unconfirmed: [], failure: nil)
        var start = 0
        while start < requests.count {
            let end = min(start + Self.bulkUpdateLimit, requests.count)
            let body = try JSONEncoder().encode(WireBulkRequest(requests: Array(requests[start..<end])))
            let url = configuration.baseURL + "/sell/inventory/v1/bulk_update_price_quantity"
            outcome.calls += 1
            do {
                let response = try await authorized("inventory.bulk_update_price_quantity", tokens: userTokens) { token in
                    self.request(.post, url, token: token, body: Array(body))
                }
                let wire = try decode(WireBulkResponse.self, response, operation: "inventory.bulk_update_price_quantity")
                guard let items = wire.responses else {
                    throw MarketplaceError.malformed("bulk_update_price_quantity answered \(response.status) without \"responses\"")
                }
                outcome.results += items.map {
                    PriceQuantityResult(statusCode: $0.statusCode, sku: $0.sku, offerID: $0.offerId,
                                        errors: $0.errors ?? [], warnings: $0.warnings ?? [])
                }
            } catch let error as MarketplaceError {
                outcome.failure = error
                outcome.unconfirmed = Array(updates[start...])
                return outcome
            }
            start = end
        }
        return outcome
    }

    static func wireRequest(_ update: PriceQuantityUpdate) throws -> WireBulkRequest.Request {
        if let quantity = update.shipToLocationQuantity, quantity < 0 {
            throw MarketplaceError.refused("quantity for SKU \(update.sku) is negative")
        }
        let offers = try update.offers.map { offer in
            if let quantity = offer.availableQuantity, quantity < 0 {
                throw MarketplaceError.refused("available quantity for offer \(offer.offerID) is negative")
            }
            return WireBulkRequest.Request.Offer(offerId: offer.offerID, availableQuantity: offer.availableQuantity,
                                                 price: try offer.price.map { try wireAmount($0, sku: update.sku) })
        }
        return WireBulkRequest.Request(sku: update.sku,
                                       shipToLocationAvailability: update.shipToLocationQuantity.map { .init(quantity: $0) },
                                       offers: offers.isEmpty ? nil : offers)
    }

    /// A price as eBay wants it: a decimal string with the currency's digits, never rounded here.
    static func wireAmount(_ price: Money, sku: String) throws -> WireAmount {
        let step = Money(minorUnits: 1, currency: price.currency).micros
        guard price.micros > 0, price.micros % step == 0 else {
            throw MarketplaceError.refused("price \(price) for SKU \(sku) must be positive and in whole \(price.currency) minor units")
        }
        return WireAmount(value: Money(micros: price.micros, currency: price.currency).fixedDecimalString, currency: price.currency.code)
    }

    // MARK: Fulfillment

    /// eBay serves at most this many orders per `getOrders` page.
    public static let ordersPageLimit = 200

    /// One page of our orders created at or after `createdSince` (milliseconds since the
    /// epoch; nil: eBay's default, the last 90 days). Start at `offset` 0 and add each page's
    /// order count while `hasNext`.
    ///
    /// `GET /sell/fulfillment/v1/order?filter=creationdate:[2024-01-01T00:00:00.000Z..]&limit=&offset=`;
    /// user token with `sell.fulfillment` or `sell.fulfillment.readonly`. `limit` is 1…200
    /// (eBay's default 50); `offset` is a record offset. Response `OrderSearchPagedCollection`:
    /// `orders[]`, `total`, `offset`, `limit`, `next`.
    /// References: eBay Fulfillment API, "getOrders"
    /// (https://developer.ebay.com/api-docs/sell/fulfillment/resources/order/methods/getOrders),
    /// types `OrderSearchPagedCollection`
    /// (https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:OrderSearchPagedCollection),
    /// `LineItem` (https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:LineItem),
    /// `LineItemFulfillmentInstructions`
    /// (https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:LineItemFulfillmentInstructions),
    /// `OrderFulfillmentStatus` (https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:OrderFulfillmentStatus)
    /// and `CancelStateEnum` (https://developer.ebay.com/api-docs/sell/fulfillment/types/sel:CancelStateEnum).
    public func orders(createdSince: Int64?, offset: Int = 0, limit: Int = EbayClient.ordersPageLimit) async throws -> FulfillmentOrdersPage {
        guard (1...Self.ordersPageLimit).contains(limit) else { throw MarketplaceError.refused("orders page size must be 1…200, not \(limit)") }
        guard offset >= 0 else { throw MarketplaceError.refused("orders offset must not be negative") }
        var parameters: [(String, String)] = []
        if let createdSince { parameters.append(("filter", "creationdate:[\(EbayTimestamp.string(milliseconds: createdSince))..]")) }
        parameters += [("limit", String(limit)), ("offset", String(offset))]
        let operation = "fulfillment.getOrders"
        let url = configuration.baseURL + "/sell/fulfillment/v1/order?" + FormEncoding.encode(parameters)
        let response = try await authorized(operation, tokens: userTokens) { token in
            self.request(.get, url, token: token)
        }
        let wire = try decode(WireOrdersResponse.self, response, operation: operation)
        let orders = try (wire.orders ?? []).map { order in
            guard let created = EbayTimestamp.milliseconds(order.creationDate) else {
                throw MarketplaceError.malformed("\(operation): order \(order.orderId) has no valid creationDate")
            }
            let start = order.fulfillmentStartInstructions?.first
            let address = start?.shippingStep?.shipTo?.contactAddress
            return FulfillmentOrder(
                orderID: order.orderId, creationDate: created, fulfillmentStatus: order.orderFulfillmentStatus,
                cancelState: order.cancelStatus?.cancelState,
                deliveryCost: try order.pricingSummary?.deliveryCost.map { try money($0, field: "delivery cost of order \(order.orderId)") },
                shipTo: address.map { FulfillmentOrder.Address(postalCode: $0.postalCode, city: $0.city, stateOrProvince: $0.stateOrProvince,
                                                               countryCode: $0.countryCode) },
                maxEstimatedDeliveryDate: try start?.maxEstimatedDeliveryDate.map { try timestamp($0, field: "delivery date of order \(order.orderId)") },
                lineItems: try (order.lineItems ?? []).map { line in
                    let field = "line \(line.lineItemId) of order \(order.orderId)"
                    return FulfillmentOrder.LineItem(
                        lineItemID: line.lineItemId, sku: line.sku, quantity: line.quantity,
                        lineItemCost: try line.lineItemCost.map { try money($0, field: "cost of \(field)") },
                        shippingCost: try line.deliveryCost?.shippingCost.map { try money($0, field: "shipping cost of \(field)") },
                        fulfillmentStatus: line.lineItemFulfillmentStatus,
                        maxEstimatedDeliveryDate: try line.lineItemFulfillmentInstructions?.maxEstimatedDeliveryDate
                            .map { try timestamp($0, field: "delivery date of \(field)") })
                })
        }
        return FulfillmentOrdersPage(orders: orders, total: wire.total ?? orders.count, offset: wire.offset ?? offset, hasNext: wire.next != nil)
    }

    // MARK: Account (business policies)

    /// Every fulfillment policy of the seller on the client's marketplace.
    ///
    /// `GET /sell/account/v1/fulfillment_policy?marketplace_id=EBAY_US`; user token with
    /// `sell.account` or `sell.account.readonly`. Response `FulfillmentPolicyResponse`:
    /// `fulfillmentPolicies[]`, `total` (eBay does not page this call yet).
    /// References: eBay Account API, "getFulfillmentPolicies"
    /// (https://developer.ebay.com/api-docs/sell/account/resources/fulfillment_policy/methods/getFulfillmentPolicies),
    /// types `FulfillmentPolicy` (https://developer.ebay.com/api-docs/sell/account/types/api:FulfillmentPolicy),
    /// `ShippingOption` (https://developer.ebay.com/api-docs/sell/account/types/api:ShippingOption) and
    /// `ShippingService` (https://developer.ebay.com/api-docs/sell/account/types/api:ShippingService).
    public func fulfillmentPolicies() async throws -> [FulfillmentPolicy] {
        let operation = "account.fulfillment_policy.get_fulfillment_policies"
        let url = configuration.baseURL + "/sell/account/v1/fulfillment_policy?"
            + FormEncoding.encode([("marketplace_id", configuration.marketplaceID)])
        let response = try await authorized(operation, tokens: userTokens) { token in self.request(.get, url, token: token) }
        return try (decode(WireFulfillmentPoliciesResponse.self, response, operation: operation).fulfillmentPolicies ?? [])
            .map(fulfillmentPolicy)
    }

    /// One fulfillment policy, by id.
    ///
    /// `GET /sell/account/v1/fulfillment_policy/{fulfillmentPolicyId}`; user token with
    /// `sell.account` or `sell.account.readonly`; answers a `FulfillmentPolicy`.
    /// Reference: eBay Account API, "getFulfillmentPolicy"
    /// (https://developer.ebay.com/api-docs/sell/account/resources/fulfillment_policy/methods/getFulfillmentPolicy).
    public func fulfillmentPolicy(id: String) async throws -> FulfillmentPolicy {
        let operation = "account.fulfillment_policy.get_fulfillment_policy"
        guard !id.isEmpty, id.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw MarketplaceError.refused("fulfillment policy id \"\(id)\" is not a number")
        }
        let url = configuration.baseURL + "/sell/account/v1/fulfillment_policy/" + id
        let response = try await authorized(operation, tokens: userTokens) { token in self.request(.get, url, token: token) }
        return try fulfillmentPolicy(decode(WireFulfillmentPolicy.self, response, operation: operation))
    }

    private func fulfillmentPolicy(_ wire: WireFulfillmentPolicy) throws -> FulfillmentPolicy {
        let id = wire.fulfillmentPolicyId
        let domestic = wire.shippingOptions?.first { $0.optionType == "DOMESTIC" }
        let services = try (domestic?.shippingServices ?? []).enumerated().map { index, service in
            guard let code = service.shippingServiceCode, !code.isEmpty else {
                throw MarketplaceError.malformed("fulfillment policy \(id): domestic service \(index + 1) has no shippingServiceCode")
            }
            return FulfillmentPolicy.Service(
                sortOrder: service.sortOrder, carrierCode: service.shippingCarrierCode, serviceCode: code,
                shippingCost: try service.shippingCost.map { try money($0, field: "shipping cost of \(code) in fulfillment policy \(id)") },
                freeShipping: service.freeShipping ?? false)
        }
        // eBay lists services by `sortOrder` when given, else in the order sent.
        let ordered = services.enumerated().sorted { ($0.element.sortOrder ?? $0.offset + 1, $0.offset) < ($1.element.sortOrder ?? $1.offset + 1, $1.offset) }
            .map(\.element)
        var handling: Int?
        if let time = wire.handlingTime, let value = time.value {
            guard value >= 0, time.unit == nil || time.unit == "DAY" || time.unit == "BUSINESS_DAY" else {
                throw MarketplaceError.malformed("fulfillment policy \(id): handlingTime \(value) \(time.unit ?? "") is not in days")
            }
            handling = value
        }
        return FulfillmentPolicy(policyID: id, name: wire.name ?? "", marketplaceID: wire.marketplaceId, handlingDays: handling,
                                 localPickup: wire.localPickup ?? false, domesticCostType: domestic?.costType, domesticServices: ordered)
    }

    // MARK: Plumbing

    private func request(_ method: HTTPRequest.Method, _ url: String, token: IssuedToken, body: [UInt8] = []) -> HTTPRequest {
        var headers: [(name: String, value: String)] = [
            ("Authorization", "Bearer \(token.accessToken.reveal())"),
            ("X-EBAY-C-MARKETPLACE-ID", configuration.marketplaceID),
            ("Accept", "application/json"),
        ]
        if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
        return HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: configuration.timeout)
    }

    /// Sends with a cached token; on 401 drops it and retries with a fresh one, at most
    /// `freshTokenRetries` times: a token can be revoked after it was issued (eBay revokes every
    /// token of a user on a password change, and the sandbox's expired-token fault expires all
    /// of them, also one another request just fetched), but a fresh token refused again and
    /// again means the credentials are wrong. Non-2xx statuses become `MarketplaceError`s.
    private func authorized(_ operation: String, tokens: OAuthTokenCache,
                            _ build: @Sendable (IssuedToken) -> HTTPRequest) async throws -> HTTPResponse {
        var token = try await tokens.token()
        let call = Self.call(operation, bucket: operation.hasPrefix("browse.") ? browseBucket : bucket, price: configuration.callPrice)
        var response = try await pipeline.send(build(token), call)
        var refreshes = 0
        while response.status == 401 {
            guard refreshes < Self.freshTokenRetries else {
                throw MarketplaceError.auth("eBay rejected a freshly issued token for \(operation): \(Self.apiMessage(response))")
            }
            await tokens.invalidate(token)
            token = try await tokens.token()
            refreshes += 1
            response = try await pipeline.send(build(token), call)
        }
        try Self.check(response, operation: operation)
        return response
    }

    /// How many fresh tokens one request tries after a 401 before it is an auth error.
    static let freshTokenRetries = 2

    static func check(_ response: HTTPResponse, operation: String) throws {
        try StatusMapping.check(response, api: "eBay", operation: operation, apiMessage: { apiMessage($0) })
    }

    /// eBay's error body (`errors[].errorId`, `message`) as one line, or the status alone.
    static func apiMessage(_ response: HTTPResponse) -> String {
        if let body = try? JSONDecoder().decode(WireErrorBody.self, from: Data(response.body)), let errors = body.errors, !errors.isEmpty {
            return errors.map(\.description).joined(separator: "; ")
        }
        return "HTTP \(response.status) without an eBay error body"
    }

    /// A query parameter's value in a URL (unescaped), or nil.
    static func queryValue(_ name: String, in url: String) -> String? {
        guard let query = url.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.first.map(String.init)?.removingPercentEncoding == name {
                return parts.count > 1 ? String(parts[1]).removingPercentEncoding : ""
            }
        }
        return nil
    }

    /// `Retry-After` in seconds. (The HTTP-date form is not used by eBay and is ignored.)
    static func retryAfter(_ response: HTTPResponse) -> TimeSpan? {
        guard let text = response.header("Retry-After"), let seconds = Int64(text.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return .seconds(seconds)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse, operation: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(response.body))
        } catch {
            throw MarketplaceError.malformed("\(operation): the body is not the documented JSON (\(Self.decodingSummary(error)))")
        }
    }

    /// Where decoding failed, without echoing any of the body.
    static func decodingSummary(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "not JSON" }
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "top level" : p
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing \"\(key.stringValue)\" at \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "wrong type at \(path(context))"
        case .dataCorrupted(let context): return "not valid JSON at \(path(context))"
        @unknown default: return "undecodable"
        }
    }

    private func timestamp(_ text: String, field: String) throws -> Int64 {
        guard let milliseconds = EbayTimestamp.milliseconds(text) else { throw MarketplaceError.malformed("\(field) is not an ISO 8601 timestamp") }
        return milliseconds
    }

    private func money(_ amount: WireAmount, field: String) throws -> Money {
        do {
            return try Money(parsing: "\(amount.value) \(amount.currency)")
        } catch {
            throw MarketplaceError.malformed("\(field): \(error)")
        }
    }
}

/// `application/x-www-form-urlencoded` and query strings: everything but RFC 3986 unreserved
/// characters is percent-encoded.
enum FormEncoding {
    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}

extension EbayClient {
    /// eBay's error id for "Too many requests. The request limit has been reached for the
    /// resource." — with HTTP 429, the application's daily call limit for the API is used.
    static let callLimitErrorID = 2001

    /// The daily quota an eBay operation counts against (eBay, "API call limits",
    /// https://developer.ebay.com/develop/get-started/api-call-limits): Browse's getItems has its
    /// own; every other Browse method shares one; token grants have theirs. Other operations are
    /// counted under their own name with no limit.
    static func quotaKey(_ operation: String) -> QuotaKey {
        let api: String
        switch operation {
        case "browse.item.get_items": api = "browse_get_items"
        case _ where operation.hasPrefix("browse."): api = "browse"
        case TokenMinter.clientCredentialsOperation: api = "oauth_client_credentials"
        case TokenMinter.refreshTokenOperation: api = "oauth_refresh_token"
        default: api = operation
        }
        return QuotaKey(provider: provider, api: api)
    }

    /// A 429 with no `Retry-After` carrying error 2001 ("Too many requests. The request limit has
    /// been reached for the resource."): the API's call limit is used up. eBay's limits for the APIs
    /// FlipSync calls are daily (Browse, OAuth grants, Account; developer.ebay.com "API call
    /// limits"), with no shorter throttle, so this is the day's quota, not a burst: retrying it
    /// before midnight Pacific only spends more refused calls. Any other 429, and a 429 that says
    /// when to come back (`Retry-After`), stays `.rateLimited` and is retried.
    public static func isQuotaExhausted(_ response: HTTPResponse) -> Bool {
        guard response.status == 429, response.header("Retry-After") == nil,
              let body = try? JSONDecoder().decode(WireErrorBody.self, from: Data(response.body)) else { return false }
        return body.errors?.contains { $0.errorId == callLimitErrorID } ?? false
    }

    static func call(_ operation: String, bucket: TokenBucket, price: Money) -> PipelineCall {
        PipelineCall(provider: provider, operation: operation, quota: quotaKey(operation), price: price,
                     limit: { try await bucket.acquire() },
                     shared: bucket.shared(operation.hasPrefix("browse.") ? "ebay/browse" : "ebay/api"),
                     isQuotaExhausted: { isQuotaExhausted($0) })
    }
}

/// Requests tokens from `/identity/v1/oauth2/token` with HTTP Basic client authentication.
struct TokenMinter: Sendable {
    let configuration: EbayClientConfiguration
    let credentials: EbayCredentials
    let pipeline: RequestPipeline
    let bucket: TokenBucket

    static let operation = "identity.oauth2.token"
    /// The operations as the quota ledger tells the two grants apart (each has its own daily limit).
    static let clientCredentialsOperation = "identity.oauth2.token.client_credentials"
    static let refreshTokenOperation = "identity.oauth2.token.refresh_token"

    /// Client-credentials grant: an application token (Browse).
    /// Reference: eBay, "Using the client credentials grant type"
    /// (https://developer.ebay.com/api-docs/static/oauth-client-credentials-grant.html).
    func applicationToken() async throws -> IssuedToken {
        try await mint(grant: "client credentials",
                       form: [("grant_type", "client_credentials"), ("scope", EbayClientConfiguration.applicationScope)])
    }

    /// Refresh-token grant: a user token for the Sell APIs.
    /// Reference: eBay, "Using a refresh token to update a User access token"
    /// (https://developer.ebay.com/api-docs/static/oauth-refresh-token-request.html).
    func userToken() async throws -> IssuedToken {
        guard let refreshToken = credentials.refreshToken else {
            throw MarketplaceError.auth("no eBay refresh token is configured; the Sell APIs need one")
        }
        return try await mint(grant: "refresh token",
                              form: [("grant_type", "refresh_token"), ("refresh_token", refreshToken.reveal()),
                                     ("scope", configuration.userScopes.joined(separator: " "))])
    }

    private func mint(grant: String, form: [(String, String)]) async throws -> IssuedToken {
        let basic = Data("\(credentials.clientID):\(credentials.clientSecret.reveal())".utf8).base64EncodedString()
        let request = HTTPRequest(method: .post, url: configuration.baseURL + "/identity/v1/oauth2/token",
                                  headers: [("Authorization", "Basic \(basic)"),
                                            ("Content-Type", "application/x-www-form-urlencoded"),
                                            ("Accept", "application/json")],
                                  body: Array(FormEncoding.encode(form).utf8), timeout: configuration.timeout)
        var call = EbayClient.call(Self.operation, bucket: bucket, price: configuration.callPrice)
        call.quota = EbayClient.quotaKey(grant == "client credentials" ? Self.clientCredentialsOperation : Self.refreshTokenOperation)
        let response = try await pipeline.send(request, call)
        switch response.status {
        case 200:
            // Never echo this body anywhere: it is the token.
            guard let wire = try? JSONDecoder().decode(WireTokenResponse.self, from: Data(response.body)), !wire.access_token.isEmpty,
                  wire.expires_in > 0 else {
                throw MarketplaceError.malformed("the \(grant) token response lacks access_token/expires_in")
            }
            return IssuedToken(accessToken: SecretText(wire.access_token), expiresIn: .seconds(Int64(wire.expires_in)),
                               tokenType: wire.token_type ?? "")
        case 429:
            throw MarketplaceError.rateLimited(retryAfter: EbayClient.retryAfter(response))
        case 500...599:
            throw MarketplaceError.transient("eBay's token endpoint answered HTTP \(response.status)")
        default:
            let oauth = try? JSONDecoder().decode(WireOAuthError.self, from: Data(response.body))
            let reason = [oauth?.error, oauth?.error_description].compactMap { $0 }.joined(separator: ": ")
            throw MarketplaceError.auth("eBay refused the \(grant) token request (HTTP \(response.status))\(reason.isEmpty ? "" : ": \(reason)")")
        }
    }
}
