import FlipSyncCore

/// The catalog's generator: FlipSyncCore's `SplitMix64`, whose sequence depends only on the seed.
public typealias SeededGenerator = SplitMix64

/// An eBay item condition in both of eBay's vocabularies: Browse's numeric id and display text,
/// and the Inventory API's enum.
public struct ListingCondition: Sendable, Hashable, Codable {
    public var id: Int
    public var text: String
    public var inventoryEnum: String

    public static let new = ListingCondition(id: 1000, text: "New", inventoryEnum: "NEW")
    public static let newOther = ListingCondition(id: 1500, text: "New other (see details)", inventoryEnum: "NEW_OTHER")
    public static let usedExcellent = ListingCondition(id: 3000, text: "Used", inventoryEnum: "USED_EXCELLENT")
    public static let forParts = ListingCondition(id: 7000, text: "For parts or not working", inventoryEnum: "FOR_PARTS_OR_NOT_WORKING")
}

/// One of our listings in the sandbox: an inventory item with one published offer.
public struct SandboxListing: Sendable, Hashable, Codable {
    public var sku: String
    public var offerId: String
    public var gtin: String
    public var title: String
    public var brand: String
    public var condition: ListingCondition
    /// What we paid, exact.
    public var costMicros: Int64
    public var priceMicros: Int64
    public var quantity: Int
    public var currency: String
}

/// Another seller's listing of (or like) one of our items, as Browse search shows it.
public struct SandboxCompetitorOffer: Sendable, Hashable, Codable {
    public var itemId: String
    public var title: String
    /// Absent for listings that only look similar (no product identifier given by their seller).
    public var gtin: String?
    public var priceMicros: Int64
    public var shippingMicros: Int64
    public var condition: ListingCondition
    public var sellerUsername: String
    /// A decimal string with one place, as eBay sends it ("99.1").
    public var feedbackPercentage: String
    public var feedbackScore: Int
    public var currency: String

    /// What `sort=price` orders by: price plus shipping.
    public var landedMicros: Int64 { priceMicros + shippingMicros }
}

/// A deterministic catalog: the same seed and size always give the same listings and offers.
public struct SeededCatalog: Sendable {
    public var listings: [SandboxListing]
    public var competitors: [SandboxCompetitorOffer]

    static let brands = ["Acme", "Northwind", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell"]
    static let products = ["Wireless Mouse", "USB-C Hub", "Mechanical Keyboard", "Desk Lamp", "Water Bottle",
                           "Bluetooth Speaker", "Phone Case", "Backpack", "Travel Mug", "Webcam"]
    static let conditions: [ListingCondition] = [.new, .new, .new, .newOther, .usedExcellent, .forParts]

    /// `sharedGTINPercent` (0 by default, which keeps every seed's catalog exactly as it was):
    /// that share of listings, drawn at random, is another listing of a product already listed
    /// (its GTIN, brand and title; its condition half the time, else drawn), as a reseller lists
    /// several lots or conditions of one product. Each still has its own SKU, cost, price,
    /// quantity and competitors.
    public init(seed: UInt64, listings count: Int, sharedGTINPercent: Int = 0) {
        var rng = SeededGenerator(seed: seed)
        var listings: [SandboxListing] = []
        var competitors: [SandboxCompetitorOffer] = []
        var usedGTINs = Set<String>()
        var names: [(product: String, model: String)] = []
        for index in 0..<count {
            let original: Int? = sharedGTINPercent > 0 && !listings.isEmpty && Int.random(in: 0..<100, using: &rng) < sharedGTINPercent
                ? Int.random(in: 0..<listings.count, using: &rng) : nil
            let brand: String, product: String, model: String, gtin: String, condition: ListingCondition
            if let original {
                brand = listings[original].brand
                (product, model) = names[original]
                gtin = listings[original].gtin
                condition = Bool.random(using: &rng) ? listings[original].condition
                    : Self.conditions[Int.random(in: 0..<Self.conditions.count, using: &rng)]
            } else {
                brand = Self.brands[Int.random(in: 0..<Self.brands.count, using: &rng)]
                product = Self.products[Int.random(in: 0..<Self.products.count, using: &rng)]
                model = "\(Character(Unicode.Scalar(UInt8(65 + Int.random(in: 0..<26, using: &rng)))))\(Int.random(in: 100...999, using: &rng))"
                var fresh = Self.upc(using: &rng)
                while usedGTINs.contains(fresh) { fresh = Self.upc(using: &rng) }
                usedGTINs.insert(fresh)
                gtin = fresh
                condition = Self.conditions[Int.random(in: 0..<Self.conditions.count, using: &rng)]
            }
            names.append((product, model))
            let costCents = Int64.random(in: 300...8_000, using: &rng)
            // A markup of 20–80%, ending in .99 or .49 like real shelf prices.
            let rawCents = costCents + costCents * Int64.random(in: 20...80, using: &rng) / 100
            let priceCents = max(99, rawCents / 100 * 100 + (Bool.random(using: &rng) ? 99 : 49))
            let listing = SandboxListing(
                sku: "FS-\(String(repeating: "0", count: max(0, 5 - String(index + 1).count)))\(index + 1)",
                offerId: String(5_000_000_000 + Int64(index) * 7 + 3), gtin: gtin, title: "\(brand) \(product) \(model)",
                brand: brand, condition: condition, costMicros: costCents * 10_000, priceMicros: priceCents * 10_000,
                quantity: Int.random(in: 0...40, using: &rng), currency: "USD")
            listings.append(listing)
            for _ in 0..<Int.random(in: 2...6, using: &rng) {
                let sameProduct = Int.random(in: 0..<4, using: &rng) != 0
                let competitorCents = max(99, priceCents * Int64.random(in: 75...125, using: &rng) / 100)
                let shippingCents: Int64 = Bool.random(using: &rng) ? 0 : [299, 399, 499, 599, 899][Int.random(in: 0..<5, using: &rng)]
                let feedbackTenths = Int.random(in: 900...1000, using: &rng)
                competitors.append(SandboxCompetitorOffer(
                    itemId: "v1|\(Int64.random(in: 100_000_000_000...999_999_999_999, using: &rng))|0",
                    title: sameProduct ? listing.title : "\(product) compatible with \(brand) \(model)",
                    gtin: sameProduct ? gtin : nil, priceMicros: competitorCents * 10_000, shippingMicros: shippingCents * 10_000,
                    condition: Self.conditions[Int.random(in: 0..<Self.conditions.count, using: &rng)],
                    sellerUsername: "seller_\(Int.random(in: 1000...99_999, using: &rng))",
                    feedbackPercentage: "\(feedbackTenths / 10).\(feedbackTenths % 10)",
                    feedbackScore: Int.random(in: 0...50_000, using: &rng), currency: "USD"))
            }
        }
        self.listings = listings
        self.competitors = competitors
    }

    /// A UPC-A: 11 digits and the check digit.
    static func upc(using rng: inout SeededGenerator) -> String {
        var digits = (0..<11).map { _ in Int.random(in: 0...9, using: &rng) }
        digits[0] = Int.random(in: 1...9, using: &rng)
        let odd = stride(from: 0, to: 11, by: 2).reduce(0) { $0 + digits[$1] }
        let even = stride(from: 1, to: 11, by: 2).reduce(0) { $0 + digits[$1] }
        digits.append((10 - (odd * 3 + even) % 10) % 10)
        return digits.map(String.init).joined()
    }
}
