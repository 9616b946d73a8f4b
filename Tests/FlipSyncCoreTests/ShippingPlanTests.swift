import FlipSyncCore
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import GRDB
import Logging
import Synchronization
import Testing

/// A channel whose orders are scripted, remembering the cursors it was asked with.
final class ScriptedOrders: Marketplace, Sendable {
    let name: MarketplaceName
    private let state: Mutex<(lines: [OrderLine], cursors: [String?])>

    init(_ name: MarketplaceName, lines: [OrderLine]) {
        self.name = name
        state = Mutex((lines, []))
    }

    var cursorsAsked: [String?] { state.withLock { $0.cursors } }

    func orders(since cursor: String?) async throws -> OrdersPage {
        state.withLock { s in
            s.cursors.append(cursor)
            // Every line again each time (cursors overlap on purpose); the cursor is the count.
            return OrdersPage(lines: s.lines, cursor: "\(s.lines.count)")
        }
    }

    func activeListings() async throws -> [MarketplaceListing] { throw TaskFailure.permanent("not scripted") }
    func competition(for listing: MarketplaceListing) async throws -> Competition { throw TaskFailure.permanent("not scripted") }
    func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult] { throw TaskFailure.permanent("not scripted") }
}

/// A rate source with fixed prices per service, counting the requests it answered.
final class FixedRates: RateShopper, Sendable {
    let name = "fixed"
    let kind = ShippingArbitrage.RateSource.api
    private let requests = Mutex<[ParcelRequest]>([])

    var asked: [ParcelRequest] { requests.withLock { $0 } }

    func quotes(for request: ParcelRequest) async throws -> [RateQuote] {
        requests.withLock { $0.append(request) }
        return [RateQuote(source: name, carrier: "USPS", service: "GroundAdvantage", amount: Money(minorUnits: 520, currency: .usd),
                          deliveryDays: 3),
                RateQuote(source: name, carrier: "UPS", service: "Ground", amount: Money(minorUnits: 610, currency: .usd), deliveryDays: 2)]
    }
}

struct ShippingPlanHarness {
    let scratch = Scratch()
    let store: RunStore
    let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
    let job: JobDefinition

    init(params: String = "", packaging: String = "sku,weight_oz,length_in,width_in,height_in\nFS-1,12,10,8,4\n") throws {
        store = try RunStore(path: scratch.path + "/ledger.sqlite")
        scratch.write("packaging.csv", packaging)
        let file = scratch.write("job.toml", """
            name = "ship"
            kind = "shipping-arbitrage"
            schedule = "hourly"
            timezone = "UTC"
            concurrency = 1

            [params]
            marketplaces = ["ebay"]
            origin_postal_code = "10001"
            packaging = "packaging.csv"
            default_service = "ups-ground"
            \(params)
            """)
        let (catalog, diagnostics) = JobCatalog.load(paths: [file], defaults: testDefaults, now: clock.now())
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        job = try #require(catalog.jobs.first)
    }

    func line(_ n: Int, sku: String) -> OrderLine {
        let placed = clock.wallMilliseconds()
        return OrderLine(marketplace: .ebay, orderID: "o\(n)", lineID: "o\(n)-1", sku: sku, quantity: 1, placedAt: placed,
                         shippingPaid: Money(minorUnits: 499, currency: .usd), destination: Destination(postalCode: "94103", country: "US"),
                         deliverBy: placed + 6 * ShippingChoice.dayMilliseconds)
    }

    func run(_ plan: ShippingArbitragePlan) async throws -> (RunInfo, RunStatus) {
        let run = try #require(try store.recordFire(job: job.name, kind: job.kind.rawValue, trigger: .manual, requestedBy: 0,
                                                    scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                    at: clock.wallMilliseconds(), resumes: nil))
        let coordinator = RunCoordinator(ledger: store, pool: PermitPool(permits: 8), clock: clock, plan: { _ in plan },
                                         logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let status = await coordinator.execute(run: run, job: job)
        return (try store.run(id: run.id) ?? run, status)
    }

    func plan(_ marketplace: ScriptedOrders, _ shopper: FixedRates?) -> ShippingArbitragePlan {
        guard case .shippingArbitrage(let parameters) = job.parameters else { fatalError("the job is not a shipping-arbitrage job") }
        return ShippingArbitragePlan(parameters: parameters, marketplaces: [.ebay: marketplace],
                                     shoppers: shopper.map { ["fixed": $0] } ?? [:], ledger: store, clock: clock, currency: .usd)
    }
}

@Suite("Shipping arbitrage plan", .timeLimit(.minutes(2)))
struct ShippingPlanTests {
    @Test("a line whose SKU has no packaging row is recorded skipped and never quoted; the others are decided")
    func skippedWithoutPackaging() async throws {
        let h = try ShippingPlanHarness()
        let ebay = ScriptedOrders(.ebay, lines: [h.line(1, sku: "FS-1"), h.line(2, sku: "FS-UNKNOWN")])
        let rates = FixedRates()
        let (run, status) = try await h.run(h.plan(ebay, rates))
        #expect(status == .succeeded, "\(run.error ?? "")")
        let rows = Dictionary(uniqueKeysWithValues: try h.store.shippingRecommendations(runID: run.id).map { ($0.orderID, $0) })
        #expect(rows["o2"]?.status == .skipped)
        #expect(rows["o2"]?.reason == "no packaging data for FS-UNKNOWN")
        #expect(rows["o1"]?.status == .recommended)
        #expect(rows["o1"]?.serviceKey == "usps-ground-advantage")
        #expect(rows["o1"]?.savingMicros == 900_000)  // 6.10 − 5.20 against ups-ground
        #expect(rates.asked.count == 1)
        #expect(rates.asked.first?.size == ParcelSize(inches: 10, 8, 4, ounces: 12))
        #expect(try h.store.shippingQuotes(runID: run.id).count == 2)
        #expect(run.summary?.contains("1 skipped") == true, "\(run.summary ?? "")")
    }

    @Test("the cursor is kept per job and marketplace, and a line seen again is never quoted twice")
    func cursorAndOnce() async throws {
        let h = try ShippingPlanHarness()
        let ebay = ScriptedOrders(.ebay, lines: [h.line(1, sku: "FS-1")])
        let rates = FixedRates()
        let (first, _) = try await h.run(h.plan(ebay, rates))
        let (second, status) = try await h.run(h.plan(ebay, rates))
        #expect(status == .succeeded, "\(second.error ?? "")")
        #expect(ebay.cursorsAsked == [nil, "1"])
        #expect(rates.asked.count == 1)
        #expect(try h.store.shippingRecommendations(runID: first.id).count == 1)
        #expect(try h.store.shippingRecommendations(runID: second.id).isEmpty)
        #expect(try h.store.shippingCursor(job: "ship", marketplace: .ebay) == "1")
    }

    @Test("a rate source without a shopper fails the run saying what to configure, before reading anything")
    func missingSource() async throws {
        let h = try ShippingPlanHarness()
        let ebay = ScriptedOrders(.ebay, lines: [h.line(1, sku: "FS-1")])
        let (run, status) = try await h.run(h.plan(ebay, nil))
        #expect(status == .failed)
        #expect(run.error?.contains("[carriers.easypost]") == true, "\(run.error ?? "")")
        #expect(ebay.cursorsAsked.isEmpty)
    }

    @Test("a broken packaging file fails the run at its line and nothing is quoted; the lines stay pending")
    func brokenPackaging() async throws {
        let h = try ShippingPlanHarness(packaging: "sku,weight_oz,length_in,width_in,height_in\nFS-1,12,10,8\n")
        let ebay = ScriptedOrders(.ebay, lines: [h.line(1, sku: "FS-1")])
        let rates = FixedRates()
        let (run, status) = try await h.run(h.plan(ebay, rates))
        #expect(status == .failed)
        #expect(run.error?.contains("packaging.csv:2: expected 5 fields") == true, "\(run.error ?? "")")
        #expect(rates.asked.isEmpty)
        #expect(try h.store.pendingLines(job: "ship").map(\.orderID) == ["o1"])
    }

    @Test("a line whose promised date has already passed is skipped, not quoted")
    func pastPromise() async throws {
        let h = try ShippingPlanHarness()
        var late = h.line(1, sku: "FS-1")
        late.deliverBy = h.clock.wallMilliseconds() - ShippingChoice.dayMilliseconds  // yesterday's date
        let ebay = ScriptedOrders(.ebay, lines: [late])
        let rates = FixedRates()
        let (run, _) = try await h.run(h.plan(ebay, rates))
        let row = try #require(try h.store.shippingRecommendations(runID: run.id).first)
        #expect(row.status == .skipped)
        #expect(row.reason.contains("promised delivery date passed"))
        #expect(rates.asked.isEmpty)
    }

    @Test("a shipping row with a marketplace this build does not know is an error naming its table, never eBay")
    func unknownMarketplaceRow() throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        let row = ShippingRecommendation(marketplace: .amazon, orderID: "o1", lineID: "o1-1", sku: "FS-1", quantity: 1,
                                         destinationPostalCode: "94103", shipAt: 1, deliverBy: 2, status: .recommended, reason: "r",
                                         parcels: 1, currency: "USD", labelMicros: 5_200_000)
        do {
            let store = try RunStore(path: path)
            try store.saveRecommendation(row, job: "ship", runID: 1, at: 3)
            #expect(try store.shippingRecommendations(runID: 1).map(\.marketplace) == [.amazon])
        }
        try ledgerConnection(path).write { db in try db.execute(sql: "UPDATE shipping_recommendations SET marketplace = 'etsy'") }
        let store = try RunStore(path: path)
        let error = #expect(throws: (any Error).self) { try store.shippingRecommendations(runID: 1) }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("shipping_recommendations row (job \"ship\", marketplace \"etsy\", order_id \"o1\", line_id \"o1-1\")"))
        #expect(text.contains("unknown marketplace \"etsy\""))
    }

    @Test("a ledger made before the new statuses keeps its rows and takes default-inadequate and no-rate after the v8 migration")
    func statusMigration() throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        let row = ShippingRecommendation(marketplace: .ebay, orderID: "o1", lineID: "o1-1", sku: "FS-1", quantity: 1,
                                         destinationPostalCode: "94103", shipAt: 1, deliverBy: 2, status: .recommended, reason: "old",
                                         parcels: 1, currency: "USD", labelMicros: 5_200_000)
        do {
            let store = try RunStore(path: path)
            try store.saveRecommendation(row, job: "ship", runID: 1, at: 3)
        }
        // Put the table back as the v5 migration made it, and forget v8.
        let old = "CHECK (status IN ('recommended', 'no-adequate-rate', 'skipped'))"
        let new = "CHECK (status IN ('recommended', 'default-inadequate', 'no-adequate-rate', 'no-rate', 'skipped'))"
        do {
            let queue = try ledgerConnection(path)
            try queue.write { db in
                let sql = try #require(try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'shipping_recommendations'"))
                #expect(sql.contains(new))
                let columns = try #require(sql.firstIndex(of: "("))
                try db.execute(sql: "CREATE TABLE shipping_recommendations_old " + sql[columns...].replacing(new, with: old))
                try db.execute(sql: "INSERT INTO shipping_recommendations_old SELECT * FROM shipping_recommendations")
                try db.execute(sql: "DROP TABLE shipping_recommendations")
                try db.execute(sql: "ALTER TABLE shipping_recommendations_old RENAME TO shipping_recommendations")
                try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'm07-shipping:%'")
            }
            #expect(throws: (any Error).self) {
                try queue.write { db in try db.execute(sql: "UPDATE shipping_recommendations SET status = 'no-rate'") }
            }
        }
        let store = try RunStore(path: path)
        #expect(try store.shippingRecommendations(runID: 1) == [row])
        var later = row
        later.orderID = "o2"
        later.status = .noRate
        try store.saveRecommendation(later, job: "ship", runID: 1, at: 4)
        later.orderID = "o3"
        later.status = .defaultInadequate
        try store.saveRecommendation(later, job: "ship", runID: 1, at: 4)
        #expect(try store.shippingRecommendations(runID: 1).map(\.status) == [.recommended, .noRate, .defaultInadequate])
    }

    @Test("a promise dated today has not passed: the line is quoted (and judged by date, not by the hour)")
    func promiseToday() async throws {
        let h = try ShippingPlanHarness()
        var line = h.line(1, sku: "FS-1")
        line.deliverBy = h.clock.wallMilliseconds() - 1  // 11:59:59.999 today
        let rates = FixedRates()
        let (run, _) = try await h.run(h.plan(ScriptedOrders(.ebay, lines: [line]), rates))
        let row = try #require(try h.store.shippingRecommendations(runID: run.id).first)
        #expect(row.status == .noAdequateRate, "\(row.reason)")
        #expect(rates.asked.count == 1)
    }

    @Test("an order without a delivery date is held to default_promise_days business days from the order (default 5)",
          arguments: [("default_promise_days = 3", "ups-ground", "2026-11-30", ShippingRecommendation.Status.recommended),
                      ("", "usps-ground-advantage", "2026-12-02", ShippingRecommendation.Status.recommended)])
    func defaultPromise(_ params: String, _ chosen: String, _ promiseDate: String, _ status: ShippingRecommendation.Status) async throws {
        // Ordered Wednesday 2026-11-25 12:00 UTC; handling 1 → ships Thursday. Ground Advantage
        // (3 business days) arrives Tuesday 12-01, UPS Ground (2) Monday 11-30.
        let h = try ShippingPlanHarness(params: params)
        var line = h.line(1, sku: "FS-1")
        line.deliverBy = nil
        let (run, runStatus) = try await h.run(h.plan(ScriptedOrders(.ebay, lines: [line]), FixedRates()))
        #expect(runStatus == .succeeded, "\(run.error ?? "")")
        let row = try #require(try h.store.shippingRecommendations(runID: run.id).first)
        #expect(row.status == status, "\(row.reason)")
        #expect(row.serviceKey == chosen, "\(row.reason)")
        #expect(row.deliverBy == Timestamp(parsing: promiseDate + "T12:00:00Z")!.secondsSinceEpoch * 1000)
        #expect(row.shipAt == Timestamp(parsing: "2026-11-26T12:00:00Z")!.secondsSinceEpoch * 1000)
        #expect(row.reason.contains("gives no delivery date: default_promise_days"), "\(row.reason)")
        let quotes = try h.store.shippingQuotes(runID: run.id)
        #expect(quotes.first { $0.serviceKey == "usps-ground-advantage" }?.adequate == (chosen == "usps-ground-advantage"))
        #expect(quotes.first { $0.serviceKey == "usps-ground-advantage" }?.arrivesAt
                == Timestamp(parsing: "2026-12-01T12:00:00Z")!.secondsSinceEpoch * 1000)
    }

    @Test("default_promise_days out of range, or not above handling_days, is refused at its line", arguments: [
        ("default_promise_days = 0", "allowed: 1…30"), ("default_promise_days = 31", "allowed: 1…30"),
        ("default_promise_days = 1", "must be more than \"params.handling_days\" (1)"),
    ])
    func defaultPromiseRefused(_ line: String, _ fragment: String) throws {
        let scratch = Scratch()
        let file = scratch.write("job.toml", """
            name = "ship"
            kind = "shipping-arbitrage"
            schedule = "hourly"

            [params]
            marketplaces = ["shopify"]
            origin_postal_code = "10001"
            packaging = "packaging.csv"
            \(line)
            """)
        let (catalog, diagnostics) = JobCatalog.load(paths: [file], defaults: testDefaults, now: Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        #expect(catalog.jobs.isEmpty)
        #expect(diagnostics.contains { "\($0)".contains("job.toml:9:") && "\($0)".contains(fragment) }, "\(diagnostics)")
    }

    @Test("job files: buying labels and listings are refused, not ignored; a default service must be a service key",
          arguments: [("buy_labels = true", "buy_labels"), ("include_listings = true", "include_listings"),
                      ("default_service = \"USPS Ground\"", "default_service")])
    func refusedParameters(_ line: String, _ key: String) throws {
        let scratch = Scratch()
        let file = scratch.write("job.toml", """
            name = "ship"
            kind = "shipping-arbitrage"
            schedule = "hourly"

            [params]
            marketplaces = ["ebay"]
            origin_postal_code = "10001"
            packaging = "packaging.csv"
            \(line)
            """)
        let (catalog, diagnostics) = JobCatalog.load(paths: [file], defaults: testDefaults, now: Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        #expect(catalog.jobs.isEmpty)
        #expect(diagnostics.contains { "\($0)".contains(key) }, "\(diagnostics)")
    }
}
