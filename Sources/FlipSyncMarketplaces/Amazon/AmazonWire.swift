import FlipSyncCore
import Foundation

// SP-API's JSON bodies as they are on the wire (field names as Amazon spells them), decoded by
// `AmazonClient` and turned into the domain types of `AmazonModels.swift` there.

/// `{"errors":[{"code","message","details"}]}` (SP-API `ErrorList`).
struct AmazonWireErrorList: Decodable {
    struct Error: Decodable, CustomStringConvertible {
        var code: String
        var message: String
        var details: String?
        var description: String {
            let extra = details.map { $0.isEmpty ? "" : " (\($0))" } ?? ""
            return "\(code): \(message)\(extra)"
        }
    }
    var errors: [Error]?
}

/// LWA's token response and error body.
struct AmazonWireToken: Decodable {
    var access_token: String
    var token_type: String?
    var expires_in: Int
}

struct AmazonWireOAuthError: Decodable {
    var error: String?
    var error_description: String?
}

/// Product Pricing v0 `MoneyType`: `Amount` is a JSON number.
struct AmazonWireNumberMoney: Decodable {
    var CurrencyCode: String
    var Amount: Decimal
}

struct AmazonWireListingOffersBatchRequest: Encodable {
    struct Request: Encodable {
        var uri: String
        var method: String
        var MarketplaceId: String
        var ItemCondition: String
        var CustomerType: String
    }
    var requests: [Request]
}

struct AmazonWireListingOffersBatchResponse: Decodable {
    struct Entry: Decodable {
        struct Status: Decodable {
            var statusCode: Int
            var reasonPhrase: String?
        }
        struct Request: Decodable {
            var SellerSKU: String?
            var ItemCondition: String?
        }
        var status: Status?
        var body: Body
        var request: Request?
    }
    struct Body: Decodable {
        var payload: AmazonWireOffersResponse.Payload?
        var errors: [AmazonWireErrorList.Error]?
    }
    var responses: [Entry]
}

struct AmazonWireOffersResponse: Decodable {
    struct Payload: Decodable {
        struct Summary: Decodable {
            struct Price: Decodable {
                var condition: String?
                var LandedPrice: AmazonWireNumberMoney?
                var ListingPrice: AmazonWireNumberMoney
                var Shipping: AmazonWireNumberMoney
            }
            var TotalOfferCount: Int?
            var LowestPrices: [Price]?
            var BuyBoxPrices: [Price]?
        }
        struct Offer: Decodable {
            struct Feedback: Decodable {
                var SellerPositiveFeedbackRating: Decimal?
                var FeedbackCount: Int?
            }
            var SellerId: String?
            var SubCondition: String
            var SellerFeedbackRating: Feedback?
            var ListingPrice: AmazonWireNumberMoney
            var Shipping: AmazonWireNumberMoney
            var IsBuyBoxWinner: Bool?
            var MyOffer: Bool?
            var IsFulfilledByAmazon: Bool
        }
        var ASIN: String?
        var SKU: String?
        var status: String?
        var Summary: Summary
        var Offers: [Offer]
    }
    var payload: Payload?
}

/// Listings Items 2021-08-01 `Money`: `amount` is a decimal string.
struct AmazonWireStringMoney: Decodable {
    var currencyCode: String
    var amount: String
}

struct AmazonWireListingsResponse: Decodable {
    struct Item: Decodable {
        struct Summary: Decodable {
            var marketplaceId: String
            var asin: String?
            var productType: String?
            var conditionType: String?
            var status: [String]?
            var itemName: String?
        }
        struct Offer: Decodable {
            var marketplaceId: String
            var offerType: String
            var price: AmazonWireStringMoney
        }
        struct Availability: Decodable {
            var fulfillmentChannelCode: String
            var quantity: Int?
        }
        struct Attributes: Decodable {
            struct Identifier: Decodable {
                var type: String?
                var value: String?
            }
            var externally_assigned_product_identifier: [Identifier]?
        }
        var sku: String
        var summaries: [Summary]?
        var offers: [Offer]?
        var fulfillmentAvailability: [Availability]?
        var attributes: Attributes?
    }
    struct Pagination: Decodable {
        var nextToken: String?
    }
    var numberOfResults: Int
    var pagination: Pagination?
    var items: [Item]
}

struct AmazonWireSubmission: Decodable {
    struct Issue: Decodable {
        var code: String
        var message: String
        var severity: String
        var attributeNames: [String]?
    }
    var sku: String
    var status: String
    var submissionId: String
    var issues: [Issue]?
}

/// The `patchListingsItem` body: `ListingsItemPatchRequest`.
struct AmazonWirePatchRequest: Encodable {
    struct Patch: Encodable {
        var op: String
        var path: String
        var value: [Value]
    }
    /// The two attribute values we patch, each encoded with exactly its documented keys.
    enum Value: Encodable {
        case purchasableOffer(marketplaceID: String, currency: String, ourPrice: Decimal)
        case fulfillmentAvailability(quantity: Int)

        private struct Offer: Encodable {
            struct Price: Encodable {
                struct Schedule: Encodable { var value_with_tax: Decimal }
                var schedule: [Schedule]
            }
            var marketplace_id: String
            var currency: String
            var audience: String
            var our_price: [Price]
        }
        private struct Availability: Encodable {
            var fulfillment_channel_code: String
            var quantity: Int
        }

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .purchasableOffer(let marketplaceID, let currency, let ourPrice):
                try Offer(marketplace_id: marketplaceID, currency: currency, audience: "ALL",
                          our_price: [.init(schedule: [.init(value_with_tax: ourPrice)])]).encode(to: encoder)
            case .fulfillmentAvailability(let quantity):
                try Availability(fulfillment_channel_code: "DEFAULT", quantity: quantity).encode(to: encoder)
            }
        }
    }
    var productType: String
    var patches: [Patch]
}

/// Orders v0 `Money`: `Amount` is a decimal string.
struct AmazonWireOrderMoney: Decodable {
    var CurrencyCode: String
    var Amount: String
}

struct AmazonWireOrdersResponse: Decodable {
    struct Payload: Decodable {
        struct Order: Decodable {
            struct Address: Decodable {
                var City: String?
                var StateOrRegion: String?
                var PostalCode: String?
                var CountryCode: String?
            }
            var AmazonOrderId: String
            var PurchaseDate: String
            var OrderStatus: String
            var LatestDeliveryDate: String?
            var ShippingAddress: Address?
            var OrderTotal: AmazonWireOrderMoney?
        }
        var Orders: [Order]
        var NextToken: String?
    }
    var payload: Payload?
}

struct AmazonWireOrderItemsResponse: Decodable {
    struct Payload: Decodable {
        struct Item: Decodable {
            var ASIN: String
            var SellerSKU: String?
            var OrderItemId: String
            var QuantityOrdered: Int
            var ItemPrice: AmazonWireOrderMoney?
            var ShippingPrice: AmazonWireOrderMoney?
        }
        var OrderItems: [Item]
        var NextToken: String?
    }
    var payload: Payload?
}
