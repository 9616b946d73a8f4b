import FlipSyncCore
import FlipSyncStore
import PostgresNIO

/// The marketplace sync's state in PostgreSQL: the same `sync_*` tables and the same invariants
/// as the SQLite `SyncStore` (`SyncLedger`'s contract). Every write is one transaction (a page of
/// order lines and its cursor commit together) holding the sync's transaction-scoped advisory
/// lock, so nodes sharing the database apply orders, seed and record pushes one at a time: a line
/// is counted once, on-hand is never read stale, and a seed never races a line for its SKU.
public final class PostgresSyncLedger: SyncLedger, Sendable {
    private let session: PostgresSession
    private let metrics: LedgerMetrics

    /// An arbitrary constant (not the migrations', the cluster's or the spend ledger's lock).
    static let syncLock: Int64 = 0x466C_6970_5379_6E63  // "FlipSync"

    public init(ledger: PostgresLedger) {
        session = ledger.session
        metrics = ledger.metrics
    }

    private func write<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        try session.transaction { () throws(LedgerError) -> T in
            try session.query("SELECT pg_advisory_xact_lock($1)", [.integer(Self.syncLock)])
            return try body()
        }
    }

    // MARK: - SyncLedger

    public func cursor(job: String, marketplace: MarketplaceName) throws(LedgerError) -> String? {
        let rows = try session.rows("SELECT cursor FROM sync_cursors WHERE job = $1 AND marketplace = $2",
                                    [.text(job), .text(marketplace.rawValue)])
        guard let row = rows.first else { return nil }
        return try row.get("cursor", as: String?.self)
    }

    public func applyOrders(_ page: OrdersPage, job: String, marketplace: MarketplaceName, runID: Int64,
                            at: Int64) throws(LedgerError) -> OrderApplication {
        let channel = LedgerValue.text(marketplace.rawValue)
        let outcome = try write { () throws(LedgerError) -> OrderApplication in
            var outcome = OrderApplication()
            for line in page.lines {
                let stock = try session.rows("SELECT on_hand FROM sync_stock WHERE sku = $1 FOR UPDATE", [.text(line.sku)])
                let onHand: Int? = try stock.first.map { row throws(LedgerError) in Int(try row.get("on_hand", as: Int64.self)) }
                let inserted = try session.query("""
                    INSERT INTO sync_order_lines (marketplace, order_id, line_id, sku, quantity, counted, job, run_id, applied_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                    ON CONFLICT DO NOTHING
                    RETURNING sku
                    """, [channel, .text(line.orderID), .text(line.lineID), .text(line.sku), .integer(Int64(line.quantity)),
                          .integer(onHand == nil ? 0 : 1), .text(job), .integer(runID), .integer(at)])
                guard !inserted.isEmpty else {
                    outcome.duplicates += 1
                    continue
                }
                outcome.applied += 1
                try session.query("UPDATE sync_channel_quantities SET expected = expected - $1, updated_at = $2 WHERE marketplace = $3 AND sku = $4",
                                  [.integer(Int64(line.quantity)), .integer(at), channel, .text(line.sku)])
                guard let onHand else { continue }
                if line.quantity > onHand {
                    outcome.oversells.append(Oversell(marketplace: marketplace, orderID: line.orderID, lineID: line.lineID, sku: line.sku,
                                                      ordered: line.quantity, onHand: onHand))
                    try session.query("""
                        INSERT INTO sync_oversells (run_id, job, marketplace, order_id, line_id, sku, ordered, on_hand, at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                        """, [.integer(runID), .text(job), channel, .text(line.orderID), .text(line.lineID), .text(line.sku),
                              .integer(Int64(line.quantity)), .integer(Int64(onHand)), .integer(at)])
                }
                // On-hand may go below zero: after an oversell we owe units, and targets stay at 0.
                try session.query("UPDATE sync_stock SET on_hand = on_hand - $1, updated_at = $2 WHERE sku = $3",
                                  [.integer(Int64(line.quantity)), .integer(at), .text(line.sku)])
            }
            try session.query("""
                INSERT INTO sync_cursors (job, marketplace, cursor, updated_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (job, marketplace) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at
                """, [.text(job), channel, PostgresLedger.optional(page.cursor), .integer(at)])
            return outcome
        }
        metrics.oversells(marketplace: marketplace.rawValue, count: outcome.oversells.count)
        return outcome
    }

    @discardableResult
    public func seed(_ liveQuantities: [String: Int], from source: MarketplaceName, at: Int64) throws(LedgerError) -> [String] {
        try write { () throws(LedgerError) -> [String] in
            var known = Set<String>()
            for row in try session.rows("SELECT sku FROM sync_stock") { known.insert(try row.get("sku", as: String.self)) }
            var seeded: [String] = []
            for (sku, live) in liveQuantities.sorted(by: { $0.key < $1.key }) where !known.contains(sku) {
                // The source's own earlier sales are already out of its live quantity; others' are not.
                let elsewhere: Int64 = try session.rows("""
                    SELECT COALESCE(SUM(quantity), 0)::BIGINT AS elsewhere FROM sync_order_lines
                    WHERE sku = $1 AND counted = 0 AND marketplace <> $2
                    """, [.text(sku), .text(source.rawValue)]).first?.get("elsewhere") ?? 0
                try session.query("UPDATE sync_order_lines SET counted = 1 WHERE sku = $1 AND counted = 0", [.text(sku)])
                try session.query("INSERT INTO sync_stock (sku, on_hand, seeded_from, seeded_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
                                  [.text(sku), .integer(Int64(live) - elsewhere), .text(source.rawValue), .integer(at)])
                seeded.append(sku)
            }
            return seeded
        }
    }

    public func onHand() throws(LedgerError) -> [String: Int] {
        var out: [String: Int] = [:]
        for row in try session.rows("SELECT sku, on_hand FROM sync_stock") {
            out[try row.get("sku", as: String.self)] = Int(try row.get("on_hand", as: Int64.self))
        }
        return out
    }

    public func expectedQuantities(marketplace: MarketplaceName) throws(LedgerError) -> [String: Int] {
        var out: [String: Int] = [:]
        for row in try session.rows("SELECT sku, expected FROM sync_channel_quantities WHERE marketplace = $1", [.text(marketplace.rawValue)]) {
            out[try row.get("sku", as: String.self)] = Int(try row.get("expected", as: Int64.self))
        }
        return out
    }

    public func recordPlan(_ plan: PushPlan, job: String, runID: Int64, at: Int64) throws(LedgerError) {
        let channel = LedgerValue.text(plan.marketplace.rawValue)
        try write { () throws(LedgerError) in
            for (sku, live) in plan.observed.sorted(by: { $0.key < $1.key }) {
                try session.query("""
                    INSERT INTO sync_channel_quantities (marketplace, sku, expected, updated_at) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (marketplace, sku) DO UPDATE SET expected = excluded.expected, updated_at = excluded.updated_at
                    """, [channel, .text(sku), .integer(Int64(live)), .integer(at)])
            }
            for drift in plan.drift {
                try session.query("""
                    INSERT INTO sync_drift (run_id, job, marketplace, sku, live, expected, target, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    """, [.integer(runID), .text(job), channel, .text(drift.sku), .integer(Int64(drift.live)), .integer(Int64(drift.expected)),
                          .integer(Int64(drift.target)), .integer(at)])
            }
            for intent in plan.intents {
                try session.query("""
                    INSERT INTO sync_pushes (run_id, job, marketplace, sku, listing_id, live_quantity, quantity, live_price_micros,
                                             price_micros, currency, status, created_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'intent', $11)
                    """, [.integer(runID), .text(job), channel, .text(intent.change.sku), .text(intent.change.listingID),
                          .integer(Int64(intent.liveQuantity)), PostgresLedger.optional(intent.change.quantity.map { Int64($0) }),
                          .integer(intent.livePrice.micros), PostgresLedger.optional(intent.change.price?.micros),
                          .text(intent.livePrice.currency.code), .integer(at)])
            }
        }
        metrics.driftCorrections(marketplace: plan.marketplace.rawValue, count: plan.drift.count)
    }

    public func recordResults(_ results: [PushResult], marketplace: MarketplaceName, runID: Int64, at: Int64) throws(LedgerError) {
        let channel = LedgerValue.text(marketplace.rawValue)
        try write { () throws(LedgerError) in
            for result in results {
                let (status, error): (String, String?) = switch result.outcome {
                case .applied: ("applied", nil)
                case .failed(let reason): ("failed", reason)
                case .notSent: ("not-sent", nil)
                }
                try session.query("""
                    UPDATE sync_pushes SET status = $1, error = $2, finished_at = $3
                    WHERE id = (SELECT MAX(id) FROM sync_pushes WHERE run_id = $4 AND marketplace = $5 AND sku = $6 AND status = 'intent')
                    """, [.text(status), PostgresLedger.optional(error), .integer(at), .integer(runID), channel, .text(result.sku)])
                if case .applied = result.outcome, let quantity = result.quantity {
                    try session.query("UPDATE sync_channel_quantities SET expected = $1, updated_at = $2 WHERE marketplace = $3 AND sku = $4",
                                      [.integer(Int64(quantity)), .integer(at), channel, .text(result.sku)])
                }
            }
        }
    }

    // MARK: - Reports

    /// Pushes recorded (sku, status, quantity), in the order decided, for run `runID`.
    public func pushes(runID: Int64) throws(LedgerError) -> [(sku: String, status: String, quantity: Int?)] {
        try session.rows("SELECT sku, status, quantity FROM sync_pushes WHERE run_id = $1 ORDER BY id", [.integer(runID)])
            .map { row throws(LedgerError) in
                (try row.get("sku"), try row.get("status"), try row.get("quantity", as: Int64?.self).map { Int($0) })
            }
    }

    /// How many order lines have been applied, in all.
    public func orderLineCount() throws(LedgerError) -> Int {
        Int(try session.rows("SELECT COUNT(*)::BIGINT AS n FROM sync_order_lines").first?.get("n", as: Int64.self) ?? 0)
    }
}
