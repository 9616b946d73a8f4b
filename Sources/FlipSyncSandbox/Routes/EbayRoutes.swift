import FlipSyncCore
import Foundation
import Hummingbird

/// eBay's REST endpoints, with eBay's paths, JSON shapes and error bodies, over `SandboxState`.
///
/// Shapes follow eBay's documentation: the OAuth token endpoint (client-credentials and
/// refresh-token grants), Browse `item_summary/search` (`SearchPagedCollection` of
/// `ItemSummary`) and `getItems` (`Items` of `CoreItem`), Inventory `getOffers` (`Offers`), `getInventoryItems` (`InventoryItems`) and
/// `bulkUpdatePriceQuantity` (`BulkPriceQuantityResponse`), and Fulfillment `getOrders`
/// (`OrderSearchPagedCollection` of `Order`). Error ids are the sandbox's own except 1001
/// (invalid access token) and 1100 (insufficient permissions), which are eBay's.
struct EbayRoutes: Sendable {
    let state: SandboxState

    func register(on router: Router<BasicRequestContext>) {
        let ebay = router.group("ebay")
        ebay.post("identity/v1/oauth2/token") { request, _ in try await self.token(request) }
        ebay.get("buy/browse/v1/item_summary/search") { request, _ in await self.search(request) }
        // eBay's path is `item/?item_ids=…`; the router takes it with or without the slash.
        ebay.get("buy/browse/v1/item") { request, _ in await self.getItems(request) }
        ebay.get("sell/inventory/v1/offer") { request, _ in await self.offers(request) }
        ebay.get("sell/inventory/v1/inventory_item") { request, _ in await self.inventoryItems(request) }
        ebay.post("sell/inventory/v1/bulk_update_price_quantity") { request, _ in try await self.bulkUpdate(request) }
        ebay.get("sell/fulfillment/v1/order") { request, _ in await self.orders(request) }
    }

    // MARK: Auth

    /// Checks the bearer token; `needsUser` for the Sell APIs.
    private func authorize(_ request: Request, needsUser: Bool) -> Response? {
        switch state.check(bearer: request.headers[.authorization]) {
        case .valid(let kind):
            if needsUser && kind != .user {
                return JSON.ebayError(status: 403, errorId: 1100, domain: "ACCESS", category: "REQUEST",
                                      message: "Access denied - Insufficient permissions to fulfill the request.")
            }
            return nil
        case .missing, .invalid, .expired:
            return JSON.ebayError(status: 401, errorId: 1001, domain: "OAuth", category: "REQUEST", message: "Invalid access token")
        }
    }

    // MARK: Token

    func token(_ request: Request) async throws -> Response {
        let body = try await JSON.body(request)
        let form = Self.parseForm(String(decoding: body, as: UTF8.self))
        func oauthError(_ status: HTTPResponse.Status, _ error: String, _ description: String) -> Response {
            JSON.response(["error": error, "error_description": description], status: status)
        }
        guard let basic = request.headers[.authorization], basic.hasPrefix("Basic "),
              let decoded = Data(base64Encoded: String(basic.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
              let colon = decoded.firstIndex(of: ":"),
              decoded[..<colon] == state.credentials.clientID, decoded[decoded.index(after: colon)...] == state.credentials.clientSecret
        else { return oauthError(.unauthorized, "invalid_client", "client authentication failed") }
        let kind: SandboxState.IssuedToken.Kind
        switch form["grant_type"] {
        case "client_credentials":
            kind = .application
        case "refresh_token":
            guard form["refresh_token"] == state.credentials.refreshToken else {
                return oauthError(.badRequest, "invalid_grant",
                                  "the provided authorization refresh token is invalid or was issued to another client")
            }
            kind = .user
        default:
            return oauthError(.badRequest, "unsupported_grant_type", "grant type in request is not supported by the authorization server")
        }
        let token = state.issueToken(kind: kind)
        return JSON.response(["access_token": token, "expires_in": Int(state.tokenLifetime.seconds),
                              "token_type": kind == .user ? "User Access Token" : "Application Access Token"])
    }

    static func parseForm(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            out[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return out
    }

    // MARK: Browse

    func search(_ request: Request) async -> Response {
        if let denied = authorize(request, needsUser: false) { return denied }
        let query = request.uri.queryParameters
        let gtin = query["gtin"].map(String.init)
        let keywords = query["q"].map { String($0).lowercased().split(separator: " ").map(String.init) }
        guard gtin != nil || keywords != nil else {
            return JSON.ebayError(status: 400, errorId: 12001, domain: "API_BROWSE",
                                  message: "The call must have a valid 'q', 'category_ids', 'epid', 'gtin', or 'charity_ids' query parameter.")
        }
        let limit = query["limit"].map { Int($0) } ?? 50
        let offset = query["offset"].map { Int($0) } ?? 0
        guard let limit, (1...200).contains(limit) else {
            return JSON.ebayError(status: 400, errorId: 12002, domain: "API_BROWSE", message: "The 'limit' value must be between 1 and 200.")
        }
        guard let offset, offset >= 0, offset <= 9_999 else {
            return JSON.ebayError(status: 400, errorId: 12003, domain: "API_BROWSE", message: "The 'offset' value must be between 0 and 9999.")
        }
        var conditionIDs: Set<Int>? = nil
        if let filter = query["filter"] {
            // Only `conditionIds:{a|b}` is understood; other filters are refused, not ignored.
            guard filter.hasPrefix("conditionIds:{"), filter.hasSuffix("}") else {
                return JSON.ebayError(status: 400, errorId: 12004, domain: "API_BROWSE", message: "The sandbox supports only the conditionIds filter.")
            }
            let ids = filter.dropFirst("conditionIds:{".count).dropLast().split(separator: "|").map { Int($0) }
            guard !ids.isEmpty, ids.allSatisfy({ $0 != nil }) else {
                return JSON.ebayError(status: 400, errorId: 12004, domain: "API_BROWSE", message: "The conditionIds filter is not valid.")
            }
            conditionIDs = Set(ids.compactMap { $0 })
        }
        var matches = state.searchCompetitors(gtin: gtin, keywords: keywords, conditionIDs: conditionIDs)
        if query["sort"] == "price" {
            matches.sort { ($0.landedMicros, $0.itemId) < ($1.landedMicros, $1.itemId) }
        }
        let page = matches.dropFirst(offset).prefix(limit)
        let base = "/ebay/buy/browse/v1/item_summary/search"
        var body: [String: Any] = ["href": "\(base)?limit=\(limit)&offset=\(offset)", "total": matches.count,
                                   "limit": limit, "offset": offset]
        if offset + limit < matches.count { body["next"] = "\(base)?limit=\(limit)&offset=\(offset + limit)" }
        if offset > 0 { body["prev"] = "\(base)?limit=\(limit)&offset=\(max(0, offset - limit))" }
        if !page.isEmpty {
            body["itemSummaries"] = page.map { Self.itemJSON($0) }
        }
        return JSON.response(body)
    }

    /// A competitor listing as search's `ItemSummary` and getItems' `CoreItem` show it.
    static func itemJSON(_ offer: SandboxCompetitorOffer) -> [String: Any] {
        var item: [String: Any] = [
            "itemId": offer.itemId, "title": offer.title, "price": JSON.amount(offer.priceMicros, offer.currency),
            "condition": offer.condition.text, "conditionId": String(offer.condition.id),
            "buyingOptions": ["FIXED_PRICE"],
            "seller": ["username": offer.sellerUsername, "feedbackPercentage": offer.feedbackPercentage,
                       "feedbackScore": offer.feedbackScore],
            "shippingOptions": [["shippingCostType": "FIXED", "shippingCost": JSON.amount(offer.shippingMicros, offer.currency)]],
        ]
        if let gtin = offer.gtin { item["gtin"] = gtin }
        return item
    }

    /// Browse `getItems`: `item_ids` (1–20, comma-separated) → `Items` (`items`: each still
    /// listed item as a `CoreItem` with the fields search's `ItemSummary` has, `total`); an id
    /// not found or ended is left out, with a warning (errorId 11006) naming it.
    func getItems(_ request: Request) async -> Response {
        if let denied = authorize(request, needsUser: false) { return denied }
        let ids = (request.uri.queryParameters["item_ids"].map(String.init) ?? "").split(separator: ",").map(String.init)
        guard !ids.isEmpty else {
            return JSON.ebayError(status: 400, errorId: 11003, domain: "API_BROWSE", message: "The 'item_ids' query parameter is required.")
        }
        guard ids.count <= 20 else {
            return JSON.ebayError(status: 400, errorId: 11004, domain: "API_BROWSE", message: "The maximum number of item IDs is 20.")
        }
        var items: [[String: Any]] = [], missing: [String] = []
        for id in ids {
            guard let offer = state.competitorItem(id: id) else { missing.append(id); continue }
            items.append(Self.itemJSON(offer))
        }
        var body: [String: Any] = ["total": items.count, "items": items]
        if !missing.isEmpty {
            body["warnings"] = missing.map { id -> [String: Any] in
                ["errorId": 11006, "domain": "API_BROWSE", "category": "REQUEST",
                 "message": "The item ID \(id) could not be found or the item is no longer available.",
                 "parameters": [["name": "itemId", "value": id]]]
            }
        }
        return JSON.response(body)
    }

    // MARK: Inventory

    func offers(_ request: Request) async -> Response {
        if let denied = authorize(request, needsUser: true) { return denied }
        guard let sku = request.uri.queryParameters["sku"].map(String.init), !sku.isEmpty else {
            return JSON.ebayError(status: 400, errorId: 25707, domain: "API_INVENTORY", message: "The 'sku' query parameter is required.")
        }
        guard let listing = state.listing(sku: sku) else {
            return JSON.ebayError(status: 404, errorId: 25713, domain: "API_INVENTORY", message: "This Offer is not available.")
        }
        let offer: [String: Any] = [
            "offerId": listing.offerId, "sku": listing.sku, "marketplaceId": "EBAY_US", "format": "FIXED_PRICE",
            "availableQuantity": listing.quantity, "pricingSummary": ["price": JSON.amount(listing.priceMicros, listing.currency)],
            "listingPolicies": ["fulfillmentPolicyId": SandboxShippingPolicies.ebayPolicy(for: state.product(sku: sku)).id, "shippingCostOverrides": state.product(sku: sku).map { product in
                [["priority": 1, "shippingServiceType": "DOMESTIC", "shippingCost": JSON.amount(product.shippingChargedMicros, listing.currency)]]
            } ?? []],
            "status": "PUBLISHED", "listing": ["listingId": String(110_000_000_000 + (Int64(listing.offerId) ?? 0)), "listingStatus": "ACTIVE"],
        ]
        return JSON.response(["href": "/ebay/sell/inventory/v1/offer?sku=\(sku)", "limit": 25, "size": 1, "total": 1, "offers": [offer]])
    }

    func inventoryItems(_ request: Request) async -> Response {
        if let denied = authorize(request, needsUser: true) { return denied }
        let query = request.uri.queryParameters
        guard let limit = query["limit"].map({ Int($0) }) ?? 25, (1...200).contains(limit),
              let offset = query["offset"].map({ Int($0) }) ?? 0, offset >= 0 else {
            return JSON.ebayError(status: 400, errorId: 25709, domain: "API_INVENTORY", message: "Invalid value for limit or offset.")
        }
        // eBay documents getInventoryItems' `offset` as a page number (0, 1, 2, …), not a record offset.
        let (page, total) = state.listingsPage(start: offset * limit, limit: limit)
        let base = "/ebay/sell/inventory/v1/inventory_item"
        var body: [String: Any] = ["href": "\(base)?limit=\(limit)&offset=\(offset)", "limit": limit, "size": page.count,
                                   "total": total]
        if (offset + 1) * limit < total { body["next"] = "\(base)?limit=\(limit)&offset=\(offset + 1)" }
        if offset > 0 { body["prev"] = "\(base)?limit=\(limit)&offset=\(offset - 1)" }
        body["inventoryItems"] = page.map { listing -> [String: Any] in
            ["sku": listing.sku, "locale": "en_US", "condition": listing.condition.inventoryEnum,
             "product": ["title": listing.title, "aspects": ["Brand": [listing.brand]], "upc": [listing.gtin]],
             "availability": ["shipToLocationAvailability": ["quantity": listing.quantity]]]
        }
        return JSON.response(body)
    }

    private struct BulkRequest: Decodable {
        struct Item: Decodable {
            struct ShipTo: Decodable { var quantity: Int? }
            struct Offer: Decodable {
                struct Amount: Decodable { var value: String; var currency: String }
                var offerId: String?
                var availableQuantity: Int?
                var price: Amount?
            }
            var sku: String?
            var shipToLocationAvailability: ShipTo?
            var offers: [Offer]?
        }
        var requests: [Item]
    }

    func bulkUpdate(_ request: Request) async throws -> Response {
        if let denied = authorize(request, needsUser: true) { return denied }
        guard let body = JSON.decode(BulkRequest.self, try await JSON.body(request)) else {
            return JSON.ebayError(status: 400, errorId: 25709, domain: "API_INVENTORY", message: "The request body is not valid JSON for this call.")
        }
        guard (1...25).contains(body.requests.count) else {
            return JSON.ebayError(status: 400, errorId: 25715, domain: "API_INVENTORY",
                                  message: "A bulkUpdatePriceQuantity call takes between 1 and 25 requests; this one had \(body.requests.count).")
        }
        var results: [[String: Any]] = []
        for item in body.requests {
            func failure(_ status: Int, _ errorId: Int, _ message: String, offerId: String? = nil) -> [String: Any] {
                var result: [String: Any] = ["statusCode": status,
                                             "errors": [["errorId": errorId, "domain": "API_INVENTORY", "category": "REQUEST", "message": message]]]
                result["sku"] = item.sku
                result["offerId"] = offerId
                return result
            }
            guard let sku = item.sku, let listing = state.listing(sku: sku) else {
                results.append(failure(404, 25702, "SKU \(item.sku ?? "(missing)") is not available in the system."))
                continue
            }
            let offer = item.offers?.first
            if let offer, offer.offerId != listing.offerId {
                results.append(failure(400, 25713, "Offer \(offer.offerId ?? "(missing)") does not belong to SKU \(sku).", offerId: offer.offerId))
                continue
            }
            var priceMicros: Int64?
            if let price = offer?.price {
                guard price.currency == listing.currency, let money = try? Money(parsing: "\(price.value) \(price.currency)"),
                      money.micros > 0, money.micros % 10_000 == 0 else {
                    results.append(failure(400, 25604, "Invalid price \(price.value) \(price.currency) for SKU \(sku).", offerId: offer?.offerId))
                    continue
                }
                priceMicros = money.micros
            }
            let quantity = offer?.availableQuantity ?? item.shipToLocationAvailability?.quantity
            if let quantity, quantity < 0 {
                results.append(failure(400, 25604, "Invalid quantity \(quantity) for SKU \(sku).", offerId: offer?.offerId))
                continue
            }
            state.apply(sku: sku, offerId: offer?.offerId, priceMicros: priceMicros, quantity: quantity)
            var result: [String: Any] = ["statusCode": 200, "sku": sku]
            result["offerId"] = offer?.offerId
            results.append(result)
        }
        let allSucceeded = results.allSatisfy { ($0["statusCode"] as? Int) == 200 }
        return JSON.response(["responses": results], status: allSucceeded ? .ok : HTTPResponse.Status(code: 207))
    }

    // MARK: Fulfillment

    /// `GET /sell/fulfillment/v1/order`: our eBay orders, oldest first, filtered by
    /// `creationdate:[from..]` / `creationdate:[from..to]` (inclusive; `lastmodifieddate` is the
    /// same here, since sandbox orders never change), paged by `limit` (1…200, default 50) and
    /// record `offset`. Orders are never fulfilled or cancelled in the sandbox.
    func orders(_ request: Request) async -> Response {
        if let denied = authorize(request, needsUser: true) { return denied }
        let query = request.uri.queryParameters
        guard let limit = query["limit"].map({ Int($0) }) ?? 50, (1...200).contains(limit) else {
            return JSON.ebayError(status: 400, errorId: 30840, domain: "API_FULFILLMENT", message: "The 'limit' value must be between 1 and 200.")
        }
        guard let offset = query["offset"].map({ Int($0) }) ?? 0, offset >= 0 else {
            return JSON.ebayError(status: 400, errorId: 30850, domain: "API_FULFILLMENT", message: "The 'offset' value must be 0 or more.")
        }
        var range = Int64.min...Int64.max
        let filter = query["filter"].map(String.init)
        if let filter {
            guard let parsed = Self.creationRange(filter) else {
                return JSON.ebayError(status: 400, errorId: 30800, domain: "API_FULFILLMENT",
                                      message: "The sandbox supports only creationdate:[from..] or creationdate:[from..to] (or lastmodifieddate) with ISO 8601 UTC timestamps.")
            }
            range = parsed
        }
        state.arriveDueOrders()
        let matches = state.orders.enumerated()
            .filter { $0.element.marketplace == .ebay && range.contains($0.element.placedAtMilliseconds) }
            .sorted { ($0.element.placedAtMilliseconds, $0.offset) < ($1.element.placedAtMilliseconds, $1.offset) }
            .map(\.element)
        let page = matches.dropFirst(offset).prefix(limit)
        func href(_ offset: Int) -> String {
            var parameters = filter.map { "filter=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")&" } ?? ""
            parameters += "limit=\(limit)&offset=\(offset)"
            return "/ebay/sell/fulfillment/v1/order?" + parameters
        }
        var body: [String: Any] = ["href": href(offset), "total": matches.count, "limit": limit, "offset": offset, "warnings": [Any]()]
        if offset + limit < matches.count { body["next"] = href(offset + limit) }
        if offset > 0 { body["prev"] = href(max(0, offset - limit)) }
        body["orders"] = page.map(orderBody)
        return JSON.response(body)
    }

    private func orderBody(_ order: SandboxOrder) -> [String: Any] {
        let currency = state.listing(sku: order.sku)?.currency ?? "USD"
        let created = Self.timestamp(order.placedAtMilliseconds)
        let deliverBy = Self.timestamp(order.deliverByMilliseconds)
        let shipBy = Self.timestamp(order.placedAtMilliseconds + 86_400_000)
        let address: [String: Any] = ["city": order.shipTo.city, "stateOrProvince": order.shipTo.region,
                                      "postalCode": order.shipTo.postalCode, "countryCode": order.shipTo.country]
        let line: [String: Any] = [
            "lineItemId": order.lineID, "legacyItemId": String(110_000_000_000 + (Int64(state.listing(sku: order.sku)?.offerId ?? "") ?? 0)),
            "sku": order.sku, "title": state.listing(sku: order.sku)?.title ?? order.sku, "quantity": order.quantity, "soldFormat": "FIXED_PRICE",
            "listingMarketplaceId": "EBAY_US", "purchaseMarketplaceId": "EBAY_US",
            "lineItemCost": JSON.amount(order.itemTotalMicros, currency),
            "deliveryCost": ["shippingCost": JSON.amount(order.shippingPaidMicros, currency)],
            "total": JSON.amount(order.itemTotalMicros + order.shippingPaidMicros, currency),
            "appliedPromotions": [Any](), "lineItemFulfillmentStatus": "NOT_STARTED",
            "lineItemFulfillmentInstructions": ["minEstimatedDeliveryDate": Self.timestamp(order.deliverByMilliseconds - 2 * 86_400_000),
                                                "maxEstimatedDeliveryDate": deliverBy, "shipByDate": shipBy, "guaranteedDelivery": false],
        ]
        return [
            "orderId": order.orderID, "legacyOrderId": order.orderID, "creationDate": created, "lastModifiedDate": created,
            "orderFulfillmentStatus": "NOT_STARTED", "orderPaymentStatus": "PAID", "sellerId": "flipsync_sandbox_seller",
            "cancelStatus": ["cancelState": "NONE_REQUESTED", "cancelRequests": [Any]()],
            "pricingSummary": ["priceSubtotal": JSON.amount(order.itemTotalMicros, currency),
                               "deliveryCost": JSON.amount(order.shippingPaidMicros, currency),
                               "total": JSON.amount(order.itemTotalMicros + order.shippingPaidMicros, currency)],
            "fulfillmentStartInstructions": [[
                "fulfillmentInstructionsType": "SHIP_TO", "ebaySupportedFulfillment": false,
                "minEstimatedDeliveryDate": Self.timestamp(order.deliverByMilliseconds - 2 * 86_400_000), "maxEstimatedDeliveryDate": deliverBy,
                "shippingStep": ["shippingCarrierCode": "USPS", "shippingServiceCode": "USPSPriority",
                                 "shipTo": ["fullName": "Sandbox Buyer", "contactAddress": address]],
            ]],
            "lineItems": [line],
        ]
    }

    /// The creation-date range of a `getOrders` filter, or nil if the filter is anything else.
    static func creationRange(_ filter: String) -> ClosedRange<Int64>? {
        var range = Int64.min...Int64.max
        for criterion in filter.split(separator: ",") {
            let parts = criterion.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, ["creationdate", "lastmodifieddate"].contains(parts[0]),
                  parts[1].hasPrefix("["), parts[1].hasSuffix("]") else { return nil }
            let bounds = parts[1].dropFirst().dropLast().components(separatedBy: "..")
            guard bounds.count == 2, let from = milliseconds(bounds[0]) else { return nil }
            let to = bounds[1].isEmpty ? Int64.max : milliseconds(bounds[1])
            guard let to, from <= to else { return nil }
            range = max(range.lowerBound, from)...min(range.upperBound, to)
        }
        return range
    }

    /// eBay's `YYYY-MM-DDTHH:MM:SS.sssZ`.
    static func timestamp(_ milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        let fraction = String(milliseconds % 1000)
        return CivilDateTime(utcSeconds: seconds).iso8601 + "." + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
    }

    /// Reads exactly `YYYY-MM-DDTHH:MM:SS.sssZ` (what eBay documents for these filters): that
    /// shape, then `ISO8601.milliseconds`.
    static func milliseconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 24, text.hasSuffix("Z"), bytes[19] == UInt8(ascii: "."),
              bytes[20..<23].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return ISO8601.milliseconds(text)
    }
}

/// eBay's Fulfillment routes.
extension SandboxRoute {
    public static let orders = SandboxRoute("orders")
}
