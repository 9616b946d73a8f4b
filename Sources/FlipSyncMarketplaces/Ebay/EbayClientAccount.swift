import FlipSyncCore
import Foundation
import Logging

extension EbayClient {
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
        return try (StatusMapping.decode(WireFulfillmentPoliciesResponse.self, response, operation: operation).fulfillmentPolicies ?? [])
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
        return try fulfillmentPolicy(StatusMapping.decode(WireFulfillmentPolicy.self, response, operation: operation))
    }

    func fulfillmentPolicy(_ wire: WireFulfillmentPolicy) throws -> FulfillmentPolicy {
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
}
