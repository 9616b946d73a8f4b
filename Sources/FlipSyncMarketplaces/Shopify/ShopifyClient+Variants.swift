import FlipSyncCore
import Foundation

extension ShopifyClient {
    // MARK: Product variants

    static let variantFields = """
        id sku price barcode
        product { id title }
        inventoryItem {
          id
          unitCost { amount currencyCode }
          measurement { weight { unit value } }
          inventoryLevel(locationId: $locationId) { quantities(names: ["available"]) { name quantity } }
        }
        """

    static let variantsQuery = """
        query FlipSyncVariants($first: Int!, $after: String, $locationId: ID!) {
          productVariants(first: $first, after: $after, query: "product_status:active") {
            nodes { \(variantFields) }
            pageInfo { hasNextPage endCursor }
          }
        }
        """

    /// One page of the variants of active products, with their inventory items (unit cost,
    /// weight) and the quantity available at the stock location. Start with `after` nil, then
    /// pass `nextCursor` until it is nil. Every variant of a product is read, however many
    /// (REST stopped at 100).
    ///
    /// `productVariants(first:after:query:)`, a connection paged by `pageInfo.endCursor`.
    /// Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/productVariants,
    /// ProductVariant (https://shopify.dev/docs/api/admin-graphql/2025-01/objects/ProductVariant),
    /// InventoryItem.inventoryLevel and InventoryLevel.quantities
    /// (https://shopify.dev/docs/api/admin-graphql/2025-01/objects/InventoryLevel), and paging
    /// (https://shopify.dev/docs/api/usage/pagination-graphql).
    public func variants(after: String? = nil) async throws -> ShopifyVariantsPage {
        let location = try await stockLocationID()
        let data = try await graphQL("productVariants", Self.variantsQuery, [
            "first": try pageSize(configuration.pageSize), "after": after ?? NSNull(), "locationId": Self.gid("Location", location),
        ], as: ShopifyWire.VariantsData.self)
        let connection = data.productVariants
        return ShopifyVariantsPage(variants: try connection.nodes.map(variant),
                                   nextCursor: connection.pageInfo.hasNextPage ? try cursor(connection.pageInfo, "productVariants") : nil)
    }

    static let variantQuery = """
        query FlipSyncVariant($id: ID!, $locationId: ID!) {
          productVariant(id: $id) { \(variantFields) }
        }
        """

    /// One variant by id, nil when the shop has none with it.
    ///
    /// `productVariant(id:)`. Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/productVariant.
    public func variant(id: Int64) async throws -> ShopifyVariant? {
        let location = try await stockLocationID()
        let data = try await graphQL("productVariant", Self.variantQuery,
                                     ["id": Self.gid("ProductVariant", id), "locationId": Self.gid("Location", location)],
                                     as: ShopifyWire.VariantData.self)
        return try data.productVariant.map(variant)
    }

    static let availableQuery = """
        query FlipSyncAvailable($id: ID!, $locationId: ID!) {
          inventoryItem(id: $id) { id inventoryLevel(locationId: $locationId) { quantities(names: ["available"]) { name quantity } } }
        }
        """

    /// The quantity of an inventory item available at the stock location now; nil when it is
    /// not stocked there. What a stale `compareQuantity` is re-read with.
    ///
    /// `inventoryItem(id:) { inventoryLevel(locationId:) { quantities(names: ["available"]) } }`.
    /// Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/inventoryItem.
    public func available(inventoryItemID: Int64) async throws -> Int? {
        let location = try await stockLocationID()
        let data = try await graphQL("inventoryItem", Self.availableQuery,
                                     ["id": Self.gid("InventoryItem", inventoryItemID), "locationId": Self.gid("Location", location)],
                                     as: ShopifyWire.InventoryItemData.self)
        guard let item = data.inventoryItem else {
            throw MarketplaceError.permanent(status: 200, message: "Shopify has no inventory item \(inventoryItemID)")
        }
        return item.inventoryLevel?.quantities.first { $0.name == "available" }?.quantity
    }

    static let variantsCountQuery = "query FlipSyncVariantsCount { productVariantsCount(limit: null) { count precision } }"

    /// How many variants the shop has (all products; no limit).
    ///
    /// `productVariantsCount(limit: null)`. Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/productVariantsCount.
    public func variantsCount() async throws -> Int {
        try await graphQL("productVariantsCount", Self.variantsCountQuery, [:], as: ShopifyWire.CountData.self).productVariantsCount.count
    }

    static let bulkRunMutation = """
        mutation FlipSyncBulkVariants($query: String!) {
          bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message code } }
        }
        """

    static let bulkPollQuery = """
        query FlipSyncBulkStatus { currentBulkOperation { id status errorCode objectCount url } }
        """

    /// Every variant of active products through one bulk operation: `bulkOperationRunQuery`
    /// with the same fields as `variants(after:)` (the location as a literal: a bulk query
    /// takes no variables), `currentBulkOperation` polled every `bulkPollInterval` on the clock
    /// until `COMPLETED`, then the JSONL file at its `url` read, one variant a line. The file
    /// is fetched without the access token (Shopify's URL is signed); its host must be in the
    /// transport's allow-list (`storage.googleapis.com` for Shopify), else `.refused`.
    /// Reference: https://shopify.dev/docs/api/usage/bulk-operations/queries,
    /// https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/bulkOperationRunQuery and
    /// https://shopify.dev/docs/api/admin-graphql/2025-01/queries/currentBulkOperation.
    public func bulkVariants() async throws -> [ShopifyVariant] {
        let location = Self.gid("Location", try await stockLocationID())
        let fields = Self.variantFields.replacingOccurrences(of: "$locationId", with: "\"\(location)\"")
        let query = "{ productVariants(query: \"product_status:active\") { edges { node { \(fields) } } } }"
        let started = try await graphQL("bulkOperationRunQuery", Self.bulkRunMutation, ["query": query], as: ShopifyWire.BulkRunData.self)
        guard let payload = started.bulkOperationRunQuery else { throw MarketplaceError.malformed("bulkOperationRunQuery: no payload") }
        if let error = payload.userErrors.first {
            throw MarketplaceError.permanent(status: 200, message: "Shopify bulkOperationRunQuery: \(error.code ?? "USER_ERROR"): \(error.message)")
        }
        guard let id = payload.bulkOperation?.id else { throw MarketplaceError.malformed("bulkOperationRunQuery: no bulk operation") }
        var url: String?
        while true {
            let polled = try await graphQL("currentBulkOperation", Self.bulkPollQuery, [:], as: ShopifyWire.BulkPollData.self)
            guard let operation = polled.currentBulkOperation, operation.id == id else {
                throw MarketplaceError.transient("Shopify bulk operation \(id) is no longer the current one")
            }
            if operation.status == "COMPLETED" {
                url = operation.url
                break
            }
            guard ["CREATED", "RUNNING"].contains(operation.status) else {
                throw MarketplaceError.transient("Shopify bulk operation \(id) ended \(operation.status) (\(operation.errorCode ?? "no error code"))")
            }
            try await clock.sleep(milliseconds: configuration.bulkPollInterval.milliseconds)
        }
        // No url: nothing matched.
        guard let url else { return [] }
        let bucket = self.bucket
        let response = try await exchange(HTTPRequest(method: .get, url: url, headers: [("Accept", "application/jsonl")], timeout: configuration.timeout),
                                          PipelineCall(provider: Self.provider, operation: "bulk.file", price: configuration.callPrice,
                                                       limit: { try await bucket.acquire() }, shared: bucket.shared("shopify/requests")))
        var variants: [ShopifyVariant] = []
        for (number, line) in response.body.split(separator: UInt8(ascii: "\n")).enumerated() where !line.isEmpty {
            do {
                variants.append(try variant(JSONDecoder().decode(ShopifyWire.Variant.self, from: Data(line))))
            } catch let error as MarketplaceError {
                throw error
            } catch {
                throw MarketplaceError.malformed("bulk.file: line \(number + 1) is not a variant (\(StatusMapping.decodingSummary(error)))")
            }
        }
        return variants
    }
}
