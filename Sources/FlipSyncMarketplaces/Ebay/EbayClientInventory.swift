import FlipSyncCore
import Foundation
import Logging

extension EbayClient {
    // MARK: Inventory

    /// Our offers for one SKU.
    ///
    /// `GET /sell/inventory/v1/offer?sku=…`; user token.
    /// Reference: eBay Inventory API, "getOffers" and type `Offers` / `EbayOfferDetailsWithAll`
    /// (https://developer.ebay.com/api-docs/sell/inventory/types/slr:Offers,
    /// https://developer.ebay.com/api-docs/sell/inventory/types/slr:EbayOfferDetailsWithAll),
    /// `ListingPolicies.shippingCostOverrides` of type `ShippingCostOverride`
    /// (https://developer.ebay.com/api-docs/sell/inventory/types/slr:ShippingCostOverride).
    public func offers(sku: String) async throws -> [SellerOffer] {
        let url = configuration.baseURL + "/sell/inventory/v1/offer?" + FormEncoding.encode([("sku", sku)])
        let response = try await authorized("inventory.offer.get_offers", tokens: userTokens) { token in
            self.request(.get, url, token: token)
        }
        let wire = try StatusMapping.decode(WireOffersResponse.self, response, operation: "inventory.offer.get_offers")
        return try (wire.offers ?? []).map { offer in
            let domestic = offer.listingPolicies?.shippingCostOverrides?
                .first { $0.shippingServiceType == "DOMESTIC" && ($0.priority ?? 1) == 1 }?.shippingCost
            return SellerOffer(offerID: offer.offerId, sku: offer.sku, marketplaceID: offer.marketplaceId,
                               price: try offer.pricingSummary?.price.map { try money($0, field: "price of offer \(offer.offerId)") },
                               availableQuantity: offer.availableQuantity, status: offer.status,
                               domesticShippingCost: try domestic.map { try money($0, field: "shipping cost of offer \(offer.offerId)") },
                               fulfillmentPolicyID: offer.listingPolicies?.fulfillmentPolicyId)
        }
    }

    /// One page of our inventory items. Start with `offset` 0 and then pass `nextOffset`.
    ///
    /// `GET /sell/inventory/v1/inventory_item?limit=&offset=`; user token. `limit` is 1…200
    /// (default 25); eBay documents `offset` here as the page number (0 first, 1 second, …).
    /// Reference: eBay Inventory API, "getInventoryItems" (`inventoryItems[]`, `total`, `next`;
    /// https://developer.ebay.com/api-docs/sell/inventory/resources/inventory_item/methods/getInventoryItems),
    /// type `Availability.shipToLocationAvailability`
    /// (https://developer.ebay.com/api-docs/sell/inventory/types/slr:Availability).
    public func inventoryItems(limit: Int = 100, offset: Int = 0) async throws -> InventoryPage {
        guard (1...200).contains(limit) else { throw MarketplaceError.refused("inventory page size must be 1…200, not \(limit)") }
        let url = configuration.baseURL + "/sell/inventory/v1/inventory_item?"
            + FormEncoding.encode([("limit", String(limit)), ("offset", String(offset))])
        let response = try await authorized("inventory.inventory_item.get_inventory_items", tokens: userTokens) { token in
            self.request(.get, url, token: token)
        }
        let wire = try StatusMapping.decode(WireInventoryResponse.self, response, operation: "inventory.inventory_item.get_inventory_items")
        let items = (wire.inventoryItems ?? []).map { item in
            InventoryItem(sku: item.sku, title: item.product?.title, condition: item.condition,
                          quantity: item.availability?.shipToLocationAvailability?.quantity,
                          upc: item.product?.upc ?? [], ean: item.product?.ean ?? [], aspects: item.product?.aspects ?? [:])
        }
        var nextOffset: Int?
        if let next = wire.next {
            guard let value = FormEncoding.queryValue("offset", in: next).flatMap({ Int($0) }) else {
                throw MarketplaceError.malformed("inventory.inventory_item.get_inventory_items: \"next\" has no numeric offset")
            }
            nextOffset = value
        }
        return InventoryPage(items: items, total: wire.total ?? items.count, nextOffset: nextOffset)
    }

    /// eBay accepts at most this many SKUs per `bulkUpdatePriceQuantity` call.
    public static let bulkUpdateLimit = 25

    /// Updates prices and quantities, 25 SKUs per call, returning every item's own status.
    ///
    /// `POST /sell/inventory/v1/bulk_update_price_quantity`; user token. eBay answers 200 when
    /// every item succeeded and 207 when some did not; each item carries `statusCode`, `errors`
    /// and `warnings`. A chunk that fails as a whole stops the run: its updates and the later
    /// ones are returned as `unconfirmed` with the `failure`.
    /// Reference: eBay Inventory API, "bulkUpdatePriceQuantity"
    /// (https://developer.ebay.com/api-docs/sell/static/inventory/bulk-updates.html), types
    /// `PriceQuantity`, `BulkPriceQuantityResponse`, `PriceQuantityResponse`
    /// (https://developer.ebay.com/api-docs/sell/inventory/types/slr:PriceQuantityResponse).
    public func bulkUpdatePriceQuantity(_ updates: [PriceQuantityUpdate]) async throws -> BulkUpdateOutcome {
        // Validate everything before sending anything, so a bad value cannot leave half a batch applied.
        let requests = try updates.map(Self.wireRequest)
        var outcome = BulkUpdateOutcome(results: [], calls: 0, unconfirmed: [], failure: nil)
        var start = 0
        while start < requests.count {
            let end = min(start + Self.bulkUpdateLimit, requests.count)
            let body = try JSONEncoder().encode(WireBulkRequest(requests: Array(requests[start..<end])))
            let url = configuration.baseURL + "/sell/inventory/v1/bulk_update_price_quantity"
            outcome.calls += 1
            do {
                let response = try await authorized("inventory.bulk_update_price_quantity", tokens: userTokens) { token in
                    self.request(.post, url, token: token, body: Array(body))
                }
                let wire = try StatusMapping.decode(WireBulkResponse.self, response, operation: "inventory.bulk_update_price_quantity")
                guard let items = wire.responses else {
                    throw MarketplaceError.malformed("bulk_update_price_quantity answered \(response.status) without \"responses\"")
                }
                outcome.results += items.map {
                    PriceQuantityResult(statusCode: $0.statusCode, sku: $0.sku, offerID: $0.offerId,
                                        errors: $0.errors ?? [], warnings: $0.warnings ?? [])
                }
            } catch let error as MarketplaceError {
                outcome.failure = error
                outcome.unconfirmed = Array(updates[start...])
                return outcome
            }
            start = end
        }
        return outcome
    }

    static func wireRequest(_ update: PriceQuantityUpdate) throws -> WireBulkRequest.Request {
        if let quantity = update.shipToLocationQuantity, quantity < 0 {
            throw MarketplaceError.refused("quantity for SKU \(update.sku) is negative")
        }
        let offers = try update.offers.map { offer in
            if let quantity = offer.availableQuantity, quantity < 0 {
                throw MarketplaceError.refused("available quantity for offer \(offer.offerID) is negative")
            }
            return WireBulkRequest.Request.Offer(offerId: offer.offerID, availableQuantity: offer.availableQuantity,
                                                 price: try offer.price.map { try wireAmount($0, sku: update.sku) })
        }
        return WireBulkRequest.Request(sku: update.sku,
                                       shipToLocationAvailability: update.shipToLocationQuantity.map { .init(quantity: $0) },
                                       offers: offers.isEmpty ? nil : offers)
    }

    /// A price as eBay wants it: a decimal string with the currency's digits, never rounded here.
    static func wireAmount(_ price: Money, sku: String) throws -> WireAmount {
        let step = Money(minorUnits: 1, currency: price.currency).micros
        guard price.micros > 0, price.micros % step == 0 else {
            throw MarketplaceError.refused("price \(price) for SKU \(sku) must be positive and in whole \(price.currency) minor units")
        }
        return WireAmount(value: Money(micros: price.micros, currency: price.currency).fixedDecimalString, currency: price.currency.code)
    }
}
