import FlipSyncCore
import Foundation
import Synchronization

extension ShopifyClient {
    // MARK: Locations and inventory

    static let locationsQuery = """
        query FlipSyncLocations { locations(first: 5) { nodes { id name isActive } pageInfo { hasNextPage endCursor } } }
        """

    /// The shop's locations (the first five: a shop we sync has one or a few).
    ///
    /// `locations(first:)`. Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/queries/locations.
    public func locations() async throws -> [ShopifyLocation] {
        let data = try await graphQL("locations", Self.locationsQuery, [:], as: ShopifyWire.LocationsData.self)
        return try data.locations.nodes.map {
            ShopifyLocation(id: try Self.number($0.id, "Location"), name: $0.name ?? "", active: $0.isActive ?? true)
        }
    }

    /// The location stock is read and set at: the configured one, or the shop's only active
    /// location (looked up once, then remembered).
    public func stockLocationID() async throws -> Int64 {
        if let configured = configuration.locationID { return configured }
        if let known = resolvedLocation.withLock({ $0 }) { return known }
        let active = try await locations().filter(\.active)
        guard active.count == 1, let only = active.first else {
            throw MarketplaceError.refused("the shop has \(active.count) active locations; configure the location_id to set stock at")
        }
        resolvedLocation.withLock { $0 = only.id }
        return only.id
    }

    static let setQuantitiesMutation = """
        mutation FlipSyncStock($input: InventorySetQuantitiesInput!) {
          inventorySetQuantities(input: $input) { userErrors { field message code } }
        }
        """

    /// Sets the `available` quantity of one inventory item at the stock location, only if it
    /// is still `compareQuantity` (compare-and-set): `.stale` when it is not (nothing written;
    /// re-read and decide again, never overwrite), `.refused` for another user error.
    /// A negative quantity is refused here: we never list fewer than zero units.
    ///
    /// `inventorySetQuantities(input: {name: "available", reason: "correction", quantities:
    /// [{inventoryItemId, locationId, quantity, compareQuantity}]})`; a mismatch is the user
    /// error `COMPARE_QUANTITY_STALE`.
    /// Reference: https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/inventorySetQuantities
    /// and InventoryQuantityInput (https://shopify.dev/docs/api/admin-graphql/2025-01/input-objects/InventoryQuantityInput).
    /// The most quantities one `inventorySetQuantities` takes: Shopify refuses any input array
    /// over 250 items (https://shopify.dev/docs/api/usage/limits, "Input limits").
    public static let setQuantitiesLimit = 250

    /// Sets the `available` quantities of up to `setQuantitiesLimit` inventory items at the stock
    /// location in one `inventorySetQuantities`, each compared with its `compareQuantity`. Shopify
    /// applies such a mutation all or nothing: when any compare is stale, nothing is written and
    /// each stale item comes back as a user error `COMPARE_QUANTITY_STALE` whose `field` is
    /// `["input", "quantities", "<index>", "compareQuantity"]`. Answers `.applied`, `.stale(indices)`
    /// (nothing written), or `.refused(message)` for any other user error (nothing written).
    public func setInventory(_ items: [(inventoryItemID: Int64, available: Int, compareQuantity: Int)]) async throws -> ShopifyBatchInventorySet {
        guard (1...Self.setQuantitiesLimit).contains(items.count) else {
            throw MarketplaceError.refused("inventorySetQuantities takes 1…\(Self.setQuantitiesLimit) quantities, not \(items.count)")
        }
        if let negative = items.first(where: { $0.available < 0 }) {
            throw MarketplaceError.refused("quantity for inventory item \(negative.inventoryItemID) is negative")
        }
        let location = try await stockLocationID()
        let input: [String: Any] = [
            "name": "available", "reason": "correction",
            "quantities": items.map { ["inventoryItemId": Self.gid("InventoryItem", $0.inventoryItemID), "locationId": Self.gid("Location", location),
                                       "quantity": $0.available, "compareQuantity": $0.compareQuantity] as [String: Any] },
        ]
        let data = try await graphQL("inventorySetQuantities", Self.setQuantitiesMutation, ["input": input],
                                     as: ShopifyWire.SetQuantitiesData.self)
        guard let payload = data.inventorySetQuantities else { throw MarketplaceError.malformed("inventorySetQuantities: no payload") }
        guard !payload.userErrors.isEmpty else { return .applied }
        let stale = payload.userErrors.filter { $0.code == "COMPARE_QUANTITY_STALE" }
        if stale.count == payload.userErrors.count {
            let indices = stale.compactMap { error -> Int? in
                guard let field = error.field, field.count >= 3, field[1] == "quantities" else { return nil }
                return Int(field[2])
            }
            guard indices.count == stale.count, indices.allSatisfy({ items.indices.contains($0) }) else {
                throw MarketplaceError.malformed("inventorySetQuantities: a COMPARE_QUANTITY_STALE error names no quantity of the request")
            }
            return .stale(Set(indices))
        }
        let error = payload.userErrors.first { $0.code != "COMPARE_QUANTITY_STALE" }!
        let index = error.field.flatMap { $0.count >= 3 && $0[1] == "quantities" ? Int($0[2]) : nil }.flatMap { items.indices.contains($0) ? $0 : nil }
        return .refused(error.code.map { "\($0): \(error.message)" } ?? error.message, index: index)
    }

    public func setInventory(inventoryItemID: Int64, available: Int, compareQuantity: Int) async throws -> ShopifyInventorySet {
        guard available >= 0 else { throw MarketplaceError.refused("quantity for inventory item \(inventoryItemID) is negative") }
        let location = try await stockLocationID()
        let input: [String: Any] = [
            "name": "available", "reason": "correction",
            "quantities": [["inventoryItemId": Self.gid("InventoryItem", inventoryItemID), "locationId": Self.gid("Location", location),
                            "quantity": available, "compareQuantity": compareQuantity] as [String: Any]],
        ]
        let data = try await graphQL("inventorySetQuantities", Self.setQuantitiesMutation, ["input": input],
                                     as: ShopifyWire.SetQuantitiesData.self)
        guard let payload = data.inventorySetQuantities else { throw MarketplaceError.malformed("inventorySetQuantities: no payload") }
        if payload.userErrors.contains(where: { $0.code == "COMPARE_QUANTITY_STALE" }) { return .stale }
        if let error = payload.userErrors.first { return .refused(error.code.map { "\($0): \(error.message)" } ?? error.message) }
        return .applied
    }
}
