import FlipSyncCore
import GRDB

/// Each SKU's published offer as last read or set (`listing_offers`: one row per marketplace
/// and SKU; money as micro-units and a currency code; `updated_at` in milliseconds since the
/// epoch), so eBay's listings read calls getOffers only for SKUs without one.
extension RunStore: OfferMemory {
    static func registerOfferMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m13-ebay-offers: each SKU's published offer id, price and quantity as last read or set") { db in
            try db.execute(sql: """
                CREATE TABLE listing_offers (
                    marketplace TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    offer_id TEXT NOT NULL,
                    marketplace_id TEXT,
                    price_micros INTEGER,
                    price_currency TEXT,
                    available_quantity INTEGER,
                    shipping_micros INTEGER,
                    shipping_currency TEXT,
                    fulfillment_policy_id TEXT,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (marketplace, sku)
                ) WITHOUT ROWID;
                """)
        }
    }

    /// After m15 (registered from `RunStore`'s list, in order).
    static func registerOfferChangeMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m16-offer-changes: price changes in flight, so a read that may predate one is not remembered") { db in
            try db.execute(sql: """
                CREATE TABLE listing_offer_changes (
                    marketplace TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    sent_at INTEGER NOT NULL,
                    settled_at INTEGER,
                    PRIMARY KEY (marketplace, sku)
                ) WITHOUT ROWID;
                """)
        }
    }

    public func rememberedOffers(marketplace: MarketplaceName) throws -> [String: RememberedOffer] {
        try read { db in
            var result: [String: RememberedOffer] = [:]
            for row in try ListingOfferRow.offers(db, marketplace: marketplace) { result[row.sku] = row.offer }
            return result
        }
    }

    /// These SKUs' rows only (500 SKUs a statement), not the marketplace's. One statement (a
    /// decide task's few SKUs) is read without a transaction around it (`readStatement`).
    public func rememberedOffers(marketplace: MarketplaceName, skus: [String]) throws -> [String: RememberedOffer] {
        guard !skus.isEmpty else { return [:] }
        let chunks = stride(from: 0, to: skus.count, by: 500).map { Array(skus[$0..<min($0 + 500, skus.count)]) }
        func readAll(_ db: Database) throws -> [String: RememberedOffer] {
            var result: [String: RememberedOffer] = [:]
            for chunk in chunks {
                for row in try ListingOfferRow.offers(db, marketplace: marketplace, skus: chunk) { result[row.sku] = row.offer }
            }
            return result
        }
        return chunks.count == 1 ? try readStatement(readAll) : try read(readAll)
    }

    /// In the next group-commit transaction (`GroupCommit`), with the run's other writes: a
    /// sweep's decide tasks read one offer each, and a transaction of its own per offer (on a
    /// Swift thread, waiting on the writer the drainer holds) cost more than the read's decoding.
    /// Behind a decide task (`WriteBehind`): it does not wait for the commit.
    public func rememberOffers(marketplace: MarketplaceName, _ offers: [RememberedOffer]) async throws {
        guard !offers.isEmpty else { return }
        try await writeBehind { db in
            for o in offers {
                // ?1…?11 the row (?2 the SKU, ?11 when its read was asked), ?12 the bound.
                try db.cachedStatement(sql: Self.offerInsert + """
                    SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11
                    WHERE NOT EXISTS (SELECT 1 FROM listing_offer_changes WHERE marketplace = ?1 AND sku = ?2
                        AND ?11 < sent_at + ?12 AND (settled_at IS NULL OR ?11 < settled_at))
                    """).executeOffer(o, marketplace: marketplace, OfferChanges.inFlightBound)
            }
        }
    }

    public func forgetOffers(marketplace: MarketplaceName, skus: [String], sentAt: Int64) throws {
        guard !skus.isEmpty else { return }
        try write { db in
            for sku in skus {
                try db.cachedStatement(sql: "DELETE FROM listing_offers WHERE marketplace = ? AND sku = ?").execute(arguments: [marketplace.rawValue, sku])
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO listing_offer_changes (marketplace, sku, sent_at, settled_at) VALUES (?, ?, ?, NULL)")
                    .execute(arguments: [marketplace.rawValue, sku, sentAt])
            }
        }
    }

    public func settleOffers(marketplace: MarketplaceName, skus: [String], offers: [RememberedOffer], at: Int64) throws {
        guard !skus.isEmpty || !offers.isEmpty else { return }
        try write { db in
            for sku in skus {
                try db.cachedStatement(sql: "UPDATE listing_offer_changes SET settled_at = ? WHERE marketplace = ? AND sku = ?")
                    .execute(arguments: [at, marketplace.rawValue, sku])
            }
            for o in offers { try Self.replaceOffer(o, marketplace: marketplace, db) }
        }
    }

    static func replaceOffer(_ o: RememberedOffer, marketplace: MarketplaceName, _ db: Database) throws {
        try db.cachedStatement(sql: offerInsert + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .executeOffer(o, marketplace: marketplace)
    }

    static let offerInsert = """
        INSERT OR REPLACE INTO listing_offers (marketplace, sku, offer_id, marketplace_id, price_micros, price_currency,
            available_quantity, shipping_micros, shipping_currency, fulfillment_policy_id, updated_at)

        """
}

extension Statement {
    /// `offerInsert`'s statement with an offer's row bound in its column order, then `extra`.
    func executeOffer<each Extra: DirectBindable>(_ o: RememberedOffer, marketplace: MarketplaceName, _ extra: repeat each Extra) throws {
        try executeBound(marketplace.rawValue, o.sku, o.offerID, o.marketplaceID, o.price?.micros, o.price?.currency.code,
                         o.availableQuantity, o.domesticShippingCost?.micros, o.domesticShippingCost?.currency.code,
                         o.fulfillmentPolicyID, o.updatedAt, repeat each extra)
    }
}
