/// A task that works on one marketplace: its input.
public struct MarketplaceInput: Codable, Hashable, Sendable {
    public var marketplace: MarketplaceName

    public init(marketplace: MarketplaceName) {
        self.marketplace = marketplace
    }
}
