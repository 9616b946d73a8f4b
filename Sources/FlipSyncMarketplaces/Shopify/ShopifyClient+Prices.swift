import FlipSyncCore
import Foundation

extension ShopifyClient {
    // MARK: Prices

    static let bulkUpdateMutation = """
        mutation FlipSyncPrices($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
          productVariantsBulkUpdate(productId: $productId, variants: $variants, allowPartialUpdates: true) {
            userErrors { field message code }
          }
        }
        """

    /// Sets the prices of variants of one product in one mutation; returns, per variant id,
    /// Shopify's refusal (`userErrors`, matched by `field: ["variants", index, …]`) or nil when
    /// it applied. `allowPartialUpdates`: the variants without an error are set.
    /// Prices must be in the shop's currency and whole minor units (else `.refused`).
    ///
    /// `productVariantsBulkUpdate(productId:variants: [{id, price}])`.
    /// Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/productVariantsBulkUpdate.
    public func updatePrices(productID: Int64, _ prices: [(variantID: Int64, price: Money)]) async throws -> [Int64: String] {
        let step = Money(minorUnits: 1, currency: configuration.currency).micros
        for (variantID, price) in prices where price.currency != configuration.currency || price.micros % step != 0 {
            throw MarketplaceError.refused("price \(price) for variant \(variantID) must be in whole \(configuration.currency) minor units")
        }
        let variants: [Any] = prices.map { ["id": Self.gid("ProductVariant", $0.variantID), "price": $0.price.fixedDecimalString] }
        let data = try await graphQL("productVariantsBulkUpdate", Self.bulkUpdateMutation,
                                     ["productId": Self.gid("Product", productID), "variants": variants], as: ShopifyWire.BulkUpdateData.self)
        guard let payload = data.productVariantsBulkUpdate else {
            throw MarketplaceError.malformed("productVariantsBulkUpdate: no payload")
        }
        var refused: [Int64: String] = [:]
        for error in payload.userErrors {
            let text = error.code.map { "\($0): \(error.message)" } ?? error.message
            if let field = error.field, field.count >= 2, field[0] == "variants", let index = Int(field[1]), prices.indices.contains(index) {
                refused[prices[index].variantID] = text
            } else {
                // Not about one variant (e.g. the product): every variant failed.
                for price in prices { refused[price.variantID] = text }
            }
        }
        return refused
    }
}
