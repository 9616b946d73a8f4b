import FlipSyncCore
import Logging
import Synchronization

/// Our own Shopify store as a `Marketplace`: listings are product variants (`listingID` is the
/// variant id), prices are set per variant, quantities per inventory item at the stock location,
/// and orders are read with Shopify's `since_id` cursor.
///
/// A store of our own has no other sellers in it, so `competition(for:)` is always empty: the
/// repricer prices Shopify listings from the other channels' competition and our costs
/// (`unitCosts()`), not from offers on this channel.
///
/// Changes are absolute (a price, a quantity), so applying a batch again after a thrown error
/// is safe.
public final class ShopifyMarketplace: Marketplace {
    public let client: ShopifyClient
    private let logger: Logger
    /// Variant id → inventory item id, learned from product pages and variant reads.
    private let inventoryItemIDs = Mutex<[Int64: Int64]>([:])

    public var name: MarketplaceName { .shopify }

    public init(client: ShopifyClient, logger: Logger = Logger(label: "flipsync.marketplaces.shopify")) {
        self.client = client
        self.logger = logger
    }

    /// Every variant of every active product with a SKU, as a new-condition listing.
    /// Variants without a SKU cannot be matched to our catalog and are left out (logged).
    public func activeListings() async throws -> [MarketplaceListing] {
        var listings: [MarketplaceListing] = []
        for variant in try await allVariants() {
            guard let sku = variant.sku, !sku.isEmpty else {
                logger.notice("Shopify variant without a SKU skipped", metadata: ["variant": "\(variant.variantID)"])
                continue
            }
            listings.append(MarketplaceListing(
                marketplace: .shopify, sku: sku, listingID: String(variant.variantID),
                gtin: variant.barcode.flatMap { $0.isEmpty ? nil : $0 }, title: variant.productTitle ?? "",
                condition: .new, price: variant.price, quantity: variant.inventoryQuantity ?? 0))
        }
        return listings
    }

    /// Always empty: there are no other sellers in our own store.
    public func competition(for listing: MarketplaceListing) async throws -> Competition {
        Competition(offers: [])
    }

    /// Each change in order: its price through `variants/{id}.json`, then its quantity through
    /// `inventory_levels/set.json`. A change Shopify refuses (4xx) or we refuse to send fails
    /// alone with that message; a rate limit, an outage, a bad token or a malformed answer is
    /// thrown and stops the batch.
    public func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult] {
        var results: [ListingChangeResult] = []
        for change in changes {
            func result(_ outcome: ListingChangeResult.Outcome) -> ListingChangeResult {
                ListingChangeResult(sku: change.sku, listingID: change.listingID, outcome: outcome)
            }
            guard let variantID = Int64(change.listingID) else {
                results.append(result(.failed("listing id \"\(change.listingID)\" is not a Shopify variant id")))
                continue
            }
            // Which half failed, when one did: a price already set stays set.
            var part = "price"
            do {
                if let price = change.price {
                    let updated = try await client.updateVariantPrice(variantID: variantID, price: price)
                    remember(updated)
                }
                if let quantity = change.quantity {
                    part = "quantity"
                    _ = try await client.setInventory(inventoryItemID: try await inventoryItemID(of: variantID), available: quantity)
                }
                results.append(result(.applied))
            } catch let error as MarketplaceError {
                switch error {
                case .permanent(let status, let message):
                    results.append(result(.failed("\(part): Shopify refused it (HTTP \(status)): \(message)")))
                case .refused(let message): results.append(result(.failed("\(part): \(message)")))
                case .auth, .rateLimited, .transient, .malformed: throw error
                }
            }
        }
        return results
    }

    /// Lines of orders with an id above `cursor` (every order Shopify returns when nil), every
    /// page; the new cursor is the highest order id seen (the old one when there is nothing new).
    ///
    /// Shipping paid is the order's `shipping_lines` total, put on its first line (zero on the
    /// others); a line is open while neither it nor its order is fulfilled and the order is not
    /// cancelled. Shopify's REST order has no promised delivery date, so `deliverBy` is nil.
    /// Orders are read by id, so a later change of an order already read (fulfilled,
    /// cancelled) is not seen again through this cursor.
    public func orders(since cursor: String?) async throws -> OrdersPage {
        var sinceID: Int64?
        if let cursor {
            guard let id = Int64(cursor), id >= 0 else {
                throw MarketplaceError.refused("Shopify order cursor \"\(cursor)\" is not an order id")
            }
            sinceID = id
        }
        var lines: [OrderLine] = []
        var highest = sinceID
        var pageInfo: String?
        repeat {
            let page = try await client.orders(sinceID: sinceID, pageInfo: pageInfo)
            for order in page.orders {
                highest = max(highest ?? order.id, order.id)
                lines += Self.lines(of: order)
            }
            pageInfo = page.nextPageInfo
        } while pageInfo != nil
        return OrdersPage(lines: lines, cursor: highest.map(String.init))
    }

    /// SKU → our unit cost, from the inventory items of every active variant; SKUs whose
    /// item has no cost are left out. The repricer's cost source for this store.
    public func unitCosts() async throws -> [String: Money] {
        let variants = try await allVariants()
        var skuByItem: [Int64: String] = [:]
        for variant in variants {
            if let item = variant.inventoryItemID, let sku = variant.sku, !sku.isEmpty { skuByItem[item] = sku }
        }
        var costs: [String: Money] = [:]
        for item in try await client.inventoryItems(ids: skuByItem.keys.sorted()) {
            guard let cost = item.cost, let sku = skuByItem[item.id] ?? item.sku else { continue }
            costs[sku] = cost
        }
        return costs
    }

    /// Every SKU'd variant's domestic (US) shipping charge from the shop's shipping zones: the
    /// zones whose countries include `US`, their weight-based rates that take the variant's
    /// weight and their price-based rates that take its price, one unit as the whole order.
    /// The buyer picks the cheapest rate offered, so that is the charge. The REST resource does
    /// not say which delivery profile a product is in, so when several zones cover the US every
    /// one counts: the charge is the lowest any of them offers, never an overstatement.
    /// Shopify has no handling time and its rates name no carrier service (`handlingDays` and
    /// `serviceKey` are nil). Carrier-calculated rates are computed at checkout: without a flat
    /// rate that applies, the charge is nil with a note saying why.
    public func listingShipping() async throws -> [ListingShipping] {
        let zones = try await client.shippingZones().filter { $0.countries.contains { $0.code == "US" } }
        return try await allVariants().compactMap { variant -> ListingShipping? in
            guard let sku = variant.sku, !sku.isEmpty else { return nil }
            return Self.shipping(variant, sku: sku, zones: zones)
        }
    }

    static func shipping(_ variant: ShopifyVariant, sku: String, zones: [ShopifyShippingZone]) -> ListingShipping {
        let grams = Self.grams(variant)
        var offered: [(zone: String, rate: String, price: Money)] = []
        for zone in zones {
            if let grams {
                for rate in zone.weightRates where rate.applies(grams: grams) { offered.append((zone.name, rate.name, rate.price)) }
            }
            for rate in zone.priceRates where rate.applies(subtotal: variant.price) { offered.append((zone.name, rate.name, rate.price)) }
        }
        let cheapest = offered.min { ($0.price.micros, $0.zone, $0.rate) < ($1.price.micros, $1.zone, $1.rate) }
        var note: String?
        if cheapest == nil {
            note = zones.isEmpty ? "no shipping zone covers US"
                : zones.contains { $0.carrierRateProviders > 0 } ? "carrier-calculated rates: Shopify computes them at checkout"
                : "no flat rate of the US zones applies to \(grams.map { "\($0) g" } ?? "an unknown weight") at \(variant.price)"
        }
        return ListingShipping(marketplace: .shopify, sku: sku, listingID: String(variant.variantID), price: variant.price,
                               charge: cheapest?.price, handlingDays: nil, serviceKey: nil,
                               policy: cheapest.map { "Shopify zone \"\($0.zone)\", rate \"\($0.rate)\"" } ?? "Shopify shipping zones",
                               note: note)
    }

    /// The variant's weight in grams: `weight` in its `weight_unit` when given, else `grams`.
    static func grams(_ variant: ShopifyVariant) -> Int? {
        if let weight = variant.weight, let unit = variant.weightUnit {
            let perUnit: Double? = ["g": 1, "kg": 1000, "oz": 28.349523125, "lb": 453.59237][unit]
            if let perUnit { return Int((weight * perUnit).rounded()) }
        }
        return variant.grams
    }

    // MARK: Helpers

    static func lines(of order: ShopifyOrder) -> [OrderLine] {
        let destination = order.shippingAddress.flatMap { address -> Destination? in
            guard let zip = address.zip, let country = address.countryCode else { return nil }
            return Destination(postalCode: zip, country: country, region: address.provinceCode)
        }
        let orderOpen = order.cancelledAt == nil && order.fulfillmentStatus != "fulfilled"
        return order.lineItems.enumerated().map { index, line in
            OrderLine(marketplace: .shopify, orderID: String(order.id), lineID: String(line.id), sku: line.sku ?? "",
                      quantity: line.quantity, placedAt: order.createdAt, itemPrice: line.price * Int64(line.quantity),
                      shippingPaid: index == 0 ? order.shipping : .zero(order.currency), destination: destination,
                      deliverBy: nil, open: orderOpen && line.fulfillmentStatus != "fulfilled")
        }
    }

    private func allVariants() async throws -> [ShopifyVariant] {
        var variants: [ShopifyVariant] = []
        var pageInfo: String?
        repeat {
            let page = try await client.products(pageInfo: pageInfo)
            variants += page.variants
            pageInfo = page.nextPageInfo
        } while pageInfo != nil
        variants.forEach(remember)
        return variants
    }

    private func remember(_ variant: ShopifyVariant) {
        guard let item = variant.inventoryItemID else { return }
        inventoryItemIDs.withLock { $0[variant.variantID] = item }
    }

    private func inventoryItemID(of variantID: Int64) async throws -> Int64 {
        if let known = inventoryItemIDs.withLock({ $0[variantID] }) { return known }
        let variant = try await client.variant(id: variantID)
        remember(variant)
        guard let item = variant.inventoryItemID else {
            throw MarketplaceError.malformed("variant \(variantID) has no inventory_item_id")
        }
        return item
    }
}
