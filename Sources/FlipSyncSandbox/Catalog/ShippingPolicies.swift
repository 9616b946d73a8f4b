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

    /// The Shopify shop's `shipping_zones`: a US zone priced by weight (free under 1 lb, 5.99
    /// to 5 lb, 12.99 above) with free shipping on orders of 75.00 or more, and a Canada zone.
    static var shopifyZones: [[String: Any]] {
        let usZone: Int64 = 410_000_001, caZone: Int64 = 410_000_002
        func weightRate(_ id: Int64, _ zone: Int64, _ name: String, _ price: String, _ low: Double, _ high: Double) -> [String: Any] {
            ["id": id, "shipping_zone_id": zone, "name": name, "price": price, "weight_low": low, "weight_high": high]
        }
        return [
            ["id": usZone, "name": "Domestic", "profile_id": "gid://shopify/DeliveryProfile/1",
             "location_group_id": "gid://shopify/DeliveryLocationGroup/1",
             "countries": [["id": 800_000_001, "shipping_zone_id": usZone, "name": "United States", "code": "US", "tax": 0.0,
                            "tax_name": "Federal Tax", "provinces": [] as [Any]]],
             "weight_based_shipping_rates": [
                weightRate(420_000_001, usZone, "Free under 1 lb", "0.00", 0, 0.45),
                weightRate(420_000_002, usZone, "Standard", "5.99", 0.45, 2.27),
                weightRate(420_000_003, usZone, "Heavy", "12.99", 2.27, 31.75),
             ],
             "price_based_shipping_rates": [
                ["id": 430_000_001, "shipping_zone_id": usZone, "name": "Free over $75", "price": "0.00",
                 "min_order_subtotal": "75.00", "max_order_subtotal": NSNull()],
             ],
             "carrier_shipping_rate_providers": [] as [Any]],
            ["id": caZone, "name": "Canada", "profile_id": "gid://shopify/DeliveryProfile/1",
             "location_group_id": "gid://shopify/DeliveryLocationGroup/1",
             "countries": [["id": 800_000_002, "shipping_zone_id": caZone, "name": "Canada", "code": "CA", "tax": 0.05,
                            "tax_name": "GST", "provinces": [] as [Any]]],
             "weight_based_shipping_rates": [weightRate(420_000_004, caZone, "Canada Post", "19.99", 0, 31.75)],
             "price_based_shipping_rates": [] as [Any], "carrier_shipping_rate_providers": [] as [Any]],
        ]
    }
}
