import FlipSyncCore

/// eBay's item conditions in both of its vocabularies — the Inventory API's `ConditionEnum` and
/// Browse's numeric `conditionId` — and the `ItemCondition` each one is to us.
///
/// Reference: "Item condition ID and name values"
/// (https://developer.ebay.com/api-docs/sell/static/metadata/condition-id-values.html) and
/// `ConditionEnum` (https://developer.ebay.com/api-docs/sell/inventory/types/slr:ConditionEnum).
/// eBay's "Like New" (2750) is an opened, lightly used item, so it counts as used;
/// `MANUFACTURER_REFURBISHED` is the retired name of 2000, still accepted when read.
enum EbayCondition {
    static let table: [(id: Int, inventoryEnum: String, condition: ItemCondition)] = [
        (1000, "NEW", .new),
        (1500, "NEW_OTHER", .newOther),
        (1750, "NEW_WITH_DEFECTS", .newOther),
        (2000, "CERTIFIED_REFURBISHED", .refurbished),
        (2000, "MANUFACTURER_REFURBISHED", .refurbished),
        (2010, "EXCELLENT_REFURBISHED", .refurbished),
        (2020, "VERY_GOOD_REFURBISHED", .refurbished),
        (2030, "GOOD_REFURBISHED", .refurbished),
        (2500, "SELLER_REFURBISHED", .refurbished),
        (2750, "LIKE_NEW", .used),
        (2990, "PRE_OWNED_EXCELLENT", .used),
        (3000, "USED_EXCELLENT", .used),
        (3010, "PRE_OWNED_FAIR", .used),
        (4000, "USED_VERY_GOOD", .used),
        (5000, "USED_GOOD", .used),
        (6000, "USED_ACCEPTABLE", .used),
        (7000, "FOR_PARTS_OR_NOT_WORKING", .forParts),
    ]

    /// The condition of an Inventory API `condition` value, or nil for one not in eBay's list.
    static func condition(inventoryEnum: String) -> ItemCondition? {
        byInventoryEnum[inventoryEnum]
    }

    /// `table` by Inventory API value, made once (a listings read asks for every listing).
    private static let byInventoryEnum = Dictionary(table.map { ($0.inventoryEnum, $0.condition) }, uniquingKeysWith: { first, _ in first })

    /// The condition of a Browse `conditionId`, or nil for one not in eBay's list.
    static func condition(id: Int) -> ItemCondition? {
        table.first { $0.id == id }?.condition
    }

    /// Every Browse `conditionId` that is `condition` to us, ascending (for `filter=conditionIds:{…}`).
    static func ids(for condition: ItemCondition) -> [Int] {
        idsByCondition[condition] ?? []
    }

    /// `ids(for:)` of every condition, made once (a sweep asks for every GTIN it searches).
    private static let idsByCondition = Dictionary(grouping: table, by: \.condition).mapValues { Array(Set($0.map(\.id))).sorted() }
}
