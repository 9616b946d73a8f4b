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
    /// Zones per `locationGroupZones` page, 1…8 (each with its first 25 rates, about 105 points
    /// a zone): 5 requests about 530 points, 8 about 850, under Shopify's 1,000 for one query.
    public var zonePageSize: Int
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
                zonePageSize: Int = 5) {
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
    private let bucket: TokenBucket
    let costLimit: ShopifyCostLimit
    private let clock: any SchedulerClock
    private let logger: Logger
    private let resolvedLocation = Mutex<Int64?>(nil)
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
        pipeline = RequestPipeline(transport: transport, recorder: recorder, quota: quota, logger: logger)
        self.logger = logger
        self.clock = clock
        let host = URLParts(configuration.baseURL).map { "\($0.host):\($0.port)" } ?? configuration.baseURL
        // One shop per host; the key must not hold the token.
        bucket = rateLimiters.bucket("\(host)|shopify", requests: configuration.requests, per: configuration.per,
                                     burst: configuration.burst)
        costLimit = ShopifyCostLimit(clock: clock)
    }

    // MARK: Product variants

    static let variantFields = """
        id sku price barcode
        product { id title }
        inventoryItem {
          id
          unitCost { amount currencyCode }
          measurement { weight { unit value } }
          inventoryLevel(locationId: $locationId) { quantities(names: ["available"]) { name quantity } }
        }
        """

    static let variantsQuery = """
        query FlipSyncVariants($first: Int!, $after: String, $locationId: ID!) {
          productVariants(first: $first, after: $after, query: "product_status:active") {
            nodes { \(variantFields) }
            pageInfo { hasNextPage endCursor }
          }
        }
        """

    /// One page of the variants of active products, with their inventory items (unit cost,
    /// weight) and the quantity available at the stock location. Start with `after` nil, then
    /// pass `nextCursor` until it is nil. Every variant of a product is read, however many
    /// (REST stopped at 100).
    ///
    /// `productVariants(first:after:query:)`, a connection paged by `pageInfo.endCursor`.
    /// Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/productVariants,
    /// ProductVariant (https://shopify.dev/docs/api/admin-graphql/2025-01/objects/ProductVariant),
    /// InventoryItem.inventoryLevel and InventoryLevel.quantities
    /// (https://shopify.dev/docs/api/admin-graphql/2025-01/objects/InventoryLevel), and paging
    /// (https://shopify.dev/docs/api/usage/pagination-graphql).
    public func variants(after: String? = nil) async throws -> ShopifyVariantsPage {
        let location = try await stockLocationID()
        let data = try await graphQL("productVariants", Self.variantsQuery, [
            "first": try pageSize(configuration.pageSize), "after": after ?? NSNull(), "locationId": Self.gid("Location", location),
        ], as: ShopifyWire.VariantsData.self)
        let connection = data.productVariants
        return ShopifyVariantsPage(variants: try connection.nodes.map(variant),
                                   nextCursor: connection.pageInfo.hasNextPage ? try cursor(connection.pageInfo, "productVariants") : nil)
    }

    static let variantQuery = """
        query FlipSyncVariant($id: ID!, $locationId: ID!) {
          productVariant(id: $id) { \(variantFields) }
        }
        """

    /// One variant by id, nil when the shop has none with it.
    ///
    /// `productVariant(id:)`. Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/productVariant.
    public func variant(id: Int64) async throws -> ShopifyVariant? {
        let location = try await stockLocationID()
        let data = try await graphQL("productVariant", Self.variantQuery,
                                     ["id": Self.gid("ProductVariant", id), "locationId": Self.gid("Location", location)],
                                     as: ShopifyWire.VariantData.self)
        return try data.productVariant.map(variant)
    }

    static let availableQuery = """
        query FlipSyncAvailable($id: ID!, $locationId: ID!) {
          inventoryItem(id: $id) { id inventoryLevel(locationId: $locationId) { quantities(names: ["available"]) { name quantity } } }
        }
        """

    /// The quantity of an inventory item available at the stock location now; nil when it is
    /// not stocked there. What a stale `compareQuantity` is re-read with.
    ///
    /// `inventoryItem(id:) { inventoryLevel(locationId:) { quantities(names: ["available"]) } }`.
    /// Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/inventoryItem.
    public func available(inventoryItemID: Int64) async throws -> Int? {
        let location = try await stockLocationID()
        let data = try await graphQL("inventoryItem", Self.availableQuery,
                                     ["id": Self.gid("InventoryItem", inventoryItemID), "locationId": Self.gid("Location", location)],
                                     as: ShopifyWire.InventoryItemData.self)
        guard let item = data.inventoryItem else {
            throw MarketplaceError.permanent(status: 200, message: "Shopify has no inventory item \(inventoryItemID)")
        }
        return item.inventoryLevel?.quantities.first { $0.name == "available" }?.quantity
    }

    static let variantsCountQuery = "query FlipSyncVariantsCount { productVariantsCount(limit: null) { count precision } }"

    /// How many variants the shop has (all products; no limit).
    ///
    /// `productVariantsCount(limit: null)`. Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/productVariantsCount.
    public func variantsCount() async throws -> Int {
        try await graphQL("productVariantsCount", Self.variantsCountQuery, [:], as: ShopifyWire.CountData.self).productVariantsCount.count
    }

    static let bulkRunMutation = """
        mutation FlipSyncBulkVariants($query: String!) {
          bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message code } }
        }
        """

    static let bulkPollQuery = """
        query FlipSyncBulkStatus { currentBulkOperation { id status errorCode objectCount url } }
        """

    /// Every variant of active products through one bulk operation: `bulkOperationRunQuery`
    /// with the same fields as `variants(after:)` (the location as a literal: a bulk query
    /// takes no variables), `currentBulkOperation` polled every `bulkPollInterval` on the clock
    /// until `COMPLETED`, then the JSONL file at its `url` read, one variant a line. The file
    /// is fetched without the access token (Shopify's URL is signed); its host must be in the
    /// transport's allow-list (`storage.googleapis.com` for Shopify), else `.refused`.
    /// Reference: https://shopify.dev/docs/api/usage/bulk-operations/queries,
    /// https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/bulkOperationRunQuery and
    /// https://shopify.dev/docs/api/admin-graphql/2025-01/queries/currentBulkOperation.
    public func bulkVariants() async throws -> [ShopifyVariant] {
        let location = Self.gid("Location", try await stockLocationID())
        let fields = Self.variantFields.replacingOccurrences(of: "$locationId", with: "\"\(location)\"")
        let query = "{ productVariants(query: \"product_status:active\") { edges { node { \(fields) } } } }"
        let started = try await graphQL("bulkOperationRunQuery", Self.bulkRunMutation, ["query": query], as: ShopifyWire.BulkRunData.self)
        guard let payload = started.bulkOperationRunQuery else { throw MarketplaceError.malformed("bulkOperationRunQuery: no payload") }
        if let error = payload.userErrors.first {
            throw MarketplaceError.permanent(status: 200, message: "Shopify bulkOperationRunQuery: \(error.code ?? "USER_ERROR"): \(error.message)")
        }
        guard let id = payload.bulkOperation?.id else { throw MarketplaceError.malformed("bulkOperationRunQuery: no bulk operation") }
        var url: String?
        while true {
            let polled = try await graphQL("currentBulkOperation", Self.bulkPollQuery, [:], as: ShopifyWire.BulkPollData.self)
            guard let operation = polled.currentBulkOperation, operation.id == id else {
                throw MarketplaceError.transient("Shopify bulk operation \(id) is no longer the current one")
            }
            if operation.status == "COMPLETED" {
                url = operation.url
                break
            }
            guard ["CREATED", "RUNNING"].contains(operation.status) else {
                throw MarketplaceError.transient("Shopify bulk operation \(id) ended \(operation.status) (\(operation.errorCode ?? "no error code"))")
            }
            try await clock.sleep(milliseconds: configuration.bulkPollInterval.milliseconds)
        }
        // No url: nothing matched.
        guard let url else { return [] }
        let bucket = self.bucket
        let response = try await exchange(HTTPRequest(method: .get, url: url, headers: [("Accept", "application/jsonl")], timeout: configuration.timeout),
                                          PipelineCall(provider: Self.provider, operation: "bulk.file", price: configuration.callPrice,
                                                       limit: { try await bucket.acquire() }))
        var variants: [ShopifyVariant] = []
        for (number, line) in response.body.split(separator: UInt8(ascii: "\n")).enumerated() where !line.isEmpty {
            do {
                variants.append(try variant(JSONDecoder().decode(ShopifyWire.Variant.self, from: Data(line))))
            } catch let error as MarketplaceError {
                throw error
            } catch {
                throw MarketplaceError.malformed("bulk.file: line \(number + 1) is not a variant (\(EbayClient.decodingSummary(error)))")
            }
        }
        return variants
    }

    // MARK: Prices

    static let bulkUpdateMutation = """
        mutation FlipSyncPrices($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
          productVariantsBulkUpdate(productId: $productId, variants: $variants, allowPartialUpdates: true) {
            userErrors { field message code }
          }
        }
        """

    /// Sets the prices of variants of one product in one mutation; returns, per variant id,
    /// Shopify's refusal (`userErrors`, matched by `field: ["variants", index, …]`) or nil when
    /// it applied. `allowPartialUpdates`: the variants without an error are set.
    /// Prices must be in the shop's currency and whole minor units (else `.refused`).
    ///
    /// `productVariantsBulkUpdate(productId:variants: [{id, price}])`.
    /// Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/productVariantsBulkUpdate.
    public func updatePrices(productID: Int64, _ prices: [(variantID: Int64, price: Money)]) async throws -> [Int64: String] {
        let step = Money(minorUnits: 1, currency: configuration.currency).micros
        for (variantID, price) in prices where price.currency != configuration.currency || price.micros % step != 0 {
            throw MarketplaceError.refused("price \(price) for variant \(variantID) must be in whole \(configuration.currency) minor units")
        }
        let variants: [Any] = prices.map { ["id": Self.gid("ProductVariant", $0.variantID), "price": $0.price.fixedDecimalString] }
        let data = try await graphQL("productVariantsBulkUpdate", Self.bulkUpdateMutation,
                                     ["productId": Self.gid("Product", productID), "variants": variants], as: ShopifyWire.BulkUpdateData.self)
        guard let payload = data.productVariantsBulkUpdate else {
            throw MarketplaceError.malformed("productVariantsBulkUpdate: no payload")
        }
        var refused: [Int64: String] = [:]
        for error in payload.userErrors {
            let text = error.code.map { "\($0): \(error.message)" } ?? error.message
            if let field = error.field, field.count >= 2, field[0] == "variants", let index = Int(field[1]), prices.indices.contains(index) {
                refused[prices[index].variantID] = text
            } else {
                // Not about one variant (e.g. the product): every variant failed.
                for price in prices { refused[price.variantID] = text }
            }
        }
        return refused
    }

    // MARK: Locations and inventory

    static let locationsQuery = """
        query FlipSyncLocations { locations(first: 5) { nodes { id name isActive } pageInfo { hasNextPage endCursor } } }
        """

    /// The shop's locations (the first five: a shop we sync has one or a few).
    ///
    /// `locations(first:)`. Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/locations.
    public func locations() async throws -> [ShopifyLocation] {
        let data = try await graphQL("locations", Self.locationsQuery, [:], as: ShopifyWire.LocationsData.self)
        return try data.locations.nodes.map {
            ShopifyLocation(id: try Self.number($0.id, "Location"), name: $0.name ?? "", active: $0.isActive ?? true)
        }
    }

    /// The location stock is read and set at: the configured one, or the shop's only active
    /// location (looked up once, then remembered).
    public func stockLocationID() async throws -> Int64 {
        if let configured = configuration.locationID { return configured }
        if let known = resolvedLocation.withLock({ $0 }) { return known }
        let active = try await locations().filter(\.active)
        guard active.count == 1, let only = active.first else {
            throw MarketplaceError.refused("the shop has \(active.count) active locations; configure the location_id to set stock at")
        }
        resolvedLocation.withLock { $0 = only.id }
        return only.id
    }

    static let setQuantitiesMutation = """
        mutation FlipSyncStock($input: InventorySetQuantitiesInput!) {
          inventorySetQuantities(input: $input) { userErrors { field message code } }
        }
        """

    /// Sets the `available` quantity of one inventory item at the stock location, only if it
    /// is still `compareQuantity` (compare-and-set): `.stale` when it is not (nothing written;
    /// re-read and decide again, never overwrite), `.refused` for another user error.
    /// A negative quantity is refused here: we never list fewer than zero units.
    ///
    /// `inventorySetQuantities(input: {name: "available", reason: "correction", quantities:
    /// [{inventoryItemId, locationId, quantity, compareQuantity}]})`; a mismatch is the user
    /// error `COMPARE_QUANTITY_STALE`.
    /// Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/inventorySetQuantities
    /// and InventoryQuantityInput (https://shopify.dev/docs/api/admin-graphql/2025-01/input-objects/InventoryQuantityInput).
    /// The most quantities one `inventorySetQuantities` takes: Shopify refuses any input array
    /// over 250 items (https://shopify.dev/docs/api/usage/limits, "Input limits").
    public static let setQuantitiesLimit = 250

    /// Sets the `available` quantities of up to `setQuantitiesLimit` inventory items at the stock
    /// location in one `inventorySetQuantities`, each compared with its `compareQuantity`. Shopify
    /// applies such a mutation all or nothing: when any compare is stale, nothing is written and
    /// each stale item comes back as a user error `COMPARE_QUANTITY_STALE` whose `field` is
    /// `["input", "quantities", "<index>", "compareQuantity"]`. Answers `.applied`, `.stale(indices)`
    /// (nothing written), or `.refused(message)` for any other user error (nothing written).
    public func setInventory(_ items: [(inventoryItemID: Int64, available: Int, compareQuantity: Int)]) async throws -> ShopifyBatchInventorySet {
        guard (1...Self.setQuantitiesLimit).contains(items.count) else {
            throw MarketplaceError.refused("inventorySetQuantities takes 1…\(Self.setQuantitiesLimit) quantities, not \(items.count)")
        }
        if let negative = items.first(where: { $0.available < 0 }) {
            throw MarketplaceError.refused("quantity for inventory item \(negative.inventoryItemID) is negative")
        }
        let location = try await stockLocationID()
        let input: [String: Any] = [
            "name": "available", "reason": "correction",
            "quantities": items.map { ["inventoryItemId": Self.gid("InventoryItem", $0.inventoryItemID), "locationId": Self.gid("Location", location),
                                       "quantity": $0.available, "compareQuantity": $0.compareQuantity] as [String: Any] },
        ]
        let data = try await graphQL("inventorySetQuantities", Self.setQuantitiesMutation, ["input": input],
                                     as: ShopifyWire.SetQuantitiesData.self)
        guard let payload = data.inventorySetQuantities else { throw MarketplaceError.malformed("inventorySetQuantities: no payload") }
        guard !payload.userErrors.isEmpty else { return .applied }
        let stale = payload.userErrors.filter { $0.code == "COMPARE_QUANTITY_STALE" }
        if stale.count == payload.userErrors.count {
            let indices = stale.compactMap { error -> Int? in
                guard let field = error.field, field.count >= 3, field[1] == "quantities" else { return nil }
                return Int(field[2])
            }
            guard indices.count == stale.count, indices.allSatisfy({ items.indices.contains($0) }) else {
                throw MarketplaceError.malformed("inventorySetQuantities: a COMPARE_QUANTITY_STALE error names no quantity of the request")
            }
            return .stale(Set(indices))
        }
        let error = payload.userErrors.first { $0.code != "COMPARE_QUANTITY_STALE" }!
        let index = error.field.flatMap { $0.count >= 3 && $0[1] == "quantities" ? Int($0[2]) : nil }.flatMap { items.indices.contains($0) ? $0 : nil }
        return .refused(error.code.map { "\($0): \(error.message)" } ?? error.message, index: index)
    }

    public func setInventory(inventoryItemID: Int64, available: Int, compareQuantity: Int) async throws -> ShopifyInventorySet {
        guard available >= 0 else { throw MarketplaceError.refused("quantity for inventory item \(inventoryItemID) is negative") }
        let location = try await stockLocationID()
        let input: [String: Any] = [
            "name": "available", "reason": "correction",
            "quantities": [["inventoryItemId": Self.gid("InventoryItem", inventoryItemID), "locationId": Self.gid("Location", location),
                            "quantity": available, "compareQuantity": compareQuantity] as [String: Any]],
        ]
        let data = try await graphQL("inventorySetQuantities", Self.setQuantitiesMutation, ["input": input],
                                     as: ShopifyWire.SetQuantitiesData.self)
        guard let payload = data.inventorySetQuantities else { throw MarketplaceError.malformed("inventorySetQuantities: no payload") }
        if payload.userErrors.contains(where: { $0.code == "COMPARE_QUANTITY_STALE" }) { return .stale }
        if let error = payload.userErrors.first { return .refused(error.code.map { "\($0): \(error.message)" } ?? error.message) }
        return .applied
    }

    // MARK: Orders

    static let orderFields = """
        id name createdAt updatedAt cancelledAt displayFulfillmentStatus currencyCode
        totalShippingPriceSet { shopMoney { amount currencyCode } }
        shippingAddress { zip provinceCode countryCodeV2 city }
        lineItems(first: \(linesPerOrder)) {
          nodes { id sku quantity unfulfilledQuantity originalUnitPriceSet { shopMoney { amount currencyCode } } }
          pageInfo { hasNextPage endCursor }
        }
        """

    static let ordersQuery = """
        query FlipSyncOrders($first: Int!, $after: String, $query: String) {
          orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
            nodes { \(orderFields) }
            pageInfo { hasNextPage endCursor }
          }
        }
        """

    static let orderLinesQuery = """
        query FlipSyncOrderLines($id: ID!, $after: String) {
          order(id: $id) {
            lineItems(first: 100, after: $after) {
              nodes { id sku quantity unfulfilledQuantity originalUnitPriceSet { shopMoney { amount currencyCode } } }
              pageInfo { hasNextPage endCursor }
            }
          }
        }
        """

    /// One page of orders of any status updated at or after `updatedAtMin` (ISO 8601; every
    /// order when nil), oldest change first. Start with `after` nil, then pass `nextCursor`
    /// until it is nil. An order with more lines than `linesPerOrder` has the rest read with
    /// `order(id:) { lineItems(after:) }`.
    ///
    /// `orders(first:after:query: "updated_at:>='…'", sortKey: UPDATED_AT)`.
    /// Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/orders (the
    /// `updated_at` filter), Order (https://shopify.dev/docs/api/admin-graphql/2025-01/objects/Order)
    /// and LineItem (https://shopify.dev/docs/api/admin-graphql/2025-01/objects/LineItem).
    public func orders(updatedAtMin: String?, after: String? = nil) async throws -> ShopifyOrdersPage {
        let query: Any = updatedAtMin.map { "updated_at:>='\($0)'" } ?? NSNull()
        let data = try await graphQL("orders", Self.ordersQuery,
                                     ["first": try pageSize(configuration.orderPageSize), "after": after ?? NSNull(), "query": query],
                                     as: ShopifyWire.OrdersData.self)
        var orders: [ShopifyOrder] = []
        for wire in data.orders.nodes {
            var lines = wire.lineItems.nodes
            var page = wire.lineItems.pageInfo
            while page.hasNextPage {
                let more = try await graphQL("order", Self.orderLinesQuery,
                                             ["id": wire.id, "after": try cursor(page, "order.lineItems")], as: ShopifyWire.OrderLinesData.self)
                guard let connection = more.order?.lineItems else { throw MarketplaceError.malformed("order \(wire.id) vanished while its lines were read") }
                lines += connection.nodes
                page = connection.pageInfo
            }
            orders.append(try order(wire, lines: lines))
        }
        return ShopifyOrdersPage(orders: orders, nextCursor: data.orders.pageInfo.hasNextPage ? try cursor(data.orders.pageInfo, "orders") : nil)
    }

    // MARK: Shipping zones

    static let deliveryProfilesQuery = """
        query FlipSyncDeliveryProfiles($after: String) {
          deliveryProfiles(first: 25, after: $after) {
            nodes { id name profileLocationGroups { locationGroup { id } } }
            pageInfo { hasNextPage endCursor }
          }
        }
        """

    /// Rates read per zone: a zone with more is refused (`methodDefinitions` is not paged).
    static let ratesPerZone = 25

    static let deliveryZonesQuery = """
        query FlipSyncDeliveryZones($profile: ID!, $group: ID!, $first: Int!, $after: String) {
          deliveryProfile(id: $profile) {
            profileLocationGroups(locationGroupId: $group) {
              locationGroupZones(first: $first, after: $after) {
                nodes {
                  zone { id name countries { code { countryCode restOfWorld } provinces { code } } }
                  methodDefinitions(first: \(ratesPerZone)) {
                    nodes {
                      id name active
                      rateProvider { __typename ... on DeliveryRateDefinition { price { amount currencyCode } } }
                      methodConditions {
                        field operator
                        conditionCriteria { __typename ... on Weight { unit value } ... on MoneyV2 { amount currencyCode } }
                      }
                    }
                    pageInfo { hasNextPage endCursor }
                  }
                }
                pageInfo { hasNextPage endCursor }
              }
            }
          }
        }
        """

    /// The shop's shipping zones with their countries and flat rates, from the GraphQL Admin
    /// API's delivery profiles: every profile (`deliveryProfiles`, paged), each of its location
    /// groups, and the group's zones (`deliveryProfile(id:) { profileLocationGroups(locationGroupId:)
    /// { locationGroupZones(first:after:) } }`, paged), each with its first 25 method definitions.
    ///
    /// Mapping to `ShopifyShippingZone` (see `zone(_:)` and the README): an inactive method
    /// definition is skipped; a `DeliveryParticipant` rate provider (carrier-calculated) counts
    /// in `carrierRateProviders`; a `DeliveryRateDefinition` is a weight rate when its conditions
    /// are on `TOTAL_WEIGHT` (`GREATER_THAN_OR_EQUAL_TO` is the low bound, `LESS_THAN_OR_EQUAL_TO`
    /// the high one), a price rate when they are on `TOTAL_PRICE` (min and max subtotal), and a
    /// price rate open at both ends when it has none. Anything else (another field, operator or
    /// criteria type, a condition repeated, weight and price mixed, a price or bound in another
    /// currency, more than 25 rates in a zone) is `MarketplaceError.malformed` naming the zone
    /// and the rate: a charge computed from a misread rate would be wrong, not just missing.
    ///
    /// References (2025-01): https://shopify.dev/docs/api/admin-graphql/2025-01/queries/deliveryProfiles,
    /// DeliveryProfile.profileLocationGroups (a list, `locationGroupId:` argument),
    /// DeliveryProfileLocationGroup.locationGroupZones (DeliveryLocationGroupZoneConnection),
    /// DeliveryLocationGroupZone (`zone`, `methodDefinitions`), DeliveryZone (`countries`:
    /// DeliveryCountry { code: DeliveryCountryCodeOrRestOfWorld { countryCode restOfWorld } provinces }),
    /// DeliveryMethodDefinition (`active`, `rateProvider`, `methodConditions`), the unions
    /// `DeliveryRateProvider = DeliveryParticipant | DeliveryRateDefinition` and
    /// `DeliveryConditionCriteria = MoneyV2 | Weight`, DeliveryCondition (`field`:
    /// DeliveryConditionField TOTAL_PRICE | TOTAL_WEIGHT, `operator`: DeliveryConditionOperator
    /// GREATER_THAN_OR_EQUAL_TO | LESS_THAN_OR_EQUAL_TO), all under
    /// https://shopify.dev/docs/api/admin-graphql/2025-01/objects/ (read through the docs search
    /// of shopify.dev's pages, e.g. /objects/DeliveryCondition and /unions/DeliveryConditionCriteria).
    public func shippingZones() async throws -> [ShopifyShippingZone] {
        let first = configuration.zonePageSize
        guard (1...8).contains(first) else { throw MarketplaceError.refused("Shopify zone page size must be 1…8, not \(first)") }
        var groups: [(profile: String, group: String)] = []
        var after: String?
        repeat {
            let data = try await graphQL("deliveryProfiles", Self.deliveryProfilesQuery, ["after": after ?? NSNull()],
                                         as: ShopifyWire.DeliveryProfilesData.self)
            for profile in data.deliveryProfiles.nodes {
                for group in profile.profileLocationGroups { groups.append((profile.id, group.locationGroup.id)) }
            }
            after = data.deliveryProfiles.pageInfo.hasNextPage ? try cursor(data.deliveryProfiles.pageInfo, "deliveryProfiles") : nil
        } while after != nil
        var zones: [ShopifyShippingZone] = []
        for (profile, group) in groups {
            var after: String?
            repeat {
                let data = try await graphQL("deliveryProfile", Self.deliveryZonesQuery,
                                             ["profile": profile, "group": group, "first": first, "after": after ?? NSNull()],
                                             as: ShopifyWire.DeliveryZonesData.self)
                guard let found = data.deliveryProfile else { throw MarketplaceError.malformed("delivery profile \(profile) vanished while its zones were read") }
                guard found.profileLocationGroups.count == 1, let connection = found.profileLocationGroups.first?.locationGroupZones else {
                    throw MarketplaceError.malformed("delivery profile \(profile) answered \(found.profileLocationGroups.count) location groups for \(group), not 1")
                }
                zones += try connection.nodes.map { try zone($0) }
                after = connection.pageInfo.hasNextPage ? try cursor(connection.pageInfo, "locationGroupZones") : nil
            } while after != nil
        }
        return zones
    }

    /// Grams in one unit of Shopify's `WeightUnit`.
    static let gramsPerWeightUnit: [String: Double] = ["GRAMS": 1, "KILOGRAMS": 1000, "OUNCES": 28.349523125, "POUNDS": 453.59237]

    /// One location group zone as a `ShopifyShippingZone` (the rules: `shippingZones()`).
    func zone(_ wire: ShopifyWire.LocationGroupZone) throws -> ShopifyShippingZone {
        let zone = wire.zone
        let currency = configuration.currency
        func refuse(_ what: String) -> MarketplaceError { .malformed("Shopify shipping zone \"\(zone.name)\" (\(zone.id)): \(what)") }
        guard !wire.methodDefinitions.pageInfo.hasNextPage else {
            throw refuse("more than \(Self.ratesPerZone) rates; FlipSync reads at most \(Self.ratesPerZone) a zone")
        }
        let countries = try zone.countries.map { country -> ShopifyShippingZone.Country in
            let code = country.code.restOfWorld ? "*" : country.code.countryCode
            guard let code, !code.isEmpty else { throw refuse("a country without a code that is not the rest of the world") }
            return .init(code: code, provinceCodes: (country.provinces ?? []).map(\.code))
        }
        var weightRates: [ShopifyShippingZone.WeightRate] = []
        var priceRates: [ShopifyShippingZone.PriceRate] = []
        var carriers = 0
        for method in wire.methodDefinitions.nodes where method.active {
            let rate = "rate \"\(method.name)\""
            switch method.rateProvider.__typename {
            case "DeliveryParticipant":
                carriers += 1
                continue
            case "DeliveryRateDefinition": break
            default: throw refuse("\(rate) has a rate provider of type \(method.rateProvider.__typename)")
            }
            guard let wirePrice = method.rateProvider.price else { throw refuse("\(rate) has no price") }
            guard wirePrice.currencyCode == currency.code else { throw refuse("\(rate) is priced in \(wirePrice.currencyCode), not \(currency.code)") }
            let price = try money(wirePrice.amount, currency, field: "\(rate) of zone \(zone.id)")
            var low: Int?, high: Int?, minimum: Money?, maximum: Money?
            var fields = Set<String>()
            for condition in method.methodConditions {
                fields.insert(condition.field)
                let criteria = condition.conditionCriteria
                let isLow: Bool
                switch condition.operator {
                case "GREATER_THAN_OR_EQUAL_TO": isLow = true
                case "LESS_THAN_OR_EQUAL_TO": isLow = false
                default: throw refuse("\(rate) has a condition with operator \(condition.operator)")
                }
                switch (condition.field, criteria.__typename) {
                case ("TOTAL_WEIGHT", "Weight"):
                    guard let value = criteria.value, value >= 0, let unit = criteria.unit, let perUnit = Self.gramsPerWeightUnit[unit] else {
                        let shown: String = criteria.value.map { String($0) } ?? "no value"
                        throw refuse("\(rate) has a weight condition of \(shown) \(criteria.unit ?? "without a unit")")
                    }
                    let grams = Int((value * perUnit).rounded())
                    if isLow { guard low == nil else { throw refuse("\(rate) has two low weight bounds") }; low = grams }
                    else { guard high == nil else { throw refuse("\(rate) has two high weight bounds") }; high = grams }
                case ("TOTAL_PRICE", "MoneyV2"):
                    guard let amount = criteria.amount, criteria.currencyCode == currency.code else {
                        throw refuse("\(rate) has a price condition in \(criteria.currencyCode ?? "no currency"), not \(currency.code)")
                    }
                    let bound = try money(amount, currency, field: "\(rate) of zone \(zone.id)")
                    if isLow { guard minimum == nil else { throw refuse("\(rate) has two minimum subtotals") }; minimum = bound }
                    else { guard maximum == nil else { throw refuse("\(rate) has two maximum subtotals") }; maximum = bound }
                default:
                    throw refuse("\(rate) has a condition on \(condition.field) with a \(criteria.__typename) criterion")
                }
            }
            if fields.count > 1 { throw refuse("\(rate) has conditions on both weight and price") }
            if fields == ["TOTAL_WEIGHT"] {
                weightRates.append(.init(name: method.name, price: price, lowGrams: low ?? 0, highGrams: high))
            } else {
                priceRates.append(.init(name: method.name, price: price, minSubtotal: minimum, maxSubtotal: maximum))
            }
        }
        return ShopifyShippingZone(id: try Self.number(zone.id, "DeliveryZone"), name: zone.name, countries: countries,
                                   weightRates: weightRates, priceRates: priceRates, carrierRateProviders: carriers)
    }

    // MARK: Wire values

    private func pageSize(_ size: Int) throws -> Int {
        guard (1...Self.maxPageSize).contains(size) else {
            throw MarketplaceError.refused("Shopify page size must be 1…\(Self.maxPageSize), not \(size)")
        }
        return size
    }

    private func cursor(_ page: ShopifyWire.PageInfo, _ operation: String) throws -> String {
        guard let cursor = page.endCursor, !cursor.isEmpty else {
            throw MarketplaceError.malformed("\(operation): hasNextPage without an endCursor")
        }
        return cursor
    }

    static func gid(_ type: String, _ id: Int64) -> String { "gid://shopify/\(type)/\(id)" }

    /// The number at the end of `gid://shopify/{type}/{n}`.
    static func number(_ gid: String, _ type: String) throws -> Int64 {
        let prefix = "gid://shopify/\(type)/"
        guard gid.hasPrefix(prefix), let id = Int64(gid.dropFirst(prefix.count).prefix { $0 != "?" }) else {
            throw MarketplaceError.malformed("\"\(gid)\" is not a \(type) id")
        }
        return id
    }

    static let weightUnits = ["GRAMS": "g", "KILOGRAMS": "kg", "OUNCES": "oz", "POUNDS": "lb"]

    private func variant(_ wire: ShopifyWire.Variant) throws -> ShopifyVariant {
        let id = try Self.number(wire.id, "ProductVariant")
        let item = wire.inventoryItem
        let weight = item?.measurement?.weight
        return ShopifyVariant(
            variantID: id, productID: try Self.number(wire.product.id, "Product"), productTitle: wire.product.title, sku: wire.sku,
            price: try money(wire.price, configuration.currency, field: "price of variant \(id)"),
            available: item?.inventoryLevel?.quantities.first { $0.name == "available" }?.quantity,
            inventoryItemID: try item.map { try Self.number($0.id, "InventoryItem") },
            unitCost: try item?.unitCost.map { try money($0, field: "unit cost of variant \(id)") },
            barcode: wire.barcode, weight: weight?.value, weightUnit: weight.flatMap { Self.weightUnits[$0.unit] })
    }

    private func order(_ wire: ShopifyWire.Order, lines wireLines: [ShopifyWire.LineItem]) throws -> ShopifyOrder {
        let id = try Self.number(wire.id, "Order")
        let currency: Currency
        if let code = wire.currencyCode {
            guard let known = Currency(code: code) else { throw MarketplaceError.malformed("order \(id): unknown currency \(code)") }
            currency = known
        } else {
            currency = configuration.currency
        }
        func time(_ text: String, _ field: String) throws -> Int64 {
            guard let stamp = Timestamp(parsing: text) else { throw MarketplaceError.malformed("order \(id): \(field) is not ISO 8601") }
            return stamp.secondsSinceEpoch * 1000
        }
        _ = try time(wire.updatedAt, "updatedAt")
        let lines = try wireLines.map { line in
            let lineID = try Self.number(line.id, "LineItem")
            return ShopifyLineItem(id: lineID, variantID: nil, sku: line.sku, quantity: line.quantity,
                                   price: try money(line.originalUnitPriceSet.shopMoney, field: "price of line \(lineID) of order \(id)"),
                                   fulfillmentStatus: line.unfulfilledQuantity == 0 ? "fulfilled" : nil)
        }
        let shipping = try wire.totalShippingPriceSet.map { try money($0.shopMoney, field: "shipping of order \(id)") } ?? .zero(currency)
        let status = wire.displayFulfillmentStatus.flatMap { ["FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"][$0] }
        return ShopifyOrder(id: id, name: wire.name, createdAt: try time(wire.createdAt, "createdAt"), updatedAt: wire.updatedAt,
                            currency: currency, lineItems: lines, shipping: shipping,
                            shippingAddress: wire.shippingAddress.map {
                                ShopifyAddress(zip: $0.zip, provinceCode: $0.provinceCode, countryCode: $0.countryCodeV2, city: $0.city)
                            },
                            fulfillmentStatus: status, cancelledAt: try wire.cancelledAt.map { try time($0, "cancelledAt") })
    }

    private func money(_ wire: ShopifyWire.MoneyV2, field: String) throws -> Money {
        guard let currency = Currency(code: wire.currencyCode) else { throw MarketplaceError.malformed("\(field): unknown currency \(wire.currencyCode)") }
        return try money(wire.amount, currency, field: field)
    }

    private func money(_ decimal: String, _ currency: Currency, field: String) throws -> Money {
        do {
            return try Money(parsing: "\(decimal) \(currency.code)")
        } catch {
            throw MarketplaceError.malformed("\(field): \(error)")
        }
    }

    // MARK: Plumbing

    /// What a query is assumed to cost before Shopify has said: a page of variants about 7
    /// points a node, a page of orders about 36, a page of zones about 105, anything else 10.
    private func estimatedCost(_ operation: String) -> Double {
        if let known = requestedCosts.withLock({ $0[operation] }) { return known }
        switch operation {
        case "productVariants": return Double(2 + configuration.pageSize * 7)
        case "orders": return Double(2 + configuration.orderPageSize * 36)
        case "deliveryProfile": return Double(3 + configuration.zonePageSize * 105)
        default: return 10
        }
    }

    /// Sends one GraphQL operation and decodes its `data`. Waits for the cost bucket before
    /// sending, retries `THROTTLED` after the wait it implies, and maps errors (see the type).
    func graphQL<T: Decodable>(_ operation: String, _ document: String, _ variables: [String: Any], as type: T.Type) async throws -> T {
        let body: [UInt8]
        do {
            body = Array(try JSONSerialization.data(withJSONObject: ["query": document, "variables": variables] as [String: Any],
                                                    options: [.sortedKeys]))
        } catch {
            throw MarketplaceError.refused("\(operation): the variables are not JSON")
        }
        var throttled = 0
        while true {
            let cost = estimatedCost(operation)
            let response = try await send(body: body, cost: cost, operation: operation)
            let envelope: ShopifyWire.ErrorsEnvelope
            do {
                envelope = try JSONDecoder().decode(ShopifyWire.ErrorsEnvelope.self, from: Data(response.body))
            } catch {
                throw MarketplaceError.malformed("\(operation): the body is not the documented JSON (\(EbayClient.decodingSummary(error)))")
            }
            let reported = envelope.extensions?.cost
            if let requested = reported?.requestedQueryCost { requestedCosts.withLock { $0[operation] = requested } }
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
            do {
                return try JSONDecoder().decode(ShopifyWire.DataEnvelope<T>.self, from: Data(response.body)).data
            } catch {
                throw MarketplaceError.malformed("\(operation): the body is not the documented JSON (\(EbayClient.decodingSummary(error)))")
            }
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
                                finish: { response in costLimit.finish(cost: cost, reported: response.flatMap(Self.throttleStatus)) })
        return try await exchange(request, call)
    }

    /// The quota-ledger key of every GraphQL call: its units are cost points.
    static let graphQLQuota = QuotaKey(provider: provider, api: "graphql")

    static func throttleStatus(_ response: HTTPResponse) -> ShopifyCostLimit.ThrottleStatus? {
        (try? JSONDecoder().decode(ShopifyWire.ErrorsEnvelope.self, from: Data(response.body)))?.extensions?.cost?.throttleStatus
    }

    private func exchange(_ request: HTTPRequest, _ call: PipelineCall) async throws -> HTTPResponse {
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
