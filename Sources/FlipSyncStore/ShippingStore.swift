import FlipSyncCore
import GRDB

/// The shipping-arbitrage tables: orders cursors, pending open lines, the packaging table, every
/// quote and one recommendation per line.
extension RunStore: ShippingLedger {
    static func registerShippingMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m05-shipping: quotes and recommendations") { db in
            try db.execute(sql: """
                CREATE TABLE shipping_cursors (
                    job TEXT NOT NULL,
                    marketplace TEXT NOT NULL,
                    cursor TEXT,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (job, marketplace)
                ) WITHOUT ROWID;

                CREATE TABLE shipping_lines (
                    job TEXT NOT NULL,
                    marketplace TEXT NOT NULL,
                    order_id TEXT NOT NULL,
                    line_id TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    quantity INTEGER NOT NULL,
                    placed_at INTEGER NOT NULL,
                    item_price_micros INTEGER,
                    item_currency TEXT,
                    shipping_paid_micros INTEGER,
                    shipping_currency TEXT,
                    postal_code TEXT,
                    country TEXT,
                    region TEXT,
                    deliver_by INTEGER,
                    run_id INTEGER NOT NULL,
                    recorded_at INTEGER NOT NULL,
                    PRIMARY KEY (job, marketplace, order_id, line_id)
                ) WITHOUT ROWID;

                CREATE TABLE shipping_packaging (
                    sku TEXT PRIMARY KEY,
                    weight_tenths_oz INTEGER NOT NULL CHECK (weight_tenths_oz > 0),
                    length_tenths_in INTEGER NOT NULL CHECK (length_tenths_in > 0),
                    width_tenths_in INTEGER NOT NULL CHECK (width_tenths_in > 0),
                    height_tenths_in INTEGER NOT NULL CHECK (height_tenths_in > 0),
                    source TEXT NOT NULL,
                    imported_at INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE shipping_quotes (
                    run_id INTEGER NOT NULL,
                    job TEXT NOT NULL,
                    marketplace TEXT NOT NULL,
                    order_id TEXT NOT NULL,
                    line_id TEXT NOT NULL,
                    source TEXT NOT NULL,
                    carrier TEXT NOT NULL,
                    service TEXT NOT NULL,
                    service_key TEXT NOT NULL,
                    amount_micros INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    delivery_days INTEGER,
                    guaranteed INTEGER NOT NULL CHECK (guaranteed IN (0, 1)),
                    billable_oz INTEGER,
                    rate_id TEXT,
                    arrives_at INTEGER,
                    adequate INTEGER NOT NULL CHECK (adequate IN (0, 1)),
                    quoted_at INTEGER NOT NULL,
                    PRIMARY KEY (run_id, marketplace, order_id, line_id, source, carrier, service)
                ) WITHOUT ROWID;

                CREATE TABLE shipping_recommendations (
                    job TEXT NOT NULL,
                    marketplace TEXT NOT NULL,
                    order_id TEXT NOT NULL,
                    line_id TEXT NOT NULL,
                    run_id INTEGER NOT NULL,
                    sku TEXT NOT NULL,
                    quantity INTEGER NOT NULL,
                    postal_code TEXT,
                    ship_at INTEGER,
                    deliver_by INTEGER,
                    status TEXT NOT NULL CHECK (status IN ('recommended', 'no-adequate-rate', 'skipped')),
                    reason TEXT NOT NULL,
                    parcels INTEGER NOT NULL,
                    carrier TEXT,
                    service TEXT,
                    service_key TEXT,
                    source TEXT,
                    delivery_days INTEGER,
                    billable_oz INTEGER,
                    currency TEXT NOT NULL,
                    label_micros INTEGER,
                    buyer_paid_micros INTEGER,
                    margin_micros INTEGER,
                    default_service TEXT,
                    default_micros INTEGER,
                    saving_micros INTEGER,
                    actionable INTEGER NOT NULL CHECK (actionable IN (0, 1)),
                    decided_at INTEGER NOT NULL,
                    PRIMARY KEY (job, marketplace, order_id, line_id)
                ) WITHOUT ROWID;
                CREATE INDEX shipping_recommendations_run ON shipping_recommendations(run_id);
                """)
        }
        // Listings are kept per sweep (the first run of a chain of resumes): a resumed run
        // continues its sweep's listings and never records or counts one twice.
        migrator.registerMigration("m06-shipping: listings' shipping settings, quotes and verdicts") { db in
            try db.execute(sql: """
                CREATE TABLE shipping_listings (
                    sweep_id INTEGER NOT NULL,
                    marketplace TEXT NOT NULL,
                    listing_id TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    price_micros INTEGER,
                    price_currency TEXT,
                    charge_micros INTEGER,
                    charge_currency TEXT,
                    handling_days INTEGER,
                    service_key TEXT,
                    policy TEXT NOT NULL,
                    note TEXT,
                    run_id INTEGER NOT NULL,
                    recorded_at INTEGER NOT NULL,
                    PRIMARY KEY (sweep_id, marketplace, listing_id)
                ) WITHOUT ROWID;

                CREATE TABLE shipping_listing_quotes (
                    sweep_id INTEGER NOT NULL,
                    marketplace TEXT NOT NULL,
                    listing_id TEXT NOT NULL,
                    postal_code TEXT NOT NULL,
                    source TEXT NOT NULL,
                    carrier TEXT NOT NULL,
                    service TEXT NOT NULL,
                    service_key TEXT NOT NULL,
                    amount_micros INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    delivery_days INTEGER,
                    billable_oz INTEGER,
                    adequate INTEGER NOT NULL CHECK (adequate IN (0, 1)),
                    run_id INTEGER NOT NULL,
                    quoted_at INTEGER NOT NULL,
                    PRIMARY KEY (sweep_id, marketplace, listing_id, postal_code, source, carrier, service)
                ) WITHOUT ROWID;

                CREATE TABLE shipping_listing_destinations (
                    sweep_id INTEGER NOT NULL,
                    marketplace TEXT NOT NULL,
                    listing_id TEXT NOT NULL,
                    postal_code TEXT NOT NULL,
                    \(Self.verdictColumns),
                    PRIMARY KEY (sweep_id, marketplace, listing_id, postal_code)
                ) WITHOUT ROWID;

                CREATE TABLE shipping_listing_verdicts (
                    sweep_id INTEGER NOT NULL,
                    marketplace TEXT NOT NULL,
                    listing_id TEXT NOT NULL,
                    postal_code TEXT,
                    \(Self.verdictColumns),
                    PRIMARY KEY (sweep_id, marketplace, listing_id)
                ) WITHOUT ROWID;
                """)
        }
        // Two more statuses (`default-inadequate`, `no-rate`): SQLite cannot alter a CHECK, so each
        // table is rebuilt from its own definition with the wider one, rows copied as they are.
        migrator.registerMigration("m07-shipping: statuses default-inadequate and no-rate") { db in
            let old = "CHECK (status IN ('recommended', 'no-adequate-rate', 'skipped'))"
            let new = "CHECK (status IN ('recommended', 'default-inadequate', 'no-adequate-rate', 'no-rate', 'skipped'))"
            for table in ["shipping_recommendations", "shipping_listing_destinations", "shipping_listing_verdicts"] {
                guard let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                                    arguments: [table]), sql.contains(old) else { continue }
                // The definition from its column list on, under the new name (SQLite may have quoted the old one).
                guard let columns = sql.firstIndex(of: "(") else { continue }
                let wider = "CREATE TABLE \(table)_v8 " + sql[columns...].replacing(old, with: new)
                try db.execute(sql: wider)
                try db.execute(sql: "INSERT INTO \(table)_v8 SELECT * FROM \(table)")
                try db.execute(sql: "DROP TABLE \(table)")
                try db.execute(sql: "ALTER TABLE \(table)_v8 RENAME TO \(table)")
            }
            try db.execute(sql: "CREATE INDEX IF NOT EXISTS shipping_recommendations_run ON shipping_recommendations(run_id)")
        }
    }

    /// The columns a per-destination row and a listing's verdict share.
    private static let verdictColumns = """
        sku TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('recommended', 'no-adequate-rate', 'skipped')),
        reason TEXT NOT NULL,
        handling_days INTEGER,
        promise_days INTEGER,
        carrier TEXT,
        service TEXT,
        service_key TEXT,
        source TEXT,
        delivery_days INTEGER,
        billable_oz INTEGER,
        currency TEXT NOT NULL,
        charged_micros INTEGER,
        label_micros INTEGER,
        margin_micros INTEGER,
        default_service TEXT,
        default_micros INTEGER,
        saving_micros INTEGER,
        actionable INTEGER NOT NULL CHECK (actionable IN (0, 1)),
        run_id INTEGER NOT NULL,
        decided_at INTEGER NOT NULL
        """

    public func shippingCursor(job: String, marketplace: MarketplaceName) throws -> String? {
        try read { db in try CursorRow<ShippingCursors>.cursor(db, job: job, marketplace: marketplace)?.cursor }
    }

    public func recordOrders(_ lines: [OrderLine], cursor: String?, job: String, marketplace: MarketplaceName, runID: Int64,
                             at: Int64) throws -> Int {
        try write { db in
            var new = 0
            for l in lines {
                try db.cachedStatement(sql: """
                    INSERT INTO shipping_lines (job, marketplace, order_id, line_id, sku, quantity, placed_at, item_price_micros,
                                                item_currency, shipping_paid_micros, shipping_currency, postal_code, country, region,
                                                deliver_by, run_id, recorded_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """).execute(arguments: [job, l.marketplace.rawValue, l.orderID, l.lineID, l.sku, l.quantity, l.placedAt,
                                                 l.itemPrice?.micros, l.itemPrice?.currency.code, l.shippingPaid?.micros,
                                                 l.shippingPaid?.currency.code, l.destination?.postalCode, l.destination?.country,
                                                 l.destination?.region, l.deliverBy, runID, at])
                new += db.changesCount
            }
            try db.cachedStatement(sql: """
                INSERT INTO shipping_cursors (job, marketplace, cursor, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (job, marketplace) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at
                """).execute(arguments: [job, marketplace.rawValue, cursor, at])
            return new
        }
    }

    public func pendingLines(job: String) throws -> [OrderLine] {
        try read { db in try ShippingLineRow.pending(db, job: job).map(\.line) }
    }

    public func pendingLine(job: String, marketplace: MarketplaceName, orderID: String, lineID: String) throws -> OrderLine? {
        try read { db in try ShippingLineRow.pending(db, job: job, marketplace: marketplace, orderID: orderID, lineID: lineID)?.line }
    }

    public func replacePackaging(_ items: [PackedItem], source: String, at: Int64) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM shipping_packaging")
            for item in items {
                let s = item.size
                try db.cachedStatement(sql: """
                    INSERT INTO shipping_packaging (sku, weight_tenths_oz, length_tenths_in, width_tenths_in, height_tenths_in, source, imported_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [item.sku, s.weightTenthsOz, s.lengthTenthsIn, s.widthTenthsIn, s.heightTenthsIn,
                                                 source, at])
            }
        }
    }

    public func packaging(sku: String) throws -> ParcelSize? {
        try read { db in try ShippingPackagingRow.packaging(db, sku: sku)?.size }
    }

    public func saveQuotes(_ quotes: [ShippingQuoteRecord], job: String, runID: Int64, at: Int64) throws {
        try write { db in
            for q in quotes {
                try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO shipping_quotes (run_id, job, marketplace, order_id, line_id, source, carrier, service,
                        service_key, amount_micros, currency, delivery_days, guaranteed, billable_oz, rate_id, arrives_at, adequate, quoted_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [runID, job, q.marketplace.rawValue, q.orderID, q.lineID, q.source, q.carrier,
                                                 q.service, q.serviceKey, q.amountMicros, q.currency, q.deliveryDays,
                                                 q.deliveryDateGuaranteed, q.billableOunces, q.rateID, q.arrivesAt, q.adequate, at])
            }
        }
    }

    public func shippingQuotes(runID: Int64) throws -> [ShippingQuoteRecord] {
        try read { db in try ShippingQuoteRow.quotes(db, runID: runID).map(\.record) }
    }

    public func saveRecommendation(_ r: ShippingRecommendation, job: String, runID: Int64, at: Int64) throws {
        try write { db in try ShippingRecommendationRow(r, job: job, runID: runID, at: at).insert(db, onConflict: .replace) }
    }

    public func shippingRecommendations(runID: Int64) throws -> [ShippingRecommendation] {
        try read { db in try ShippingRecommendationRow.recommendations(db, runID: runID).map(\.recommendation) }
    }

    // MARK: Listings

    public func recordListings(_ listings: [ListingShipping], sweep: Int64, runID: Int64, at: Int64) throws {
        try write { db in
            for l in listings {
                try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO shipping_listings (sweep_id, marketplace, listing_id, sku, price_micros, price_currency,
                        charge_micros, charge_currency, handling_days, service_key, policy, note, run_id, recorded_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [sweep, l.marketplace.rawValue, l.listingID, l.sku, l.price?.micros,
                                                 l.price?.currency.code, l.charge?.micros, l.charge?.currency.code,
                                                 l.handlingDays, l.serviceKey, l.policy, l.note, runID, at])
            }
        }
    }

    public func unjudgedListings(sweep: Int64) throws -> [ListingShipping] {
        try read { db in try ShippingListingRow.unjudged(db, sweep: sweep).map(\.listing) }
    }

    public func recordedListing(sweep: Int64, marketplace: MarketplaceName, listingID: String) throws -> ListingShipping? {
        try read { db in try ShippingListingRow.listing(db, sweep: sweep, marketplace: marketplace, listingID: listingID)?.listing }
    }

    public func saveListingQuotes(_ quotes: [ListingQuoteRecord], sweep: Int64, runID: Int64, at: Int64) throws {
        try write { db in
            for q in quotes {
                try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO shipping_listing_quotes (sweep_id, marketplace, listing_id, postal_code, source, carrier, service,
                        service_key, amount_micros, currency, delivery_days, billable_oz, adequate, run_id, quoted_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [sweep, q.marketplace.rawValue, q.listingID, q.destinationPostalCode, q.source,
                                                 q.carrier, q.service, q.serviceKey, q.amountMicros, q.currency, q.deliveryDays,
                                                 q.billableOunces, q.adequate, runID, at])
            }
        }
    }

    public func listingQuotes(sweep: Int64) throws -> [ListingQuoteRecord] {
        try read { db in try ShippingListingQuoteRow.quotes(db, sweep: sweep).map(\.record) }
    }

    public func saveListingVerdict(_ verdict: ListingShippingVerdict, destinations: [ListingShippingVerdict], sweep: Int64, runID: Int64,
                                   at: Int64) throws {
        try write { db in
            try db.cachedStatement(sql: "DELETE FROM shipping_listing_destinations WHERE sweep_id = ? AND marketplace = ? AND listing_id = ?")
                .execute(arguments: [sweep, verdict.marketplace.rawValue, verdict.listingID])
            for row in destinations where row.destinationPostalCode != nil {
                try ShippingListingDestinationRow(row, sweep: sweep, runID: runID, at: at).insert(db, onConflict: .replace)
            }
            try ShippingListingVerdictRow(verdict, sweep: sweep, runID: runID, at: at).insert(db, onConflict: .replace)
        }
    }

    public func listingVerdicts(sweep: Int64) throws -> [ListingShippingVerdict] {
        try read { db in try ShippingListingVerdictRow.verdicts(db, sweep: sweep).map(\.verdict) }
    }

    public func listingDestinationVerdicts(sweep: Int64) throws -> [ListingShippingVerdict] {
        try read { db in try ShippingListingDestinationRow.verdicts(db, sweep: sweep).map(\.verdict) }
    }
}
