import FlipSyncCore

/// One line of a buyer's order on one channel (the sandbox's orders have one line each).
public struct SandboxOrder: Sendable, Hashable, Codable {
    public var marketplace: MarketplaceName
    public var orderID: String
    public var lineID: String
    public var sku: String
    public var quantity: Int
    public var placedAtMilliseconds: Int64
    /// Unit price times quantity, and what the buyer paid for shipping.
    public var itemTotalMicros: Int64
    public var shippingPaidMicros: Int64
    public var shipTo: SandboxAddress
    /// The latest delivery promised to the buyer.
    public var deliverByMilliseconds: Int64
    /// True when the shelf did not hold enough units when it was placed.
    public var oversold: Bool
}

/// An order the shelf could not fill: a channel still showed stock that another had sold.
public struct SandboxOversell: Sendable, Hashable, Codable {
    public var marketplace: MarketplaceName
    public var orderID: String
    public var sku: String
    public var ordered: Int
    public var onShelf: Int
}

/// Why a channel refused an order: it will not sell more than the quantity it lists.
public enum OrderRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownSKU(String)
    case notListed(MarketplaceName, String)
    case insufficientQuantity(listed: Int, ordered: Int)

    public var description: String {
        switch self {
        case .unknownSKU(let sku): return "no product with SKU \(sku)"
        case .notListed(let marketplace, let sku): return "\(sku) is not listed on \(marketplace.rawValue)"
        case .insufficientQuantity(let listed, let ordered): return "only \(listed) listed, \(ordered) ordered"
        }
    }
}

/// Orders that arrive over time: the n-th arrives `n × interval` after the start, on a channel
/// and for a SKU drawn from the seed. The same seed and clock give the same orders.
struct OrderFeed: Sendable {
    let seed: UInt64
    let intervalMilliseconds: Int64?
    let startMilliseconds: Int64
    var generated: Int = 0

    init(seed: UInt64, ordersPerHour: Int, startMilliseconds: Int64) {
        self.seed = seed
        intervalMilliseconds = ordersPerHour > 0 ? 3_600_000 / Int64(ordersPerHour) : nil
        self.startMilliseconds = startMilliseconds
    }

    /// The arrival time of the next order not yet generated, if the feed runs.
    var nextArrival: Int64? { intervalMilliseconds.map { startMilliseconds + Int64(generated + 1) * $0 } }
}

extension SandboxState {
    /// How long after an order its delivery is promised: one handling day and five in transit.
    static let promiseMilliseconds: Int64 = 6 * 86_400_000

    // MARK: Inspection

    public var stock: [String: Int] { inner.withLock { $0.stock } }
    public var orders: [SandboxOrder] { inner.withLock { $0.orders } }
    public var oversells: [SandboxOversell] { inner.withLock { $0.oversells } }
    public func product(sku: String) -> SandboxProduct? { inner.withLock { $0.products[sku] } }
    public var products: [SandboxProduct] { inner.withLock { $0.products.values.sorted { $0.sku < $1.sku } } }

    /// Amazon's or Shopify's listings, in SKU order (eBay's are `listings`).
    public func channelListings(_ marketplace: MarketplaceName) -> [SandboxChannelListing] {
        inner.withLock { s in
            if let sorted = s.sortedChannels[marketplace] { return sorted }
            let sorted = (s.channels[marketplace] ?? [:]).values.sorted { $0.sku < $1.sku }
            s.sortedChannels[marketplace] = sorted
            return sorted
        }
    }

    public func channelListing(_ marketplace: MarketplaceName, sku: String) -> SandboxChannelListing? {
        inner.withLock { $0.channels[marketplace]?[sku] }
    }

    /// Every channel's listed quantity of `sku` (eBay included), for checks across channels.
    public func listedQuantities(sku: String) -> [MarketplaceName: Int] {
        inner.withLock { s in
            var out: [MarketplaceName: Int] = [:]
            if let index = s.indexBySKU[sku] { out[.ebay] = s.listings[index].quantity }
            for (marketplace, listings) in s.channels { if let listing = listings[sku] { out[marketplace] = listing.quantity } }
            return out
        }
    }

    // MARK: Updates from our side

    /// Sets an Amazon or Shopify listing's price and/or quantity and logs the change. False if
    /// the SKU is not listed there.
    @discardableResult
    public func applyChannel(_ marketplace: MarketplaceName, sku: String, priceMicros: Int64?, quantity: Int?) -> Bool {
        let now = clock.wallMilliseconds()
        defer { releaseUpdateWaiters() }
        return inner.withLock { s in
            guard let old = s.channels[marketplace]?[sku] else { return false }
            var new = old
            if let priceMicros { new.priceMicros = priceMicros }
            if let quantity { new.quantity = quantity }
            s.channels[marketplace]?[sku] = new
            s.updates.append(AppliedUpdate(sequence: s.updates.count + 1, marketplace: marketplace, sku: sku, offerId: old.listingID,
                                           oldPriceMicros: old.priceMicros, newPriceMicros: new.priceMicros,
                                           oldQuantity: old.quantity, newQuantity: new.quantity, atMilliseconds: now,
                                           priceSent: priceMicros != nil, quantitySent: quantity != nil))
            return true
        }
    }

    // MARK: Orders from buyers

    /// A buyer orders `quantity` of `sku` on `marketplace` now. The channel refuses to sell more
    /// than it lists; the shelf, shared by every channel, may hold less than was sold (an
    /// oversell, recorded). `shipTo`: the buyer's address; one of `SandboxAddress.destinations`
    /// drawn at random when nil.
    @discardableResult
    public func placeOrder(_ marketplace: MarketplaceName, sku: String, quantity: Int, shipTo: SandboxAddress? = nil) throws(OrderRefusal) -> SandboxOrder {
        let now = clock.wallMilliseconds()
        let result = inner.withLock { s in Self.place(&s, marketplace, sku: sku, quantity: quantity, at: now, shipTo: shipTo) }
        return try result.get()
    }

    /// Generates the orders the feed has due by now (called before every orders read, so a
    /// channel's orders appear as time passes). Returns how many were placed.
    @discardableResult
    public func arriveDueOrders() -> Int {
        let now = clock.wallMilliseconds()
        return inner.withLock { s in
            var placed = 0
            // Bounded: at most 10,000 per call, however long the sandbox was idle.
            var budget = 10_000
            while let due = s.feed.nextArrival, due <= now, budget > 0 {
                budget -= 1
                s.feed.generated += 1
                var rng = SeededGenerator(seed: s.feed.seed &* 0x9E37_79B9 &+ UInt64(s.feed.generated))
                let marketplace = [MarketplaceName.ebay, .amazon, .shopify][Int.random(in: 0..<3, using: &rng)]
                guard !s.listings.isEmpty else { break }
                let sku = s.listings[Int.random(in: 0..<s.listings.count, using: &rng)].sku
                let quantity = Int.random(in: 0..<5, using: &rng) == 0 ? 2 : 1
                if case .success = Self.place(&s, marketplace, sku: sku, quantity: quantity, at: due, rng: &rng) { placed += 1 }
            }
            return placed
        }
    }

    private static func place(_ s: inout Inner, _ marketplace: MarketplaceName, sku: String, quantity: Int, at now: Int64,
                              shipTo: SandboxAddress?) -> Result<SandboxOrder, OrderRefusal> {
        var rng = SeededGenerator(seed: UInt64(bitPattern: now) ^ UInt64(s.orders.count + 1) &* 0xA24B_AED4_963E_E407)
        return place(&s, marketplace, sku: sku, quantity: quantity, at: now, shipTo: shipTo, rng: &rng)
    }

    private static func place(_ s: inout Inner, _ marketplace: MarketplaceName, sku: String, quantity: Int, at now: Int64,
                              shipTo: SandboxAddress? = nil, rng: inout SeededGenerator) -> Result<SandboxOrder, OrderRefusal> {
        guard let product = s.products[sku] else { return .failure(.unknownSKU(sku)) }
        let listedPrice: Int64
        switch marketplace {
        case .ebay:
            guard let index = s.indexBySKU[sku] else { return .failure(.notListed(marketplace, sku)) }
            guard s.listings[index].quantity >= quantity else {
                return .failure(.insufficientQuantity(listed: s.listings[index].quantity, ordered: quantity))
            }
            s.listings[index].quantity -= quantity
            listedPrice = s.listings[index].priceMicros
        case .amazon, .shopify:
            guard let listing = s.channels[marketplace]?[sku] else { return .failure(.notListed(marketplace, sku)) }
            guard listing.quantity >= quantity else {
                return .failure(.insufficientQuantity(listed: listing.quantity, ordered: quantity))
            }
            s.channels[marketplace]?[sku]?.quantity -= quantity
            listedPrice = listing.priceMicros
        }
        let onShelf = s.stock[sku] ?? 0
        let number = s.orders.count + 1
        let orderID: String
        switch marketplace {
        case .ebay: orderID = "\(10 + number % 90)-\(String(10_000 + number % 90_000))-\(String(20_000 + number * 7 % 80_000))"
        case .amazon: orderID = "11\(number % 10)-\(String(1_000_000 + number * 37 % 9_000_000))-\(String(1_000_000 + number * 91 % 9_000_000))"
        case .shopify: orderID = String(5_500_000_000 + Int64(number) * 3)
        }
        let order = SandboxOrder(
            marketplace: marketplace, orderID: orderID, lineID: "\(orderID)-1", sku: sku, quantity: quantity,
            placedAtMilliseconds: now, itemTotalMicros: listedPrice * Int64(quantity),
            shippingPaidMicros: product.shippingChargedMicros,
            shipTo: shipTo ?? SandboxAddress.destinations[Int.random(in: 0..<SandboxAddress.destinations.count, using: &rng)],
            deliverByMilliseconds: now + promiseMilliseconds, oversold: onShelf < quantity)
        s.stock[sku] = onShelf - quantity
        if order.oversold {
            s.oversells.append(SandboxOversell(marketplace: marketplace, orderID: orderID, sku: sku, ordered: quantity, onShelf: onShelf))
        }
        s.orders.append(order)
        return .success(order)
    }
}
