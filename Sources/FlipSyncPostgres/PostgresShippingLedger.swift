import FlipSyncCore
import PostgresNIO

/// Shipping arbitrage's tables in PostgreSQL: the same `shipping_*` tables and the same rules as
/// the SQLite `ShippingStore` (`ShippingLedger` and `ListingShippingLedger`), for nodes sharing one
/// database.
///
/// - `recordOrders` inserts the page's new lines (`ON CONFLICT DO NOTHING`: a known line is left
///   as it is and not counted) and moves the cursor in one transaction.
/// - Quotes, listings, recommendations and verdicts are inserted or replaced (`ON CONFLICT …
///   DO UPDATE` of every column, SQLite's `INSERT OR REPLACE`); within one call the last row
///   given for a key wins, as in SQLite.
/// - `replacePackaging` deletes the table and inserts the file's rows in one transaction (a
///   repeated SKU or a size of zero fails it whole, leaving the old table).
/// - `saveListingVerdict` replaces the listing's per-destination rows and its verdict in one
///   transaction.
/// - Rows go in with multi-row `INSERT`s (as many rows per statement as 60,000 parameters allow),
///   not one round trip per row. Text orders as SQLite's (bytes: `COLLATE "C"`).
/// - A row that does not decode (an unknown marketplace, status or currency, an amount without its
///   currency) is a storage error naming the table and the row's key, never a default.
public final class PostgresShippingLedger: ShippingLedger, Sendable {
    private let session: PostgresSession

    public init(ledger: PostgresLedger) { session = ledger.session }

    // MARK: - Order lines

    public func shippingCursor(job: String, marketplace: MarketplaceName) throws(LedgerError) -> String? {
        let rows = try session.query("SELECT cursor FROM shipping_cursors WHERE job = $1 AND marketplace = $2",
                                     [.text(job), .text(marketplace.rawValue)])
        guard let row = rows.first else { return nil }
        return try row.get("cursor", as: String?.self)
    }

    public func recordOrders(_ lines: [OrderLine], cursor: String?, job: String, marketplace: MarketplaceName, runID: Int64,
                             at: Int64) throws(LedgerError) -> Int {
        let rows = unique(lines, keepLast: false) { "\($0.marketplace.rawValue)\u{0}\($0.orderID)\u{0}\($0.lineID)" }.map { l -> [LedgerValue] in
            [.text(job), .text(l.marketplace.rawValue), .text(l.orderID), .text(l.lineID), .text(l.sku), .integer(Int64(l.quantity)),
             .integer(l.placedAt), opt(l.itemPrice?.micros), opt(l.itemPrice?.currency.code), opt(l.shippingPaid?.micros),
             opt(l.shippingPaid?.currency.code), opt(l.destination?.postalCode), opt(l.destination?.country),
             opt(l.destination?.region), opt(l.deliverBy), .integer(runID), .integer(at)]
        }
        return try session.transaction { () throws(LedgerError) -> Int in
            let inserted = try insertRows(
                "shipping_lines",
                ["job", "marketplace", "order_id", "line_id", "sku", "quantity", "placed_at", "item_price_micros", "item_currency",
                 "shipping_paid_micros", "shipping_currency", "postal_code", "country", "region", "deliver_by", "run_id", "recorded_at"],
                rows, then: "ON CONFLICT DO NOTHING RETURNING 1 AS new")
            try session.query("""
                INSERT INTO shipping_cursors (job, marketplace, cursor, updated_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (job, marketplace) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at
                """, [.text(job), .text(marketplace.rawValue), opt(cursor), .integer(at)])
            return inserted.count
        }
    }

    /// Lines a job read that have no recommendation yet.
    private static let pendingSQL = """
        SELECT l.* FROM shipping_lines l
        LEFT JOIN shipping_recommendations r
          ON r.job = l.job AND r.marketplace = l.marketplace AND r.order_id = l.order_id AND r.line_id = l.line_id
        WHERE r.job IS NULL AND l.job = $1
        """

    public func pendingLines(job: String) throws(LedgerError) -> [OrderLine] {
        try session.query(Self.pendingSQL + #" ORDER BY l.marketplace COLLATE "C", l.order_id COLLATE "C", l.line_id COLLATE "C""#,
                          [.text(job)]).map { row throws(LedgerError) in try Self.line(row) }
    }

    public func pendingLine(job: String, marketplace: MarketplaceName, orderID: String, lineID: String) throws(LedgerError) -> OrderLine? {
        try session.query(Self.pendingSQL + " AND l.marketplace = $2 AND l.order_id = $3 AND l.line_id = $4",
                          [.text(job), .text(marketplace.rawValue), .text(orderID), .text(lineID)])
            .first.map { row throws(LedgerError) in try Self.line(row) }
    }

    private static func line(_ row: PostgresRow) throws(LedgerError) -> OrderLine {
        try decode(row, "shipping_lines", key: ["job", "marketplace", "order_id", "line_id"]) { c in
            let postal: String? = try c.optText("postal_code"), country: String? = try c.optText("country")
            let region: String? = try c.optText("region")
            if postal != nil, country == nil { throw Undecodable("postal_code without a country") }
            return OrderLine(
                marketplace: try c.marketplace("marketplace"), orderID: try c.text("order_id"), lineID: try c.text("line_id"),
                sku: try c.text("sku"), quantity: try c.int("quantity"), placedAt: try c.int64("placed_at"),
                itemPrice: try c.money("item_price_micros", "item_currency"),
                shippingPaid: try c.money("shipping_paid_micros", "shipping_currency"),
                destination: postal.flatMap { postal in country.map { Destination(postalCode: postal, country: $0, region: region) } },
                deliverBy: try c.optInt64("deliver_by"), open: true)
        }
    }

    // MARK: - Packaging

    public func replacePackaging(_ items: [PackedItem], source: String, at: Int64) throws(LedgerError) {
        let rows = items.map { item -> [LedgerValue] in
            let s = item.size
            return [.text(item.sku), .integer(Int64(s.weightTenthsOz)), .integer(Int64(s.lengthTenthsIn)), .integer(Int64(s.widthTenthsIn)),
                    .integer(Int64(s.heightTenthsIn)), .text(source), .integer(at)]
        }
        try session.transaction { () throws(LedgerError) -> Void in
            try session.query("DELETE FROM shipping_packaging")
            try insertRows("shipping_packaging",
                           ["sku", "weight_tenths_oz", "length_tenths_in", "width_tenths_in", "height_tenths_in", "source", "imported_at"],
                           rows, then: "")
        }
    }

    public func packaging(sku: String) throws(LedgerError) -> ParcelSize? {
        try session.query("SELECT * FROM shipping_packaging WHERE sku = $1", [.text(sku)]).first.map { row throws(LedgerError) in
            try Self.decode(row, "shipping_packaging", key: ["sku"]) { c in
                ParcelSize(lengthTenthsIn: try c.int("length_tenths_in"), widthTenthsIn: try c.int("width_tenths_in"),
                           heightTenthsIn: try c.int("height_tenths_in"), weightTenthsOz: try c.int("weight_tenths_oz"))
            }
        }
    }

    // MARK: - Quotes and recommendations

    public func saveQuotes(_ quotes: [ShippingQuoteRecord], job: String, runID: Int64, at: Int64) throws(LedgerError) {
        let rows = unique(quotes, keepLast: true) {
            [$0.marketplace.rawValue, $0.orderID, $0.lineID, $0.source, $0.carrier, $0.service].joined(separator: "\u{0}")
        }.map { q -> [LedgerValue] in
            [.integer(runID), .text(job), .text(q.marketplace.rawValue), .text(q.orderID), .text(q.lineID), .text(q.source), .text(q.carrier),
             .text(q.service), .text(q.serviceKey), .integer(q.amountMicros), .text(q.currency), opt(q.deliveryDays),
             flag(q.deliveryDateGuaranteed), opt(q.billableOunces), opt(q.rateID), opt(q.arrivesAt), flag(q.adequate), .integer(at)]
        }
        let key = ["run_id", "marketplace", "order_id", "line_id", "source", "carrier", "service"]
        let columns = key + ["job", "service_key", "amount_micros", "currency", "delivery_days", "guaranteed", "billable_oz", "rate_id",
                             "arrives_at", "adequate", "quoted_at"]
        try session.transaction { () throws(LedgerError) -> Void in
            try insertRows("shipping_quotes",
                           ["run_id", "job", "marketplace", "order_id", "line_id", "source", "carrier", "service", "service_key",
                            "amount_micros", "currency", "delivery_days", "guaranteed", "billable_oz", "rate_id", "arrives_at", "adequate",
                            "quoted_at"],
                           rows, then: replacing(key: key, columns: columns))
        }
    }

    public func shippingQuotes(runID: Int64) throws(LedgerError) -> [ShippingQuoteRecord] {
        try session.query("""
            SELECT * FROM shipping_quotes WHERE run_id = $1
            ORDER BY marketplace COLLATE "C", order_id COLLATE "C", line_id COLLATE "C", amount_micros, carrier COLLATE "C",
                     service COLLATE "C", source COLLATE "C"
            """, [.integer(runID)]).map { row throws(LedgerError) in
            try Self.decode(row, "shipping_quotes", key: ["run_id", "marketplace", "order_id", "line_id", "source", "carrier", "service"]) { c in
                ShippingQuoteRecord(
                    marketplace: try c.marketplace("marketplace"), orderID: try c.text("order_id"), lineID: try c.text("line_id"),
                    source: try c.text("source"), carrier: try c.text("carrier"), service: try c.text("service"),
                    serviceKey: try c.text("service_key"), amountMicros: try c.int64("amount_micros"), currency: try c.currency("currency").code,
                    deliveryDays: try c.optInt("delivery_days"), deliveryDateGuaranteed: try c.bool("guaranteed"),
                    billableOunces: try c.optInt("billable_oz"), rateID: try c.optText("rate_id"), arrivesAt: try c.optInt64("arrives_at"),
                    adequate: try c.bool("adequate"))
            }
        }
    }

    public func saveRecommendation(_ r: ShippingRecommendation, job: String, runID: Int64, at: Int64) throws(LedgerError) {
        let key = ["job", "marketplace", "order_id", "line_id"]
        let columns = key + ["run_id", "sku", "quantity", "postal_code", "ship_at", "deliver_by", "status", "reason", "parcels", "carrier",
                             "service", "service_key", "source", "delivery_days", "billable_oz", "currency", "label_micros",
                             "buyer_paid_micros", "margin_micros", "default_service", "default_micros", "saving_micros", "actionable",
                             "decided_at"]
        let values: [LedgerValue] = [
            .text(job), .text(r.marketplace.rawValue), .text(r.orderID), .text(r.lineID), .integer(runID), .text(r.sku),
            .integer(Int64(r.quantity)), opt(r.destinationPostalCode), opt(r.shipAt), opt(r.deliverBy), .text(r.status.rawValue),
            .text(r.reason), .integer(Int64(r.parcels)), opt(r.carrier), opt(r.service), opt(r.serviceKey), opt(r.source),
            opt(r.deliveryDays), opt(r.billableOunces), .text(r.currency), opt(r.labelMicros), opt(r.buyerPaidMicros), opt(r.marginMicros),
            opt(r.defaultService), opt(r.defaultMicros), opt(r.savingMicros), flag(r.actionable), .integer(at)]
        try session.transaction { () throws(LedgerError) -> Void in
            try insertRows("shipping_recommendations", columns, [values], then: replacing(key: key, columns: columns))
        }
    }

    public func shippingRecommendations(runID: Int64) throws(LedgerError) -> [ShippingRecommendation] {
        try session.query("""
            SELECT * FROM shipping_recommendations WHERE run_id = $1
            ORDER BY marketplace COLLATE "C", order_id COLLATE "C", line_id COLLATE "C"
            """, [.integer(runID)]).map { row throws(LedgerError) in
            try Self.decode(row, "shipping_recommendations", key: ["job", "marketplace", "order_id", "line_id"]) { c in
                ShippingRecommendation(
                    marketplace: try c.marketplace("marketplace"), orderID: try c.text("order_id"), lineID: try c.text("line_id"),
                    sku: try c.text("sku"), quantity: try c.int("quantity"), destinationPostalCode: try c.optText("postal_code"),
                    shipAt: try c.optInt64("ship_at"), deliverBy: try c.optInt64("deliver_by"), status: try c.status("status"),
                    reason: try c.text("reason"), parcels: try c.int("parcels"), carrier: try c.optText("carrier"),
                    service: try c.optText("service"), serviceKey: try c.optText("service_key"), source: try c.optText("source"),
                    deliveryDays: try c.optInt("delivery_days"), billableOunces: try c.optInt("billable_oz"),
                    currency: try c.currency("currency").code, labelMicros: try c.optInt64("label_micros"),
                    buyerPaidMicros: try c.optInt64("buyer_paid_micros"), marginMicros: try c.optInt64("margin_micros"),
                    defaultService: try c.optText("default_service"), defaultMicros: try c.optInt64("default_micros"),
                    savingMicros: try c.optInt64("saving_micros"), actionable: try c.bool("actionable"))
            }
        }
    }

    // MARK: - Listings

    public func sweepID(ofRun runID: Int64) throws(LedgerError) -> Int64 {
        // Follow `resumes` back to the first run, at most 1,000 steps (as SQLite): the last id reached.
        let rows = try session.query("""
            WITH RECURSIVE chain (id, depth) AS (
                SELECT $1::BIGINT, 0
                UNION ALL
                SELECT r.resumes, c.depth + 1 FROM chain c JOIN runs r ON r.id = c.id
                WHERE r.resumes IS NOT NULL AND c.depth < 1000
            )
            SELECT id FROM chain ORDER BY depth DESC LIMIT 1
            """, [.integer(runID)])
        return try rows.first?.get("id", as: Int64.self) ?? runID
    }

    public func recordListings(_ listings: [ListingShipping], sweep: Int64, runID: Int64, at: Int64) throws(LedgerError) {
        let rows = unique(listings, keepLast: true) { "\($0.marketplace.rawValue)\u{0}\($0.listingID)" }.map { l -> [LedgerValue] in
            [.integer(sweep), .text(l.marketplace.rawValue), .text(l.listingID), .text(l.sku), opt(l.price?.micros), opt(l.price?.currency.code),
             opt(l.charge?.micros), opt(l.charge?.currency.code), opt(l.handlingDays), opt(l.serviceKey), .text(l.policy), opt(l.note),
             .integer(runID), .integer(at)]
        }
        let key = ["sweep_id", "marketplace", "listing_id"]
        let columns = key + ["sku", "price_micros", "price_currency", "charge_micros", "charge_currency", "handling_days", "service_key",
                             "policy", "note", "run_id", "recorded_at"]
        try session.transaction { () throws(LedgerError) -> Void in
            try insertRows("shipping_listings", columns, rows, then: replacing(key: key, columns: columns))
        }
    }

    public func unjudgedListings(sweep: Int64) throws(LedgerError) -> [ListingShipping] {
        try session.query("""
            SELECT l.* FROM shipping_listings l
            LEFT JOIN shipping_listing_verdicts v
              ON v.sweep_id = l.sweep_id AND v.marketplace = l.marketplace AND v.listing_id = l.listing_id
            WHERE v.sweep_id IS NULL AND l.sweep_id = $1
            ORDER BY l.marketplace COLLATE "C", l.listing_id COLLATE "C"
            """, [.integer(sweep)]).map { row throws(LedgerError) in try Self.listing(row) }
    }

    public func recordedListing(sweep: Int64, marketplace: MarketplaceName, listingID: String) throws(LedgerError) -> ListingShipping? {
        try session.query("SELECT * FROM shipping_listings WHERE sweep_id = $1 AND marketplace = $2 AND listing_id = $3",
                          [.integer(sweep), .text(marketplace.rawValue), .text(listingID)])
            .first.map { row throws(LedgerError) in try Self.listing(row) }
    }

    private static func listing(_ row: PostgresRow) throws(LedgerError) -> ListingShipping {
        try decode(row, "shipping_listings", key: ["sweep_id", "marketplace", "listing_id"]) { c in
            ListingShipping(
                marketplace: try c.marketplace("marketplace"), sku: try c.text("sku"), listingID: try c.text("listing_id"),
                price: try c.money("price_micros", "price_currency"), charge: try c.money("charge_micros", "charge_currency"),
                handlingDays: try c.optInt("handling_days"), serviceKey: try c.optText("service_key"), policy: try c.text("policy"),
                note: try c.optText("note"))
        }
    }

    public func saveListingQuotes(_ quotes: [ListingQuoteRecord], sweep: Int64, runID: Int64, at: Int64) throws(LedgerError) {
        let rows = unique(quotes, keepLast: true) {
            [$0.marketplace.rawValue, $0.listingID, $0.destinationPostalCode, $0.source, $0.carrier, $0.service].joined(separator: "\u{0}")
        }.map { q -> [LedgerValue] in
            [.integer(sweep), .text(q.marketplace.rawValue), .text(q.listingID), .text(q.destinationPostalCode), .text(q.source),
             .text(q.carrier), .text(q.service), .text(q.serviceKey), .integer(q.amountMicros), .text(q.currency), opt(q.deliveryDays),
             opt(q.billableOunces), flag(q.adequate), .integer(runID), .integer(at)]
        }
        let key = ["sweep_id", "marketplace", "listing_id", "postal_code", "source", "carrier", "service"]
        let columns = key + ["service_key", "amount_micros", "currency", "delivery_days", "billable_oz", "adequate", "run_id", "quoted_at"]
        try session.transaction { () throws(LedgerError) -> Void in
            try insertRows("shipping_listing_quotes", columns, rows, then: replacing(key: key, columns: columns))
        }
    }

    public func listingQuotes(sweep: Int64) throws(LedgerError) -> [ListingQuoteRecord] {
        try session.query("""
            SELECT * FROM shipping_listing_quotes WHERE sweep_id = $1
            ORDER BY marketplace COLLATE "C", listing_id COLLATE "C", postal_code COLLATE "C", amount_micros, carrier COLLATE "C",
                     service COLLATE "C", source COLLATE "C"
            """, [.integer(sweep)]).map { row throws(LedgerError) in
            try Self.decode(row, "shipping_listing_quotes",
                            key: ["sweep_id", "marketplace", "listing_id", "postal_code", "source", "carrier", "service"]) { c in
                ListingQuoteRecord(
                    marketplace: try c.marketplace("marketplace"), listingID: try c.text("listing_id"),
                    destinationPostalCode: try c.text("postal_code"), source: try c.text("source"), carrier: try c.text("carrier"),
                    service: try c.text("service"), serviceKey: try c.text("service_key"), amountMicros: try c.int64("amount_micros"),
                    currency: try c.currency("currency").code, deliveryDays: try c.optInt("delivery_days"),
                    billableOunces: try c.optInt("billable_oz"), adequate: try c.bool("adequate"))
            }
        }
    }

    /// The columns a per-destination row and a listing's verdict share (after the key).
    private static let verdictColumns = [
        "sku", "status", "reason", "handling_days", "promise_days", "carrier", "service", "service_key", "source", "delivery_days",
        "billable_oz", "currency", "charged_micros", "label_micros", "margin_micros", "default_service", "default_micros", "saving_micros",
        "actionable", "run_id", "decided_at",
    ]

    private static func verdictValues(_ v: ListingShippingVerdict, sweep: Int64, runID: Int64, at: Int64) -> [LedgerValue] {
        [.integer(sweep), .text(v.marketplace.rawValue), .text(v.listingID), opt(v.destinationPostalCode),
         .text(v.sku), .text(v.status.rawValue), .text(v.reason), opt(v.handlingDays), opt(v.promiseDays), opt(v.carrier), opt(v.service),
         opt(v.serviceKey), opt(v.source), opt(v.deliveryDays), opt(v.billableOunces), .text(v.currency), opt(v.chargedMicros),
         opt(v.labelMicros), opt(v.marginMicros), opt(v.defaultService), opt(v.defaultMicros), opt(v.savingMicros), flag(v.actionable),
         .integer(runID), .integer(at)]
    }

    public func saveListingVerdict(_ verdict: ListingShippingVerdict, destinations: [ListingShippingVerdict], sweep: Int64, runID: Int64,
                                   at: Int64) throws(LedgerError) {
        let destinationRows = unique(destinations.filter { $0.destinationPostalCode != nil }, keepLast: true) {
            // As SQLite: each row under its own marketplace and listing, replacing by its full key.
            "\($0.marketplace.rawValue)\u{0}\($0.listingID)\u{0}\($0.destinationPostalCode ?? "")"
        }.map { Self.verdictValues($0, sweep: sweep, runID: runID, at: at) }
        let destinationKey = ["sweep_id", "marketplace", "listing_id", "postal_code"]
        let verdictKey = ["sweep_id", "marketplace", "listing_id"]
        try session.transaction { () throws(LedgerError) -> Void in
            try session.query("DELETE FROM shipping_listing_destinations WHERE sweep_id = $1 AND marketplace = $2 AND listing_id = $3",
                              [.integer(sweep), .text(verdict.marketplace.rawValue), .text(verdict.listingID)])
            try insertRows("shipping_listing_destinations", destinationKey + Self.verdictColumns, destinationRows,
                           then: replacing(key: destinationKey, columns: destinationKey + Self.verdictColumns))
            try insertRows("shipping_listing_verdicts", destinationKey + Self.verdictColumns,
                           [Self.verdictValues(verdict, sweep: sweep, runID: runID, at: at)],
                           then: replacing(key: verdictKey, columns: destinationKey + Self.verdictColumns))
        }
    }

    public func listingVerdicts(sweep: Int64) throws(LedgerError) -> [ListingShippingVerdict] {
        try verdicts("shipping_listing_verdicts", key: ["sweep_id", "marketplace", "listing_id"], sweep: sweep)
    }

    public func listingDestinationVerdicts(sweep: Int64) throws(LedgerError) -> [ListingShippingVerdict] {
        try verdicts("shipping_listing_destinations", key: ["sweep_id", "marketplace", "listing_id", "postal_code"], sweep: sweep)
    }

    private func verdicts(_ table: String, key: [String], sweep: Int64) throws(LedgerError) -> [ListingShippingVerdict] {
        let order = key.dropFirst().map { #"\#($0) COLLATE "C""# }.joined(separator: ", ")
        return try session.query("SELECT * FROM \(table) WHERE sweep_id = $1 ORDER BY \(order)", [.integer(sweep)]).map { row throws(LedgerError) in
            try Self.decode(row, table, key: key) { c in
                ListingShippingVerdict(
                    marketplace: try c.marketplace("marketplace"), listingID: try c.text("listing_id"), sku: try c.text("sku"),
                    destinationPostalCode: try c.optText("postal_code"), status: try c.status("status"), reason: try c.text("reason"),
                    handlingDays: try c.optInt("handling_days"), promiseDays: try c.optInt("promise_days"), carrier: try c.optText("carrier"),
                    service: try c.optText("service"), serviceKey: try c.optText("service_key"), source: try c.optText("source"),
                    deliveryDays: try c.optInt("delivery_days"), billableOunces: try c.optInt("billable_oz"),
                    currency: try c.currency("currency").code, chargedMicros: try c.optInt64("charged_micros"),
                    labelMicros: try c.optInt64("label_micros"), marginMicros: try c.optInt64("margin_micros"),
                    defaultService: try c.optText("default_service"), defaultMicros: try c.optInt64("default_micros"),
                    savingMicros: try c.optInt64("saving_micros"), actionable: try c.bool("actionable"))
            }
        }
    }

    // MARK: - Statements

    /// `INSERT INTO table (columns) VALUES (…), (…) then`, as few statements as the protocol's
    /// 65,535 parameters allow (inside the caller's transaction); the rows every statement returned.
    @discardableResult
    private func insertRows(_ table: String, _ columns: [String], _ rows: [[LedgerValue]], then suffix: String) throws(LedgerError) -> [PostgresRow] {
        guard !rows.isEmpty else { return [] }
        let perStatement = max(1, 60_000 / columns.count)
        var returned: [PostgresRow] = []
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + perStatement, rows.count)]
            var values: [LedgerValue] = []
            values.reserveCapacity(chunk.count * columns.count)
            var tuples: [String] = []
            for row in chunk {
                precondition(row.count == columns.count, "\(table): \(row.count) values for \(columns.count) columns")
                let first = values.count
                tuples.append("(" + (1...row.count).map { "$\(first + $0)" }.joined(separator: ", ") + ")")
                values.append(contentsOf: row)
            }
            returned += try session.query("INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES \(tuples.joined(separator: ", ")) \(suffix)",
                                          values)
            start += chunk.count
        }
        return returned
    }

    /// SQLite's `INSERT OR REPLACE` for a row whose `key` exists: every other column replaced.
    private func replacing(key: [String], columns: [String]) -> String {
        let set = columns.filter { !key.contains($0) }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        return "ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(set)"
    }

    // MARK: - Reading rows

    /// `row` read by `body`, or an error naming the table and the row's `key` columns (as SQLite's).
    private static func decode<T>(_ row: PostgresRow, _ table: String, key: [String], _ body: (Columns) throws -> T) throws(LedgerError) -> T {
        let columns = Columns(row: row.makeRandomAccess())
        do {
            return try body(columns)
        } catch {
            let named = key.map { "\($0) \(columns.display($0))" }.joined(separator: ", ")
            let reason = (error as? Undecodable)?.reason ?? "\(error)"
            throw .storage("\(table) row (\(named)) does not decode: \(reason)")
        }
    }
}

/// Why a row does not decode.
private struct Undecodable: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// A row's columns by name: a NULL where a value is required, an unknown code, or an amount
/// without its currency is an `Undecodable` naming the column.
private struct Columns {
    let row: PostgresRandomAccessRow

    private func value<T: PostgresDecodable>(_ column: String, as type: T.Type) throws -> T {
        guard row.contains(column) else { throw Undecodable("no column \(column)") }
        do { return try row[column].decode(T.self) } catch { throw Undecodable("column \(column): \(String(reflecting: error))") }
    }

    func text(_ column: String) throws -> String {
        guard let value = try value(column, as: String?.self) else { throw Undecodable("column \(column) is NULL") }
        return value
    }
    func optText(_ column: String) throws -> String? { try value(column, as: String?.self) }
    func int64(_ column: String) throws -> Int64 {
        guard let value = try value(column, as: Int64?.self) else { throw Undecodable("column \(column) is NULL") }
        return value
    }
    func optInt64(_ column: String) throws -> Int64? { try value(column, as: Int64?.self) }
    func int(_ column: String) throws -> Int { Int(try int64(column)) }
    func optInt(_ column: String) throws -> Int? { try optInt64(column).map { Int($0) } }
    func bool(_ column: String) throws -> Bool {
        let flag = try int64(column)
        guard flag == 0 || flag == 1 else { throw Undecodable("column \(column) is \(flag), not 0 or 1") }
        return flag == 1
    }

    func marketplace(_ column: String) throws -> MarketplaceName {
        let text = try text(column)
        guard let value = MarketplaceName(rawValue: text) else { throw Undecodable("unknown \(column) \"\(text)\"") }
        return value
    }
    func status(_ column: String) throws -> ShippingRecommendation.Status {
        let text = try text(column)
        guard let value = ShippingRecommendation.Status(rawValue: text) else { throw Undecodable("unknown \(column) \"\(text)\"") }
        return value
    }
    func currency(_ column: String) throws -> Currency {
        let code = try text(column)
        guard let value = Currency(code: code) else { throw Undecodable("unknown \(column) \"\(code)\"") }
        return value
    }
    /// An amount and its currency: both or neither.
    func money(_ micros: String, _ currency: String) throws -> Money? {
        let amount = try optInt64(micros)
        let code = try optText(currency) != nil ? try self.currency(currency) : nil
        guard (amount == nil) == (code == nil) else {
            throw Undecodable("\(micros): an amount without its currency, or a currency without an amount")
        }
        guard let amount, let code else { return nil }
        return Money(micros: amount, currency: code)
    }

    /// The column's value for an error message.
    func display(_ column: String) -> String {
        guard row.contains(column) else { return "?" }
        do {
            let text = try row[column].decode(String?.self)
            return text.map { "'\($0)'" } ?? "NULL"
        } catch {}
        do {
            let number = try row[column].decode(Int64?.self)
            return number.map { "\($0)" } ?? "NULL"
        } catch {}
        return "?"
    }
}

private func opt(_ value: Int64?) -> LedgerValue { value.map { .integer($0) } ?? .null }
private func opt(_ value: Int?) -> LedgerValue { value.map { .integer(Int64($0)) } ?? .null }
private func opt(_ value: String?) -> LedgerValue { value.map { .text($0) } ?? .null }
private func flag(_ value: Bool) -> LedgerValue { .integer(value ? 1 : 0) }

/// `items` with one per key, in their first occurrence's order: the first given (`keepLast`
/// false, SQLite's `ON CONFLICT DO NOTHING`) or the last (true, its `INSERT OR REPLACE`).
private func unique<T>(_ items: [T], keepLast: Bool, key: (T) -> String) -> [T] {
    var index: [String: Int] = [:]
    var out: [T] = []
    for item in items {
        let k = key(item)
        if let at = index[k] {
            if keepLast { out[at] = item }
        } else {
            index[k] = out.count
            out.append(item)
        }
    }
    return out
}
