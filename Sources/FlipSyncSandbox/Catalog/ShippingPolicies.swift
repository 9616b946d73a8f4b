import FlipSyncCore
import Foundation

/// The sandbox seller's shipping settings, fixed and derived from the products: three eBay
/// fulfillment policies and the Shopify shop's shipping zones.
public enum SandboxShippingPolicies {
    /// One eBay fulfillment policy with one domestic flat-rate service.
    public struct EbayPolicy: Sendable, Hashable {
        public var id: String
        public var name: String
        public var handlingDays: Int
        public var carrierCode: String
        public var serviceCode: String
        public var costMicros: Int64
        public var freeShipping: Bool
    }

    public static let freeShipping = EbayPolicy(id: "6000000001", name: "Free shipping, USPS Ground Advantage", handlingDays: 1,
                                                carrierCode: "USPS", serviceCode: "USPSGroundAdvantage", costMicros: 0, freeShipping: true)
    public static let flatUSPS = EbayPolicy(id: "6000000002", name: "Flat 4.99 USPS Ground Advantage", handlingDays: 1,
                                            carrierCode: "USPS", serviceCode: "USPSGroundAdvantage", costMicros: 4_990_000, freeShipping: false)
    public static let flatUPS = EbayPolicy(id: "6000000003", name: "Flat 9.99 UPS Ground", handlingDays: 2,
                                           carrierCode: "UPS", serviceCode: "UPSGround", costMicros: 9_990_000, freeShipping: false)
    public static let ebay = [freeShipping, flatUSPS, flatUPS]

    /// The policy a listing uses: free shipping where the product ships free, UPS Ground for
    /// boxes of 3 lb or more, flat USPS Ground Advantage otherwise. (The offer's own
    /// `shippingCostOverrides` still set what the buyer pays.)
    public static func ebayPolicy(for product: SandboxProduct?) -> EbayPolicy {
        guard let product else { return flatUSPS }
        if product.shippingChargedMicros == 0 { return freeShipping }
        return product.weightOunces >= 48 ? flatUPS : flatUSPS
    }

    /// eBay's `FulfillmentPolicy` JSON for `policy`.
    static func ebayJSON(_ policy: EbayPolicy) -> [String: Any] {
        var service: [String: Any] = [
            "sortOrder": 1, "shippingCarrierCode": policy.carrierCode, "shippingServiceCode": policy.serviceCode,
            "shippingCost": JSON.amount(policy.costMicros, "USD"), "buyerResponsibleForShipping": false,
            "buyerResponsibleForPickup": false,
        ]
        if policy.freeShipping { service["freeShipping"] = true }
        return [
            "fulfillmentPolicyId": policy.id, "name": policy.name, "marketplaceId": "EBAY_US",
            "categoryTypes": [["name": "ALL_EXCLUDING_MOTORS_VEHICLES", "default": true]],
            "handlingTime": ["unit": "DAY", "value": policy.handlingDays], "localPickup": false, "pickupDropOff": false,
            "freightShipping": false, "globalShipping": false,
            "shippingOptions": [["optionType": "DOMESTIC", "costType": "FLAT_RATE", "shippingServices": [service]]],
        ]
    }

    /// The Shopify shop's delivery profiles as the GraphQL Admin API's `deliveryProfiles` answers
    /// them (before paging): one profile whose one location group has a US zone priced by
    /// weight (free under 1 lb, 5.99 to 5 lb, 12.99 above) with free shipping on orders of 75.00
    /// or more, and a Canada zone. Weights are in kilograms, as the shop's admin shows them.
    static var shopifyDeliveryProfiles: [[String: Any]] {
        func gid(_ type: String, _ id: Int64) -> String { "gid://shopify/\(type)/\(id)" }
        func condition(_ id: Int64, _ field: String, _ op: String, _ criteria: [String: Any]) -> [String: Any] {
            ["id": gid("DeliveryCondition", id), "field": field, "operator": op, "conditionCriteria": criteria]
        }
        func kilograms(_ value: Double) -> [String: Any] { ["__typename": "Weight", "unit": "KILOGRAMS", "value": value] }
        func usd(_ amount: String) -> [String: Any] { ["__typename": "MoneyV2", "amount": amount, "currencyCode": "USD"] }
        func rate(_ id: Int64, _ name: String, _ price: String, _ conditions: [[String: Any]]) -> [String: Any] {
            ["id": gid("DeliveryMethodDefinition", id), "name": name, "active": true, "description": NSNull(),
             "rateProvider": ["__typename": "DeliveryRateDefinition", "id": gid("DeliveryRateDefinition", id),
                              "price": ["amount": price, "currencyCode": "USD"]] as [String: Any],
             "methodConditions": conditions]
        }
        func weightRate(_ id: Int64, _ name: String, _ price: String, _ low: Double?, _ high: Double) -> [String: Any] {
            var conditions: [[String: Any]] = []
            if let low { conditions.append(condition(id * 10 + 1, "TOTAL_WEIGHT", "GREATER_THAN_OR_EQUAL_TO", kilograms(low))) }
            conditions.append(condition(id * 10 + 2, "TOTAL_WEIGHT", "LESS_THAN_OR_EQUAL_TO", kilograms(high)))
            return rate(id, name, price, conditions)
        }
        func zone(_ id: Int64, _ name: String, _ country: String, _ countryName: String, _ rates: [[String: Any]]) -> [String: Any] {
            ["zone": ["id": gid("DeliveryZone", id), "name": name,
                      "countries": [["id": gid("DeliveryCountry", id + 390_000_000), "name": countryName,
                                     "code": ["countryCode": country, "restOfWorld": false] as [String: Any],
                                     "provinces": [] as [Any]] as [String: Any]]] as [String: Any],
             "methodDefinitions": rates]
        }
        let us = zone(410_000_001, "Domestic", "US", "United States", [
            weightRate(420_000_001, "Free under 1 lb", "0.00", nil, 0.45),
            weightRate(420_000_002, "Standard", "5.99", 0.45, 2.27),
            weightRate(420_000_003, "Heavy", "12.99", 2.27, 31.75),
            rate(430_000_001, "Free over $75", "0.00", [condition(4_300_000_011, "TOTAL_PRICE", "GREATER_THAN_OR_EQUAL_TO", usd("75.00"))]),
        ])
        let canada = zone(410_000_002, "Canada", "CA", "Canada", [weightRate(420_000_004, "Canada Post", "19.99", 0, 31.75)])
        return [[
            "id": gid("DeliveryProfile", 1), "name": "General profile", "default": true,
            "profileLocationGroups": [["locationGroup": ["id": gid("DeliveryLocationGroup", 1)] as [String: Any],
                                       "locationGroupZones": [us, canada]] as [String: Any]],
        ]]
    }
}
