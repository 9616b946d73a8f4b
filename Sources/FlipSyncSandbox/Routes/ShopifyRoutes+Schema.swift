import FlipSyncCore
import Foundation
import Hummingbird

extension ShopifyRoutes {
    // MARK: Schema

    /// Exactly the types and fields the sandbox serves (a subset of Shopify's 2025-01 schema).
    static let schema: GQLSchema = {
        func f(_ type: GQLFieldType, _ arguments: String...) -> GQLSchemaField { GQLSchemaField(type: type, arguments: Set(arguments)) }
        let s = f(.scalar)
        return GQLSchema.build([
            "QueryRoot": [
                "productVariants": f(.connection("ProductVariant"), "first", "after", "last", "before", "query", "sortKey", "reverse"),
                "productVariant": f(.object("ProductVariant"), "id"),
                "inventoryItem": f(.object("InventoryItem"), "id"),
                "locations": f(.connection("Location"), "first", "after", "last", "before", "query", "includeInactive", "includeLegacy"),
                "orders": f(.connection("Order"), "first", "after", "last", "before", "query", "sortKey", "reverse"),
                "order": f(.object("Order"), "id"),
                "productVariantsCount": f(.object("Count"), "query", "limit"),
                "deliveryProfiles": f(.connection("DeliveryProfile"), "first", "after", "last", "before", "reverse", "merchantOwnedOnly"),
                "deliveryProfile": f(.object("DeliveryProfile"), "id"),
                "currentBulkOperation": f(.object("BulkOperation"), "type"),
            ],
            "Mutation": [
                "productVariantsBulkUpdate": f(.object("ProductVariantsBulkUpdatePayload"), "productId", "variants", "allowPartialUpdates"),
                "inventorySetQuantities": f(.object("InventorySetQuantitiesPayload"), "input"),
                "bulkOperationRunQuery": f(.object("BulkOperationRunQueryPayload"), "query", "groupObjects"),
            ],
            "Count": ["count": s, "precision": s],
            "DeliveryProfile": ["id": s, "name": s, "default": s,
                                "profileLocationGroups": f(.list("DeliveryProfileLocationGroup"), "locationGroupId")],
            "DeliveryProfileLocationGroup": ["locationGroup": f(.object("DeliveryLocationGroup")),
                                             "locationGroupZones": f(.connection("DeliveryLocationGroupZone"), "first", "after", "last", "before", "reverse")],
            "DeliveryLocationGroup": ["id": s],
            "DeliveryLocationGroupZone": ["zone": f(.object("DeliveryZone")),
                                          "methodDefinitions": f(.connection("DeliveryMethodDefinition"), "first", "after", "last", "before", "reverse",
                                                                 "eligible", "type", "sortKey")],
            "DeliveryZone": ["id": s, "name": s, "countries": f(.list("DeliveryCountry"))],
            "DeliveryCountry": ["id": s, "name": s, "code": f(.object("DeliveryCountryCodeOrRestOfWorld")), "provinces": f(.list("DeliveryProvince"))],
            "DeliveryCountryCodeOrRestOfWorld": ["countryCode": s, "restOfWorld": s],
            "DeliveryProvince": ["id": s, "name": s, "code": s],
            "DeliveryMethodDefinition": ["id": s, "name": s, "active": s, "description": s, "rateProvider": f(.object("DeliveryRateProvider")),
                                         "methodConditions": f(.list("DeliveryCondition"))],
            "DeliveryRateDefinition": ["id": s, "price": f(.object("MoneyV2"))],
            "DeliveryParticipant": ["id": s, "fixedFee": f(.object("MoneyV2")), "percentageOfRateFee": s, "adaptToNewServicesFlag": s],
            "DeliveryCondition": ["id": s, "field": s, "operator": s, "conditionCriteria": f(.object("DeliveryConditionCriteria"))],
            "BulkOperation": ["id": s, "status": s, "errorCode": s, "objectCount": s, "rootObjectCount": s, "url": s, "partialDataUrl": s,
                              "query": s, "type": s, "createdAt": s, "completedAt": s],
            "BulkOperationRunQueryPayload": ["bulkOperation": f(.object("BulkOperation")), "userErrors": f(.list("BulkOperationUserError"))],
            "BulkOperationUserError": ["field": s, "message": s, "code": s],
            "ProductVariant": ["id": s, "legacyResourceId": s, "sku": s, "title": s, "price": s, "compareAtPrice": s, "barcode": s,
                               "inventoryQuantity": s, "product": f(.object("Product")), "inventoryItem": f(.object("InventoryItem"))],
            "Product": ["id": s, "legacyResourceId": s, "title": s, "status": s, "handle": s],
            "InventoryItem": ["id": s, "legacyResourceId": s, "sku": s, "tracked": s, "unitCost": f(.object("MoneyV2")),
                              "measurement": f(.object("InventoryItemMeasurement")), "inventoryLevel": f(.object("InventoryLevel"), "locationId")],
            "InventoryItemMeasurement": ["weight": f(.object("Weight"))],
            "Weight": ["unit": s, "value": s],
            "InventoryLevel": ["id": s, "location": f(.object("Location")), "quantities": f(.list("InventoryQuantity"), "names")],
            "InventoryQuantity": ["name": s, "quantity": s],
            "Location": ["id": s, "legacyResourceId": s, "name": s, "isActive": s, "fulfillsOnlineOrders": s],
            "MoneyV2": ["amount": s, "currencyCode": s],
            "MoneyBag": ["shopMoney": f(.object("MoneyV2")), "presentmentMoney": f(.object("MoneyV2"))],
            "MailingAddress": ["zip": s, "provinceCode": s, "countryCodeV2": s, "city": s],
            "Order": ["id": s, "legacyResourceId": s, "name": s, "createdAt": s, "updatedAt": s, "cancelledAt": s, "closed": s,
                      "displayFulfillmentStatus": s, "displayFinancialStatus": s, "currencyCode": s,
                      "subtotalPriceSet": f(.object("MoneyBag")), "totalPriceSet": f(.object("MoneyBag")),
                      "totalShippingPriceSet": f(.object("MoneyBag")), "shippingAddress": f(.object("MailingAddress")),
                      "lineItems": f(.connection("LineItem"), "first", "after", "last", "before")],
            "LineItem": ["id": s, "sku": s, "title": s, "quantity": s, "currentQuantity": s, "unfulfilledQuantity": s,
                         "variant": f(.object("ProductVariant")), "originalUnitPriceSet": f(.object("MoneyBag"))],
            "ProductVariantsBulkUpdatePayload": ["product": f(.object("Product")), "productVariants": f(.list("ProductVariant")),
                                                 "userErrors": f(.list("ProductVariantsBulkUpdateUserError"))],
            "ProductVariantsBulkUpdateUserError": ["field": s, "message": s, "code": s],
            "InventorySetQuantitiesPayload": ["inventoryAdjustmentGroup": f(.object("InventoryAdjustmentGroup")),
                                              "userErrors": f(.list("InventorySetQuantitiesUserError"))],
            "InventorySetQuantitiesUserError": ["field": s, "message": s, "code": s],
            "InventoryAdjustmentGroup": ["id": s, "reason": s, "changes": f(.list("InventoryChange"))],
            "InventoryChange": ["name": s, "delta": s, "quantityAfterChange": s, "item": f(.object("InventoryItem")),
                                "location": f(.object("Location"))],
        ], unions: ["DeliveryRateProvider": ["DeliveryRateDefinition", "DeliveryParticipant"], "DeliveryConditionCriteria": ["MoneyV2", "Weight"]])
    }()
}
