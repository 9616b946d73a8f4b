import FlipSyncCore

// eBay's JSON bodies as they are on the wire (field names as eBay spells them), decoded by
// `EbayClient` and turned into the domain types of `EbayModels.swift` there.

struct WireAmount: Codable, Hashable {
    var value: String
    var currency: String
}

struct WireSearchResponse: Decodable {
    struct Item: Decodable {
        struct Seller: Decodable {
            var username: String?
            var feedbackPercentage: String?
            var feedbackScore: Int?
        }
        struct ShippingOption: Decodable {
            var shippingCost: WireAmount?
        }
        var itemId: String
        var title: String?
        var price: WireAmount?
        var condition: String?
        var conditionId: String?
        var gtin: String?
        var seller: Seller?
        var shippingOptions: [ShippingOption]?
    }
    var itemSummaries: [Item]?
    var total: Int?
    var offset: Int?
    var limit: Int?
    var next: String?
}

/// Browse getItems' `Items`: the items still listed (each a `CoreItem`, read with the fields a
/// search's `ItemSummary` has), `total`, and `warnings` for ids not returned.
struct WireItemsResponse: Decodable {
    var items: [WireSearchResponse.Item]?
    var total: Int?
}

struct WireOffersResponse: Decodable {
    struct Offer: Decodable {
        struct PricingSummary: Decodable { var price: WireAmount? }
        struct ListingPolicies: Decodable {
            struct ShippingCostOverride: Decodable {
                var priority: Int?
                var shippingServiceType: String?
                var shippingCost: WireAmount?
            }
            var shippingCostOverrides: [ShippingCostOverride]?
            var fulfillmentPolicyId: String?
        }
        var offerId: String
        var listingPolicies: ListingPolicies?
        var sku: String
        var marketplaceId: String?
        var pricingSummary: PricingSummary?
        var availableQuantity: Int?
        var status: String?
    }
    var offers: [Offer]?
}

struct WireFulfillmentPolicy: Decodable {
    struct TimeDuration: Decodable {
        var unit: String?
        var value: Int?
    }
    struct ShippingOption: Decodable {
        struct ShippingService: Decodable {
            var sortOrder: Int?
            var shippingCarrierCode: String?
            var shippingServiceCode: String?
            var shippingCost: WireAmount?
            var freeShipping: Bool?
        }
        var optionType: String?
        var costType: String?
        var shippingServices: [ShippingService]?
    }
    var fulfillmentPolicyId: String
    var name: String?
    var marketplaceId: String?
    var handlingTime: TimeDuration?
    var localPickup: Bool?
    var shippingOptions: [ShippingOption]?
}

struct WireFulfillmentPoliciesResponse: Decodable {
    var fulfillmentPolicies: [WireFulfillmentPolicy]?
    var total: Int?
}

struct WireOrdersResponse: Decodable {
    struct Order: Decodable {
        struct CancelStatus: Decodable { var cancelState: String? }
        struct PricingSummary: Decodable { var deliveryCost: WireAmount? }
        struct FulfillmentStartInstruction: Decodable {
            struct ShippingStep: Decodable {
                struct ShipTo: Decodable {
                    struct ContactAddress: Decodable {
                        var city: String?
                        var stateOrProvince: String?
                        var postalCode: String?
                        var countryCode: String?
                    }
                    var contactAddress: ContactAddress?
                }
                var shipTo: ShipTo?
            }
            var maxEstimatedDeliveryDate: String?
            var shippingStep: ShippingStep?
        }
        struct LineItem: Decodable {
            struct DeliveryCost: Decodable { var shippingCost: WireAmount? }
            struct FulfillmentInstructions: Decodable { var maxEstimatedDeliveryDate: String? }
            var lineItemId: String
            var sku: String?
            var quantity: Int
            var lineItemCost: WireAmount?
            var deliveryCost: DeliveryCost?
            var lineItemFulfillmentStatus: String?
            var lineItemFulfillmentInstructions: FulfillmentInstructions?
        }
        var orderId: String
        var creationDate: String
        var orderFulfillmentStatus: String?
        var cancelStatus: CancelStatus?
        var pricingSummary: PricingSummary?
        var fulfillmentStartInstructions: [FulfillmentStartInstruction]?
        var lineItems: [LineItem]?
    }
    var orders: [Order]?
    var total: Int?
    var offset: Int?
    var limit: Int?
    var next: String?
}

struct WireInventoryResponse: Decodable, Equatable {
    struct Item: Decodable, Equatable {
        struct Product: Decodable, Equatable {
            var title: String?
            var aspects: [String: [String]]?
            var upc: [String]?
            var ean: [String]?
        }
        struct Availability: Decodable, Equatable {
            struct ShipTo: Decodable, Equatable { var quantity: Int? }
            var shipToLocationAvailability: ShipTo?
        }
        var sku: String
        var product: Product?
        var availability: Availability?
        var condition: String?
    }
    var inventoryItems: [Item]?
    var total: Int?
    var next: String?
}

struct WireBulkRequest: Encodable {
    struct Request: Encodable {
        struct ShipTo: Encodable { var quantity: Int }
        struct Offer: Encodable {
            var offerId: String
            var availableQuantity: Int?
            var price: WireAmount?
        }
        var sku: String
        var shipToLocationAvailability: ShipTo?
        var offers: [Offer]?
    }
    var requests: [Request]
}

struct WireBulkResponse: Decodable {
    struct Item: Decodable {
        var statusCode: Int
        var sku: String?
        var offerId: String?
        var errors: [EbayErrorDetail]?
        var warnings: [EbayErrorDetail]?
    }
    var responses: [Item]?
}

struct WireErrorBody: Decodable {
    var errors: [EbayErrorDetail]?
}

struct WireTokenResponse: Decodable {
    var access_token: String
    var expires_in: Int
    var token_type: String?
}

struct WireOAuthError: Decodable {
    var error: String?
    var error_description: String?
}

// MARK: The fast path's readers (Transport/JSONFastPath.swift), field for field as the
// synthesized `init(from:)` above reads them.

extension WireAmount: FastJSONDecodable {
    init(fast object: JSONFastPath.Object) throws(JSONFastPath.GiveUp) {
        value = try object.string("value")
        currency = try object.string("currency")
    }
}

extension WireSearchResponse.Item: FastJSONDecodable {
    init(fast object: JSONFastPath.Object) throws(JSONFastPath.GiveUp) {
        itemId = try object.string("itemId")
        title = try object.optionalString("title")
        price = try object.optionalObject("price", WireAmount.init(fast:))
        condition = try object.optionalString("condition")
        conditionId = try object.optionalString("conditionId")
        gtin = try object.optionalString("gtin")
        seller = try object.optionalObject("seller") { (seller) throws(JSONFastPath.GiveUp) in
            Seller(username: try seller.optionalString("username"), feedbackPercentage: try seller.optionalString("feedbackPercentage"),
                   feedbackScore: try seller.optionalInt("feedbackScore"))
        }
        shippingOptions = try object.optionalArray("shippingOptions") { (option) throws(JSONFastPath.GiveUp) in
            ShippingOption(shippingCost: try option.optionalObject("shippingCost", WireAmount.init(fast:)))
        }
    }
}

extension WireSearchResponse: FastJSONDecodable {
    init(fast object: JSONFastPath.Object) throws(JSONFastPath.GiveUp) {
        itemSummaries = try object.optionalArray("itemSummaries", Item.init(fast:))
        total = try object.optionalInt("total")
        offset = try object.optionalInt("offset")
        limit = try object.optionalInt("limit")
        next = try object.optionalString("next")
    }
}

extension WireItemsResponse: FastJSONDecodable {
    init(fast object: JSONFastPath.Object) throws(JSONFastPath.GiveUp) {
        items = try object.optionalArray("items", WireSearchResponse.Item.init(fast:))
        total = try object.optionalInt("total")
    }
}

extension WireOffersResponse.Offer: FastJSONDecodable {
    init(fast object: JSONFastPath.Object) throws(JSONFastPath.GiveUp) {
        offerId = try object.string("offerId")
        listingPolicies = try object.optionalObject("listingPolicies") { (policies) throws(JSONFastPath.GiveUp) in
            ListingPolicies(
                shippingCostOverrides: try policies.optionalArray("shippingCostOverrides") { (override) throws(JSONFastPath.GiveUp) in
                    ListingPolicies.ShippingCostOverride(priority: try override.optionalInt("priority"),
                                                         shippingServiceType: try override.optionalString("shippingServiceType"),
                                                         shippingCost: try override.optionalObject("shippingCost", WireAmount.init(fast:)))
                },
                fulfillmentPolicyId: try policies.optionalString("fulfillmentPolicyId"))
        }
        sku = try object.string("sku")
        marketplaceId = try object.optionalString("marketplaceId")
        pricingSummary = try object.optionalObject("pricingSummary") { (summary) throws(JSONFastPath.GiveUp) in
            PricingSummary(price: try summary.optionalObject("price", WireAmount.init(fast:)))
        }
        availableQuantity = try object.optionalInt("availableQuantity")
        status = try object.optionalString("status")
    }
}

extension WireOffersResponse: FastJSONDecodable {
    init(fast object: JSONFastPath.Object) throws(JSONFastPath.GiveUp) {
        offers = try object.optionalArray("offers", Offer.init(fast:))
    }
}

extension WireInventoryResponse.Item: FastJSONDecodable {
    init(fast object: JSONFastPath.Object) throws(JSONFastPath.GiveUp) {
        sku = try object.string("sku")
        product = try object.optionalObject("product") { (product) throws(JSONFastPath.GiveUp) in
            Product(title: try product.optionalString("title"), aspects: try product.optionalStringArrays("aspects"),
                    upc: try product.optionalStrings("upc"), ean: try product.optionalStrings("ean"))
        }
        availability = try object.optionalObject("availability") { (availability) throws(JSONFastPath.GiveUp) in
            Availability(shipToLocationAvailability: try availability.optionalObject("shipToLocationAvailability") { (shipTo) throws(JSONFastPath.GiveUp) in
                Availability.ShipTo(quantity: try shipTo.optionalInt("quantity"))
            })
        }
        condition = try object.optionalString("condition")
    }
}

extension WireInventoryResponse: FastJSONDecodable {
    init(fast object: JSONFastPath.Object) throws(JSONFastPath.GiveUp) {
        inventoryItems = try object.optionalArray("inventoryItems", Item.init(fast:))
        total = try object.optionalInt("total")
        next = try object.optionalString("next")
    }
}
