import Foundation
import Hummingbird

/// `/_admin`: inspect the sandbox's state and drive it (faults, token expiry). Not an eBay API.
///
/// - `GET /_admin/state`: counts (listings, tokens issued by grant, requests by route, updates).
/// - `GET /_admin/listings`, `GET /_admin/listings/{sku}`: our listings as they are now.
/// - `GET /_admin/competitors`: every competitor offer Browse can return.
/// - `GET /_admin/updates`: the full log of applied price/quantity updates, in order.
/// - `POST /_admin/tokens/expire`: every issued token expires now.
/// - `POST /_admin/faults` with a `SandboxFault` JSON body; `DELETE /_admin/faults` clears them.
struct AdminRoutes: Sendable {
    let state: SandboxState

    func register(on router: Router<BasicRequestContext>) {
        let admin = router.group("_admin")
        admin.get("state") { _, _ in
            JSON.response(["listings": self.state.listings.count, "tokensIssued": self.state.tokensIssued,
                           "requests": self.state.requestCounts, "updates": self.state.updates.count])
        }
        admin.get("listings") { _, _ in Self.encode(self.state.listings) }
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
