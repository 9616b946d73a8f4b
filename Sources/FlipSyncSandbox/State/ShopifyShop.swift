import FlipSyncCore
import Foundation
import Synchronization

/// The sandbox shop's GraphQL cost bucket: `maximumAvailable` points, restored at
/// `restoreRate` a second on the sandbox's clock. A query takes its requested cost when it
/// fits, and is throttled (nothing taken) when it does not.
/// Reference: https://shopify.dev/docs/api/usage/limits#graphql-admin-api-rate-limits.
public final class ShopifyCostBucket: Sendable {
    public struct Status: Sendable, Hashable {
        public var maximumAvailable: Double
        public var currentlyAvailable: Double
        public var restoreRate: Double
    }

    private struct State {
        var maximum: Double
        var rate: Double
        var available: Double
        var last: Int64
    }

    private let state: Mutex<State>
    private let clock: any SchedulerClock

    init(maximumAvailable: Double, restoreRate: Double, clock: any SchedulerClock) {
        self.clock = clock
        state = Mutex(State(maximum: maximumAvailable, rate: restoreRate, available: maximumAvailable, last: clock.monotonicMilliseconds()))
    }

    private static func restore(_ s: inout State, now: Int64) {
        s.available = min(s.maximum, s.available + Double(now - s.last) / 1000 * s.rate)
        s.last = now
    }

    /// Takes `cost` points if they are available; the status after (or at) the attempt.
    func take(_ cost: Int) -> (admitted: Bool, status: Status) {
        let now = clock.monotonicMilliseconds()
        return state.withLock { s in
            Self.restore(&s, now: now)
            let admitted = Double(cost) <= s.available
            if admitted { s.available -= Double(cost) }
            return (admitted, Status(maximumAvailable: s.maximum, currentlyAvailable: s.available, restoreRate: s.rate))
        }
    }

    public var status: Status {
        let now = clock.monotonicMilliseconds()
        return state.withLock { s in
            Self.restore(&s, now: now)
            return Status(maximumAvailable: s.maximum, currentlyAvailable: s.available, restoreRate: s.rate)
        }
    }

    /// A new size and restore rate; the bucket starts full.
    func configure(maximumAvailable: Double, restoreRate: Double) {
        let now = clock.monotonicMilliseconds()
        state.withLock { s in
            s = State(maximum: maximumAvailable, rate: restoreRate, available: maximumAvailable, last: now)
        }
    }
}

/// Shopify's listings by their ids (which never change once listed): variant id → SKU,
/// inventory item id → SKU, product id → SKUs.
struct ShopifyListingIndex {
    var byVariant: [String: String] = [:]
    var byItem: [String: String] = [:]
    var byProduct: [String: [String]] = [:]

    init(_ listings: [SandboxChannelListing] = []) {
        for listing in listings { add(listing) }
    }

    mutating func add(_ listing: SandboxChannelListing) {
        byVariant[listing.listingID] = listing.sku
        if let item = listing.inventoryItemID { byItem[item] = listing.sku }
        if let product = listing.productID { byProduct[product, default: []].append(listing.sku) }
    }
}

extension SandboxState {
    /// The Shopify listing with this variant id, now.
    func shopifyListing(variantID: String) -> SandboxChannelListing? {
        inner.withLock { s in s.shopifyIndex.byVariant[variantID].flatMap { s.channels[.shopify]?[$0] } }
    }

    /// The Shopify listing with this inventory item id, now.
    func shopifyListing(inventoryItemID: String) -> SandboxChannelListing? {
        inner.withLock { s in s.shopifyIndex.byItem[inventoryItemID].flatMap { s.channels[.shopify]?[$0] } }
    }

    /// A Shopify product's variants, in SKU order.
    func shopifyListings(productID: String) -> [SandboxChannelListing] {
        inner.withLock { s in (s.shopifyIndex.byProduct[productID] ?? []).compactMap { s.channels[.shopify]?[$0] }.sorted { $0.sku < $1.sku } }
    }

    /// How many variants the shop lists.
    var shopifyVariantCount: Int { inner.withLock { $0.channels[.shopify]?.count ?? 0 } }

    /// Shopify GraphQL queries answered `THROTTLED` so far (the cost bucket did not hold their cost).
    public var shopifyThrottledCount: Int { inner.withLock { $0.shopifyThrottled } }

    func countShopifyThrottled() { inner.withLock { $0.shopifyThrottled += 1 } }

    /// Shopify GraphQL request bodies parsed so far: one per request (the fault middleware's
    /// parse is the handler's).
    public var shopifyGraphQLParseCount: Int { inner.withLock { $0.shopifyGraphQLParses } }

    func countShopifyGraphQLParse() { inner.withLock { $0.shopifyGraphQLParses += 1 } }

    /// Resizes the Shopify GraphQL cost bucket (tests use a tiny one to provoke `THROTTLED`).
    public func setShopifyThrottle(maximumAvailable: Double, restoreRate: Double) {
        shopifyCost.configure(maximumAvailable: maximumAvailable, restoreRate: restoreRate)
    }

    /// Adds one Shopify product with `variants` variants (SKUs `{skuPrefix}-0001`…, all in
    /// stock, priced 10.00 + 0.01 × n), on Shopify only: what REST could not serve past 100
    /// variants. Not seeded: the seeded catalog (and every count pinned on it) is unchanged.
    @discardableResult
    public func addShopifyProduct(variants: Int, skuPrefix: String = "BIG", title: String = "Sandbox Big Product",
                                  quantity: Int = 5) -> [SandboxChannelListing] {
        let productID: Int64 = 7_900_000_000
        return inner.withLock { s in
            var added: [SandboxChannelListing] = []
            for n in 1...max(variants, 1) {
                let suffix = String(n)
                let sku = "\(skuPrefix)-\(String(repeating: "0", count: max(0, 4 - suffix.count)))\(suffix)"
                let listing = SandboxChannelListing(
                    marketplace: .shopify, sku: sku, listingID: String(49_000_000_000 + Int64(n)), priceMicros: 10_000_000 + Int64(n) * 10_000,
                    quantity: quantity, productID: String(productID), inventoryItemID: String(49_500_000_000 + Int64(n)))
                s.products[sku] = SandboxProduct(sku: sku, gtin: "", asin: nil, title: "\(title) - Size \(n)", weightOunces: 8,
                                                 lengthInches: 6, widthInches: 4, heightInches: 2, shippingChargedMicros: 0,
                                                 initialStock: quantity)
                s.channels[.shopify, default: [:]][sku] = listing
                s.shopifyIndex.add(listing)
                s.stock[sku] = quantity
                added.append(listing)
            }
            return added
        }
    }

    /// `inventorySetQuantities` at the shop's one location, all or nothing under one lock: each
    /// item's listed quantity becomes `quantity` if it equals `compare` (nil: not compared).
    /// Nil when applied; else the indices whose compare was stale, with the quantity found.
    func setShopifyQuantities(_ items: [(sku: String, compare: Int?, quantity: Int)]) -> [(index: Int, current: Int)]? {
        let now = clock.wallMilliseconds()
        defer { releaseUpdateWaiters() }
        return inner.withLock { s -> [(index: Int, current: Int)]? in
            var stale: [(index: Int, current: Int)] = []
            for (index, item) in items.enumerated() {
                let current = s.channels[.shopify]?[item.sku]?.quantity ?? 0
                if let compare = item.compare, compare != current { stale.append((index, current)) }
            }
            guard stale.isEmpty else { return stale }
            for item in items {
                guard let old = s.channels[.shopify]?[item.sku] else { continue }
                var new = old
                new.quantity = item.quantity
                s.channels[.shopify]?[item.sku] = new
                s.updates.append(AppliedUpdate(sequence: s.updates.count + 1, marketplace: .shopify, sku: item.sku, offerId: old.listingID,
                                               oldPriceMicros: old.priceMicros, newPriceMicros: new.priceMicros,
                                               oldQuantity: old.quantity, newQuantity: new.quantity, atMilliseconds: now,
                                               priceSent: false, quantitySent: true))
            }
            return nil
        }
    }
}

/// The sandbox shop's bulk operations: their JSONL results, and how many polls each reports
/// `RUNNING` before `COMPLETED` (0 by default; tests raise it to exercise polling).
public final class ShopifyBulkStore: Sendable {
    struct Operation {
        var id: Int
        var query: String
        var lines: [[UInt8]]
        var pollsLeft: Int
        var createdAt: Int64
    }

    private let state = Mutex<(operations: [Operation], pollsBeforeDone: Int, fileHost: String?)>(([], 0, nil))

    /// How many `currentBulkOperation` reads of a new operation answer `RUNNING` first.
    public func setPollsBeforeDone(_ polls: Int) { state.withLock { $0.pollsBeforeDone = max(0, polls) } }

    /// The host the result files' URLs name (default: the one the request came to), e.g. one
    /// outside a client's allow-list, as Shopify's `storage.googleapis.com` is.
    public func setFileHost(_ host: String?) { state.withLock { $0.fileHost = host } }
    var fileHost: String? { state.withLock { $0.fileHost } }

    func add(query: String, lines: [[UInt8]], at milliseconds: Int64) -> Int {
        state.withLock { s in
            let id = s.operations.count + 1
            s.operations.append(Operation(id: id, query: query, lines: lines, pollsLeft: s.pollsBeforeDone, createdAt: milliseconds))
            return id
        }
    }

    /// The latest operation, counting this read as a poll: (operation, completed).
    func poll() -> (Operation, Bool)? {
        state.withLock { s in
            guard let last = s.operations.indices.last else { return nil }
            let done = s.operations[last].pollsLeft == 0
            if !done { s.operations[last].pollsLeft -= 1 }
            return (s.operations[last], done)
        }
    }

    /// Whether the latest operation is still running (a new one is refused meanwhile, as on Shopify).
    var running: Bool { state.withLock { $0.operations.last.map { $0.pollsLeft > 0 } ?? false } }

    func file(id: Int) -> [UInt8]? {
        state.withLock { s in
            s.operations.first { $0.id == id }.map { Array($0.lines.joined(separator: [UInt8(ascii: "\n")])) + ($0.lines.isEmpty ? [] : [UInt8(ascii: "\n")]) }
        }
    }
}

/// The shop's delivery profiles as `deliveryProfiles` answers them before paging:
/// `SandboxShippingPolicies.shopifyDeliveryProfiles` and the zones tests add (not seeded, so the
/// default shop is unchanged). Added zones are kept as JSON, so the store is `Sendable`.
public final class ShopifyDeliveryStore: Sendable {
    private let added = Mutex<[[UInt8]]>([])

    public init() {}

    /// Appends a `DeliveryLocationGroupZone` (`zone` and `methodDefinitions` as a plain list, the
    /// shapes of `SandboxShippingPolicies.shopifyDeliveryProfiles`) to the first profile's first
    /// location group, after the zones already there.
    public func addZone(_ zone: [String: Any]) throws {
        let json = Array(try JSONSerialization.data(withJSONObject: zone, options: [.sortedKeys]))
        added.withLock { $0.append(json) }
    }

    var profiles: [[String: Any]] {
        var profiles = SandboxShippingPolicies.shopifyDeliveryProfiles
        let zones = added.withLock { $0 }.compactMap { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] }
        guard !zones.isEmpty, var groups = profiles.first?["profileLocationGroups"] as? [[String: Any]], !groups.isEmpty else { return profiles }
        groups[0]["locationGroupZones"] = (groups[0]["locationGroupZones"] as? [[String: Any]] ?? []) + zones
        profiles[0]["profileLocationGroups"] = groups
        return profiles
    }
}
