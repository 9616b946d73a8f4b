import FlipSyncCore
import Hummingbird

/// The eBay Account API's routes, for faults.
extension SandboxRoute {
    /// `GET /sell/account/v1/fulfillment_policy` and `…/fulfillment_policy/{id}`.
    public static let ebayFulfillmentPolicy = SandboxRoute("ebay.fulfillment_policy")
}

/// eBay's Account API fulfillment-policy reads under `/ebay`, over `SandboxShippingPolicies`.
///
/// - `GET sell/account/v1/fulfillment_policy?marketplace_id=EBAY_US`: `FulfillmentPolicyResponse`
///   (`fulfillmentPolicies[]`, `total`; eBay does not page it).
/// - `GET sell/account/v1/fulfillment_policy/{fulfillmentPolicyId}`: one `FulfillmentPolicy`,
///   or 404 with an eBay error body.
///
/// Both need a user token (as eBay's `sell.account` scopes do); faults: `SandboxFaultMiddleware`.
/// Reference: https://developer.ebay.com/api-docs/sell/account/resources/fulfillment_policy/methods/getFulfillmentPolicies
struct EbayAccountRoutes: Sendable {
    let state: SandboxState

    func register(on router: Router<BasicRequestContext>) {
        let account = router.group("ebay/sell/account/v1")
        account.get("fulfillment_policy") { request, _ in await self.policies(request) }
        account.get("fulfillment_policy/{id}") { request, context in await self.policy(request, id: context.parameters.get("id")) }
    }

    /// Checks the bearer token: a user token, as eBay's `sell.account` scopes need.
    private func authorize(_ request: Request) -> Response? {
        switch state.check(bearer: request.headers[.authorization]) {
        case .valid(.user):
            return nil
        case .valid:
            return JSON.ebayError(status: 403, errorId: 1100, domain: "ACCESS", category: "REQUEST",
                                  message: "Access denied - Insufficient permissions to fulfill the request.")
        case .missing, .invalid, .expired:
            return JSON.ebayError(status: 401, errorId: 1001, domain: "OAuth", category: "REQUEST", message: "Invalid access token")
        }
    }

    func policies(_ request: Request) async -> Response {
        if let refused = authorize(request) { return refused }
        guard let marketplace = request.uri.queryParameters["marketplace_id"], !marketplace.isEmpty else {
            return JSON.ebayError(status: 400, errorId: 20401, domain: "API_ACCOUNT", message: "The 'marketplace_id' query parameter is required.")
        }
        let policies = marketplace == "EBAY_US" ? SandboxShippingPolicies.ebay.map(SandboxShippingPolicies.ebayJSON) : []
        return JSON.response(["fulfillmentPolicies": policies, "total": policies.count])
    }

    func policy(_ request: Request, id: String?) async -> Response {
        if let refused = authorize(request) { return refused }
        guard let policy = SandboxShippingPolicies.ebay.first(where: { $0.id == id }) else {
            return JSON.ebayError(status: 404, errorId: 20404, domain: "API_ACCOUNT", message: "The specified fulfillment policy was not found.")
        }
        return JSON.response(SandboxShippingPolicies.ebayJSON(policy))
    }
}
