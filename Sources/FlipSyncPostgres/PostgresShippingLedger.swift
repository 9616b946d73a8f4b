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
/// - Rows go in with multi-row `INSERT`s (`PostgresSession.inserts`: as many rows a statement as
///   60,000 parameters allow), not one round trip per row. Text orders as SQLite's (bytes: `COLLATE "C"`).
/// - A row that does not decode (an unknown marketplace, status or currency, an amount without its
///   currency) is a storage error naming the table and the row's key, never a default.
public final class PostgresShippingLedger: ShippingLedger, Sendable {
    private let session: PostgresSession

    public init(ledger: PostgresLedger) { session = ledger.session }

    // MARK: - Order lines

    public func shippingCursor(job: String, marketplace: MarketplaceName) throws(LedgerError) -> String? {
        let rows = try session.rows("SELECT cursor FROM shipping_cursors WHERE job = $1 AND marketplace = $2",
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
            let inserted = try session.query(PostgresSession.inserts(
                into: "shipping_lines",
                columns: ["job", "marketplace", "order_id", "line_id", "sku", "quantity", "placed_at", "item_price_micros", "item_currency",
                 "shipping_paid_micros", "shipping_currency", "postal_code", "country", "region", "deliver_by", "run_id", "recorded_at"],
                rows: rows, then: "ON CONFLICT DO NOTHING RETURNING 1 AS new"))
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
        try PostgresColumns(row).decoding("shipping_lines", key: ["job", "marketplace", "order_id", "line_id"]) { c throws(LedgerError) in
            let postal: String? = try c.get("postal_code"), country: String? = try c.get("country")
            let region: String? = try c.get("region")
            if postal != nil, country == nil { throw LedgerError.storage("postal_code without a country") }
            return OrderLine(
                marketplace: try c.code("marketplace"), orderID: try c.get("order_id"), lineID: try c.get("line_id"),
                sku: try c.get("sku"), quantity: try c.get("quantity"), placedAt: try c.get("placed_at"),
                itemPrice: try c.money("item_price_micros", "item_currency"),
                shippingPaid: try c.money("shipping_paid_micros", "shipping_currency"),
                destination: postal.flatMap { postal in country.map { Destination(postalCode: postal, country: $0, region: region) } },
                deliverBy: try c.get("deliver_by"), open: true)
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
            try session.query(PostgresSession.inserts(
                into: "shipping_packaging",
                columns: ["sku", "weight_tenths_oz", "length_tenths_in", "width_tenths_in", "height_tenths_in", "source", "imported_at"],
                rows: rows))
        }
    }

    public func packaging(sku: String) throws(LedgerError) -> ParcelSize? {
        try session.query("SELECT * FROM shipping_packaging WHERE sku = $1", [.text(sku)]).first.map { row throws(LedgerError) in
            try PostgresColumns(row).decoding("shipping_packaging", key: ["sku"]) { c throws(LedgerError) in
                ParcelSize(lengthTenthsIn: try c.get("length_tenths_in"), widthTenthsIn: try c.get("width_tenths_in"),
                           heightTenthsIn: try c.get("height_tenths_in"), weightTenthsOz: try c.get("weight_tenths_oz"))
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
            try session.query(PostgresSession.inserts(
                into: "shipping_quotes",
                columns: ["run_id", "job", "marketplace", "order_id", "line_id", "source", "carrier", "service", "service_key",
                          "amount_micros", "currency", "delivery_days", "guaranteed", "billable_oz", "rate_id", "arrives_at", "adequate",
                          "quoted_at"],
                rows: rows, then: replacing(key: key, columns: columns)))
        }
    }

    public func shippingQuotes(runID: Int64) throws(LedgerError) -> [ShippingQuoteRecord] {
        try session.query("""
            SELECT * FROM shipping_quotes WHERE run_id = $1
            ORDER BY marketplace COLLATE "C", order_id COLLATE "C", line_id COLLATE "C", amount_micros, carrier COLLATE "C",
                     service COLLATE "C", source COLLATE "C"
            """, [.integer(runID)]).map { row throws(LedgerError) in
            let key = ["run_id", "marketplace", "order_id", "line_id", "source", "carrier", "service"]
            return try PostgresColumns(row).decoding("shipping_quotes", key: key) { c throws(LedgerError) in
                ShippingQuoteRecord(
                    marketplace: try c.code("marketplace"), orderID: try c.get("order_id"), lineID: try c.get("line_id"),
                    source: try c.get("source"), carrier: try c.get("carrier"), service: try c.get("service"),
                    serviceKey: try c.get("service_key"), amountMicros: try c.get("amount_micros"), currency: try c.currency("currency").code,
                    deliveryDays: try c.get("delivery_days"), deliveryDateGuaranteed: try c.flag("guaranteed"),
                    billableOunces: try c.get("billable_oz"), rateID: try c.get("rate_id"), arrivesAt: try c.get("arrives_at"),
                    adequate: try c.flag("adequate"))
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
            try session.query(PostgresSession.inserts(into: "shipping_recommendations", columns: columns, rows: [values],
                                                      then: replacing(key: key, columns: columns)))
        }
    }

    public func shippingRecommendations(runID: Int64) throws(LedgerError) -> [ShippingRecommendation] {
        try session.query("""
            SELECT * FROM shipping_recommendations WHERE run_id = $1
            ORDER BY marketplace COLLATE "C", order_id COLLATE "C", line_id COLLATE "C"
            """, [.integer(runID)]).map { row throws(LedgerError) in
            try PostgresColumns(row).decoding("shipping_recommendations",
                                              key: ["job", "marketplace", "order_id", "line_id"]) { c throws(LedgerError) in
                ShippingRecommendation(
                    marketplace: try c.code("marketplace"), orderID: try c.get("order_id"), lineID: try c.get("line_id"),
                    sku: try c.get("sku"), quantity: try c.get("quantity"), destinationPostalCode: try c.get("postal_code"),
                    shipAt: try c.get("ship_at"), deliverBy: try c.get("deliver_by"), status: try c.code("status"),
                    reason: try c.get("reason"), parcels: try c.get("parcels"), carrier: try c.get("carrier"),
                    service: try c.get("service"), serviceKey: try c.get("service_key"), source: try c.get("source"),
                    deliveryDays: try c.get("delivery_days"), billableOunces: try c.get("billable_oz"),
                    currency: try c.currency("currency").code, labelMicros: try c.get("label_micros"),
                    buyerPaidMicros: try c.get("buyer_paid_micros"), marginMicros: try c.get("margin_micros"),
                    defaultService: try c.get("default_service"), defaultMicros: try c.get("default_micros"),
                    savingMicros: try c.get("saving_micros"), actionable: try c.flag("actionable"))
            }
        }
    }

    // MARK: - Listings

    public func sweepID(ofRun runID: Int64) throws(LedgerError) -> Int64 {
        try PostgresLedger.sweepID(ofRun: runID, in: session)
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
            try session.query(PostgresSession.inserts(into: "shipping_listings", columns: columns, rows: rows,
                                                      then: replacing(key: key, columns: columns)))
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
        try PostgresColumns(row).decoding("shipping_listings", key: ["sweep_id", "marketplace", "listing_id"]) { c throws(LedgerError) in
            ListingShipping(
                marketplace: try c.code("marketplace"), sku: try c.get("sku"), listingID: try c.get("listing_id"),
                price: try c.money("price_micros", "price_currency"), charge: try c.money("charge_micros", "charge_currency"),
                handlingDays: try c.get("handling_days"), serviceKey: try c.get("service_key"), policy: try c.get("policy"),
                note: try c.get("note"))
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
            try session.query(PostgresSession.inserts(into: "shipping_listing_quotes", columns: columns, rows: rows,
                                                      then: replacing(key: key, columns: columns)))
        }
    }

    public func listingQuotes(sweep: Int64) throws(LedgerError) -> [ListingQuoteRecord] {
        try session.query("""
            SELECT * FROM shipping_listing_quotes WHERE sweep_id = $1
            ORDER BY marketplace COLLATE "C", listing_id COLLATE "C", postal_code COLLATE "C", amount_micros, carrier COLLATE "C",
                     service COLLATE "C", source COLLATE "C"
            """, [.integer(sweep)]).map { row throws(LedgerError) in
            try PostgresColumns(row).decoding("shipping_listing_quotes",
                                              key: ["sweep_id", "marketplace", "listing_id", "postal_code", "source", "carrier", "service"]) { c throws(LedgerError) in
                ListingQuoteRecord(
                    marketplace: try c.code("marketplace"), listingID: try c.get("listing_id"),
                    destinationPostalCode: try c.get("postal_code"), source: try c.get("source"), carrier: try c.get("carrier"),
                    service: try c.get("service"), serviceKey: try c.get("service_key"), amountMicros: try c.get("amount_micros"),
                    currency: try c.currency("currency").code, deliveryDays: try c.get("delivery_days"),
                    billableOunces: try c.get("billable_oz"), adequate: try c.flag("adequate"))
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
            try session.query(PostgresSession.inserts(
                into: "shipping_listing_destinations", columns: destinationKey + Self.verdictColumns, rows: destinationRows,
                then: replacing(key: destinationKey, columns: destinationKey + Self.verdictColumns)))
            try session.query(PostgresSession.inserts(
                into: "shipping_listing_verdicts", columns: destinationKey + Self.verdictColumns,
                rows: [Self.verdictValues(verdict, sweep: sweep, runID: runID, at: at)],
                then: replacing(key: verdictKey, columns: destinationKey + Self.verdictColumns)))
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
            try PostgresColumns(row).decoding(table, key: key) { c throws(LedgerError) in
                ListingShippingVerdict(
                    marketplace: try c.code("marketplace"), listingID: try c.get("listing_id"), sku: try c.get("sku"),
                    destinationPostalCode: try c.get("postal_code"), status: try c.code("status"), reason: try c.get("reason"),
                    handlingDays: try c.get("handling_days"), promiseDays: try c.get("promise_days"), carrier: try c.get("carrier"),
                    service: try c.get("service"), serviceKey: try c.get("service_key"), source: try c.get("source"),
                    deliveryDays: try c.get("delivery_days"), billableOunces: try c.get("billable_oz"),
                    currency: try c.currency("currency").code, chargedMicros: try c.get("charged_micros"),
                    labelMicros: try c.get("label_micros"), marginMicros: try c.get("margin_micros"),
                    defaultService: try c.get("default_service"), defaultMicros: try c.get("default_micros"),
                    savingMicros: try c.get("saving_micros"), actionable: try c.flag("actionable"))
            }
        }
    }

    // MARK: - Statements

    /// SQLite's `INSERT OR REPLACE` for a row whose `key` exists: every other column replaced.
    private func replacing(key: [String], columns: [String]) -> String {
        let set = columns.filter { !key.contains($0) }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        return "ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(set)"
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
