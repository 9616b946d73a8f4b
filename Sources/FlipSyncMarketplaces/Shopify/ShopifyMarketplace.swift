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
