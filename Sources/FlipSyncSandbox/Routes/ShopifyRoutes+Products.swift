import FlipSyncCore
import Foundation
import Hummingbird

extension ShopifyRoutes {
    // MARK: Products, variants and inventory

    func productVariants(first: Any?, after: Any?, query: Any?) throws -> [String: Any] {
        let limit = first as? Int == Int.max ? Int.max : try Self.pageSize(first)
        var listings = state.channelListings(.shopify).compactMap { listing in Int64(listing.listingID).map { ($0, listing) } }
        if let query = query as? String, !query.isEmpty {
            let filter = query.trimmingCharacters(in: .whitespaces)
            if filter == "product_status:active" || filter == "status:active" {
                // Every sandbox product is active.
            } else if filter.hasPrefix("product_id:"), let product = Int64(filter.dropFirst("product_id:".count)) {
                listings = listings.filter { $0.1.productID == String(product) }
            } else {
                throw GQLError(message: "The sandbox supports query: \"product_status:active\" or \"product_id:N\", not \"\(filter)\"",
                               code: "BAD_REQUEST")
            }
        }
        listings.sort { $0.0 < $1.0 }
        if let after {
            guard let token = after as? String, let last = Self.decodeCursor(token, "v").first else {
                throw GQLError(message: "Invalid cursor for current pagination sort.", code: "BAD_REQUEST")
            }
            listings = listings.filter { $0.0 > last }
        }
        let page = listings.prefix(limit)
        return GQLSchema.connection(page.map { (Self.cursor("v", [$0.0]), variantNode($0.1)) }, hasNextPage: listings.count > page.count,
                                    hasPreviousPage: after != nil)
    }

    func shopifyListing(variantID: Int64) -> SandboxChannelListing? {
        state.shopifyListing(variantID: String(variantID))
    }

    func productNode(_ listing: SandboxChannelListing) -> [String: Any] {
        let id = listing.productID ?? "0"
        let title = state.product(sku: listing.sku)?.title ?? listing.sku
        let big = listing.productID == "7900000000"
        return ["id": "gid://shopify/Product/\(id)", "legacyResourceId": id, "title": big ? "Sandbox Big Product" : title,
                "status": "ACTIVE", "handle": "product-\(id)"]
    }

    func variantNode(_ listing: SandboxChannelListing) -> [String: Any] {
        let product = state.product(sku: listing.sku)
        let big = listing.productID == "7900000000"
        return [
            "id": "gid://shopify/ProductVariant/\(listing.listingID)", "legacyResourceId": listing.listingID, "sku": listing.sku,
            "title": big ? (product?.title.components(separatedBy: " - ").last ?? listing.sku) : "Default Title",
            "price": Self.decimal(listing.priceMicros), "compareAtPrice": NSNull(),
            "barcode": product.map { $0.gtin.isEmpty ? NSNull() : $0.gtin as Any } ?? NSNull(), "inventoryQuantity": listing.quantity,
            "product": productNode(listing), "inventoryItem": itemNode(listing),
        ]
    }

    func itemNode(_ listing: SandboxChannelListing) -> [String: Any] {
        let item = listing.inventoryItemID ?? "0"
        let ounces = state.product(sku: listing.sku)?.weightOunces ?? 0
        let cost: Any = state.listing(sku: listing.sku).map { ["amount": Self.decimal($0.costMicros), "currencyCode": "USD"] as [String: Any] }
            ?? NSNull()
        let sku = listing.sku
        let state = state
        return [
            "id": "gid://shopify/InventoryItem/\(item)", "legacyResourceId": item, "sku": sku, "tracked": true, "unitCost": cost,
            "measurement": ["weight": ["unit": "OUNCES", "value": Double(ounces)] as [String: Any]],
            "inventoryLevel": GQLResolver { arguments in
                guard Self.gidNumber(arguments["locationId"], "Location") == SandboxShopify.locationID else { return nil }
                let quantity = state.channelListing(.shopify, sku: sku)?.quantity ?? 0
                return [
                    "id": "gid://shopify/InventoryLevel/\(item)?inventory_item_id=\(item)", "location": Self.locationNode,
                    "quantities": GQLResolver { arguments in
                        let names = arguments["names"] as? [Any] ?? []
                        return names.compactMap { $0 as? String }.map { name -> [String: Any] in
                            let value = ["available": quantity, "on_hand": quantity][name] ?? 0
                            return ["name": name, "quantity": value]
                        }
                    },
                ] as [String: Any]
            },
        ]
    }

    static var locationNode: [String: Any] {
        ["id": SandboxShopify.locationGID, "legacyResourceId": String(SandboxShopify.locationID), "name": "Sandbox Warehouse",
         "isActive": true, "fulfillsOnlineOrders": true]
    }

    func bulkUpdate(productID: Any?, variants: Any?, partial: Bool) throws -> [String: Any] {
        guard let product = Self.gidNumber(productID, "Product"),
              let listings = Optional(state.shopifyListings(productID: String(product))), !listings.isEmpty else {
            return ["product": NSNull(), "productVariants": NSNull(),
                    "userErrors": [Self.userError(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")]]
        }
        guard let inputs = variants as? [Any] else { throw GQLError(message: "Variable $variants of type [ProductVariantsBulkInput!]! was provided invalid value", code: "INVALID_VARIABLE") }
        var errors: [[String: Any]] = []
        var valid: [(SandboxChannelListing, Int64?)] = []
        for (index, raw) in inputs.enumerated() {
            guard let input = raw as? [String: Any] else { continue }
            for key in input.keys where !["id", "price", "compareAtPrice", "barcode"].contains(key) {
                throw GQLError(message: "Variable $variants of type [ProductVariantsBulkInput!]! was provided invalid value for \(index).\(key) (Field is not defined on ProductVariantsBulkInput)",
                               code: "INVALID_VARIABLE")
            }
            guard let id = Self.gidNumber(input["id"], "ProductVariant"), let listing = listings.first(where: { $0.listingID == String(id) }) else {
                errors.append(Self.userError(["variants", String(index), "id"], "Product variant does not exist", "PRODUCT_VARIANT_DOES_NOT_EXIST"))
                continue
            }
            var price: Int64?
            if let text = input["price"] as? String {
                guard let money = try? Money(parsing: "\(text) USD", allowNegative: true) else {
                    errors.append(Self.userError(["variants", String(index), "price"], "Price is not a number", "INVALID_INPUT"))
                    continue
                }
                guard money.micros >= 0 else {
                    errors.append(Self.userError(["variants", String(index), "price"], "Price must be greater than or equal to 0",
                                                 "GREATER_THAN_OR_EQUAL_TO"))
                    continue
                }
                guard money.micros % 10_000 == 0 else {
                    errors.append(Self.userError(["variants", String(index), "price"], "Price must have at most two decimal places", "INVALID_INPUT"))
                    continue
                }
                price = money.micros
            }
            valid.append((listing, price))
        }
        if errors.isEmpty || partial {
            for (listing, price) in valid where price != nil {
                state.applyChannel(.shopify, sku: listing.sku, priceMicros: price, quantity: nil)
            }
        }
        let applied = errors.isEmpty || partial
        let updated = applied ? valid.compactMap { state.channelListing(.shopify, sku: $0.0.sku) }.map(variantNode) : []
        return ["product": productNode(listings[0]), "productVariants": updated, "userErrors": errors]
    }

    func setQuantities(_ input: Any?) throws -> [String: Any] {
        guard let input = input as? [String: Any], let name = input["name"] as? String, let reason = input["reason"] as? String,
              let quantities = input["quantities"] as? [Any] else {
            throw GQLError(message: "Variable $input of type InventorySetQuantitiesInput! was provided invalid value", code: "INVALID_VARIABLE")
        }
        // shopify.dev/docs/api/usage/limits: "Input arguments that accept an array have a maximum size of 250".
        guard quantities.count <= 250 else {
            throw GQLError(message: "The input array size of \(quantities.count) is greater than the maximum allowed of 250.",
                           code: "MAX_INPUT_SIZE_EXCEEDED")
        }
        var errors: [[String: Any]] = []
        if name != "available" {
            errors.append(Self.userError(["input", "name"], "The quantity name must be available in the sandbox", "INVALID_NAME"))
        }
        let reasons: Set<String> = ["correction", "cycle_count_available", "damaged", "movement_created", "movement_updated", "movement_received",
                                    "movement_canceled", "other", "promotion", "quality_control", "received", "reservation_created",
                                    "reservation_deleted", "reservation_updated", "restock", "safety_stock", "shrinkage"]
        if !reasons.contains(reason) { errors.append(Self.userError(["input", "reason"], "The reason is invalid", "INVALID_REASON")) }
        let ignoreCompare = input["ignoreCompareQuantity"] as? Bool ?? false
        var items: [(sku: String, compare: Int?, quantity: Int)] = []
        for (index, raw) in quantities.enumerated() {
            let path = ["input", "quantities", String(index)]
            guard let entry = raw as? [String: Any], let quantity = Self.int(entry["quantity"]) else {
                errors.append(Self.userError(path + ["quantity"], "The quantity is invalid", "INVALID_QUANTITY_TOO_LOW"))
                continue
            }
            let item = Self.gidNumber(entry["inventoryItemId"], "InventoryItem").map(String.init)
            guard let listing = item.flatMap(state.shopifyListing(inventoryItemID:)) else {
                errors.append(Self.userError(path + ["inventoryItemId"], "The specified inventory item could not be found.", "INVALID_INVENTORY_ITEM"))
                continue
            }
            guard Self.gidNumber(entry["locationId"], "Location") == SandboxShopify.locationID else {
                errors.append(Self.userError(path + ["locationId"], "The specified location could not be found.", "INVALID_LOCATION"))
                continue
            }
            // The sandbox's listings never hold a negative quantity.
            guard quantity >= 0 else {
                errors.append(Self.userError(path + ["quantity"], "The quantity can't be lower than 0.", "INVALID_QUANTITY_TOO_LOW"))
                continue
            }
            let compare = Self.int(entry["compareQuantity"])
            if compare == nil && !ignoreCompare {
                errors.append(Self.userError(path + ["compareQuantity"], "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.",
                                             "COMPARE_QUANTITY_REQUIRED"))
                continue
            }
            items.append((listing.sku, ignoreCompare ? nil : compare, quantity))
        }
        guard errors.isEmpty else { return ["inventoryAdjustmentGroup": NSNull(), "userErrors": errors] }
        let before = items.map { state.channelListing(.shopify, sku: $0.sku)?.quantity ?? 0 }
        if let stale = state.setShopifyQuantities(items) {
            return ["inventoryAdjustmentGroup": NSNull(), "userErrors": stale.map { entry in
                Self.userError(["input", "quantities", String(entry.index), "compareQuantity"],
                               "The compareQuantity argument no longer matches the persisted quantity.", "COMPARE_QUANTITY_STALE")
            }]
        }
        let changes: [[String: Any]] = zip(items, before).map { item, old in
            let listing = state.channelListing(.shopify, sku: item.sku)
            return ["name": "available", "delta": item.quantity - old, "quantityAfterChange": item.quantity,
                    "item": listing.map(itemNode) ?? NSNull(), "location": Self.locationNode]
        }
        return ["inventoryAdjustmentGroup": ["id": "gid://shopify/InventoryAdjustmentGroup/\(state.updates.count)", "reason": reason,
                                             "changes": changes] as [String: Any],
                "userErrors": [] as [Any]]
    }

    static func userError(_ field: [String], _ message: String, _ code: String) -> [String: Any] {
        ["field": field, "message": message, "code": code]
    }
}
