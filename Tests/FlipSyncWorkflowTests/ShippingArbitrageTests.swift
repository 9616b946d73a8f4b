import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Testing

/// Shipping arbitrage end to end: buyers' orders placed in the sandbox, read through the real
/// eBay and Amazon clients, quoted through the real EasyPost client against the sandbox's
/// carrier API with the shipped packaging file, decided into SQLite.
@Suite("Shipping arbitrage, end to end", .timeLimit(.minutes(1)))
struct ShippingArbitrageTests {
    /// The repository's `config/packaging.csv`.
    static let packagingPath = URL(fileURLWithPath: packageRoot).appendingPathComponent("config/packaging.csv").path

    static func job(budget: String = "1.00 USD", concurrency: Int = 8, handlingDays: Int = 1,
                    marketplaces: String = #"["ebay", "amazon"]"#, extra: String = "") -> String {
        """
        name = "ship"
        kind = "shipping-arbitrage"
        schedule = "hourly"
        timeout = "5m"
        concurrency = \(concurrency)
        budget = "\(budget)"

        [params]
        marketplaces = \(marketplaces)
        rate_sources = ["api"]
        handling_days = \(handlingDays)
        origin_postal_code = "\(SandboxAddress.warehouse.postalCode)"
        default_service = "ups-ground"     # dearer than the cheapest in the sandbox: savings to count
        min_saving = "0.25 USD"
        packaging = "\(packagingPath)"
        buy_labels = false
        \(extra)
        """
    }

    /// The README's rule, recomputed here: arrival = ship date + transit business days (Mon–Fri
    /// UTC), adequate when its UTC date is on or before the promise's.
    static func adequate(days: Int?, shipAt: Int64, deliverBy: Int64) -> Bool {
        guard let days else { return false }
        return BusinessDays.date(BusinessDays.add(days, to: shipAt)) <= BusinessDays.date(deliverBy)
    }

    static let quotePrice = Money(micros: 5_000, currency: .usd)

    /// Real time from a Tuesday afternoon (14:00 UTC, 09:00 in New York): which rates arrive in
    /// time depends on the weekday the orders are placed (a Friday night's ship on Monday), so
    /// the end-to-end runs start on the same day whenever they run (one failed on a Saturday).
    static func tuesday() -> FixedStartClock { FixedStartClock(Timestamp(parsing: "2026-11-24T14:00:00Z")!) }

    static func carrier(_ h: WorkflowHarness, recorder: any SpendRecorder, clock: any SchedulerClock) -> CarrierClient {
        CarrierClient(configuration: CarrierClientConfiguration(baseURL: h.sandbox.baseURL + "/easypost", requests: 1000, burst: 1000,
                                                                quotePrice: quotePrice),
                      apiKey: SecretText(SandboxServer.easyPostAPIKey),
                      transport: URLSessionTransport(allowList: HostAllowList(baseURLs: [h.sandbox.baseURL])), recorder: recorder,
                      rateLimiters: RateLimiters(clock: clock), logger: WorkflowHarness.quietLogger)
    }

    /// The world's shipping-arbitrage job's parameters (a plan is built for one job's).
    static func parameters(_ world: WorkflowWorld) -> ShippingArbitrage.Parameters {
        for job in world.catalog.jobs { if case .shippingArbitrage(let p) = job.parameters { return p } }
        fatalError("the world has no shipping-arbitrage job")
    }

    static func plan(_ world: WorkflowWorld, carrier: CarrierClient) -> ShippingArbitragePlan {
        ShippingArbitragePlan(parameters: parameters(world), marketplaces: world.services.marketplaces, shoppers: ["easypost": CarrierRateShopper(client: carrier)],
                              ledger: world.harness.store, clock: world.clock, currency: world.config.currency,
                              unavailable: world.services.unavailable)
    }

    /// In-stock SKUs listed on `marketplace`, from the sandbox's products.
    static func listed(_ h: WorkflowHarness, on marketplace: MarketplaceName) -> [SandboxProduct] {
        h.sandbox.state.products.filter { product in
            (h.sandbox.state.listedQuantities(sku: product.sku)[marketplace] ?? 0) >= 2
        }
    }

    @Test("config/packaging.csv is the seeded catalog's (seed 1, 200 listings) packed sizes, so the demo cannot drift")
    func packagingMatchesTheCatalog() async throws {
        try await WorkflowHarness.with(listings: 200, seed: 1) { h in
            let expected = PackagingFile.render(h.sandbox.state.products.map {
                PackedItem(sku: $0.sku, size: ParcelSize(inches: $0.lengthInches, $0.widthInches, $0.heightInches, ounces: $0.weightOunces))
            })
            if ProcessInfo.processInfo.environment["FLIPSYNC_WRITE_PACKAGING"] == "1" {
                try expected.write(toFile: Self.packagingPath, atomically: true, encoding: .utf8)
            }
            let shipped = try String(contentsOfFile: Self.packagingPath, encoding: .utf8)
            #expect(shipped == expected, "regenerate with FLIPSYNC_WRITE_PACKAGING=1 swift test --filter packagingMatchesTheCatalog")
            #expect(try PackagingFile.parse(shipped, file: Self.packagingPath).count == 200)
        }
    }

    @Test("one recommendation per open line on two channels at the sandbox's real rates; the free-shipping heavy item is listed as losing money; nothing is bought")
    func recommendsEveryLine() async throws {
        let clock = Self.tuesday()
        try await WorkflowHarness.with(listings: 200, seed: 1, clock: clock) { h in
            let world = try WorkflowWorld.load(h, jobs: ["ship": Self.job()], clock: clock)
            let spend = InMemorySpendRecorder()
            let plan = Self.plan(world, carrier: Self.carrier(h, recorder: spend, clock: world.clock))

            let ebay = Self.listed(h, on: .ebay), amazon = Self.listed(h, on: .amazon)
            let heavyFree = try #require(ebay.filter { $0.shippingChargedMicros == 0 }.max { $0.weightOunces < $1.weightOunces })
            #expect(heavyFree.weightOunces >= 100)
            let paidLight = try #require(ebay.first { $0.shippingChargedMicros > 0 && $0.weightOunces < 16 })
            // Destinations named, near and far (drawn at random, from the order time, a run could
            // draw none where a saving exists).
            let to = SandboxAddress.destinations
            var orders = [try h.sandbox.state.placeOrder(.ebay, sku: heavyFree.sku, quantity: 1, shipTo: to[0]),
                          try h.sandbox.state.placeOrder(.ebay, sku: paidLight.sku, quantity: 2, shipTo: to[7])]
            for (index, product) in amazon.prefix(4).enumerated() {
                orders.append(try h.sandbox.state.placeOrder(.amazon, sku: product.sku, quantity: 1, shipTo: to[[1, 3, 5, 8][index]]))
            }

            let (run, status) = try await world.run("ship", coordinator: world.coordinator(plan: { _ in plan }))
            #expect(status == .succeeded, "\(run.error ?? "")")
            let rows = try h.store.shippingRecommendations(runID: run.id)
            #expect(rows.count == orders.count)
            let quotes = try h.store.shippingQuotes(runID: run.id)

            // The witness: the same sandbox asked directly, for the real destination and the product's box.
            let witness = Self.carrier(h, recorder: InMemorySpendRecorder(), clock: world.clock)
            for order in orders {
                let row = try #require(rows.first { $0.marketplace == order.marketplace && $0.orderID == order.orderID })
                let product = try #require(h.sandbox.state.product(sku: order.sku))
                #expect(row.destinationPostalCode == order.shipTo.postalCode)
                let rates = try await witness.rates(for: Shipment(
                    from: ShippingAddress(zip: SandboxAddress.warehouse.postalCode), to: ShippingAddress(zip: order.shipTo.postalCode),
                    parcel: Parcel(inches: product.lengthInches, product.widthInches, product.heightInches, ounces: product.weightOunces)))
                let mine = quotes.filter { $0.orderID == order.orderID }
                #expect(Set(mine.map { "\($0.carrier)/\($0.service)/\($0.amountMicros)" })
                        == Set(rates.map { "\($0.carrier)/\($0.service)/\($0.amount.micros)" }))
                // Adequate: leaves 1 handling business day after the order (or now), arrives by the
                // promise; some channels give whole seconds only.
                let shipAt = try #require(row.shipAt), deliverBy = try #require(row.deliverBy)
                let expectedShip = BusinessDays.rollForward(max(BusinessDays.add(1, to: order.placedAtMilliseconds), run.startedAt ?? 0))
                #expect(abs(expectedShip - shipAt) < 60_000, "\(expectedShip) \(shipAt)")
                #expect((0..<1000).contains(order.deliverByMilliseconds - deliverBy))
                let adequate = rates.filter { Self.adequate(days: $0.deliveryDays, shipAt: shipAt, deliverBy: deliverBy) }
                let cheapest = try #require(adequate.map(\.amount.micros).min(), "no adequate rate for \(order.orderID)")
                #expect(row.status.hasChoice, "\(row.reason)")
                #expect(row.labelMicros == cheapest * Int64(order.quantity))
                #expect(row.parcels == order.quantity)
                #expect(row.buyerPaidMicros == order.shippingPaidMicros)
                #expect(row.marginMicros == order.shippingPaidMicros - cheapest * Int64(order.quantity))
                // The saving is measured against UPS Ground only where it arrives in time; never negative.
                let standard = rates.filter { $0.carrier == "UPS" && $0.service == "Ground" }
                if let ups = standard.filter({ adequate.contains($0) }).map(\.amount.micros).min() {
                    #expect(row.status == .recommended, "\(row.reason)")
                    #expect(row.savingMicros == (ups - cheapest) * Int64(order.quantity))
                } else if !standard.isEmpty {
                    #expect(row.status == .defaultInadequate, "\(row.reason)")
                    #expect(row.savingMicros == 0 && !row.actionable)
                }
                #expect((row.savingMicros ?? 0) >= 0)
                for quote in mine {
                    #expect(quote.adequate == Self.adequate(days: quote.deliveryDays, shipAt: shipAt, deliverBy: deliverBy))
                    #expect(quote.arrivesAt == quote.deliveryDays.map { BusinessDays.add($0, to: shipAt) })
                }
                #expect(mine.filter { $0.carrier == "USPS" }.allSatisfy { $0.billableOunces != nil })
            }
            // Money lost: exactly the lines whose buyer-paid shipping is below the label, named in the summary.
            let losing = rows.filter(\.losesMoney)
            #expect(losing.contains { $0.sku == heavyFree.sku })
            for row in losing { #expect(run.summary?.contains("\(row.orderID)/\(row.lineID)") == true, "\(run.summary ?? "")") }
            let saving = rows.filter(\.actionable).reduce(Int64(0)) { $0 + ($1.savingMicros ?? 0) }
            #expect(saving > 0)
            #expect(run.summary?.contains("saving \(Money(micros: saving, currency: .usd))") == true, "\(run.summary ?? "")")
            // Quotes only: every paid call was a rate quote, one per line; no label was bought.
            #expect(spend.recorded.allSatisfy { $0.provider == CarrierClient.provider && $0.operation == CarrierClient.quoteOperation })
            #expect(spend.count(operation: CarrierClient.quoteOperation) == orders.count)
        }
    }

    @Test("a budget exhausted mid-run ends it budget_exhausted, keeps the quotes recorded so far, and leaves the rest pending")
    func budgetExhausted() async throws {
        let clock = Self.tuesday()
        try await WorkflowHarness.with(listings: 200, seed: 1, clock: clock) { h in
            // Two quotes at 0.005 fit in 0.012; the third cannot be reserved.
            let world = try WorkflowWorld.load(h, jobs: ["ship": Self.job(budget: "0.012 USD", concurrency: 1, marketplaces: #"["ebay"]"#)],
                                               clock: clock)
            let ledger = try SpendLedger(store: h.store, budgets: SpendBudgets(config: world.config, jobs: world.catalog.jobs),
                                         clock: world.clock)
            let plan = Self.plan(world, carrier: Self.carrier(h, recorder: ledger, clock: world.clock))
            for product in Self.listed(h, on: .ebay).prefix(4) { try h.sandbox.state.placeOrder(.ebay, sku: product.sku, quantity: 1) }

            let (run, status) = try await world.run("ship", coordinator: world.coordinator(plan: { _ in plan }))
            #expect(status == .budgetExhausted)
            #expect(run.error?.contains("exhausted") == true, "\(run.error ?? "")")
            let rows = try h.store.shippingRecommendations(runID: run.id)
            #expect(rows.count == 2)
            #expect(rows.allSatisfy { $0.status.hasChoice })
            let quotes = try h.store.shippingQuotes(runID: run.id)
            #expect(Set(quotes.map(\.orderID)) == Set(rows.map(\.orderID)))
            #expect(quotes.count >= 2 * 2)
            #expect(try h.store.pendingLines(job: "ship").count == 2)
        }
    }

    @Test("Shopify orders carry no delivery date: each line is held to default_promise_days business days from the order, no label arriving later is chosen, and with more than 20 losing lines the summary names the 20 worst, says how many of how many, and points at the full list")
    func shopifyDefaultPromiseAndEveryLoser() async throws {
        let clock = Self.tuesday()
        try await WorkflowHarness.with(listings: 200, seed: 1, clock: clock) { h in
            let world = try WorkflowWorld.load(h, jobs: ["ship": Self.job(budget: "5.00 USD", marketplaces: #"["shopify"]"#,
                                                                           extra: "default_promise_days = 3")], clock: clock)
            let plan = Self.plan(world, carrier: Self.carrier(h, recorder: InMemorySpendRecorder(), clock: world.clock))
            // Every Shopify listing once: free and cheap shipping on heavy boxes loses money on many.
            var orders: [SandboxOrder] = []
            for product in Self.listed(h, on: .shopify) { orders.append(try h.sandbox.state.placeOrder(.shopify, sku: product.sku, quantity: 1)) }
            #expect(orders.count > 20)

            let (run, status) = try await world.run("ship", coordinator: world.coordinator(plan: { _ in plan }))
            #expect(status == .succeeded, "\(run.error ?? "")")
            let rows = try h.store.shippingRecommendations(runID: run.id)
            #expect(rows.count == orders.count)
            let quotes = try h.store.shippingQuotes(runID: run.id)
            var cheaperButLate = 0
            for order in orders {
                let row = try #require(rows.first { $0.orderID == order.orderID })
                // The promise: 3 business days from the order (Shopify's REST order has none).
                let deliverBy = try #require(row.deliverBy)
                #expect(abs(BusinessDays.add(3, to: order.placedAtMilliseconds) - deliverBy) < 1000)
                #expect(row.reason.contains("shopify gives no delivery date: default_promise_days = 3 business days"), "\(row.reason)")
                let shipAt = try #require(row.shipAt)
                let mine = quotes.filter { $0.orderID == order.orderID && $0.currency == "USD" }
                let adequate = mine.filter { Self.adequate(days: $0.deliveryDays, shipAt: shipAt, deliverBy: deliverBy) }
                if let cheapest = adequate.map(\.amountMicros).min() {
                    #expect(row.status.hasChoice, "\(row.reason)")
                    #expect(row.labelMicros == cheapest)
                    #expect(Self.adequate(days: row.deliveryDays, shipAt: shipAt, deliverBy: deliverBy), "\(row.reason)")
                    if mine.contains(where: { $0.amountMicros < cheapest }) { cheaperButLate += 1 }
                } else {
                    #expect(row.status == (mine.isEmpty ? .noRate : .noAdequateRate), "\(row.reason)")
                    #expect(row.marginMicros == nil && row.savingMicros == nil)
                }
                #expect((row.savingMicros ?? 0) >= 0)
            }
            // The default promise really constrained the choice somewhere: a cheaper label was passed over as late.
            #expect(cheaperButLate > 0)

            // Losing lines: the ledger holds every one (what show --json's shipping.losing_lines prints); the
            // summary names the 20 worst and says where the rest are.
            let losing = ShippingTally.worstFirst(rows.filter(\.losesMoney))
            #expect(losing.count > 20, "\(losing.count) losing lines")
            let summary = try #require(run.summary)
            #expect(summary.contains("\(losing.count) losing money"), "\(summary)")
            #expect(summary.contains("(20 of \(losing.count) shown, worst first; all in `flipsyncctl show \(run.id) --json`, field `shipping.losing_lines`)"),
                    "\(summary)")
            for row in losing.prefix(20) { #expect(summary.contains("\(row.orderID)/\(row.lineID) "), "\(row.orderID)") }
            for row in losing.dropFirst(20) { #expect(!summary.contains("\(row.orderID)/\(row.lineID) "), "\(row.orderID)") }
            let shortfall = losing.reduce(Int64(0)) { $0 - ($1.marginMicros ?? 0) }
            #expect(summary.contains("\(Money(micros: shortfall, currency: .usd)) short in all"), "\(summary)")
        }
    }
}
