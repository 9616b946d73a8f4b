import FlipSyncCore
import GRDB

/// The competitor ids each search found, kept between sweeps: `competitor_searches` (one row per
/// marketplace and search key, `searched_at` in milliseconds since the epoch) and
/// `competitor_items` (the ids that search found, `position` in the order found). eBay's search
/// key is the GTIN and the condition filter (`GTIN|conditionIds`): one search per GTIN,
/// filtered by every condition its listings needed.
extension RunStore: CompetitorMemory {
    static func registerCompetitorMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m12-ebay-competitors: competitor item ids each search found, and when") { db in
            try db.execute(sql: """
                CREATE TABLE competitor_searches (
                    marketplace TEXT NOT NULL,
                    search_key TEXT NOT NULL,
                    searched_at INTEGER NOT NULL,
                    PRIMARY KEY (marketplace, search_key)
                ) WITHOUT ROWID;
                CREATE TABLE competitor_items (
                    marketplace TEXT NOT NULL,
                    search_key TEXT NOT NULL,
                    item_id TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    PRIMARY KEY (marketplace, search_key, item_id)
                ) WITHOUT ROWID;
                CREATE INDEX competitor_items_by_item ON competitor_items (marketplace, item_id);
                """)
        }
    }

    /// After m16 (registered from `RunStore`'s list, in order). PostgreSQL indexes each search's
    /// subject here (`competitor_searches_by_subject`); SQLite needs nothing: its keys sort
    /// bytewise, so a subject's searches are one range of the primary key (`subject|` up to
    /// `subject}`, see `CompetitorSearchRow.searches(_:marketplace:subjects:)`). The step is kept
    /// so both dialects have the same steps under the same names.
    static func registerSearchSubjectMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m17-search-subjects: remembered searches found by subject") { _ in }
        // PostgreSQL's `flipsync_remember_search` function (one round trip there); SQLite's
        // write transactions are serial, so its step is empty.
        migrator.registerMigration("m18-remember-search: a search and its ids remembered in one call") { _ in }
        // PostgreSQL's `flipsync_remember_offers` function (one round trip there); empty here too.
        migrator.registerMigration("m19-remember-offers: a read's offers remembered in one call") { _ in }
    }

    public func rememberedSearches(marketplace: MarketplaceName) throws -> [String: RememberedSearch] {
        try read { db in
            var result: [String: RememberedSearch] = [:]
            for search in try CompetitorSearchRow.searches(db, marketplace: marketplace) {
                result[search.searchKey] = RememberedSearch(itemIDs: [], searchedAt: search.searchedAt)
            }
            for item in try CompetitorItemRow.items(db, marketplace: marketplace) {
                result[item.searchKey]?.itemIDs.append(item.itemId)
            }
            return result
        }
    }

    public func rememberedSearches(marketplace: MarketplaceName, subjects: [String]) throws -> [String: RememberedSearch] {
        let wanted = searchSubjects(subjects)
        guard !wanted.isEmpty else { return [:] }
        return try read { db in
            var result: [String: RememberedSearch] = [:]
            for search in try CompetitorSearchRow.searches(db, marketplace: marketplace, subjects: wanted) {
                result[search.searchKey] = RememberedSearch(itemIDs: [], searchedAt: search.searchedAt)
            }
            for item in try CompetitorItemRow.items(db, marketplace: marketplace, searchKeys: result.keys.sorted()) {
                result[item.searchKey]?.itemIDs.append(item.itemId)
            }
            return result
        }
    }

    /// Group-committed (a search's answer, one each, with the other writes waiting at the same
    /// moment): no write transaction of its own and no thread blocked on the writer. Writes the
    /// same rows when run again after a rollback.
    ///
    /// The search's time is written every time; its ids (each once, at the position it was
    /// first found) only when they differ from the ones remembered. A search found again with
    /// the same ids, as most are night after night, rewrites no id, where deleting and inserting
    /// the same rows in the table and its `competitor_items_by_item` index were about an eighth
    /// of the group-commit drainer's work (BENCHMARKS.md, issue 15). A new search's ids are
    /// inserted with no delete before them. Behind a decide task (`WriteBehind`): it does not
    /// wait for the commit.
    public func rememberSearch(marketplace: MarketplaceName, key: String, _ search: RememberedSearch) async throws {
        try await writeBehind { db in
            try db.cachedStatement(sql: """
                INSERT INTO competitor_searches (marketplace, search_key, searched_at) VALUES (?, ?, ?)
                ON CONFLICT (marketplace, search_key) DO UPDATE SET searched_at = excluded.searched_at
                """).executeBound(marketplace.rawValue, key, search.searchedAt)
            // Each id at the position it was first found.
            var positions: [String: Int] = [:]
            var items: [(id: String, position: Int)] = []
            for (position, id) in search.itemIDs.enumerated() where positions[id] == nil {
                positions[id] = position
                items.append((id, position))
            }
            switch try Self.held(db, marketplace: marketplace, key: key, positions) {
            case .same: return
            case .nothing: break
            case .other:
                try db.cachedStatement(sql: "DELETE FROM competitor_items WHERE marketplace = ? AND search_key = ?").execute(arguments: [marketplace.rawValue, key])
            }
            for item in items {
                try db.cachedStatement(sql: "INSERT INTO competitor_items (marketplace, search_key, item_id, position) VALUES (?, ?, ?, ?)")
                    .executeBound(marketplace.rawValue, key, item.id, item.position)
            }
        }
    }

    /// What `competitor_items` holds under `key`, against `items`.
    private enum Held {
        /// No id: the search is new (every search of a first night).
        case nothing
        /// Exactly the ids given, at their positions.
        case same
        case other
    }

    private static func held(_ db: Database, marketplace: MarketplaceName, key: String, _ positions: [String: Int]) throws -> Held {
        // In the primary key's order: no sort.
        let rows = try Row.fetchCursor(db.cachedStatement(sql: """
            SELECT item_id, position FROM competitor_items WHERE marketplace = ? AND search_key = ?
            """).bound(marketplace.rawValue, key))
        var count = 0
        while let row = try rows.next() {
            // Read as stored, with no conversion: a row that is not text and an integer is not
            // the same, and is rewritten (as every row was before).
            guard case .string(let id) = (row[0] as DatabaseValue).storage, case .int64(let position) = (row[1] as DatabaseValue).storage,
                  positions[id].map(Int64.init) == position else { return .other }
            count += 1
        }
        if count == 0 { return positions.isEmpty ? .same : .nothing }
        return count == positions.count ? .same : .other
    }

    public func forgetItems(marketplace: MarketplaceName, itemIDs: [String]) throws {
        guard !itemIDs.isEmpty else { return }
        try write { db in
            for id in itemIDs {
                try db.cachedStatement(sql: "DELETE FROM competitor_items WHERE marketplace = ? AND item_id = ?").execute(arguments: [marketplace.rawValue, id])
            }
        }
    }
}
