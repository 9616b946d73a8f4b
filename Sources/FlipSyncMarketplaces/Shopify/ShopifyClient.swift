import FlipSyncCore
import Foundation
import Logging
import Synchronization

/// Where and how fast to call one Shopify shop's REST Admin API.
public struct ShopifyClientConfiguration: Sendable, Hashable {
    /// `https://{shop}.myshopify.com`, or the local sandbox (`http://127.0.0.1:8780/shopify`).
    /// `/admin/api/{version}/…` is appended to it.
    public var baseURL: String
    /// The API version in every path, e.g. `2024-10`. Fixed, so a Shopify release cannot
    /// change the shapes under us.
    public var apiVersion: String
    /// The location whose stock `setInventory` sets; nil: the shop's only active location,
    /// looked up once (refused if the shop has several).
    public var locationID: Int64?
    /// The shop's currency: REST product prices and inventory costs carry none.
    public var currency: Currency
    /// Our own token bucket, on top of Shopify's: `requests` per `per`, holding at most `burst`.
    public var requests: Int
    public var per: TimeSpan
    public var burst: Int
    /// How fast Shopify's bucket leaks for this shop's plan: 2 calls/s standard, 4 Advanced, 20 Plus.
    public var leakPerSecond: Int
    /// What one call costs (`[prices.shopify] call`); zero for Shopify.
    public var callPrice: Money
    /// Per-request timeout.
    public var timeout: TimeSpan
    /// Records per page for `products.json` and `orders.json`, 1…250 (Shopify's maximum).
    public var pageSize: Int

    public static let defaultAPIVersion = "2024-10"

    public init(baseURL: String, apiVersion: String = ShopifyClientConfiguration.defaultAPIVersion, locationID: Int64? = nil,
                currency: Currency = .usd, requests: Int = 2, per: TimeSpan = .seconds(1), burst: Int = 40,
                leakPerSecond: Int = 2, callPrice: Money = .zero(.usd), timeout: TimeSpan = .seconds(30), pageSize: Int = 250) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiVersion = apiVersion
        self.locationID = locationID
        self.currency = currency
        self.requests = requests
        self.per = per
        self.burst = burst
        self.leakPerSecond = leakPerSecond
        self.callPrice = callPrice
        self.timeout = timeout
        self.pageSize = pageSize
    }

    /// From `[marketplaces.shopify]` and `[prices.shopify] call`: the configured rate limit is
    /// the plan's leak rate too; the currency is `fee_fixed`'s.
    public init(_ marketplace: FlipSyncConfig.Marketplace, callPrice: Money?) {
        let rate = marketplace.rateLimit
        self.init(baseURL: marketplace.baseURL, currency: marketplace.feeFixed.currency, requests: rate.requests, per: rate.per,
                  burst: rate.burst, leakPerSecond: max(1, Int(Int64(rate.requests) * 1000 / max(rate.per.milliseconds, 1))),
                  callPrice: callPrice ?? .zero(marketplace.feeFixed.currency))
    }
}

/// One shop's REST Admin API: products and variants, locations, inventory levels and items,
/// orders, and shipping zones.
///
/// Every request takes a token from our bucket for (host, token), then waits until Shopify's
/// own leaky bucket has room (`ShopifyCallLimit`, fed by `X-Shopify-Shop-Api-Call-Limit`),
/// and is reported to the `SpendRecorder` once sent (provider `shopify`). Authentication is
/// the shop's Admin API access token in `X-Shopify-Access-Token`; it does not expire, so a 401
/// is final.
///
/// Errors thrown are `MarketplaceError` (or `CancellationError` when the task is cancelled).
/// No error message, log line or description contains the access token.
/// Reference: REST Admin API, authentication (https://shopify.dev/docs/api/admin-rest) and
/// rate limits (https://shopify.dev/docs/api/admin-rest/usage/rate-limits).
public final class ShopifyClient: Sendable {
    public let configuration: ShopifyClientConfiguration
    private let accessToken: SecretText
    private let transport: any HTTPTransport
    private let recorder: any SpendRecorder
    private let bucket: TokenBucket
    private let callLimit: ShopifyCallLimit
    private let logger: Logger
    private let resolvedLocation = Mutex<Int64?>(nil)

    public static let provider = "shopify"
    /// Shopify serves at most this many records per page.
    public static let maxPageSize = 250
    /// `inventory_items.json?ids=` takes at most this many ids.
    public static let inventoryItemsPerCall = 100

    public init(configuration: ShopifyClientConfiguration, accessToken: SecretText, transport: any HTTPTransport,
                recorder: any SpendRecorder, rateLimiters: RateLimiters, clock: any SchedulerClock = SystemSchedulerClock(),
                logger: Logger = Logger(label: "flipsync.marketplaces.shopify")) {
        self.configuration = configuration
        self.accessToken = accessToken
        self.transport = transport
        self.recorder = recorder
        self.logger = logger
        let host = URLParts(configuration.baseURL).map { "\($0.host):\($0.port)" } ?? configuration.baseURL
        // One shop per host; the key must not hold the token.
        bucket = rateLimiters.bucket("\(host)|shopify", requests: configuration.requests, per: configuration.per,
                                     burst: configuration.burst)
        callLimit = ShopifyCallLimit(leakPerSecond: configuration.leakPerSecond, clock: clock)
    }

    // MARK: Products and variants

    /// One page of products, flattened to their variants. Start with `pageInfo` nil (active
    /// products only), then pass `nextPageInfo` until it is nil.
    ///
    /// `GET /admin/api/{version}/products.json?limit=&status=active`, later pages
    /// `?limit=&page_info=` (a request with `page_info` may carry only `limit` and `fields`).
    /// Reference: Product resource (https://shopify.dev/docs/api/admin-rest/2024-10/resources/product),
    /// ProductVariant properties (`id`, `product_id`, `sku`, `price` as a string,
    /// `inventory_quantity`, `inventory_item_id`, `barcode`, `grams`, `weight`, `weight_unit`;
    /// https://shopify.dev/docs/api/admin-rest/2024-10/resources/product-variant), and cursor
    /// paging through the `Link` header (https://shopify.dev/docs/api/admin-rest/usage/pagination).
    public func products(pageInfo: String? = nil) async throws -> ShopifyProductsPage {
        let operation = "products.list"
        var query = [("limit", String(try pageSize()))]
        query += pageInfo.map { [("page_info", $0)] } ?? [("status", "active")]
        let response = try await send(.get, "products.json", query: query, operation: operation)
        let wire = try decode(ShopifyWire.ProductsResponse.self, response, operation: operation)
        let variants = try wire.products.flatMap { product in
            try (product.variants ?? []).map { try variant($0, productTitle: product.title) }
        }
        let next = try Self.nextPageInfo(linkHeader: response.header("Link"), operation: operation)
        return ShopifyProductsPage(variants: variants, nextPageInfo: next)
    }

    /// One variant, by id (for its `inventory_item_id` when no product page was read).
    ///
    /// `GET /admin/api/{version}/variants/{variant_id}.json`.
    /// Reference: ProductVariant resource (https://shopify.dev/docs/api/admin-rest/2024-10/resources/product-variant).
    public func variant(id: Int64) async throws -> ShopifyVariant {
        let operation = "variants.get"
        let response = try await send(.get, "variants/\(id).json", operation: operation)
        return try variant(decode(ShopifyWire.VariantResponse.self, response, operation: operation).variant, productTitle: nil)
    }

    /// Sets one variant's price and returns the variant as Shopify now has it.
    ///
    /// `PUT /admin/api/{version}/variants/{variant_id}.json` with `{"variant":{"id":…,"price":"12.99"}}`.
    /// The price must be in the shop's currency and whole minor units; whether its value is
    /// acceptable is Shopify's call (a negative one is answered 422, thrown as `.permanent`
    /// with Shopify's message).
    /// Reference: ProductVariant, "Modify an existing Product Variant"
    /// (https://shopify.dev/docs/api/admin-rest/2024-10/resources/product-variant#put-variants-variant-id).
    public func updateVariantPrice(variantID: Int64, price: Money) async throws -> ShopifyVariant {
        let operation = "variants.update"
        let step = Money(minorUnits: 1, currency: price.currency).micros
        guard price.currency == configuration.currency, price.micros % step == 0 else {
            throw MarketplaceError.refused("price \(price) for variant \(variantID) must be in whole \(configuration.currency) minor units")
        }
        let body = try JSONEncoder().encode(ShopifyWire.VariantUpdate(variant: .init(id: variantID, price: price.fixedDecimalString)))
        let response = try await send(.put, "variants/\(variantID).json", body: Array(body), operation: operation)
        return try variant(decode(ShopifyWire.VariantResponse.self, response, operation: operation).variant, productTitle: nil)
    }

    // MARK: Locations and inventory

    /// The shop's locations.
    ///
    /// `GET /admin/api/{version}/locations.json`.
    /// Reference: Location resource (https://shopify.dev/docs/api/admin-rest/2024-10/resources/location).
    public func locations() async throws -> [ShopifyLocation] {
        let operation = "locations.list"
        let response = try await send(.get, "locations.json", operation: operation)
        return try decode(ShopifyWire.LocationsResponse.self, response, operation: operation).locations.map {
            ShopifyLocation(id: $0.id, name: $0.name ?? "", active: $0.active ?? true)
        }
    }

    /// The location stock is set at: the configured one, or the shop's only active location
    /// (looked up once, then remembered).
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

    /// Sets the available quantity of one inventory item at a location (default: `stockLocationID()`).
    ///
    /// `POST /admin/api/{version}/inventory_levels/set.json` with
    /// `{"location_id","inventory_item_id","available"}`; answers `{"inventory_level":{…}}`.
    /// A negative quantity is refused here: we never list fewer than zero units.
    /// Reference: InventoryLevel, "Sets the inventory level for an inventory item at a location"
    /// (https://shopify.dev/docs/api/admin-rest/2024-10/resources/inventorylevel#post-inventory-levels-set).
    public func setInventory(inventoryItemID: Int64, available: Int, locationID: Int64? = nil) async throws -> ShopifyInventoryLevel {
        let operation = "inventory_levels.set"
        guard available >= 0 else { throw MarketplaceError.refused("quantity for inventory item \(inventoryItemID) is negative") }
        let location: Int64
        if let locationID { location = locationID } else { location = try await stockLocationID() }
        let body = try JSONEncoder().encode(ShopifyWire.InventoryLevelSet(location_id: location, inventory_item_id: inventoryItemID,
                                                                          available: available))
        let response = try await send(.post, "inventory_levels/set.json", body: Array(body), operation: operation)
        let level = try decode(ShopifyWire.InventoryLevelResponse.self, response, operation: operation).inventory_level
        return ShopifyInventoryLevel(inventoryItemID: level.inventory_item_id, locationID: level.location_id, available: level.available)
    }

    /// Inventory items by id, 100 ids per call; ids Shopify does not know are left out.
    ///
    /// `GET /admin/api/{version}/inventory_items.json?ids=1,2,3&limit=100`; `cost` is a decimal
    /// string in the shop's currency, or null.
    /// Reference: InventoryItem resource (https://shopify.dev/docs/api/admin-rest/2024-10/resources/inventoryitem).
    public func inventoryItems(ids: [Int64]) async throws -> [ShopifyInventoryItem] {
        let operation = "inventory_items.list"
        var items: [ShopifyInventoryItem] = []
        var start = 0
        while start < ids.count {
            let chunk = ids[start..<min(start + Self.inventoryItemsPerCall, ids.count)]
            let query = [("ids", chunk.map(String.init).joined(separator: ",")), ("limit", String(chunk.count))]
            let response = try await send(.get, "inventory_items.json", query: query, operation: operation)
            items += try decode(ShopifyWire.InventoryItemsResponse.self, response, operation: operation).inventory_items.map { item in
                let cost = try item.cost.map { try money($0, configuration.currency, field: "cost of inventory item \(item.id)") }
                return ShopifyInventoryItem(id: item.id, sku: item.sku, cost: cost)
            }
            start += chunk.count
        }
        return items
    }

    // MARK: Orders

    /// One page of orders of any status with an id above `sinceID` (every order when nil).
    /// Start with `pageInfo` nil, then pass `nextPageInfo` (which carries the filters) until it is nil.
    ///
    /// `GET /admin/api/{version}/orders.json?status=any&since_id=&limit=`, later pages
    /// `?limit=&page_info=`. Amounts are decimal strings in the order's `currency`; `created_at`
    /// is ISO 8601 with the shop's UTC offset.
    /// Reference: Order resource (`id`, `name`, `created_at`, `line_items[]` with `id`, `sku`,
    /// `quantity`, `price`; `shipping_lines[].price`, `shipping_address` with `zip`,
    /// `province_code`, `country_code`, `city`; `fulfillment_status`, `cancelled_at`;
    /// https://shopify.dev/docs/api/admin-rest/2024-10/resources/order) and paging
    /// (https://shopify.dev/docs/api/admin-rest/usage/pagination).
    public func orders(sinceID: Int64?, pageInfo: String? = nil) async throws -> ShopifyOrdersPage {
        let operation = "orders.list"
        var query = [("limit", String(try pageSize()))]
        if let pageInfo {
            query.append(("page_info", pageInfo))
        } else {
            query.append(("status", "any"))
            if let sinceID { query.append(("since_id", String(sinceID))) }
        }
        let response = try await send(.get, "orders.json", query: query, operation: operation)
        let orders = try decode(ShopifyWire.OrdersResponse.self, response, operation: operation).orders.map(order)
        let next = try Self.nextPageInfo(linkHeader: response.header("Link"), operation: operation)
        return ShopifyOrdersPage(orders: orders, nextPageInfo: next)
    }

    // MARK: Shipping zones

    /// The shop's shipping zones with their countries and flat rates.
    ///
    /// `GET /admin/api/{version}/shipping_zones.json`; answers `{"shipping_zones":[…]}`, each
    /// with `id`, `name`, `countries[]` (`code`, `provinces[].code`), `weight_based_shipping_rates[]`
    /// (`name`, `price` as a string, `weight_low`/`weight_high` in kilograms),
    /// `price_based_shipping_rates[]` (`name`, `price`, `min_order_subtotal`/`max_order_subtotal`
    /// as strings or null) and `carrier_shipping_rate_providers[]`. Prices are in the shop's currency.
    /// Reference: ShippingZone resource (https://shopify.dev/docs/api/admin-rest/2024-10/resources/shippingzone).
    public func shippingZones() async throws -> [ShopifyShippingZone] {
        let operation = "shipping_zones.list"
        let response = try await send(.get, "shipping_zones.json", operation: operation)
        return try decode(ShopifyWire.ShippingZonesResponse.self, response, operation: operation).shipping_zones.map { zone in
            let field = "shipping zone \(zone.id)"
            func grams(_ kilograms: Double?) -> Int? { kilograms.map { Int(($0 * 1000).rounded()) } }
            return ShopifyShippingZone(
                id: zone.id, name: zone.name ?? "",
                countries: (zone.countries ?? []).map { .init(code: $0.code, provinceCodes: ($0.provinces ?? []).compactMap(\.code)) },
                weightRates: try (zone.weight_based_shipping_rates ?? []).map { rate in
                    ShopifyShippingZone.WeightRate(name: rate.name ?? "", price: try money(rate.price, configuration.currency, field: field),
                                                   lowGrams: grams(rate.weight_low) ?? 0, highGrams: grams(rate.weight_high))
                },
                priceRates: try (zone.price_based_shipping_rates ?? []).map { rate in
                    ShopifyShippingZone.PriceRate(
                        name: rate.name ?? "", price: try money(rate.price, configuration.currency, field: field),
                        minSubtotal: try rate.min_order_subtotal.map { try money($0, configuration.currency, field: field) },
                        maxSubtotal: try rate.max_order_subtotal.map { try money($0, configuration.currency, field: field) })
                },
                carrierRateProviders: zone.carrier_shipping_rate_providers?.count ?? 0)
        }
    }

    // MARK: Wire values

    private func pageSize() throws -> Int {
        guard (1...Self.maxPageSize).contains(configuration.pageSize) else {
            throw MarketplaceError.refused("Shopify page size must be 1…\(Self.maxPageSize), not \(configuration.pageSize)")
        }
        return configuration.pageSize
    }

    private func variant(_ wire: ShopifyWire.Variant, productTitle: String?) throws -> ShopifyVariant {
        ShopifyVariant(variantID: wire.id, productID: wire.product_id, productTitle: productTitle, sku: wire.sku,
                       price: try money(wire.price, configuration.currency, field: "price of variant \(wire.id)"),
                       inventoryQuantity: wire.inventory_quantity, inventoryItemID: wire.inventory_item_id, barcode: wire.barcode,
                       grams: wire.grams, weight: wire.weight, weightUnit: wire.weight_unit)
    }

    private func order(_ wire: ShopifyWire.Order) throws -> ShopifyOrder {
        let currency: Currency
        if let code = wire.currency {
            guard let known = Currency(code: code) else { throw MarketplaceError.malformed("order \(wire.id): unknown currency \(code)") }
            currency = known
        } else {
            currency = configuration.currency
        }
        func time(_ text: String, _ field: String) throws -> Int64 {
            guard let stamp = Timestamp(parsing: text) else { throw MarketplaceError.malformed("order \(wire.id): \(field) is not ISO 8601") }
            return stamp.secondsSinceEpoch * 1000
        }
        let lines = try wire.line_items.map { line in
            ShopifyLineItem(id: line.id, variantID: line.variant_id, sku: line.sku, quantity: line.quantity,
                            price: try money(line.price, currency, field: "price of line \(line.id) of order \(wire.id)"),
                            fulfillmentStatus: line.fulfillment_status)
        }
        let shipping = try (wire.shipping_lines ?? []).reduce(Money.zero(currency)) { sum, line in
            sum + (try money(line.price, currency, field: "shipping of order \(wire.id)"))
        }
        return ShopifyOrder(id: wire.id, name: wire.name, createdAt: try time(wire.created_at, "created_at"), currency: currency,
                            lineItems: lines, shipping: shipping,
                            shippingAddress: wire.shipping_address.map {
                                ShopifyAddress(zip: $0.zip, provinceCode: $0.province_code, countryCode: $0.country_code, city: $0.city)
                            },
                            fulfillmentStatus: wire.fulfillment_status,
                            cancelledAt: try wire.cancelled_at.map { try time($0, "cancelled_at") })
    }

    private func money(_ decimal: String, _ currency: Currency, field: String) throws -> Money {
        do {
            return try Money(parsing: "\(decimal) \(currency.code)")
        } catch {
            throw MarketplaceError.malformed("\(field): \(error)")
        }
    }

    // MARK: Plumbing

    /// Sends one request through both buckets, records it, and turns a non-2xx status into a
    /// `MarketplaceError`.
    private func send(_ method: HTTPRequest.Method, _ path: String, query: [(String, String)] = [], body: [UInt8] = [],
                      operation: String) async throws -> HTTPResponse {
        var url = configuration.baseURL + "/admin/api/\(configuration.apiVersion)/" + path
        if !query.isEmpty { url += "?" + FormEncoding.encode(query) }
        var headers: [(name: String, value: String)] = [("X-Shopify-Access-Token", accessToken.reveal()), ("Accept", "application/json")]
        if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
        let request = HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: configuration.timeout)

        try await bucket.acquire()
        try await callLimit.acquire()
        let clock = ContinuousClock()
        let started = clock.now
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch let error as HTTPTransportError {
            callLimit.finish(header: nil)
            // Refused before sending: nothing to meter. Sent without an answer: still a call.
            switch error {
            case .timedOut, .connection, .responseTooLarge:
                await recorder.record(MeteredCall(provider: Self.provider, operation: operation, cost: configuration.callPrice, status: nil))
            case .hostNotAllowed, .invalidURL: break
            }
            logger.debug("Shopify call failed", metadata: ["operation": "\(operation)", "error": "\(error)"])
            throw MarketplaceError(error)
        } catch {
            callLimit.finish(header: nil)
            throw error
        }
        let callLimitHeader = response.header(Self.callLimitHeader)
        callLimit.finish(header: callLimitHeader)
        await recorder.record(MeteredCall(provider: Self.provider, operation: operation, cost: configuration.callPrice, status: response.status))
        logger.debug("Shopify call", metadata: ["operation": "\(operation)", "status": "\(response.status)",
                                                "call_limit": "\(callLimitHeader ?? "-")", "elapsed": "\(clock.now - started)"])
        try Self.check(response, operation: operation)
        return response
    }

    static let callLimitHeader = "X-Shopify-Shop-Api-Call-Limit"

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

    /// `page_info` of the `rel="next"` URL in the `Link` header; nil when there is no next page.
    static func nextPageInfo(linkHeader: String?, operation: String) throws -> String? {
        guard let linkHeader else { return nil }
        for link in linkHeader.components(separatedBy: ",") {
            let parts = link.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let target = parts.first, target.hasPrefix("<"), target.hasSuffix(">"),
                  parts.dropFirst().contains(where: { $0 == "rel=\"next\"" || $0 == "rel=next" }) else { continue }
            guard let pageInfo = EbayClient.queryValue("page_info", in: String(target.dropFirst().dropLast())), !pageInfo.isEmpty else {
                throw MarketplaceError.malformed("\(operation): the Link header's next URL has no page_info")
            }
            return pageInfo
        }
        return nil
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse, operation: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(response.body))
        } catch {
            throw MarketplaceError.malformed("\(operation): the body is not the documented JSON (\(EbayClient.decodingSummary(error)))")
        }
    }
}
