import Foundation
import FlipSyncCore
import Hummingbird

/// `/_admin`: inspect the sandbox's state and drive it (faults, token expiry). Not an eBay API.
///
/// - `GET /_admin/state`: counts (listings, tokens issued by grant, requests by route, updates,
///   faults applied by route and by kind).
/// - `GET /_admin/listings` (`?offset=N&limit=M`: a page of them, M at most 10,000), `GET /_admin/listings/{sku}`:
///   our listings as they are now.
/// - `GET /_admin/competitors`: every competitor offer Browse can return.
/// - `GET /_admin/updates`: the full log of applied price/quantity updates, in order.
/// - `POST /_admin/tokens/expire`: every issued token expires now.
/// - `POST /_admin/faults` with a `SandboxFault` JSON body; `DELETE /_admin/faults` clears them.
/// - `GET /_admin/channels/{amazon|shopify}`: our listings there as they are now.
/// - `GET /_admin/limits`: the profile (`generous` or `production`), the Shopify cost bucket, and
///   each limited route's rate, burst, tokens now, daily quota, used, remaining and reset.
/// - `GET /_admin/products`, `GET /_admin/stock`: physical details, and units on the shelf by SKU.
/// - `POST /_admin/orders` `{"marketplace":"ebay","sku":"FS-00001","quantity":1}`: a buyer
///   orders now (409 with the reason when the channel lists less); `GET /_admin/orders`: every
///   order so far (due feed orders included); `GET /_admin/oversells`: orders the shelf could not fill.
struct AdminRoutes: Sendable {
    let state: SandboxState

    func register(on router: Router<BasicRequestContext>) {
        let admin = router.group("_admin")
        admin.get("state") { _, _ in
            let faults = self.state.faultsApplied
            return JSON.response(["listings": self.state.listings.count, "tokensIssued": self.state.tokensIssued,
                                  "requests": self.state.requestCounts, "updates": self.state.updates.count,
                                  "faults": faults.byRoute, "faultKinds": faults.byKind])
        }
        admin.get("listings") { request, _ in
            // `?offset=N&limit=M`: a page of them (a harness reading 100,000 listings need not hold them at once).
            let query = request.uri.queryParameters
            guard query["offset"] != nil || query["limit"] != nil else { return Self.encode(self.state.listings) }
            guard let offset = Int(query["offset"].map(String.init) ?? "0"), let limit = Int(query["limit"].map(String.init) ?? "1000"),
                  offset >= 0, (1...10_000).contains(limit) else {
                return JSON.response(["error": "offset is a whole number ≥ 0, limit one from 1 to 10000"], status: .badRequest)
            }
            return Self.encode(self.state.listingsPage(start: offset, limit: limit).page)
        }
        admin.get("listings/:sku") { _, context in
            guard let sku = context.parameters.get("sku"), let listing = self.state.listing(sku: sku) else {
                return JSON.response(["error": "no such SKU"], status: .notFound)
            }
            return Self.encode(listing)
        }
        admin.get("competitors") { _, _ in Self.encode(self.state.competitors) }
        admin.get("updates") { _, _ in Self.encode(self.state.updates) }
        admin.post("tokens/expire") { _, _ in
            self.state.expireAllTokens()
            return JSON.response(["expired": true])
        }
        admin.post("faults") { request, _ in
            guard let fault = JSON.decode(SandboxFault.self, try await JSON.body(request)) else {
                return JSON.response(["error": "expected a fault: {\"route\": \"search\", \"status\": 429, …}"], status: .badRequest)
            }
            self.state.inject(fault)
            return JSON.response(["injected": true])
        }
        admin.get("channels/:marketplace") { _, context in
            guard let name = context.parameters.get("marketplace"), let marketplace = MarketplaceName(rawValue: name),
                  marketplace != .ebay else {
                return JSON.response(["error": "expected amazon or shopify (eBay's listings are /_admin/listings)"], status: .notFound)
            }
            return Self.encode(self.state.channelListings(marketplace))
        }
        admin.get("limits") { _, _ in
            let shopify = self.state.shopifyCost.status
            return JSON.response(["profile": self.state.limits.name, "routes": self.state.limiter.report(),
                                  "shopifyCost": ["maximumAvailable": shopify.maximumAvailable,
                                                  "currentlyAvailable": shopify.currentlyAvailable,
                                                  "restoreRate": shopify.restoreRate]])
        }
        admin.get("products") { _, _ in Self.encode(self.state.products) }
        admin.get("stock") { _, _ in Self.encode(self.state.stock) }
        admin.get("orders") { _, _ in
            self.state.arriveDueOrders()
            return Self.encode(self.state.orders)
        }
        admin.get("oversells") { _, _ in Self.encode(self.state.oversells) }
        admin.post("orders") { request, _ in
            struct Placement: Decodable { var marketplace: MarketplaceName; var sku: String; var quantity: Int? }
            guard let placement = JSON.decode(Placement.self, try await JSON.body(request)),
                  (1...1000).contains(placement.quantity ?? 1) else {
                return JSON.response(["error": "expected {\"marketplace\": \"ebay\", \"sku\": \"…\", \"quantity\": 1}"], status: .badRequest)
            }
            do {
                return Self.encode(try self.state.placeOrder(placement.marketplace, sku: placement.sku, quantity: placement.quantity ?? 1))
            } catch {
                return JSON.response(["error": "\(error)"], status: .conflict)
            }
        }
        admin.delete("faults") { _, _ in
            self.state.clearFaults()
            return JSON.response(["cleared": true])
        }
    }

    static func encode(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(value) else { return JSON.response(["error": "encoding failed"], status: .internalServerError) }
        return JSON.raw(Array(data))
    }
}
