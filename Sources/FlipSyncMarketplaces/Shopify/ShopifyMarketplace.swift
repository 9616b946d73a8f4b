import FlipSyncCore
import Logging
import Synchronization

/// Our own Shopify store as a `Marketplace`, over the GraphQL Admin API: listings are product
/// variants (`listingID` is the variant id) with the quantity available at the stock location,
/// prices are set per product (`productVariantsBulkUpdate`), quantities per inventory item
/// with a compare-and-set (`inventorySetQuantities` with `compareQuantity`), and orders are
/// read by `updated_at`.
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
    /// What the last read said of each variant: its product, inventory item and available quantity.
    private let known = Mutex<[Int64: Known]>([:])

    struct Known: Hashable {
        var productID: Int64
        var inventoryItemID: Int64?
        var available: Int?
    }

    public var name: MarketplaceName { .shopify }

    /// The sync pushes up to 250 changes at once: their quantities are one `inventorySetQuantities`.
    public var pushBatchSize: Int { ShopifyClient.setQuantitiesLimit }

    public init(client: ShopifyClient, logger: Logger = Logger(label: "flipsync.marketplaces.shopify")) {
        self.client = client
        self.logger = logger
    }

    /// Every variant of every active product with a SKU, as a new-condition listing whose
    /// quantity is what is available at the stock location. Variants without a SKU cannot be
    /// matched to our catalog and are left out (logged).
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
                condition: .new, price: variant.price, quantity: variant.available ?? 0))
        }
        return listings
    }

    /// Always empty: there are no other sellers in our own store.
    public func competition(for listing: MarketplaceListing) async throws -> Competition {
        Competition(offers: [])
    }

    /// Prices first, one `productVariantsBulkUpdate` per product (a variant Shopify refuses
    /// fails alone, with Shopify's code and message); then the quantities through
    /// `inventorySetQuantities`, up to 250 items a call, each compared with the quantity this
    /// marketplace last read for the item (its last `activeListings`, else a read just before
    /// the push). Shopify applies one call all or nothing (see `setQuantities`).
    ///
    /// A stale compare (`COMPARE_QUANTITY_STALE`) means the quantity changed on Shopify since it
    /// was read, a concurrent sale: the item is read again, the units sold since (read − now,
    /// when positive) come off the target, and the set is retried against the new quantity, at
    /// most `compareRetries` times; then the change fails. A quantity is never written over one
    /// we have not seen. A change with a refused price does not send its quantity. A rate limit,
    /// an outage, a bad token, a GraphQL error or a malformed answer is thrown and stops the batch.
    public func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult] {
        var failures: [Int: String] = [:]
        var variantIDs: [Int: Int64] = [:]
        for (index, change) in changes.enumerated() {
            if let id = Int64(change.listingID) { variantIDs[index] = id } else {
                failures[index] = "listing id \"\(change.listingID)\" is not a Shopify variant id"
            }
        }
        // What each variant is: from the last read, else read now.
        var info: [Int64: Known] = [:]
        for index in changes.indices {
            guard let id = variantIDs[index], failures[index] == nil, info[id] == nil else { continue }
            if let found = try await knownVariant(id) { info[id] = found } else {
                failures[index] = "\(changes[index].price != nil ? "price" : "quantity"): Shopify has no variant \(id)"
            }
        }
        // Prices, grouped per product in the order products first appear.
        var byProduct: [(product: Int64, entries: [(index: Int, variantID: Int64, price: Money)])] = []
        for (index, change) in changes.enumerated() {
            guard let price = change.price, failures[index] == nil, let id = variantIDs[index], let product = info[id]?.productID else { continue }
            if let at = byProduct.firstIndex(where: { $0.product == product }) {
                byProduct[at].entries.append((index, id, price))
            } else {
                byProduct.append((product, [(index, id, price)]))
            }
        }
        for group in byProduct {
            do {
                let refused = try await client.updatePrices(productID: group.product, group.entries.map { ($0.variantID, $0.price) })
                for entry in group.entries {
                    if let message = refused[entry.variantID] { failures[entry.index] = "price: Shopify refused it: \(message)" }
                }
            } catch MarketplaceError.refused(let message) {
                for entry in group.entries { failures[entry.index] = "price: \(message)" }
            }
        }
        // Quantities, compare-and-set, up to 250 items an inventorySetQuantities (an item once a call).
        var batches: [[PendingQuantity]] = [[]]
        var inBatch = Set<Int64>()
        for (index, change) in changes.enumerated() {
            guard let quantity = change.quantity, failures[index] == nil, let id = variantIDs[index] else { continue }
            guard quantity >= 0 else { failures[index] = "quantity: quantity for variant \(id) is negative"; continue }
            guard let item = info[id]?.inventoryItemID else { failures[index] = "quantity: variant \(id) has no inventory item"; continue }
            let compare: Int
            if let read = info[id]?.available { compare = read } else { compare = try await client.available(inventoryItemID: item) ?? 0 }
            if batches[batches.count - 1].count == ShopifyClient.setQuantitiesLimit || inBatch.contains(item) {
                batches.append([])
                inBatch = []
            }
            inBatch.insert(item)
            batches[batches.count - 1].append(PendingQuantity(index: index, variantID: id, item: item, target: quantity, compare: compare))
        }
        for batch in batches where !batch.isEmpty {
            for (index, failure) in try await setQuantities(batch) { failures[index] = "quantity: \(failure)" }
        }
        return changes.enumerated().map { index, change in
            ListingChangeResult(sku: change.sku, listingID: change.listingID, outcome: failures[index].map { .failed($0) } ?? .applied)
        }
    }

    struct PendingQuantity {
        var index: Int
        var variantID: Int64
        var item: Int64
        var target: Int
        var compare: Int
        var attempts = 0
    }

    /// Sets a batch of quantities (at most 250, each inventory item once) with one
    /// `inventorySetQuantities`, compare-and-set; the failures by change index. Shopify applies
    /// the mutation all or nothing, so when some compares are stale nothing was written: only
    /// those items are read again (the units sold since come off their targets, as in
    /// `setQuantity`), and the batch is sent again with their new compares and everyone else's
    /// unchanged; an item stale more than `compareRetries` times fails and leaves the batch. An
    /// item Shopify refuses for another reason fails and leaves the batch; the rest is sent again.
    private func setQuantities(_ batch: [PendingQuantity]) async throws -> [Int: String] {
        var pending = batch
        var failures: [Int: String] = [:]
        while !pending.isEmpty {
            switch try await client.setInventory(pending.map { ($0.item, $0.target, $0.compare) }) {
            case .applied:
                for entry in pending { remember(entry.variantID) { $0.available = entry.target } }
                return failures
            case .refused(let message, let at):
                guard let at else {
                    for entry in pending { failures[entry.index] = "Shopify refused it: \(message)" }
                    return failures
                }
                failures[pending[at].index] = "Shopify refused it: \(message)"
                pending.remove(at: at)
            case .stale(let indices):
                var dropped = Set<Int>()
                for at in indices.sorted() {
                    var entry = pending[at]
                    entry.attempts += 1
                    let now = try await client.available(inventoryItemID: entry.item) ?? 0
                    remember(entry.variantID) { $0.available = now }
                    // Units sold on Shopify since the read are gone from the shelf too: list that many fewer.
                    let sold = entry.compare - now
                    if sold > 0 { entry.target = max(0, entry.target - sold) }
                    logger.info("Shopify quantity changed since it was read; re-read",
                                metadata: ["variant": "\(entry.variantID)", "read": "\(entry.compare)", "now": "\(now)", "target": "\(entry.target)"])
                    entry.compare = now
                    if entry.attempts > client.configuration.compareRetries {
                        failures[entry.index] = "the quantity kept changing on Shopify (\(entry.attempts) stale compares); not overwritten"
                        dropped.insert(at)
                    }
                    pending[at] = entry
                }
                pending = pending.enumerated().filter { !dropped.contains($0.offset) }.map(\.element)
            }
        }
        return failures
    }

    /// Lines of orders updated at or after `cursor` (an ISO 8601 `updated_at`; every order
    /// Shopify returns when nil, or when the cursor is an order id from the REST client), every
    /// page; the new cursor is the latest `updatedAt` seen (the old one when there is nothing new).
    /// The filter is inclusive, so the orders at the cursor's second come again (callers apply
    /// each line once), and an order changed after it was read (fulfilled, cancelled) is read again.
    ///
    /// Shipping paid is the order's `totalShippingPriceSet`, put on its first line (zero on the
    /// others); a line is open while it has units left to fulfil, its order is not fulfilled
    /// and not cancelled. Shopify's order has no promised delivery date, so `deliverBy` is nil.
    public func orders(since cursor: String?) async throws -> OrdersPage {
        var since: String?
        var latest: (seconds: Int64, text: String)?
        if let cursor {
            if let stamp = Timestamp(parsing: cursor) {
                since = cursor
                latest = (stamp.secondsSinceEpoch, cursor)
            } else if Int64(cursor) == nil {
                throw MarketplaceError.refused("Shopify order cursor \"\(cursor)\" is not an ISO 8601 time")
            }
        }
        var lines: [OrderLine] = []
        var after: String?
        repeat {
            let page = try await client.orders(updatedAtMin: since, after: after)
            for order in page.orders {
                if let stamp = Timestamp(parsing: order.updatedAt), stamp.secondsSinceEpoch > latest?.seconds ?? .min {
                    latest = (stamp.secondsSinceEpoch, stamp.iso8601UTC)
                }
                lines += Self.lines(of: order)
            }
            after = page.nextCursor
        } while after != nil
        return OrdersPage(lines: lines, cursor: latest?.text ?? cursor)
    }

    /// SKU → our unit cost, from the inventory items of every active variant; SKUs whose
    /// item has no cost are left out. The repricer's cost source for this store.
    public func unitCosts() async throws -> [String: Money] {
        var costs: [String: Money] = [:]
        for variant in try await allVariants() {
            if let cost = variant.unitCost, let sku = variant.sku, !sku.isEmpty { costs[sku] = cost }
        }
        return costs
    }

    /// Every SKU'd variant's domestic (US) shipping charge from the shop's shipping zones: the
    /// zones whose countries include `US`, their weight-based rates that take the variant's
    /// weight and their price-based rates that take its price, one unit as the whole order.
    /// The buyer picks the cheapest rate offered, so that is the charge. FlipSync does not read
    /// which delivery profile a product is in (the profiles' `profileItems`), so when several zones cover the US every
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

    /// The variant's weight in grams: its inventory item's `measurement.weight` in its unit.
    static func grams(_ variant: ShopifyVariant) -> Int? {
        guard let weight = variant.weight, let unit = variant.weightUnit,
              let perUnit = ["g": 1, "kg": 1000, "oz": 28.349523125, "lb": 453.59237][unit] else { return nil }
        return Int((weight * perUnit).rounded())
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

    /// Every variant of active products: page by page, or, above `bulkThreshold` variants, with
    /// one bulk operation (page by page after all when the transport refuses its file's host).
    private func allVariants() async throws -> [ShopifyVariant] {
        var variants: [ShopifyVariant] = []
        _ = try await client.stockLocationID()
        var paged = true
        if try await client.variantsCount() > client.configuration.bulkThreshold {
            do {
                variants = try await client.bulkVariants()
                paged = false
            } catch MarketplaceError.refused(let reason) {
                // The result file's host is not in the allow-list: read page by page instead.
                logger.warning("Shopify bulk read refused; reading page by page", metadata: ["reason": "\(reason)"])
            }
        }
        if paged {
            var after: String?
            repeat {
                let page = try await client.variants(after: after)
                variants += page.variants
                after = page.nextCursor
            } while after != nil
        }
        known.withLock { known in
            for variant in variants {
                known[variant.variantID] = Known(productID: variant.productID, inventoryItemID: variant.inventoryItemID, available: variant.available)
            }
        }
        return variants
    }

    private func remember(_ variantID: Int64, _ change: (inout Known) -> Void) {
        known.withLock { if $0[variantID] != nil { change(&$0[variantID]!) } }
    }

    /// The variant as last read, or read now; nil when Shopify has no such variant.
    private func knownVariant(_ variantID: Int64) async throws -> Known? {
        if let found = known.withLock({ $0[variantID] }) { return found }
        guard let variant = try await client.variant(id: variantID) else { return nil }
        let found = Known(productID: variant.productID, inventoryItemID: variant.inventoryItemID, available: variant.available)
        known.withLock { $0[variantID] = found }
        return found
    }
}
