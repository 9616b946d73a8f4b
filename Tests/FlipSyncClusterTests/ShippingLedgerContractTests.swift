import FlipSyncCore
import FlipSyncPostgres
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import PostgresNIO
import Testing

extension StoreKind {
    /// A new, empty run ledger of this kind; on PostgreSQL in a database whose default collation
    /// is not byte order (ICU's en-US, where "b1" sorts before "B2", as on many servers), so that
    /// the lists are shown to follow SQLite's byte order whatever the server's collation.
    func makeLedgerWithLocaleCollation() async throws -> any RunLedger {
        guard self == .postgres else { return try await makeLedger() }
        let server = try server()
        let name = "icu_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        _ = try await server.withClient(database: "postgres") { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.utf8'"))
        }
        let ledger = try PostgresLedger(endpoint: ClusterEndpoint(user: TestPostgres.user, host: "127.0.0.1", port: server.port, database: name,
                                                                  tls: .disable), password: server.password)
        let localeOrder = try ledger.session.query("SELECT ('b1' < 'B2') AS b_first").first?.makeRandomAccess()["b_first"].decode(Bool.self)
        try #require(localeOrder == true, "the database's collation is byte order: the order tests would prove nothing")
        return ledger
    }

    /// A new, empty run ledger of this kind and the shipping ledger over it.
    func makeShippingLedger() async throws -> (runs: any RunLedger, shipping: any ShippingLedger) {
        let ledger = try await makeLedgerWithLocaleCollation()
        switch self {
        case .sqlite: return (ledger, ledger as! RunStore)
        case .postgres: return (ledger, PostgresShippingLedger(ledger: ledger as! PostgresLedger))
        }
    }

    /// The spend history over `ledger` (made by `makeLedger`).
    func spendHistory(on ledger: any RunLedger) -> any SpendHistoryReading {
        switch self {
        case .sqlite: return SpendHistory(store: ledger as! RunStore)
        case .postgres: return PostgresSpendHistory(ledger: ledger as! PostgresLedger)
        }
    }

    /// The readiness scan's spend evidence over `ledger` and its spend ledger `spend`.
    func spendEvidence(on ledger: any RunLedger, spend: any SpendLedgerUnderTest, budgets: SpendBudgets) -> any SpendEvidenceSource {
        switch self {
        case .sqlite: return SpendEvidence(store: ledger as! RunStore, spend: spend as! SpendLedger)
        // As the daemon builds it: the budgets in force are the spend ledger's, read at each call.
        case .postgres:
            let spend = spend as! PostgresSpendLedger
            return PostgresSpendEvidence(ledger: ledger as! PostgresLedger, budgets: { spend.budgets })
        }
    }
}

private let newYork = try! ZoneRules.named("America/New_York")
private func ms(_ iso: String) -> Int64 { Timestamp(parsing: iso)!.secondsSinceEpoch * 1000 }
private func usd(_ micros: Int64) -> Money { Money(micros: micros, currency: .usd) }

/// A spend total as plain values (SpendTotal has no public memberwise init).
private struct Total: Hashable, CustomStringConvertible {
    var key: String?
    var currency: String
    var calls: Int64, cached: Int64, units: Int64, input: Int64, cachedInput: Int64, output: Int64
    var micros: Int64

    init(_ key: String?, _ currency: String = "USD", calls: Int64, cached: Int64 = 0, units: Int64, input: Int64 = 0, cachedInput: Int64 = 0,
         output: Int64 = 0, _ micros: Int64) {
        (self.key, self.currency, self.calls, self.cached, self.units) = (key, currency, calls, cached, units)
        (self.input, self.cachedInput, self.output, self.micros) = (input, cachedInput, output, micros)
    }

    init(_ t: SpendTotal) {
        self.init(t.key, t.cost.currency.code, calls: t.calls, cached: t.cachedCalls, units: t.units, input: t.inputTokens,
                  cachedInput: t.cachedInputTokens, output: t.outputTokens, t.cost.micros)
    }

    var description: String { "\(key ?? "nil") \(currency) \(calls)/\(cached)/\(units)/\(input)/\(cachedInput)/\(output) \(micros)" }
}

/// The spend the history and evidence tests record: ten calls around the end of daylight saving
/// time in New York (2026-11-01 06:00 UTC, 02:00 EDT becoming 01:00 EST), in the order listed.
private let spendCalls: [(at: String, context: SpendContext?, call: MeteredCall)] = [
    // 23:30 EDT on Oct 30 (UTC's Oct 31).
    ("2026-10-31T03:30:00Z", SpendContext(job: "sweep", runID: 11, taskKey: "m1"),
     MeteredCall(provider: "openai", operation: "chat", cost: usd(1_250_000), status: 200, inputTokens: 100, cachedInputTokens: 40, outputTokens: 20)),
    // 00:30 EDT Oct 31: a cache hit (not a call for the evidence) still recorded.
    ("2026-10-31T04:30:00Z", SpendContext(job: "ship", runID: 12, taskKey: "q1"),
     MeteredCall(provider: "carrier", operation: "rates", units: 3, cost: usd(300_000), servedFromCache: true, status: 200)),
    // 23:59 EDT Oct 31 (UTC's Nov 1).
    ("2026-11-01T03:59:00Z", SpendContext(job: "ship", runID: 12, taskKey: "q2"),
     MeteredCall(provider: "carrier", operation: "rates", cost: usd(200_000), status: 200)),
    // 00:30 EDT Nov 1, outside any job; failed (500).
    ("2026-11-01T04:30:00Z", nil, MeteredCall(provider: "openai", operation: "chat", cost: usd(500_200), status: 500)),
    // 01:30 EDT, then 01:30 EST: the same local time twice, both Nov 1 (the later one dearer).
    ("2026-11-01T05:30:00Z", SpendContext(job: "ship", runID: 13, taskKey: "q3"),
     MeteredCall(provider: "carrier", operation: "rates", cost: usd(1), status: nil)),
    ("2026-11-01T06:30:00Z", SpendContext(job: "ship", runID: 13, taskKey: "q4"),
     MeteredCall(provider: "carrier", operation: "rates", cost: usd(500_000), status: 404)),
    // 23:30 EST Nov 1 (an EDT offset would make it Nov 2), in euros.
    ("2026-11-02T04:30:00Z", SpendContext(job: "sweep", runID: 11, taskKey: "m2"),
     MeteredCall(provider: "openai", operation: "chat", cost: Money(micros: 250_000, currency: Currency(code: "EUR")!), status: 200)),
    // Nov 2 from 00:30 EST on.
    ("2026-11-02T05:30:00Z", SpendContext(job: "audit", runID: 14, taskKey: "a1"),
     MeteredCall(provider: "carrier", operation: "rates", cost: usd(500_000), status: 200)),
    ("2026-11-02T06:00:00Z", SpendContext(job: "audit", runID: 14, taskKey: "a2"),
     MeteredCall(provider: "Zeta", operation: "x", cost: usd(100), status: 399)),
    ("2026-11-02T06:00:01Z", SpendContext(job: "audit", runID: 14, taskKey: "a3"),
     MeteredCall(provider: "alpha", operation: "x", cost: usd(100), status: 400)),
]

private let spendBudgets = SpendBudgets(currency: .usd, timezone: newYork, daily: usd(2_000_000), monthly: usd(5_000_000))

extension StoreKind {
    /// A new ledger of this kind holding `spendCalls`, recorded through its spend ledger; both.
    func ledgerWithSpend() async throws -> (ledger: any RunLedger, spend: any SpendLedgerUnderTest) {
        let ledger = try await makeLedgerWithLocaleCollation()
        let clock = ManualClock(Timestamp(parsing: "2026-10-30T00:00:00Z")!)
        let spend = try openSpendLedger(on: ledger, budgets: spendBudgets, clock: clock, events: SpendEventsSeen())
        for (at, context, call) in spendCalls {
            clock.advance(to: Timestamp(parsing: at)!)
            if let context {
                await SpendContext.$current.withValue(context) { await spend.record(call) }
            } else {
                await spend.record(call)
            }
        }
        return (ledger, spend)
    }
}

/// The shipping ledger's and the spend history's contracts, the same tests against both stores
/// (SQLite's `RunStore`/`SpendHistory`/`SpendEvidence` and PostgreSQL's `PostgresShippingLedger`/
/// `PostgresSpendHistory`/`PostgresSpendEvidence`).
@Suite("ShippingLedgerContractTests: shipping, spend history and spend evidence on SQLite and PostgreSQL", .postgresIfInstalled,
       .timeLimit(.minutes(3)))
struct ShippingLedgerContractTests {
    private func line(_ channel: MarketplaceName, _ order: String, _ lineID: String, sku: String = "SKU-1", quantity: Int = 1) -> OrderLine {
        OrderLine(marketplace: channel, orderID: order, lineID: lineID, sku: sku, quantity: quantity, placedAt: 1_000)
    }

    @Test("recordOrders: counts only lines new for the job (a line given twice, in one call or two, counts once and is kept as first recorded), moves the cursor of (job, marketplace), and keeps every field", arguments: StoreKind.available)
    func ordersAndCursor(kind: StoreKind) async throws {
        let ledger = try await kind.makeShippingLedger().shipping
        #expect(try ledger.shippingCursor(job: "ship", marketplace: .ebay) == nil)
        let full = OrderLine(marketplace: .ebay, orderID: "o1", lineID: "1", sku: "MUG", quantity: 2, placedAt: 1_700_000_000_000,
                             itemPrice: usd(12_990_000), shippingPaid: usd(4_500_000),
                             destination: Destination(postalCode: "10001", country: "US", region: "NY"), deliverBy: 1_700_400_000_000)
        let bare = line(.ebay, "o2", "1")
        #expect(try ledger.recordOrders([full, bare, full], cursor: "c1", job: "ship", marketplace: .ebay, runID: 1, at: 10) == 2)
        #expect(try ledger.shippingCursor(job: "ship", marketplace: .ebay) == "c1")
        #expect(try ledger.pendingLine(job: "ship", marketplace: .ebay, orderID: "o1", lineID: "1") == full)
        #expect(try ledger.pendingLine(job: "ship", marketplace: .ebay, orderID: "o2", lineID: "1") == bare)

        // Known lines are left as they are (not counted, not changed); the cursor still moves.
        var changed = full
        changed.quantity = 9
        changed.destination = nil
        #expect(try ledger.recordOrders([changed, line(.ebay, "o3", "1")], cursor: "c2", job: "ship", marketplace: .ebay, runID: 2, at: 20) == 1)
        #expect(try ledger.pendingLine(job: "ship", marketplace: .ebay, orderID: "o1", lineID: "1") == full)
        #expect(try ledger.shippingCursor(job: "ship", marketplace: .ebay) == "c2")
        // A page with no lines moves the cursor too, back to nil.
        #expect(try ledger.recordOrders([], cursor: nil, job: "ship", marketplace: .ebay, runID: 3, at: 30) == 0)
        #expect(try ledger.shippingCursor(job: "ship", marketplace: .ebay) == nil)

        // Lines and cursors are per job, cursors per marketplace too.
        #expect(try ledger.recordOrders([full], cursor: "x1", job: "other", marketplace: .ebay, runID: 4, at: 40) == 1)
        #expect(try ledger.recordOrders([line(.amazon, "o1", "1")], cursor: "a1", job: "ship", marketplace: .amazon, runID: 4, at: 40) == 1)
        #expect(try ledger.shippingCursor(job: "ship", marketplace: .amazon) == "a1")
        #expect(try ledger.shippingCursor(job: "other", marketplace: .ebay) == "x1")
        #expect(try ledger.pendingLines(job: "ship").count == 4 && ledger.pendingLines(job: "other") == [full])

        // Many lines at once (more than one statement's worth of parameters on PostgreSQL).
        let many = (0..<5_000).map { line(.shopify, "bulk-\($0)", "1") }
        #expect(try ledger.recordOrders(many + many.prefix(10), cursor: "s1", job: "bulk", marketplace: .shopify, runID: 5, at: 50) == 5_000)
        #expect(try ledger.pendingLines(job: "bulk").count == 5_000)
    }

    @Test("pendingLines: a job's recorded lines without a recommendation of that job, by marketplace, order, line (byte order); a recommendation ends a line's pending", arguments: StoreKind.available)
    func pendingUntilRecommended(kind: StoreKind) async throws {
        let ledger = try await kind.makeShippingLedger().shipping
        let lines = [line(.shopify, "o1", "1"), line(.ebay, "b1", "2"), line(.ebay, "b1", "1"), line(.ebay, "B2", "1"), line(.amazon, "o9", "1")]
        #expect(try ledger.recordOrders(lines, cursor: "c", job: "ship", marketplace: .ebay, runID: 1, at: 10) == 5)
        let keys = { (lines: [OrderLine]) in lines.map { "\($0.marketplace.rawValue)/\($0.orderID)/\($0.lineID)" } }
        #expect(try keys(ledger.pendingLines(job: "ship")) == ["amazon/o9/1", "ebay/B2/1", "ebay/b1/1", "ebay/b1/2", "shopify/o1/1"])

        func recommendation(_ l: OrderLine) -> ShippingRecommendation {
            ShippingRecommendation(marketplace: l.marketplace, orderID: l.orderID, lineID: l.lineID, sku: l.sku, quantity: l.quantity,
                                   destinationPostalCode: nil, shipAt: nil, deliverBy: nil, status: .skipped, reason: "no packaging",
                                   parcels: 1, currency: "USD")
        }
        try ledger.saveRecommendation(recommendation(lines[2]), job: "ship", runID: 2, at: 20)
        // Another job's recommendation for the same line does not end this job's pending.
        try ledger.saveRecommendation(recommendation(lines[0]), job: "other", runID: 2, at: 20)
        #expect(try keys(ledger.pendingLines(job: "ship")) == ["amazon/o9/1", "ebay/B2/1", "ebay/b1/2", "shopify/o1/1"])
        #expect(try ledger.pendingLine(job: "ship", marketplace: .ebay, orderID: "b1", lineID: "1") == nil)
        #expect(try ledger.pendingLine(job: "ship", marketplace: .ebay, orderID: "b1", lineID: "2") == lines[1])
        #expect(try ledger.pendingLine(job: "ship", marketplace: .shopify, orderID: "o1", lineID: "1") == lines[0])
        #expect(try ledger.pendingLine(job: "ship", marketplace: .ebay, orderID: "nope", lineID: "1") == nil)
        #expect(try ledger.pendingLines(job: "nobody").isEmpty)
    }

    @Test("replacePackaging replaces the whole table; a file with a repeated SKU or a zero size fails whole and leaves the last table", arguments: StoreKind.available)
    func packagingReplaced(kind: StoreKind) async throws {
        let ledger = try await kind.makeShippingLedger().shipping
        let small = ParcelSize(lengthTenthsIn: 60, widthTenthsIn: 40, heightTenthsIn: 30, weightTenthsOz: 85)
        let large = ParcelSize(lengthTenthsIn: 120, widthTenthsIn: 90, heightTenthsIn: 70, weightTenthsOz: 320)
        #expect(try ledger.packaging(sku: "A") == nil)
        try ledger.replacePackaging([PackedItem(sku: "A", size: small), PackedItem(sku: "B", size: small)], source: "v1.csv", at: 10)
        #expect(try ledger.packaging(sku: "A") == small && ledger.packaging(sku: "B") == small)
        try ledger.replacePackaging([PackedItem(sku: "B", size: large), PackedItem(sku: "C", size: small)], source: "v2.csv", at: 20)
        #expect(try ledger.packaging(sku: "A") == nil && ledger.packaging(sku: "B") == large && ledger.packaging(sku: "C") == small)

        #expect(throws: (any Error).self) {
            try ledger.replacePackaging([PackedItem(sku: "D", size: small), PackedItem(sku: "D", size: large)], source: "bad.csv", at: 30)
        }
        let flat = ParcelSize(lengthTenthsIn: 10, widthTenthsIn: 10, heightTenthsIn: 0, weightTenthsOz: 10)
        #expect(throws: (any Error).self) {
            try ledger.replacePackaging([PackedItem(sku: "E", size: small), PackedItem(sku: "F", size: flat)], source: "bad.csv", at: 31)
        }
        #expect(try ledger.packaging(sku: "B") == large && ledger.packaging(sku: "C") == small)
        #expect(try ledger.packaging(sku: "D") == nil && ledger.packaging(sku: "E") == nil)
        try ledger.replacePackaging([], source: "empty.csv", at: 40)
        #expect(try ledger.packaging(sku: "B") == nil)
    }

    @Test("saveQuotes inserts or replaces a run's quotes by (line, source, carrier, service): a retry writes the same rows again without adding; the last of a key wins; listed per line cheapest first, then carrier, service, source", arguments: StoreKind.available)
    func quotesReplacedOnRetry(kind: StoreKind) async throws {
        let ledger = try await kind.makeShippingLedger().shipping
        func quote(_ order: String, _ carrier: String, _ service: String, _ micros: Int64, source: String = "shipengine",
                   rate: String? = nil) -> ShippingQuoteRecord {
            ShippingQuoteRecord(marketplace: .ebay, orderID: order, lineID: "1", source: source, carrier: carrier, service: service,
                                serviceKey: "\(carrier)-\(service)", amountMicros: micros, currency: "USD", deliveryDays: micros > 5_000_000 ? 2 : nil,
                                deliveryDateGuaranteed: carrier == "ups", billableOunces: micros > 5_000_000 ? 16 : nil, rateID: rate,
                                arrivesAt: rate == nil ? nil : 1_700_000_000_000, adequate: micros < 9_000_000)
        }
        let first = [quote("o2", "usps", "ground", 4_100_000, rate: "r1"), quote("o1", "ups", "ground", 9_500_000),
                     quote("o1", "usps", "priority", 8_200_000, rate: "r2"), quote("o1", "usps", "ground", 8_200_000, source: "easypost")]
        try ledger.saveQuotes(first, job: "ship", runID: 7, at: 10)
        // The retry quotes o1's priority again, cheaper, and twice (the last given stays).
        let retried = quote("o1", "usps", "priority", 6_000_000, rate: "r3")
        try ledger.saveQuotes([quote("o1", "usps", "priority", 7_000_000), retried], job: "ship", runID: 7, at: 20)
        let saved = try ledger.shippingQuotes(runID: 7)
        #expect(saved == [retried, first[3], first[1], first[0]])
        #expect(try ledger.shippingQuotes(runID: 8).isEmpty)
        try ledger.saveQuotes([quote("o1", "usps", "ground", 1)], job: "ship", runID: 8, at: 30)
        #expect(try ledger.shippingQuotes(runID: 8).count == 1 && ledger.shippingQuotes(runID: 7).count == 4)
    }

    @Test("saveRecommendation keeps one recommendation per (job, line), replacing an earlier run's; a run's recommendations list by marketplace, order, line with every field", arguments: StoreKind.available)
    func recommendationsInOrder(kind: StoreKind) async throws {
        let ledger = try await kind.makeShippingLedger().shipping
        func rec(_ channel: MarketplaceName, _ order: String, _ lineID: String, status: ShippingRecommendation.Status = .recommended,
                 saving: Int64? = 1_500_000) -> ShippingRecommendation {
            ShippingRecommendation(marketplace: channel, orderID: order, lineID: lineID, sku: "SKU-\(order)", quantity: 2,
                                   destinationPostalCode: "94105", shipAt: 1_700_000_000_000, deliverBy: 1_700_300_000_000, status: status,
                                   reason: "cheapest adequate", parcels: 2, carrier: "usps", service: "ground", serviceKey: "usps-ground",
                                   source: "shipengine", deliveryDays: 3, billableOunces: 24, currency: "USD", labelMicros: 9_000_000,
                                   buyerPaidMicros: 8_000_000, marginMicros: -1_000_000, defaultService: "ups-ground",
                                   defaultMicros: 10_500_000, savingMicros: saving, actionable: (saving ?? 0) > 0)
        }
        let scrambled = [rec(.shopify, "o1", "1"), rec(.amazon, "o3", "1", status: .noRate, saving: nil), rec(.ebay, "o2", "2"),
                         rec(.ebay, "o2", "1", status: .defaultInadequate, saving: 0), rec(.ebay, "O9", "1")]
        for r in scrambled { try ledger.saveRecommendation(r, job: "ship", runID: 5, at: 10) }
        #expect(try ledger.shippingRecommendations(runID: 5) == [scrambled[1], scrambled[4], scrambled[3], scrambled[2], scrambled[0]])
        // A later run decides ebay o2/2 again: it moves to that run, once.
        let again = rec(.ebay, "o2", "2", status: .noAdequateRate, saving: nil)
        try ledger.saveRecommendation(again, job: "ship", runID: 6, at: 20)
        #expect(try ledger.shippingRecommendations(runID: 5) == [scrambled[1], scrambled[4], scrambled[3], scrambled[0]])
        #expect(try ledger.shippingRecommendations(runID: 6) == [again])
        // Another job's recommendation of the same line is its own row.
        try ledger.saveRecommendation(rec(.ebay, "o2", "2"), job: "other", runID: 6, at: 30)
        #expect(try ledger.shippingRecommendations(runID: 6).count == 2)
    }

    @Test("listings: a sweep is the first run of a chain of resumes; recordListings replaces by (sweep, listing), never adds; unjudged until a verdict; listing quotes replace on retry; a verdict replaces its per-destination rows (only those with a destination) and its verdict in one call; every list in key order", arguments: StoreKind.available)
    func listingShipping(kind: StoreKind) async throws {
        let (runs, ledger) = try await kind.makeShippingLedger()
        func fire(_ at: Int64, resumes: Int64?) throws -> Int64 {
            try #require(try runs.recordFire(job: "judge", kind: "shipping", trigger: .manual, requestedBy: nil, scheduledAt: nil, status: .queued,
                                             skipReason: nil, summary: nil, at: at, resumes: resumes)).id
        }
        let first = try fire(1, resumes: nil), second = try fire(2, resumes: first), third = try fire(3, resumes: second)
        let lone = try fire(4, resumes: nil)
        #expect(try ledger.sweepID(ofRun: third) == first && ledger.sweepID(ofRun: second) == first && ledger.sweepID(ofRun: first) == first)
        #expect(try ledger.sweepID(ofRun: lone) == lone && ledger.sweepID(ofRun: 9_999) == 9_999)
        let sweep = first

        func listing(_ channel: MarketplaceName, _ id: String, charge: Int64? = 0, note: String? = nil) -> ListingShipping {
            ListingShipping(marketplace: channel, sku: "SKU-\(id)", listingID: id, price: usd(19_990_000), charge: charge.map(usd),
                            handlingDays: channel == .shopify ? nil : 1, serviceKey: channel == .shopify ? nil : "usps-ground-advantage",
                            policy: "policy \(id)", note: note)
        }
        let a = listing(.shopify, "v1", charge: nil, note: "calculated"), b = listing(.ebay, "L2"), c = listing(.ebay, "L10")
        try ledger.recordListings([a, b, c], sweep: sweep, runID: first, at: 10)
        let reread = listing(.ebay, "L2", charge: 3_990_000)
        try ledger.recordListings([reread], sweep: sweep, runID: second, at: 20)
        try ledger.recordListings([listing(.ebay, "other-sweep")], sweep: lone, runID: lone, at: 20)
        #expect(try ledger.unjudgedListings(sweep: sweep) == [c, reread, a])
        #expect(try ledger.recordedListing(sweep: sweep, marketplace: .ebay, listingID: "L2") == reread)
        #expect(try ledger.recordedListing(sweep: sweep, marketplace: .shopify, listingID: "L2") == nil)
        #expect(try ledger.recordedListing(sweep: sweep, marketplace: .shopify, listingID: "v1") == a)

        func quote(_ id: String, _ postal: String, _ micros: Int64, carrier: String = "usps") -> ListingQuoteRecord {
            ListingQuoteRecord(marketplace: .ebay, listingID: id, destinationPostalCode: postal, source: "shipengine", carrier: carrier,
                               service: "ground", serviceKey: "\(carrier)-ground", amountMicros: micros, currency: "USD",
                               deliveryDays: micros > 5_000_000 ? nil : 3, billableOunces: 12, adequate: micros < 8_000_000)
        }
        try ledger.saveListingQuotes([quote("L2", "94105", 7_000_000), quote("L2", "10001", 5_000_000), quote("L2", "10001", 4_000_000, carrier: "ups")],
                                     sweep: sweep, runID: first, at: 30)
        let cheaper = quote("L2", "94105", 6_500_000)
        try ledger.saveListingQuotes([cheaper], sweep: sweep, runID: second, at: 40)
        #expect(try ledger.listingQuotes(sweep: sweep) == [quote("L2", "10001", 4_000_000, carrier: "ups"), quote("L2", "10001", 5_000_000), cheaper])
        #expect(try ledger.listingQuotes(sweep: lone).isEmpty)

        func verdict(_ id: String, _ postal: String?, status: ShippingRecommendation.Status, label: Int64?) -> ListingShippingVerdict {
            ListingShippingVerdict(marketplace: .ebay, listingID: id, sku: "SKU-\(id)", destinationPostalCode: postal, status: status,
                                   reason: "r \(postal ?? "-")", handlingDays: 1, promiseDays: 4, carrier: label == nil ? nil : "usps",
                                   service: label == nil ? nil : "ground", serviceKey: label == nil ? nil : "usps-ground",
                                   source: label == nil ? nil : "shipengine", deliveryDays: label == nil ? nil : 3, billableOunces: 12,
                                   currency: "USD", chargedMicros: 3_990_000, labelMicros: label, marginMicros: label.map { 3_990_000 - $0 },
                                   defaultService: "usps-priority", defaultMicros: 9_000_000, savingMicros: label.map { 9_000_000 - $0 },
                                   actionable: label != nil)
        }
        let west = verdict("L2", "94105", status: .recommended, label: 6_500_000), east = verdict("L2", "10001", status: .recommended, label: 4_000_000)
        let nowhere = verdict("L2", nil, status: .noRate, label: nil)
        try ledger.saveListingVerdict(west, destinations: [west, nowhere, east], sweep: sweep, runID: second, at: 50)
        #expect(try ledger.listingDestinationVerdicts(sweep: sweep) == [east, west])
        #expect(try ledger.listingVerdicts(sweep: sweep) == [west])
        #expect(try ledger.unjudgedListings(sweep: sweep) == [c, a])
        // Judged again (a retried task): the destinations and the verdict are replaced, not added to.
        let late = verdict("L2", "10001", status: .noAdequateRate, label: nil)
        try ledger.saveListingVerdict(late, destinations: [late], sweep: sweep, runID: third, at: 60)
        #expect(try ledger.listingDestinationVerdicts(sweep: sweep) == [late])
        #expect(try ledger.listingVerdicts(sweep: sweep) == [late])
        // A verdict with no destination judged; verdicts list by marketplace and listing id.
        let noneJudged = ListingShippingVerdict(marketplace: .ebay, listingID: "L10", sku: "SKU-L10", destinationPostalCode: nil, status: .skipped,
                                                reason: "no packaging", currency: "USD")
        try ledger.saveListingVerdict(noneJudged, destinations: [], sweep: sweep, runID: third, at: 70)
        #expect(try ledger.listingVerdicts(sweep: sweep) == [noneJudged, late])
        #expect(try ledger.unjudgedListings(sweep: sweep) == [a])
        #expect(try ledger.listingVerdicts(sweep: lone).isEmpty && ledger.unjudgedListings(sweep: lone).count == 1)
    }

    // MARK: - Spend history and evidence

    private static let byJob = [
        Total("sweep", calls: 1, units: 1, input: 100, cachedInput: 40, output: 20, 1_250_000),
        Total("ship", calls: 4, cached: 1, units: 6, 1_000_001),
        Total(nil, calls: 1, units: 1, 500_200),
        Total("audit", calls: 3, units: 3, 500_200),
        Total("sweep", "EUR", calls: 1, units: 1, 250_000),
    ]
    private static let byProvider = [
        Total("openai", calls: 2, units: 2, input: 100, cachedInput: 40, output: 20, 1_750_200),
        Total("carrier", calls: 5, cached: 1, units: 7, 1_500_001),
        Total("openai", "EUR", calls: 1, units: 1, 250_000),
        Total("Zeta", calls: 1, units: 1, 100),
        Total("alpha", calls: 1, units: 1, 100),
    ]
    private static let byDay = [
        Total("2026-10-30", calls: 1, units: 1, input: 100, cachedInput: 40, output: 20, 1_250_000),
        Total("2026-10-31", calls: 2, cached: 1, units: 4, 500_000),
        Total("2026-11-01", "EUR", calls: 1, units: 1, 250_000),
        Total("2026-11-01", calls: 3, units: 3, 1_000_201),
        Total("2026-11-02", calls: 3, units: 3, 500_200),
    ]

    @Test("spend totals: by job and by provider, by cost (highest first) then key (a call outside any job first, byte order) then currency; by local day in America/New_York across the end of daylight saving time; one row per group and currency; exact sums; `since` bounds them", arguments: StoreKind.available)
    func spendTotals(kind: StoreKind) async throws {
        let ledger = try await kind.ledgerWithSpend().ledger
        let history = kind.spendHistory(on: ledger)
        func totals(_ grouping: SpendGrouping, since: Int64 = 0) throws -> [Total] {
            try history.totals(since: since, by: grouping, timezone: newYork).map(Total.init)
        }
        #expect(try totals(.job) == Self.byJob)
        #expect(try totals(.provider) == Self.byProvider)
        #expect(try totals(.day) == Self.byDay)
        // From 01:30 EST on Nov 1: the later calls only.
        #expect(try totals(.day, since: ms("2026-11-01T06:30:00Z")) == [
            Total("2026-11-01", "EUR", calls: 1, units: 1, 250_000), Total("2026-11-01", calls: 1, units: 1, 500_000),
            Total("2026-11-02", calls: 3, units: 3, 500_200),
        ])
        // In UTC the same calls fall on other days.
        #expect(try history.totals(since: 0, by: .day, timezone: .utc).map { $0.key ?? "" }
                    == ["2026-10-31", "2026-11-01", "2026-11-02", "2026-11-02"])
        #expect(try totals(.day, since: ms("2026-11-03T00:00:00Z")).isEmpty && totals(.job, since: ms("2026-11-03T00:00:00Z")).isEmpty)
    }

    @Test("spend totals: SQLite and PostgreSQL give identical totals by job, provider and day (New York and UTC) for the same calls")
    func spendStoresAgree() async throws {
        var results: [[[Total]]] = []
        for kind in StoreKind.available {
            let history = kind.spendHistory(on: try await kind.ledgerWithSpend().ledger)
            var mine: [[Total]] = []
            for zone in [newYork, ZoneRules.utc] {
                for grouping in SpendGrouping.allCases {
                    for since in [0, ms("2026-11-01T04:30:00Z")] {
                        mine.append(try history.totals(since: since, by: grouping, timezone: zone).map(Total.init))
                    }
                }
            }
            results.append(mine)
        }
        #expect(results[0].count == 12 && results[0].allSatisfy { !$0.isEmpty })
        #expect(results[0][0] == Self.byJob)
        for other in results.dropFirst() { #expect(other == results[0]) }
    }

    @Test("spend calls(runID:): the run's calls in the order recorded, with when, job, run, task and the call as recorded", arguments: StoreKind.available)
    func spendCallsOfRun(kind: StoreKind) async throws {
        let history = kind.spendHistory(on: try await kind.ledgerWithSpend().ledger)
        // Recorded order, not cost order: run 13's second call cost more than its first.
        let run13 = try history.calls(runID: 13)
        #expect(run13.map(\.call) == [spendCalls[4].call, spendCalls[5].call])
        #expect(run13.map(\.at) == [ms("2026-11-01T05:30:00Z"), ms("2026-11-01T06:30:00Z")])
        #expect(run13.allSatisfy { $0.job == "ship" && $0.runID == 13 } && run13.map(\.taskKey) == ["q3", "q4"])
        let run11 = try history.calls(runID: 11)
        #expect(run11.map(\.call) == [spendCalls[0].call, spendCalls[6].call] && run11.map(\.taskKey) == ["m1", "m2"])
        let run14 = try history.calls(runID: 14)
        #expect(run14.map(\.call.provider) == ["carrier", "Zeta", "alpha"])
        #expect(try history.calls(runID: 99).isEmpty)
    }

    @Test("spend evidence: per provider, calls since a time (cache hits are not calls) and failures (no answer or status 400 and up); standing: spend in the budgets' currency since the local day's and month's start in New York, against the budgets", arguments: StoreKind.available)
    func spendEvidence(kind: StoreKind) async throws {
        let (ledger, spend) = try await kind.ledgerWithSpend()
        let evidence = kind.spendEvidence(on: ledger, spend: spend, budgets: spendBudgets)
        #expect(try evidence.callOutcomes(since: ms("2026-10-31T04:30:00Z")) == [
            "carrier": ProviderCallOutcomes(calls: 4, failed: 2), "openai": ProviderCallOutcomes(calls: 2, failed: 1),
            "Zeta": ProviderCallOutcomes(calls: 1, failed: 0), "alpha": ProviderCallOutcomes(calls: 1, failed: 1),
        ])
        #expect(try evidence.callOutcomes(since: ms("2026-11-02T05:30:00Z")) == [
            "carrier": ProviderCallOutcomes(calls: 1, failed: 0), "Zeta": ProviderCallOutcomes(calls: 1, failed: 0),
            "alpha": ProviderCallOutcomes(calls: 1, failed: 1),
        ])
        #expect(try evidence.callOutcomes(since: ms("2026-11-03T00:00:00Z")).isEmpty)

        // Nov 2 in New York starts at 05:00 UTC (EST); November at Nov 1 04:00 UTC (EDT), after the 03:59 call.
        let later = try evidence.standing(at: ms("2026-11-02T12:00:00Z"))
        #expect(later.today == usd(500_200) && later.month == usd(1_500_401))
        #expect(later.daily == usd(2_000_000) && later.monthly == usd(5_000_000))
        // Nov 1 from 04:00 UTC: every later USD call counts (the day has no end bound, as in SQLite).
        let earlier = try evidence.standing(at: ms("2026-11-01T12:00:00Z"))
        #expect(earlier.today == usd(1_500_401) && earlier.month == usd(1_500_401))
        let october = try evidence.standing(at: ms("2026-10-31T12:00:00Z"))
        #expect(october.today == usd(2_000_401) && october.month == usd(3_250_401))

        // A reload's new budgets show at the next call.
        (spend as? SpendLedger)?.setBudgets(SpendBudgets(currency: .usd, timezone: newYork, daily: usd(7_000_000), monthly: nil))
        (spend as? PostgresSpendLedger)?.setBudgets(SpendBudgets(currency: .usd, timezone: newYork, daily: usd(7_000_000), monthly: nil))
        let reloaded = try evidence.standing(at: ms("2026-11-02T12:00:00Z"))
        #expect(reloaded.daily == usd(7_000_000) && reloaded.monthly == nil && reloaded.today == usd(500_200))
    }
}
