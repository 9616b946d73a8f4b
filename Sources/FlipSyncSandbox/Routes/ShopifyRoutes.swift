import FlipSyncCore
import Foundation
import Hummingbird
import Synchronization

/// Shopify's routes, for faults.
extension SandboxRoute {
    public static let shopifyProducts = SandboxRoute("shopify.products")
    /// `GET` and `PUT variants/{id}.json`.
    public static let shopifyVariants = SandboxRoute("shopify.variants")
    public static let shopifyLocations = SandboxRoute("shopify.locations")
    public static let shopifyInventoryLevels = SandboxRoute("shopify.inventory_levels")
    public static let shopifyInventoryItems = SandboxRoute("shopify.inventory_items")
    public static let shopifyOrders = SandboxRoute("shopify.orders")
    public static let shopifyShippingZones = SandboxRoute("shopify.shipping_zones")
}

/// The sandbox shop's fixed facts.
public enum SandboxShopify {
    /// The one API version served: `/shopify/admin/api/2024-10/…`.
    public static let apiVersion = "2024-10"
    /// The shop's only location (the warehouse every channel ships from).
    public static let locationID: Int64 = 68_000_000_001
    /// Shopify's bucket on standard plans: 40 calls, leaking 2 a second.
    public static let bucketCapacity = 40
    public static let leakPerSecond = 2
    /// The shop's UTC offset in `created_at` (New York in summer), fixed.
    public static let utcOffsetSeconds = -4 * 3600
}

/// Shopify's REST Admin API (version 2024-10) under `/shopify/admin/api/2024-10`, over
/// `SandboxState`'s Shopify listings, products, costs and orders.
///
/// - `GET products.json` (`limit`, `status`, `page_info`), `GET`/`PUT variants/{id}.json`
///   (price), `GET locations.json`, `POST inventory_levels/set.json`,
///   `GET inventory_items.json?ids=` (`cost` is the catalog's cost of the SKU; at most
///   `limit` items, no further pages), `GET orders.json` (`status`, `since_id`,
///   `created_at_min`, `limit`, `page_info`), `GET shipping_zones.json` (the fixed zones of
///   `SandboxShippingPolicies`).
/// - Paging: a `Link: <…page_info=…>; rel="next"` header when more records follow; a request
///   with `page_info` may carry only `limit` (as on Shopify). Results are in id order.
/// - Auth: `X-Shopify-Access-Token` must equal `state.shopifyAccessToken`, else 401 with
///   Shopify's `{"errors":"[API] Invalid API key or access token …"}`.
/// - Rate limit: a real leaky bucket (40 calls, leaking 2/s on the state's clock) for the
///   shop; every authorised response carries `X-Shopify-Shop-Api-Call-Limit: used/40`, and a
///   call into a full bucket is answered 429 with `Retry-After` (fractional seconds).
/// - Errors use Shopify's bodies: `{"errors":"Not Found"}`, or per field
///   `{"errors":{"price":["must be greater than or equal to 0"]}}` (422).
/// - Faults, in eBay's order: latency, then `expireTokens` (the token is refused: 401), then
///   `status` (`{"errors": message}`; 429 with `Retry-After: N.0`), then `redirectTo`, then
///   `malformed` (a successful body cut in half). `errorId` is not used: Shopify has none.
struct ShopifyRoutes: Sendable {
    let state: SandboxState
    let bucket: ShopifyCallBucket

    init(state: SandboxState) {
        self.state = state
        bucket = ShopifyCallBucket(capacity: SandboxShopify.bucketCapacity, leakPerSecond: SandboxShopify.leakPerSecond,
                                   clock: state.clock)
    }

    static let accessTokenHeader = "X-Shopify-Access-Token"
    static let callLimitHeader = "X-Shopify-Shop-Api-Call-Limit"
    static let linkHeader = "Link"
    static let basePath = "/shopify/admin/api/\(SandboxShopify.apiVersion)"

    func register(on router: Router<BasicRequestContext>) {
        let api = router.group(RouterPath(String(Self.basePath.dropFirst())))
        api.get("products.json") { request, _ in try await self.handle(.shopifyProducts, request) { try self.products(request) } }
        api.get("variants/{id}.json") { request, context in
            try await self.handle(.shopifyVariants, request) { self.variant(id: context.parameters.get("id")) }
        }
        api.put("variants/{id}.json") { request, context in
            try await self.handle(.shopifyVariants, request) {
                self.updateVariant(id: context.parameters.get("id"), body: try await JSON.body(request))
            }
        }
        api.get("locations.json") { request, _ in try await self.handle(.shopifyLocations, request) { Self.locations() } }
        api.post("inventory_levels/set.json") { request, _ in
            try await self.handle(.shopifyInventoryLevels, request) { self.setInventory(body: try await JSON.body(request)) }
        }
        api.get("inventory_items.json") { request, _ in
            try await self.handle(.shopifyInventoryItems, request) { self.inventoryItems(request) }
        }
        api.get("orders.json") { request, _ in try await self.handle(.shopifyOrders, request) { try self.orders(request) } }
        api.get("shipping_zones.json") { request, _ in
            try await self.handle(.shopifyShippingZones, request) { Reply(body: ["shipping_zones": SandboxShippingPolicies.shopifyZones]) }
        }
    }

    /// What a handler answers; `handle` serialises it and adds the call-limit header.
    struct Reply {
        var status: HTTPResponse.Status = .ok
        var body: Any
        var headers: HTTPFields = [:]

        static func errors(_ status: HTTPResponse.Status, _ errors: Any) -> Reply { Reply(status: status, body: ["errors": errors]) }
        static var notFound: Reply { .errors(.notFound, "Not Found") }
    }

    // MARK: Faults, auth and the bucket

    private func handle(_ route: SandboxRoute, _ request: Request, _ work: () async throws -> Reply) async throws -> Response {
        var malformed = false
        if let fault = state.begin(route) {
            if let latency = fault.latencyMilliseconds, latency > 0 { await state.hold(route, milliseconds: latency) }
            if fault.expireTokens == true { return Self.unauthorized }
            if let status = fault.status { return Self.faultResponse(status: status, fault: fault) }
            if let location = fault.redirectTo { return Response(status: .found, headers: [.location: location]) }
            malformed = fault.malformed == true
        }
        guard request.headers[named: Self.accessTokenHeader] == state.shopifyAccessToken else { return Self.unauthorized }
        let admission = bucket.admit()
        guard admission.admitted else {
            var headers: HTTPFields = [.retryAfter: admission.retryAfter]
            headers[named: Self.callLimitHeader] = admission.callLimit
            return JSON.response(["errors": Self.throttledMessage], status: .tooManyRequests, headers: headers)
        }
        let reply = try await work()
        var headers = reply.headers
        headers[named: Self.callLimitHeader] = admission.callLimit
        let bytes = Array((try? JSONSerialization.data(withJSONObject: reply.body, options: [.sortedKeys])) ?? Data("{}".utf8))
        if malformed, (200..<300).contains(reply.status.code) { return JSON.raw(Array(bytes.prefix(bytes.count / 2)), headers: headers) }
        return JSON.raw(bytes, status: reply.status, headers: headers)
    }

    static let throttledMessage = "Exceeded \(SandboxShopify.leakPerSecond) calls per second for api client. "
        + "Reduce request rates to resume uninterrupted service."

    static var unauthorized: Response {
        JSON.response(["errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"], status: .unauthorized)
    }

    static func faultResponse(status: Int, fault: SandboxFault) -> Response {
        if status == 429 {
            var headers: HTTPFields = [:]
            headers[named: Self.callLimitHeader] = "\(SandboxShopify.bucketCapacity)/\(SandboxShopify.bucketCapacity)"
            if let seconds = fault.retryAfterSeconds { headers[.retryAfter] = "\(seconds).0" }
            return JSON.response(["errors": fault.message ?? throttledMessage], status: .tooManyRequests, headers: headers)
        }
        let fallback = status >= 500 ? "Internal Server Error" : status == 404 ? "Not Found" : "Bad Request"
        return JSON.response(["errors": fault.message ?? fallback], status: HTTPResponse.Status(code: status))
    }

    // MARK: Products and variants

    func products(_ request: Request) throws -> Reply {
        let query = request.uri.queryParameters
        guard let limit = Self.limit(query) else { return Self.badLimit }
        var afterID: Int64 = 0
        var status = query["status"].map(String.init)
        if let token = query["page_info"] {
            guard query.count == (query["limit"] == nil ? 1 : 2), let cursor = Cursor(token) else { return Self.badPageInfo }
            afterID = cursor.lastID
            status = cursor.status
        }
        // Every sandbox product is active.
        let listings = status == nil || status == "active" ? state.channelListings(.shopify) : []
        let products = listings.compactMap { listing in Int64(listing.productID ?? "").map { ($0, listing) } }
            .filter { $0.0 > afterID }.sorted { $0.0 < $1.0 }
        let page = products.prefix(limit)
        var reply = Reply(body: ["products": page.map { id, listing -> [String: Any] in
            ["id": id, "title": state.product(sku: listing.sku)?.title ?? listing.sku, "status": "active",
             "variants": [variantJSON(listing)]]
        }])
        if products.count > limit, let last = page.last {
            reply.headers[named: Self.linkHeader] = next(request, "products.json", limit, Cursor(lastID: last.0, status: status))
        }
        return reply
    }

    func variant(id: String?) -> Reply {
        guard let listing = shopifyListing(variantID: id) else { return .notFound }
        return Reply(body: ["variant": variantJSON(listing)])
    }

    private struct VariantUpdate: Decodable {
        struct Fields: Decodable { var id: Int64?; var price: String? }
        var variant: Fields
    }

    func updateVariant(id: String?, body: [UInt8]) -> Reply {
        guard let listing = shopifyListing(variantID: id) else { return .notFound }
        guard let update = JSON.decode(VariantUpdate.self, body) else {
            return .errors(.badRequest, ["variant": "Required parameter missing or invalid"])
        }
        if let bodyID = update.variant.id, String(bodyID) != listing.listingID { return .notFound }
        if let text = update.variant.price {
            guard let price = try? Money(parsing: "\(text) USD", allowNegative: true) else {
                return .errors(.unprocessableContent, ["price": ["is not a number"]])
            }
            guard price.micros >= 0 else { return .errors(.unprocessableContent, ["price": ["must be greater than or equal to 0"]]) }
            guard price.micros % 10_000 == 0 else {
                return .errors(.unprocessableContent, ["price": ["must have at most two decimal places"]])
            }
            state.applyChannel(.shopify, sku: listing.sku, priceMicros: price.micros, quantity: nil)
        }
        guard let updated = state.channelListing(.shopify, sku: listing.sku) else { return .notFound }
        return Reply(body: ["variant": variantJSON(updated)])
    }

    private func shopifyListing(variantID: String?) -> SandboxChannelListing? {
        guard let variantID else { return nil }
        return state.channelListings(.shopify).first { $0.listingID == variantID }
    }

    private func variantJSON(_ listing: SandboxChannelListing) -> [String: Any] {
        let product = state.product(sku: listing.sku)
        let ounces = product?.weightOunces ?? 0
        return [
            "id": Int64(listing.listingID) ?? 0, "product_id": Int64(listing.productID ?? "") ?? 0, "title": "Default Title",
            "sku": listing.sku, "price": Self.decimal(listing.priceMicros), "inventory_quantity": listing.quantity,
            "inventory_item_id": Int64(listing.inventoryItemID ?? "") ?? 0, "inventory_management": "shopify",
            "barcode": product?.gtin ?? NSNull(),
            // 1 oz = 28.349523125 g, rounded to the gram.
            "grams": (Int64(ounces) * 28_349_523 + 500_000) / 1_000_000, "weight": ounces, "weight_unit": "oz",
        ]
    }

    // MARK: Locations and inventory

    static func locations() -> Reply {
        let warehouse = SandboxAddress.warehouse
        return Reply(body: ["locations": [[
            "id": SandboxShopify.locationID, "name": "Sandbox Warehouse", "address1": "450 W 33rd St", "city": warehouse.city,
            "zip": warehouse.postalCode, "province_code": warehouse.region, "country_code": warehouse.country, "active": true,
            "legacy": false,
        ] as [String: Any]]])
    }

    private struct InventorySet: Decodable {
        var location_id: Int64?
        var inventory_item_id: Int64?
        var available: Int?
    }

    func setInventory(body: [UInt8]) -> Reply {
        guard let request = JSON.decode(InventorySet.self, body) else {
            return .errors(.badRequest, ["inventory_item_id": "Required parameter missing or invalid"])
        }
        for (name, present) in [("location_id", request.location_id != nil), ("inventory_item_id", request.inventory_item_id != nil),
                                ("available", request.available != nil)] where !present {
            return .errors(.badRequest, [name: "Required parameter missing or invalid"])
        }
        guard request.location_id == SandboxShopify.locationID,
              let listing = state.channelListings(.shopify).first(where: { $0.inventoryItemID == String(request.inventory_item_id!) })
        else { return .notFound }
        // Shopify would accept a negative level; the sandbox's listings never hold one.
        guard let available = request.available, available >= 0 else {
            return .errors(.unprocessableContent, ["available": ["must be greater than or equal to 0"]])
        }
        state.applyChannel(.shopify, sku: listing.sku, priceMicros: nil, quantity: available)
        return Reply(body: ["inventory_level": [
            "inventory_item_id": request.inventory_item_id!, "location_id": SandboxShopify.locationID, "available": available,
            "updated_at": Self.shopTime(state.clock.wallMilliseconds()),
        ] as [String: Any]])
    }

    func inventoryItems(_ request: Request) -> Reply {
        let query = request.uri.queryParameters
        guard let limit = Self.limit(query) else { return Self.badLimit }
        guard let text = query["ids"], !text.isEmpty else { return .errors(.badRequest, ["ids": "Required parameter missing or invalid"]) }
        let ids = text.split(separator: ",").map { Int64($0) }
        guard ids.allSatisfy({ $0 != nil }) else { return .errors(.badRequest, ["ids": "Required parameter missing or invalid"]) }
        guard ids.count <= 100 else { return .errors(.unprocessableContent, ["ids": ["must have at most 100 ids"]]) }
        let wanted = Set(ids.compactMap { $0 })
        let items = state.channelListings(.shopify).compactMap { listing -> (Int64, SandboxChannelListing)? in
            guard let id = Int64(listing.inventoryItemID ?? ""), wanted.contains(id) else { return nil }
            return (id, listing)
        }.sorted { $0.0 < $1.0 }.prefix(limit)
        return Reply(body: ["inventory_items": items.map { id, listing -> [String: Any] in
            let cost: Any = state.listing(sku: listing.sku).map { Self.decimal($0.costMicros) } ?? NSNull()
            return ["id": id, "sku": listing.sku, "cost": cost, "tracked": true, "requires_shipping": true]
        }])
    }

    // MARK: Orders

    func orders(_ request: Request) throws -> Reply {
        let query = request.uri.queryParameters
        guard let limit = Self.limit(query) else { return Self.badLimit }
        var cursor = Cursor(lastID: 0, status: query["status"].map(String.init) ?? "open", createdAtMin: nil)
        if let token = query["page_info"] {
            guard query.count == (query["limit"] == nil ? 1 : 2), let decoded = Cursor(token) else { return Self.badPageInfo }
            cursor = decoded
        } else {
            if let since = query["since_id"] {
                guard let id = Int64(since), id >= 0 else { return .errors(.badRequest, ["since_id": "Required parameter missing or invalid"]) }
                cursor.lastID = id
            }
            if let min = query["created_at_min"] {
                guard let stamp = Timestamp(parsing: String(min)) else {
                    return .errors(.badRequest, ["created_at_min": "Required parameter missing or invalid"])
                }
                cursor.createdAtMin = stamp.secondsSinceEpoch
            }
        }
        guard ["open", "closed", "cancelled", "any"].contains(cursor.status) else {
            return .errors(.badRequest, ["status": "Required parameter missing or invalid"])
        }
        state.arriveDueOrders()
        let all = state.orders.filter { $0.marketplace == .shopify }
        // The sandbox's orders are never fulfilled or cancelled: all are open.
        let matching = cursor.status == "open" || cursor.status == "any"
            ? all.enumerated().compactMap { index, order in Int64(order.orderID).map { ($0, index + 1, order) } }
            : []
        let selected = matching.filter { id, _, order in
            id > cursor.lastID && cursor.createdAtMin.map { order.placedAtMilliseconds >= $0 * 1000 } ?? true
        }.sorted { $0.0 < $1.0 }
        let page = selected.prefix(limit)
        var reply = Reply(body: ["orders": page.map { id, number, order in orderJSON(id: id, number: number, order) }])
        if selected.count > limit, let last = page.last {
            var nextCursor = cursor
            nextCursor.lastID = last.0
            reply.headers[named: Self.linkHeader] = next(request, "orders.json", limit, nextCursor)
        }
        return reply
    }

    private func orderJSON(id: Int64, number: Int, _ order: SandboxOrder) -> [String: Any] {
        let listing = state.channelListing(.shopify, sku: order.sku)
        let unitMicros = order.itemTotalMicros / Int64(max(order.quantity, 1))
        let line: [String: Any] = [
            "id": id * 10 + 1, "variant_id": Int64(listing?.listingID ?? "") ?? NSNull(),
            "product_id": Int64(listing?.productID ?? "") ?? NSNull(), "sku": order.sku,
            "title": state.product(sku: order.sku)?.title ?? order.sku, "quantity": order.quantity,
            "price": Self.decimal(unitMicros), "fulfillment_status": NSNull(),
        ]
        return [
            "id": id, "name": "#\(1000 + number)", "order_number": 1000 + number, "created_at": Self.shopTime(order.placedAtMilliseconds),
            "currency": "USD", "financial_status": "paid", "fulfillment_status": NSNull(), "cancelled_at": NSNull(),
            "subtotal_price": Self.decimal(order.itemTotalMicros),
            "total_price": Self.decimal(order.itemTotalMicros + order.shippingPaidMicros),
            "line_items": [line],
            "shipping_lines": [["id": id * 10 + 2, "title": "Standard Shipping", "price": Self.decimal(order.shippingPaidMicros)]],
            "shipping_address": ["city": order.shipTo.city, "zip": order.shipTo.postalCode, "province_code": order.shipTo.region,
                                 "country_code": order.shipTo.country],
        ]
    }

    // MARK: Paging and values

    /// What `page_info` carries: where the last page ended and the first request's filters.
    /// Opaque to clients (base64url of JSON, like Shopify's).
    struct Cursor: Codable {
        var lastID: Int64
        var status: String?
        var createdAtMin: Int64?

        init(lastID: Int64, status: String?, createdAtMin: Int64? = nil) {
            self.lastID = lastID
            self.status = status
            self.createdAtMin = createdAtMin
        }

        init?(_ token: Substring) {
            var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
            guard let data = Data(base64Encoded: base64), let cursor = try? JSONDecoder().decode(Cursor.self, from: data) else { return nil }
            self = cursor
        }

        var token: String {
            let data = (try? JSONEncoder().encode(self)) ?? Data()
            return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
    }

    private func next(_ request: Request, _ resource: String, _ limit: Int, _ cursor: Cursor) -> String {
        let authority = request.head.authority ?? "127.0.0.1"
        return "<http://\(authority)\(Self.basePath)/\(resource)?limit=\(limit)&page_info=\(cursor.token)>; rel=\"next\""
    }

    /// `limit`: 50 by default, at most 250; nil when out of range.
    static func limit(_ query: Parameters) -> Int? {
        guard let text = query["limit"] else { return 50 }
        guard let value = Int(text), (1...250).contains(value) else { return nil }
        return value
    }

    static var badLimit: Reply { .errors(.badRequest, ["limit": "must be between 1 and 250"]) }
    static var badPageInfo: Reply { .errors(.badRequest, ["page_info": "Invalid value, or sent with parameters other than limit."]) }

    /// Micro-units as Shopify's decimal string, two places: `12.99`.
    static func decimal(_ micros: Int64) -> String {
        let cents = micros / 10_000
        let fraction = String(cents.magnitude % 100)
        return "\(cents < 0 ? "-" : "")\(cents.magnitude / 100).\(fraction.count == 1 ? "0" + fraction : fraction)"
    }

    /// ISO 8601 in the shop's offset: `2024-10-01T08:30:00-04:00`.
    static func shopTime(_ milliseconds: Int64) -> String {
        let seconds = Timestamp(milliseconds: milliseconds).secondsSinceEpoch
        let offset = SandboxShopify.utcOffsetSeconds
        let local = CivilDateTime(utcSeconds: seconds + Int64(offset))
        let hours = abs(offset) / 3600, minutes = abs(offset) % 3600 / 60
        return local.iso8601 + (offset < 0 ? "-" : "+") + (hours < 10 ? "0" : "") + "\(hours):" + (minutes < 10 ? "0" : "") + "\(minutes)"
    }
}

/// The shop's leaky bucket: `capacity` calls, leaking `leakPerSecond` on the sandbox's clock.
final class ShopifyCallBucket: Sendable {
    struct Admission {
        var admitted: Bool
        /// `used/capacity` after this call (full when refused).
        var callLimit: String
        /// Seconds until one call fits, with one decimal (`0.5`), when refused.
        var retryAfter: String
    }

    private struct State {
        var level: Double = 0
        var last: Int64
    }

    private let state: Mutex<State>
    private let clock: any SchedulerClock
    let capacity: Int
    let leakPerSecond: Int

    init(capacity: Int, leakPerSecond: Int, clock: any SchedulerClock) {
        self.capacity = capacity
        self.leakPerSecond = leakPerSecond
        self.clock = clock
        state = Mutex(State(last: clock.monotonicMilliseconds()))
    }

    /// Adds a call to the bucket if it fits.
    func admit() -> Admission {
        let now = clock.monotonicMilliseconds()
        return state.withLock { s in
            s.level = max(0, s.level - Double(now - s.last) / 1000 * Double(leakPerSecond))
            s.last = now
            if s.level + 1 <= Double(capacity) {
                s.level += 1
                return Admission(admitted: true, callLimit: "\(Int(s.level.rounded(.up)))/\(capacity)", retryAfter: "")
            }
            let tenths = Int(((s.level + 1 - Double(capacity)) / Double(leakPerSecond) * 10).rounded(.up))
            return Admission(admitted: false, callLimit: "\(capacity)/\(capacity)", retryAfter: "\(tenths / 10).\(tenths % 10)")
        }
    }
}

extension HTTPFields {
    /// A header by name, for the ones `HTTPField.Name` has no constant for.
    subscript(named name: String) -> String? {
        get { self[.init(name)!] }
        set { self[.init(name)!] = newValue }
    }
}
