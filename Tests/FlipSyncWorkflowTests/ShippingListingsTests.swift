import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import Foundation
import Testing

/// `include_listings` end to end: eBay fulfillment policies and Shopify shipping zones read
/// through the real clients from the sandbox, each listing's box quoted through the real
/// EasyPost client to the job's destinations, judged into SQLite at its worst destination.
@Suite("Shipping arbitrage over listings' shipping settings, end to end", .timeLimit(.minutes(2)))
struct ShippingListingsTests {
    /// New York (zone 1 from the warehouse), Philadelphia (1) and Atlanta (2).
    static let destinations = ["10013", "19103", "30303"]

    static func job(packaging: String, budget: String = "1.00 USD", concurrency: Int = 8, marketplaces: String = #"["ebay", "shopify"]"#) -> String {
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
        handling_days = 2
        origin_postal_code = "\(SandboxAddress.warehouse.postalCode)"
        default_service = "usps-ground-advantage"
        min_saving = "0.01 USD"
        packaging = "\(packaging)"
        include_listings = true
        listing_destinations = [\(destinations.map { "\"\($0)\"" }.joined(separator: ", "))]
        """
    }

    /// A packaging file with only `products`' boxes: every other listing is skipped for want of one.
    static func packaging(_ h: WorkflowHarness, _ products: [SandboxProduct]) throws -> String {
        let path = h.directory + "/packaging.csv"
        try PackagingFile.render(products.map {
            PackedItem(sku: $0.sku, size: ParcelSize(inches: $0.lengthInches, $0.widthInches, $0.heightInches, ounces: $0.weightOunces))
        }).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// What the listing should come to, worked out from the carrier API asked directly.
    struct Expected {
        var postalCode: String
        var label: Int64
        var margin: Int64?
        var saving: Int64?
    }

    static func expected(_ listing: ListingShipping, product: SandboxProduct, witness: CarrierClient, jobHandling: Int) async throws -> Expected {
        let handling = listing.handlingDays ?? jobHandling
        let reference = listing.serviceKey ?? "usps-ground-advantage"
        var worst: Expected?
        for destination in destinations {
            let rates = try await witness.rates(for: Shipment(
                from: ShippingAddress(zip: SandboxAddress.warehouse.postalCode), to: ShippingAddress(zip: destination),
                parcel: Parcel(inches: product.lengthInches, product.widthInches, product.heightInches, ounces: product.weightOunces)))
            let standard = rates.filter { RateQuote.serviceKey(carrier: $0.carrier, service: $0.service) == reference }
            let transit = try #require(standard.compactMap(\.deliveryDays).min())
            let cheapest = try #require(rates.filter { handling + ($0.deliveryDays ?? 99) <= handling + transit }.map(\.amount.micros).min())
            let here = Expected(postalCode: destination, label: cheapest, margin: listing.charge.map { $0.micros - cheapest },
                                saving: standard.map(\.amount.micros).min().map { $0 - cheapest })
            if worst == nil || cheapest > worst!.label { worst = here }
        }
        return try #require(worst)
    }

    @Test("free shipping on a heavy box loses money at its worst destination, a light box charged for shipping is fine; rows and summary exact")
    func losingAndFine() async throws {
        try await WorkflowHarness.with(listings: 200, seed: 1) { h in
            let products = h.sandbox.state.products
            let heavyFree = try #require(products.filter { $0.shippingChargedMicros == 0 }.max { $0.weightOunces < $1.weightOunces })
            #expect(heavyFree.weightOunces >= 100)
            let lightPaid = try #require(products.filter { $0.shippingChargedMicros >= 5_990_000 }.min { $0.weightOunces < $1.weightOunces })
            #expect(lightPaid.weightOunces < 8)
            let world = try WorkflowWorld.load(h, jobs: ["ship": Self.job(packaging: try Self.packaging(h, [heavyFree, lightPaid]))])
            let spend = InMemorySpendRecorder()
            let plan = ShippingArbitrageTests.plan(world, carrier: ShippingArbitrageTests.carrier(h, recorder: spend, clock: world.clock))

            let (run, status) = try await world.run("ship", coordinator: world.coordinator(plan: { _ in plan }))
            #expect(status == .succeeded, "\(run.error ?? "")")
            let verdicts = try h.store.listingVerdicts(sweep: run.id)
            let total = 200 + products.count  // every eBay listing and every Shopify variant, once
            #expect(verdicts.count == total)
            #expect(Set(verdicts.map { "\($0.marketplace.rawValue)/\($0.listingID)" }).count == total)

            let witness = ShippingArbitrageTests.carrier(h, recorder: InMemorySpendRecorder(), clock: world.clock)
            var losing: [(ListingShippingVerdict, Int64)] = []
            var saving: Int64 = 0, savers = 0
            for marketplace in [MarketplaceName.ebay, .shopify] {
                for product in [heavyFree, lightPaid] {
                    let verdict = try #require(verdicts.first { $0.marketplace == marketplace && $0.sku == product.sku })
                    let listing = try #require(try h.store.recordedListing(sweep: run.id, marketplace: marketplace, listingID: verdict.listingID))
                    let want = try await Self.expected(listing, product: product, witness: witness, jobHandling: 2)
                    #expect(verdict.status == .recommended, "\(verdict.reason)")
                    #expect(verdict.destinationPostalCode == want.postalCode)
                    #expect(verdict.labelMicros == want.label)
                    #expect(verdict.marginMicros == want.margin)
                    #expect(verdict.savingMicros == want.saving)
                    #expect(verdict.chargedMicros == listing.charge?.micros)
                    #expect(try h.store.listingDestinationVerdicts(sweep: run.id)
                        .filter { $0.marketplace == marketplace && $0.listingID == verdict.listingID }.map(\.destinationPostalCode)
                        == Self.destinations.sorted())
                    if let margin = want.margin, margin < 0 { losing.append((verdict, -margin)) }
                    if let s = want.saving, s > 0 { saving += s; savers += 1 }
                }
            }
            // The heavy box shipped free loses money on eBay; the light one charged 5.99 or more is covered.
            let ebayHeavy = try #require(verdicts.first { $0.marketplace == .ebay && $0.sku == heavyFree.sku })
            #expect(ebayHeavy.chargedMicros == 0 && ebayHeavy.losesMoney)
            let ebayLight = try #require(verdicts.first { $0.marketplace == .ebay && $0.sku == lightPaid.sku })
            #expect(!ebayLight.losesMoney && (ebayLight.marginMicros ?? -1) >= 0)

            // The summary: exact counts, the total shortfall, every losing listing named.
            let summary = run.summary ?? ""
            let shortfall = Money(micros: losing.reduce(0) { $0 + $1.1 }, currency: .usd)
            #expect(summary.contains("\(total) listings: 4 judged, \(total - 4) skipped"), "\(summary)")
            #expect(summary.contains("saving \(Money(micros: saving, currency: .usd)) per sale on \(savers) listing"), "\(summary)")
            #expect(summary.contains("\(losing.count) listing\(losing.count == 1 ? "" : "s") losing money on every sale, \(shortfall) in all"),
                    "\(summary)")
            for (verdict, short) in losing {
                #expect(summary.contains("\(verdict.marketplace.rawValue) \(verdict.listingID) \(verdict.sku) to \(verdict.destinationPostalCode ?? "") "
                    + "short \(Money(micros: short, currency: .usd))"), "\(summary)")
            }
            // Quotes only, one per judged listing and destination; the quotes are rows.
            #expect(spend.count(operation: CarrierClient.quoteOperation) == 4 * Self.destinations.count)
            #expect(Set(try h.store.listingQuotes(sweep: run.id).map { "\($0.listingID)/\($0.destinationPostalCode)" }).count == 4 * 3)
        }
    }

    @Test("a run that exhausts its budget mid-listings is resumed: every listing judged once, nothing quoted or counted twice")
    func resumeDoesNotDoubleCount() async throws {
        try await WorkflowHarness.with(listings: 20, seed: 11) { h in
            let boxed = Array(h.sandbox.state.products.prefix(2))
            // Six quotes are needed (two listings × three destinations); 0.02 pays for four.
            let world = try WorkflowWorld.load(h, jobs: ["ship": Self.job(packaging: try Self.packaging(h, boxed), budget: "0.02 USD",
                                                                          concurrency: 1, marketplaces: #"["ebay"]"#)])
            let ledger = try SpendLedger(store: h.store, budgets: SpendBudgets(config: world.config, jobs: world.catalog.jobs),
                                         clock: world.clock)
            let plan = ShippingArbitrageTests.plan(world, carrier: ShippingArbitrageTests.carrier(h, recorder: ledger, clock: world.clock))

            let (first, firstStatus) = try await world.run("ship", coordinator: world.coordinator(plan: { _ in plan }))
            #expect(firstStatus == .budgetExhausted, "\(first.error ?? "")")
            let early = try h.store.listingVerdicts(sweep: first.id)
            #expect(early.filter { $0.status == .recommended }.count == 1)
            #expect(try ledger.spent(runID: first.id) == Money(micros: 20_000, currency: .usd))

            let (second, secondStatus) = try await world.run("ship", resumes: first.id, coordinator: world.coordinator(plan: { _ in plan }))
            #expect(secondStatus == .succeeded, "\(second.error ?? "")")
            #expect(try h.store.sweepID(ofRun: second.id) == first.id)
            let verdicts = try h.store.listingVerdicts(sweep: first.id)
            #expect(verdicts.count == 20)
            #expect(Set(verdicts.map(\.listingID)).count == 20)
            #expect(verdicts.filter { $0.status == .recommended }.count == 2)
            #expect(try h.store.listingVerdicts(sweep: second.id).isEmpty)
            // Only the unfinished listing was quoted again: three quotes.
            #expect(try ledger.spent(runID: second.id) == Money(micros: 15_000, currency: .usd))
            let quotes = try h.store.listingQuotes(sweep: first.id)
            #expect(Set(quotes.map { "\($0.listingID)/\($0.destinationPostalCode)" }).count == 2 * Self.destinations.count)
            #expect(Set(quotes.map { "\($0.listingID)/\($0.destinationPostalCode)/\($0.carrier)/\($0.service)" }).count == quotes.count)
            #expect(second.summary?.contains("20 listings: 2 judged, 18 skipped") == true, "\(second.summary ?? "")")
        }
    }
}
