import Foundation
import GRDB
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore
import FlipSyncTestKit

/// Every table the store reads is read through a record: one corrupted
/// row per table makes its read throw an error naming the table and the row's key, never a
/// default, a skipped row or a crash.
@Suite("Ledger records: a bad row in any table is an error naming it", .timeLimit(.minutes(3)))
struct LedgerTableRecordTests {
    struct Case: Sendable, CustomTestStringConvertible {
        /// The row the read finds, inserted as the store would have written it.
        var insert: String
        /// What breaks it.
        var corrupt: String
        /// The read that must then throw.
        var read: @Sendable (RunStore) throws -> Void
        /// What the error must say: the table and the row's key columns.
        var names: String

        var testDescription: String { names }
    }

    static let cases: [Case] = [
        Case(insert: """
                INSERT INTO sweep_listings (sweep_id, marketplace, sku, listing_id, title, condition, price_micros, currency, quantity)
                VALUES (1, 'ebay', 'A1', 'L1', 'Lamp', 'new', 20000000, 'USD', 2)
                """,
             corrupt: "UPDATE sweep_listings SET currency = 'XQQ'",
             read: { _ = try $0.sweepListings(sweep: 1, marketplace: .ebay) },
             names: #"sweep_listings row (sweep_id 1, marketplace "ebay", sku "A1")"#),
        // A decide task's one read of its listings and costs (a join, read by position from a
        // cursor): an amount stored as text is an error, not 0.
        Case(insert: """
                INSERT INTO sweep_listings (sweep_id, marketplace, sku, listing_id, title, condition, price_micros, currency, quantity)
                VALUES (1, 'ebay', 'A1', 'L1', 'Lamp', 'new', 20000000, 'USD', 2)
                """,
             corrupt: "UPDATE sweep_listings SET price_micros = 'cheap'",
             read: { _ = try $0.undecidedInputs(sweep: 1, marketplace: .ebay, skus: ["A1", "A2"]) },
             names: #"sweep_listings row (sweep_id 1, marketplace "ebay", sku "A1")"#),
        Case(insert: "INSERT INTO unit_costs (sku, cost_micros, currency, source, updated_at) VALUES ('A1', 8000000, 'USD', 'shopify', 1)",
             corrupt: "UPDATE unit_costs SET cost_micros = 'free'",
             read: { _ = try $0.decideInputs(sweep: 1, marketplace: .ebay, skus: ["A1"]) },
             names: #"unit_costs row (sku "A1")"#),
        Case(insert: """
                INSERT INTO decisions (sweep_id, marketplace, sku, listing_id, currency, old_price_micros, offers_considered,
                                       offers_excluded, strategy, reason_code, reason, state)
                VALUES (1, 'ebay', 'A1', 'L1', 'USD', 20000000, 0, '{}', 'match-lowest', 'followed-competition', 'r', 'planned')
                """,
             corrupt: "UPDATE decisions SET state = 'exploded'",
             read: { _ = try $0.decisions(sweep: 1) },
             names: #"decisions row (sweep_id 1, marketplace "ebay", sku "A1")"#),
        Case(insert: "INSERT INTO unit_costs (sku, cost_micros, currency, source, updated_at) VALUES ('A1', 8000000, 'USD', 'shopify', 1)",
             corrupt: "UPDATE unit_costs SET currency = 'XQQ'",
             read: { _ = try $0.unitCosts() },
             names: #"unit_costs row (sku "A1")"#),
        Case(insert: "INSERT INTO listing_coverage (marketplace, sku, last_checked, sweep_id) VALUES ('ebay', 'A1', 5, 1)",
             corrupt: "UPDATE listing_coverage SET sweep_id = 'late'",
             read: { _ = try $0.coverage(marketplace: .ebay) },
             names: #"listing_coverage row (marketplace "ebay", sku "A1")"#),
        Case(insert: "INSERT INTO shipping_cursors (job, marketplace, cursor, updated_at) VALUES ('ship', 'ebay', 'c1', 1)",
             corrupt: "UPDATE shipping_cursors SET updated_at = 'soon'",
             read: { _ = try $0.shippingCursor(job: "ship", marketplace: .ebay) },
             names: #"shipping_cursors row (job "ship", marketplace "ebay")"#),
        Case(insert: """
                INSERT INTO shipping_lines (job, marketplace, order_id, line_id, sku, quantity, placed_at, postal_code, country,
                                            run_id, recorded_at)
                VALUES ('ship', 'ebay', 'o1', 'l1', 'A1', 1, 1, '94103', 'US', 1, 1)
                """,
             corrupt: "UPDATE shipping_lines SET marketplace = 'etsy'",
             read: { _ = try $0.pendingLines(job: "ship") },
             names: #"shipping_lines row (job "ship", marketplace "etsy", order_id "o1", line_id "l1")"#),
        // An amount without its currency was dropped (nil) before: now the row is an error.
        Case(insert: """
                INSERT INTO shipping_lines (job, marketplace, order_id, line_id, sku, quantity, placed_at, item_price_micros,
                                            item_currency, run_id, recorded_at)
                VALUES ('ship', 'ebay', 'o2', 'l1', 'A1', 1, 1, 5000000, 'USD', 1, 1)
                """,
             corrupt: "UPDATE shipping_lines SET item_currency = NULL",
             read: { _ = try $0.pendingLines(job: "ship") },
             names: #"shipping_lines row (job "ship", marketplace "ebay", order_id "o2", line_id "l1")"#),
        Case(insert: """
                INSERT INTO shipping_packaging (sku, weight_tenths_oz, length_tenths_in, width_tenths_in, height_tenths_in, source, imported_at)
                VALUES ('A1', 10, 10, 10, 10, 'file', 1)
                """,
             corrupt: "UPDATE shipping_packaging SET weight_tenths_oz = 'heavy'",
             read: { _ = try $0.packaging(sku: "A1") },
             names: #"shipping_packaging row (sku "A1")"#),
        Case(insert: """
                INSERT INTO shipping_quotes (run_id, job, marketplace, order_id, line_id, source, carrier, service, service_key,
                                             amount_micros, currency, guaranteed, adequate, quoted_at)
                VALUES (1, 'ship', 'ebay', 'o1', 'l1', 'card', 'ups', 'ground', 'ups-ground', 5000000, 'USD', 0, 1, 1)
                """,
             corrupt: "UPDATE shipping_quotes SET currency = 'XQQ'",
             read: { _ = try $0.shippingQuotes(runID: 1) },
             names: #"shipping_quotes row (run_id 1, marketplace "ebay", order_id "o1", line_id "l1", source "card", carrier "ups", service "ground")"#),
        Case(insert: """
                INSERT INTO shipping_recommendations (job, marketplace, order_id, line_id, run_id, sku, quantity, status, reason,
                                                      parcels, currency, actionable, decided_at)
                VALUES ('ship', 'ebay', 'o1', 'l1', 1, 'A1', 1, 'recommended', 'r', 1, 'USD', 1, 1)
                """,
             corrupt: "UPDATE shipping_recommendations SET status = 'exploded'",
             read: { _ = try $0.shippingRecommendations(runID: 1) },
             names: #"shipping_recommendations row (job "ship", marketplace "ebay", order_id "o1", line_id "l1")"#),
        Case(insert: """
                INSERT INTO shipping_listings (sweep_id, marketplace, listing_id, sku, policy, run_id, recorded_at)
                VALUES (1, 'ebay', 'L1', 'A1', 'calculated', 1, 1)
                """,
             corrupt: "UPDATE shipping_listings SET marketplace = 'etsy'",
             read: { _ = try $0.unjudgedListings(sweep: 1) },
             names: #"shipping_listings row (sweep_id 1, marketplace "etsy", listing_id "L1")"#),
        Case(insert: """
                INSERT INTO shipping_listing_quotes (sweep_id, marketplace, listing_id, postal_code, source, carrier, service,
                                                     service_key, amount_micros, currency, adequate, run_id, quoted_at)
                VALUES (1, 'ebay', 'L1', '94103', 'card', 'ups', 'ground', 'ups-ground', 5000000, 'USD', 1, 1, 1)
                """,
             corrupt: "UPDATE shipping_listing_quotes SET currency = 'XQQ'",
             read: { _ = try $0.listingQuotes(sweep: 1) },
             names: #"shipping_listing_quotes row (sweep_id 1, marketplace "ebay", listing_id "L1", postal_code "94103", source "card", carrier "ups", service "ground")"#),
        Case(insert: """
                INSERT INTO shipping_listing_destinations (sweep_id, marketplace, listing_id, postal_code, sku, status, reason,
                                                           currency, actionable, run_id, decided_at)
                VALUES (1, 'ebay', 'L1', '94103', 'A1', 'recommended', 'r', 'USD', 0, 1, 1)
                """,
             corrupt: "UPDATE shipping_listing_destinations SET status = 'exploded'",
             read: { _ = try $0.listingDestinationVerdicts(sweep: 1) },
             names: #"shipping_listing_destinations row (sweep_id 1, marketplace "ebay", listing_id "L1", postal_code "94103")"#),
        Case(insert: """
                INSERT INTO shipping_listing_verdicts (sweep_id, marketplace, listing_id, sku, status, reason, currency, actionable,
                                                       run_id, decided_at)
                VALUES (1, 'ebay', 'L1', 'A1', 'recommended', 'r', 'USD', 0, 1, 1)
                """,
             corrupt: "UPDATE shipping_listing_verdicts SET currency = 'XQQ'",
             read: { _ = try $0.listingVerdicts(sweep: 1) },
             names: #"shipping_listing_verdicts row (sweep_id 1, marketplace "ebay", listing_id "L1")"#),
        Case(insert: "INSERT INTO sync_stock (sku, on_hand, seeded_from, seeded_at, updated_at) VALUES ('A1', 3, 'shopify', 1, 1)",
             corrupt: "UPDATE sync_stock SET on_hand = 'lots'",
             read: { _ = try SyncStore(store: $0).onHand() },
             names: #"sync_stock row (sku "A1")"#),
        Case(insert: "INSERT INTO sync_cursors (job, marketplace, cursor, updated_at) VALUES ('sync', 'ebay', 'c1', 1)",
             corrupt: "UPDATE sync_cursors SET updated_at = 'soon'",
             read: { _ = try SyncStore(store: $0).cursor(job: "sync", marketplace: .ebay) },
             names: #"sync_cursors row (job "sync", marketplace "ebay")"#),
        Case(insert: "INSERT INTO sync_channel_quantities (marketplace, sku, expected, updated_at) VALUES ('ebay', 'A1', 3, 1)",
             corrupt: "UPDATE sync_channel_quantities SET expected = 'many'",
             read: { _ = try SyncStore(store: $0).expectedQuantities(marketplace: .ebay) },
             names: #"sync_channel_quantities row (marketplace "ebay", sku "A1")"#),
        Case(insert: """
                INSERT INTO sync_pushes (id, run_id, job, marketplace, sku, listing_id, live_quantity, live_price_micros, currency,
                                         status, created_at)
                VALUES (4, 1, 'sync', 'ebay', 'A1', 'L1', 3, 20000000, 'USD', 'intent', 1)
                """,
             corrupt: "UPDATE sync_pushes SET status = 'exploded'",
             read: { _ = try SyncStore(store: $0).pushes() },
             names: "sync_pushes row (id 4)"),
        Case(insert: """
                INSERT INTO sync_drift (id, run_id, job, marketplace, sku, live, expected, target, at)
                VALUES (5, 1, 'sync', 'ebay', 'A1', 3, 2, 2, 1)
                """,
             corrupt: "UPDATE sync_drift SET marketplace = 'etsy'",
             read: { _ = try SyncStore(store: $0).drift(runID: 1) },
             names: "sync_drift row (id 5)"),
        Case(insert: """
                INSERT INTO sync_oversells (id, run_id, job, marketplace, order_id, line_id, sku, ordered, on_hand, at)
                VALUES (6, 1, 'sync', 'ebay', 'o1', 'l1', 'A1', 3, 1, 1)
                """,
             corrupt: "UPDATE sync_oversells SET marketplace = 'etsy'",
             read: { _ = try SyncStore(store: $0).oversells() },
             names: "sync_oversells row (id 6)"),
        Case(insert: """
                INSERT INTO quota (provider, api, window_start, window_end, used, quota_limit)
                VALUES ('ebay', 'browse', 0, 9000000000000, 3, 5000)
                """,
             corrupt: "UPDATE quota SET used = 'many'",
             read: { _ = try QuotaStore.recordedUsage(store: $0, policy: QuotaPolicy(), now: 0) },
             names: #"quota row (provider "ebay", api "browse", window_start 0)"#),
        Case(insert: """
                INSERT INTO llm_matches (sku, offer_id, title_hash, same_product, confidence_per_mille, provider, input_tokens,
                                         output_tokens, expires_at)
                VALUES ('A1', 'O1', 'h1', 1, 900, 'ollama', 10, 2, 100)
                """,
             corrupt: "UPDATE llm_matches SET confidence_per_mille = 'high'",
             read: { _ = try $0.cachedMatch(sku: "A1", offerID: "O1", titleHash: "h1", now: 0) },
             names: #"llm_matches row (sku "A1", offer_id "O1", title_hash "h1")"#),
        Case(insert: """
                INSERT INTO listing_offers (marketplace, sku, offer_id, price_micros, price_currency, available_quantity, updated_at)
                VALUES ('ebay', 'A1', 'O1', 20000000, 'USD', 2, 1)
                """,
             corrupt: "UPDATE listing_offers SET price_currency = 'XQQ'",
             read: { _ = try $0.rememberedOffers(marketplace: .ebay) },
             names: #"listing_offers row (marketplace "ebay", sku "A1")"#),
        // A price without its currency was read as no price before: now the row is an error.
        Case(insert: """
                INSERT INTO listing_offers (marketplace, sku, offer_id, shipping_micros, shipping_currency, updated_at)
                VALUES ('ebay', 'A2', 'O2', 4000000, 'USD', 1)
                """,
             corrupt: "UPDATE listing_offers SET shipping_currency = NULL",
             read: { _ = try $0.rememberedOffers(marketplace: .ebay) },
             names: #"listing_offers row (marketplace "ebay", sku "A2")"#),
        Case(insert: "INSERT INTO competitor_searches (marketplace, search_key, searched_at) VALUES ('ebay', '0123|1000', 1)",
             corrupt: "UPDATE competitor_searches SET searched_at = 'yesterday'",
             read: { _ = try $0.rememberedSearches(marketplace: .ebay) },
             names: #"competitor_searches row (marketplace "ebay", search_key "0123|1000")"#),
        Case(insert: "INSERT INTO competitor_items (marketplace, search_key, item_id, position) VALUES ('ebay', '0123|1000', 'v1|1|0', 0)",
             corrupt: "UPDATE competitor_items SET position = 'first'",
             read: { _ = try $0.rememberedSearches(marketplace: .ebay) },
             names: #"competitor_items row (marketplace "ebay", search_key "0123|1000", item_id "v1|1|0")"#),
    ]

    @Test("a corrupted row is an error naming its table and key", arguments: cases)
    func corruptedRow(_ c: Case) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-records-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ledger.sqlite").path
        let store = try RunStore(path: path)
        try MigrationNamesTests.corrupt(path, c.insert)
        // The row as written reads.
        try c.read(store)
        // A CHECK would refuse some corruptions: a hand-edited file need not have kept them.
        try MigrationNamesTests.corrupt(path, "PRAGMA ignore_check_constraints = ON; " + c.corrupt)
        let error = #expect(throws: LedgerError.self) { try c.read(store) }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains(c.names + " does not decode"), "\(text)")
    }

    @Test("remembered offers read back through their record as written, amounts with their currencies")
    func listingOffersRoundTrip() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-records-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try RunStore(path: dir.appendingPathComponent("ledger.sqlite").path)
        let gbp = Currency(code: "GBP")!
        let full = RememberedOffer(sku: "A1", offerID: "O1", marketplaceID: "EBAY_GB", price: Money(micros: 12_340_000, currency: gbp),
                                   availableQuantity: 3, domesticShippingCost: Money(micros: 2_500_000, currency: gbp),
                                   fulfillmentPolicyID: "F1", updatedAt: 7)
        let bare = RememberedOffer(sku: "A2", offerID: "O2", marketplaceID: nil, price: nil, availableQuantity: nil,
                                   domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: 8)
        try await store.rememberOffers(marketplace: .ebay, [full, bare])
        #expect(try store.rememberedOffers(marketplace: .ebay) == ["A1": full, "A2": bare])
        #expect(try store.rememberedOffers(marketplace: .shopify).isEmpty)
    }

    @Test("rows written through a record store plain codes and read back as written")
    func recordWritesStorePlainColumns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-records-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ledger.sqlite").path
        let store = try RunStore(path: path)
        let recommendation = ShippingRecommendation(
            marketplace: .amazon, orderID: "o1", lineID: "l1", sku: "A1", quantity: 2, destinationPostalCode: "94103", shipAt: 1,
            deliverBy: 2, status: .defaultInadequate, reason: "r", parcels: 1, currency: "USD", labelMicros: 5_200_000, actionable: true)
        try store.saveRecommendation(recommendation, job: "ship", runID: 1, at: 3)
        let verdict = ListingShippingVerdict(marketplace: .shopify, listingID: "L1", sku: "A1", destinationPostalCode: nil,
                                             status: .noRate, reason: "r", currency: "USD", chargedMicros: 4_000_000)
        let destination = ListingShippingVerdict(marketplace: .shopify, listingID: "L1", sku: "A1", destinationPostalCode: "10001",
                                                 status: .recommended, reason: "r", currency: "USD", actionable: true)
        try store.saveListingVerdict(verdict, destinations: [destination], sweep: 4, runID: 4, at: 5)
        let match = CachedMatch(sameProduct: true, confidencePerMille: 900, provider: "ollama", inputTokens: 10, outputTokens: 2,
                                expiresAt: 100)
        try store.saveMatch(match, sku: "A1", offerID: "O1", titleHash: "h1")

        #expect(try store.shippingRecommendations(runID: 1) == [recommendation])
        #expect(try store.listingVerdicts(sweep: 4) == [verdict])
        #expect(try store.listingDestinationVerdicts(sweep: 4) == [destination])
        #expect(try store.cachedMatch(sku: "A1", offerID: "O1", titleHash: "h1", now: 0) == match)
        // Codes as the text the CHECKs and the other readers expect, not JSON strings.
        let stored = try ledgerConnection(path).read { db in
            try [String.fetchOne(db, sql: "SELECT marketplace || '/' || status FROM shipping_recommendations"),
                 String.fetchOne(db, sql: "SELECT marketplace || '/' || status FROM shipping_listing_verdicts"),
                 String.fetchOne(db, sql: "SELECT typeof(same_product) || '/' || same_product FROM llm_matches")]
        }
        #expect(stored == ["amazon/default-inadequate", "shopify/no-rate", "integer/1"])
    }
}
