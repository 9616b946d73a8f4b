import FlipSyncCore
import Foundation
import PostgresNIO

/// What a sweep remembers between runs, as `RunStore` does: each SKU's published offer
/// (`listing_offers`), the competitor ids each search found (`competitor_searches`,
/// `competitor_items`) and the LLM's product-match judgements (`llm_matches`).
extension PostgresRepricingLedger {
    // MARK: - OfferMemory

    static let offerColumns = ["marketplace", "sku", "offer_id", "marketplace_id", "price_micros", "price_currency", "available_quantity",
                               "shipping_micros", "shipping_currency", "fulfillment_policy_id", "updated_at"]

    public func rememberedOffers(marketplace: MarketplaceName) throws(LedgerError) -> [String: RememberedOffer] {
        try offers(where: "marketplace = $1", [.text(marketplace.rawValue)])
    }

    /// Only these SKUs' offers (a page of a sweep), one statement for any number of SKUs.
    public func rememberedOffers(marketplace: MarketplaceName, skus: [String]) throws(LedgerError) -> [String: RememberedOffer] {
        guard !skus.isEmpty else { return [:] }
        return try offers(where: "marketplace = $1 AND sku IN (SELECT json_array_elements_text($2::json))",
                          [.text(marketplace.rawValue), try Self.jsonList(skus)])
    }

    /// The `listing_offers` rows matching `condition`, by SKU; a row that does not decode is an error.
    private func offers(where condition: String, _ values: [LedgerValue]) throws(LedgerError) -> [String: RememberedOffer] {
        var result: [String: RememberedOffer] = [:]
        for row in try session.rows("SELECT \(Self.offerColumns.joined(separator: ", ")) FROM listing_offers WHERE \(condition)", values) {
            let offer = try row.decoding("listing_offers", key: ["marketplace", "sku"]) { row throws(LedgerError) -> RememberedOffer in
                let _: MarketplaceName = try row.code("marketplace")
                return RememberedOffer(
                    sku: try row.get("sku"), offerID: try row.get("offer_id"), marketplaceID: try row.get("marketplace_id"),
                    price: try row.money("price_micros", "price_currency"),
                    availableQuantity: try row.get("available_quantity", as: Int64?.self).map { Int($0) },
                    domesticShippingCost: try row.money("shipping_micros", "shipping_currency"),
                    fulfillmentPolicyID: try row.get("fulfillment_policy_id"), updatedAt: try row.get("updated_at"))
            }
            result[offer.sku] = offer
        }
        return result
    }

    /// A read's offers (`OfferMemory.rememberOffers`): each row replaced whole unless its SKU had
    /// a price change in flight when its read was asked; of one SKU given twice, the last. One
    /// statement, m19's `flipsync_remember_offers`: the table of changes locked in SHARE mode
    /// first, so a `forgetOffers` committing meanwhile either is seen or waits for this statement
    /// (and then deletes what it wrote); then the rows, with a snapshot taken after the lock.
    public func rememberOffers(marketplace: MarketplaceName, _ offers: [RememberedOffer]) throws(LedgerError) {
        var last: [String: RememberedOffer] = [:]
        for offer in offers { last[offer.sku] = offer }
        guard !last.isEmpty else { return }
        let records = last.values.sorted { $0.sku < $1.sku }.map(OfferRecord.init)
        let json: String
        do {
            json = String(decoding: try JSONEncoder().encode(records), as: UTF8.self)
        } catch {
            throw .storage("cannot encode \(records.count) offers: \(error)")
        }
        try session.write("SELECT flipsync_remember_offers($1, $2::json, $3)",
                          [.text(marketplace.rawValue), .text(json), .integer(OfferChanges.inFlightBound)])
    }

    /// One offer as `flipsync_remember_offers` reads it (`json_to_recordset`: a key left out is NULL).
    private struct OfferRecord: Encodable {
        var sku: String
        var offer_id: String
        var marketplace_id: String?
        var price_micros: Int64?
        var price_currency: String?
        var available_quantity: Int64?
        var shipping_micros: Int64?
        var shipping_currency: String?
        var fulfillment_policy_id: String?
        var updated_at: Int64

        init(_ o: RememberedOffer) {
            (sku, offer_id, marketplace_id, updated_at) = (o.sku, o.offerID, o.marketplaceID, o.updatedAt)
            (price_micros, price_currency) = (o.price?.micros, o.price?.currency.code)
            available_quantity = o.availableQuantity.map { Int64($0) }
            (shipping_micros, shipping_currency) = (o.domesticShippingCost?.micros, o.domesticShippingCost?.currency.code)
            fulfillment_policy_id = o.fulfillmentPolicyID
        }
    }

    /// What replaces a remembered offer's row whole.
    static let offerUpsert = "ON CONFLICT (marketplace, sku) DO UPDATE SET "
        + offerColumns.dropFirst(2).map { "\($0) = excluded.\($0)" }.joined(separator: ", ")

    /// The change recorded first, then the rows deleted: `listing_offer_changes` is always taken
    /// before `listing_offers` (as `rememberOffers` and `settleOffers` do), so they cannot deadlock.
    public func forgetOffers(marketplace: MarketplaceName, skus: [String], sentAt: Int64) throws(LedgerError) {
        guard !skus.isEmpty else { return }
        let list = try Self.jsonList(skus)
        try write([
            ("""
             INSERT INTO listing_offer_changes (marketplace, sku, sent_at, settled_at)
             SELECT DISTINCT $1::text, sku, $3::bigint, NULL::bigint FROM json_array_elements_text($2::json) AS sku
             ON CONFLICT (marketplace, sku) DO UPDATE SET sent_at = excluded.sent_at, settled_at = NULL
             """, [.text(marketplace.rawValue), list, .integer(sentAt)]),
            ("DELETE FROM listing_offers WHERE marketplace = $1 AND sku IN (SELECT json_array_elements_text($2::json))",
             [.text(marketplace.rawValue), list]),
        ])
    }

    /// The answered changes settled and `offers` replaced whole, in one transaction.
    public func settleOffers(marketplace: MarketplaceName, skus: [String], offers: [RememberedOffer], at: Int64) throws(LedgerError) {
        var statements: [SQLStatement] = []
        if !skus.isEmpty {
            statements.append(("UPDATE listing_offer_changes SET settled_at = $3 WHERE marketplace = $1 AND sku IN (SELECT json_array_elements_text($2::json))",
                               [.text(marketplace.rawValue), try Self.jsonList(skus), .integer(at)]))
        }
        statements += PostgresSession.inserts(into: "listing_offers", columns: Self.offerColumns, rows: offerRows(marketplace: marketplace, offers),
                                              rowsPerStatement: Self.rowsPerStatement, then: Self.offerUpsert)
        try write(statements)
    }

    /// The offers' rows in `offerColumns` order, the last of a SKU given twice, by SKU.
    private func offerRows(marketplace: MarketplaceName, _ offers: [RememberedOffer]) -> [[LedgerValue]] {
        var last: [String: RememberedOffer] = [:]
        for offer in offers { last[offer.sku] = offer }
        return last.values.sorted { $0.sku < $1.sku }.map { o in
            [.text(marketplace.rawValue), .text(o.sku), .text(o.offerID), PostgresLedger.optional(o.marketplaceID),
             PostgresLedger.optional(o.price?.micros), PostgresLedger.optional(o.price?.currency.code),
             PostgresLedger.optional(o.availableQuantity.map { Int64($0) }), PostgresLedger.optional(o.domesticShippingCost?.micros),
             PostgresLedger.optional(o.domesticShippingCost?.currency.code), PostgresLedger.optional(o.fulfillmentPolicyID), .integer(o.updatedAt)]
        }
    }

    // MARK: - CompetitorMemory

    public func rememberedSearches(marketplace: MarketplaceName) throws(LedgerError) -> [String: RememberedSearch] {
        var result = try searches(where: "marketplace = $1", [.text(marketplace.rawValue)])
        try addItems(to: &result, where: "marketplace = $1", [.text(marketplace.rawValue)])
        return result
    }

    /// Two statements for any number of subjects: the searches (`split_part` is the key's text
    /// before its first `|`, the whole key without one; the index `competitor_searches_by_subject`
    /// of `m17-search-subjects` has it, and `= ANY(array)` lets the planner look each subject up
    /// there), then their ids by exact key (the primary key of `competitor_items`, never a scan of
    /// every id).
    public func rememberedSearches(marketplace: MarketplaceName, subjects: [String]) throws(LedgerError) -> [String: RememberedSearch] {
        let wanted = searchSubjects(subjects)
        guard !wanted.isEmpty else { return [:] }
        var result = try searches(where: Self.bySubject, [.text(marketplace.rawValue), try Self.jsonList(wanted)])
        guard !result.isEmpty else { return [:] }
        try addItems(to: &result, where: "marketplace = $1 AND search_key IN (SELECT json_array_elements_text($2::json))",
                     [.text(marketplace.rawValue), try Self.jsonList(result.keys.sorted())])
        return result
    }

    static func searchesSQL(where condition: String) -> String {
        "SELECT marketplace, search_key, searched_at FROM competitor_searches WHERE \(condition)"
    }

    /// A search whose subject is in the JSON list `$2`, on marketplace `$1` (the expression of
    /// `competitor_searches_by_subject`, so the index answers it).
    static let bySubject = "marketplace = $1 AND split_part(search_key, '|', 1) = ANY(ARRAY(SELECT json_array_elements_text($2::json)))"

    /// The searches matching `condition`, without their ids; a row that does not decode is an error.
    private func searches(where condition: String, _ values: [LedgerValue]) throws(LedgerError) -> [String: RememberedSearch] {
        var result: [String: RememberedSearch] = [:]
        for row in try session.rows(Self.searchesSQL(where: condition), values) {
            try row.decoding("competitor_searches", key: ["marketplace", "search_key"]) { row throws(LedgerError) in
                let _: MarketplaceName = try row.code("marketplace")
                result[try row.get("search_key")] = RememberedSearch(itemIDs: [], searchedAt: try row.get("searched_at"))
            }
        }
        return result
    }

    /// The ids of the `competitor_items` rows matching `condition`, appended to their searches
    /// in `result` in the order found; a row that does not decode is an error.
    private func addItems(to result: inout [String: RememberedSearch], where condition: String,
                          _ values: [LedgerValue]) throws(LedgerError) {
        for row in try session.rows("""
            SELECT marketplace, search_key, item_id, position FROM competitor_items WHERE \(condition)
            ORDER BY search_key COLLATE "C", position
            """, values) {
            try row.decoding("competitor_items", key: ["marketplace", "search_key", "item_id"]) { row throws(LedgerError) in
                let _: MarketplaceName = try row.code("marketplace")
                _ = try row.get("position", as: Int64.self)
                result[try row.get("search_key", as: String.self)]?.itemIDs.append(try row.get("item_id"))
            }
        }
    }

    /// One round trip from async code (the caller suspends): `flipsync_remember_search` (m18)
    /// upserts the search first, which holds its row until the statement commits, so two nodes
    /// replacing the same search take turns; then, with a fresh snapshot, deletes the ids it no
    /// longer found and upserts the ids found at the position each was first found (the two
    /// touch different rows). What is left is one caller's list, never a mix.
    public func rememberSearch(marketplace: MarketplaceName, key: String, _ search: RememberedSearch) async throws(LedgerError) {
        var seen = Set<String>()
        var ids: [String] = [], positions: [String] = []
        for (position, id) in search.itemIDs.enumerated() where seen.insert(id).inserted {
            ids.append(id)
            positions.append(String(position))
        }
        let idList = try Self.jsonList(ids), positionList = LedgerValue.text("[" + positions.joined(separator: ",") + "]")
        // One statement (m18's function): the search's row, then its ids, each with its own snapshot.
        try await session.writeAsync("SELECT flipsync_remember_search($1, $2, $3, $4::json, $5::json)",
                                     [.text(marketplace.rawValue), .text(key), .integer(search.searchedAt), idList, positionList])
    }

    public func forgetItems(marketplace: MarketplaceName, itemIDs: [String]) throws(LedgerError) {
        guard !itemIDs.isEmpty else { return }
        try session.write("DELETE FROM competitor_items WHERE marketplace = $1 AND item_id IN (SELECT json_array_elements_text($2::json))",
                          [.text(marketplace.rawValue), try Self.jsonList(itemIDs)])
    }

    // MARK: - MatchCache

    /// The judgement cached for this SKU, offer and title, unless it expired by `now`.
    public func cachedMatch(sku: String, offerID: String, titleHash: String, now: Int64) throws(LedgerError) -> CachedMatch? {
        try session.query("""
            SELECT sku, offer_id, title_hash, same_product, confidence_per_mille, provider, input_tokens, output_tokens, expires_at
            FROM llm_matches WHERE sku = $1 AND offer_id = $2 AND title_hash = $3 AND expires_at > $4
            """, [.text(sku), .text(offerID), .text(titleHash), .integer(now)]).first.map { raw throws(LedgerError) in
            let row = PostgresColumns(raw)
            return try row.decoding("llm_matches", key: ["sku", "offer_id", "title_hash"]) { row throws(LedgerError) in
                // Any non-zero is true, as GRDB reads SQLite's INTEGER into a Bool.
                CachedMatch(sameProduct: try row.get("same_product", as: Int64.self) != 0,
                            confidencePerMille: Int(try row.get("confidence_per_mille", as: Int64.self)), provider: try row.get("provider"),
                            inputTokens: try row.get("input_tokens"), outputTokens: try row.get("output_tokens"),
                            expiresAt: try row.get("expires_at"))
            }
        }
    }

    public func saveMatch(_ m: CachedMatch, sku: String, offerID: String, titleHash: String) throws(LedgerError) {
        try session.write("""
            INSERT INTO llm_matches (sku, offer_id, title_hash, same_product, confidence_per_mille, provider, input_tokens, output_tokens,
                                     expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (sku, offer_id, title_hash) DO UPDATE SET same_product = excluded.same_product,
                confidence_per_mille = excluded.confidence_per_mille, provider = excluded.provider, input_tokens = excluded.input_tokens,
                output_tokens = excluded.output_tokens, expires_at = excluded.expires_at
            """, [.text(sku), .text(offerID), .text(titleHash), .integer(m.sameProduct ? 1 : 0), .integer(Int64(m.confidencePerMille)),
                  .text(m.provider), .integer(m.inputTokens), .integer(m.outputTokens), .integer(m.expiresAt)])
    }
}
