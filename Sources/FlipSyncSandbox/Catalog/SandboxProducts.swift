import FlipSyncCore

/// The physical side of one catalog item: what a warehouse and a carrier know about it.
/// Every product is sold in our Shopify store; some are also listed on Amazon (eBay has them
/// all, as `SandboxListing`s).
public struct SandboxProduct: Sendable, Hashable, Codable {
    public var sku: String
    public var gtin: String
    /// Amazon's id for the product, when it is listed there.
    public var asin: String?
    public var title: String
    /// Packed weight, ounces.
    public var weightOunces: Int
    /// Packed dimensions, whole inches.
    public var lengthInches: Int
    public var widthInches: Int
    public var heightInches: Int
    /// What buyers pay for shipping on our listings (0: free shipping, built into the price).
    public var shippingChargedMicros: Int64
    /// Units on the shelf when the sandbox starts.
    public var initialStock: Int
}

/// One of our listings on Amazon or Shopify, as that channel holds it.
public struct SandboxChannelListing: Sendable, Hashable, Codable {
    public var marketplace: MarketplaceName
    public var sku: String
    /// Amazon: the ASIN. Shopify: the variant id.
    public var listingID: String
    public var priceMicros: Int64
    public var quantity: Int
    /// Shopify only: the product and inventory item ids.
    public var productID: String?
    public var inventoryItemID: String?
}

/// A shipping address's parts that rates and promises depend on.
public struct SandboxAddress: Sendable, Hashable, Codable {
    public var postalCode: String
    public var city: String
    public var region: String
    public var country: String

    /// Real US ZIP codes spread over the carriers' zones from our warehouse (ZIP 10001, New York).
    public static let destinations: [SandboxAddress] = [
        SandboxAddress(postalCode: "10013", city: "New York", region: "NY", country: "US"),
        SandboxAddress(postalCode: "19103", city: "Philadelphia", region: "PA", country: "US"),
        SandboxAddress(postalCode: "30303", city: "Atlanta", region: "GA", country: "US"),
        SandboxAddress(postalCode: "60601", city: "Chicago", region: "IL", country: "US"),
        SandboxAddress(postalCode: "75201", city: "Dallas", region: "TX", country: "US"),
        SandboxAddress(postalCode: "80202", city: "Denver", region: "CO", country: "US"),
        SandboxAddress(postalCode: "85004", city: "Phoenix", region: "AZ", country: "US"),
        SandboxAddress(postalCode: "94103", city: "San Francisco", region: "CA", country: "US"),
        SandboxAddress(postalCode: "98101", city: "Seattle", region: "WA", country: "US"),
        SandboxAddress(postalCode: "33131", city: "Miami", region: "FL", country: "US"),
    ]

    /// Where our parcels leave from.
    public static let warehouse = SandboxAddress(postalCode: "10001", city: "New York", region: "NY", country: "US")
}

extension SeededCatalog {
    /// The physical details and the Amazon and Shopify listings of `listings`, from a generator
    /// of their own so the eBay listings stay what they were for a seed. `amazonTenths` of ten
    /// products are listed on Amazon (6 by default; the draw is the same whatever the share, so
    /// the rest of the catalog does not change with it).
    static func channels(for listings: [SandboxListing], seed: UInt64, amazonTenths: Int = 6)
        -> (products: [SandboxProduct], amazon: [SandboxChannelListing], shopify: [SandboxChannelListing]) {
        var rng = SeededGenerator(seed: seed ^ 0x5EED_C4A7_A106_0001)
        var products: [SandboxProduct] = []
        var amazon: [SandboxChannelListing] = []
        var shopify: [SandboxChannelListing] = []
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for (index, listing) in listings.enumerated() {
            let onAmazon = Int.random(in: 0..<10, using: &rng) < amazonTenths
            let asin = onAmazon ? "B0" + String((0..<8).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }) : nil
            let small = Bool.random(using: &rng)
            let product = SandboxProduct(
                sku: listing.sku, gtin: listing.gtin, asin: asin, title: listing.title,
                weightOunces: small ? Int.random(in: 3...15, using: &rng) : Int.random(in: 16...160, using: &rng),
                lengthInches: small ? Int.random(in: 4...9, using: &rng) : Int.random(in: 10...24, using: &rng),
                widthInches: small ? Int.random(in: 3...7, using: &rng) : Int.random(in: 8...18, using: &rng),
                heightInches: small ? Int.random(in: 1...4, using: &rng) : Int.random(in: 4...14, using: &rng),
                shippingChargedMicros: Bool.random(using: &rng) ? 0 : [399, 499, 599, 799][Int.random(in: 0..<4, using: &rng)] * 10_000,
                initialStock: listing.quantity)
            products.append(product)
            // A channel's quantity mostly matches the shelf; about one in eight has drifted.
            func channelQuantity() -> Int {
                Int.random(in: 0..<8, using: &rng) == 0 ? max(0, listing.quantity + Int.random(in: -3...3, using: &rng)) : listing.quantity
            }
            if let asin {
                // Amazon prices run a little higher (its fees do): +0–8%, still ending in .99.
                let cents = listing.priceMicros / 10_000
                let raised = (cents + cents * Int64.random(in: 0...8, using: &rng) / 100) / 100 * 100 + 99
                amazon.append(SandboxChannelListing(marketplace: .amazon, sku: listing.sku, listingID: asin,
                                                    priceMicros: raised * 10_000, quantity: channelQuantity()))
            }
            let product32 = 7_000_000_000 + Int64(index) * 13
            shopify.append(SandboxChannelListing(marketplace: .shopify, sku: listing.sku, listingID: String(40_000_000_000 + Int64(index) * 11),
                                                 priceMicros: listing.priceMicros, quantity: channelQuantity(),
                                                 productID: String(product32), inventoryItemID: String(45_000_000_000 + Int64(index) * 17)))
        }
        return (products, amazon, shopify)
    }
}
