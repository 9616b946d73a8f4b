import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import Foundation
import Testing
import FlipSyncTestKit

/// Shipping arbitrage quoting from the shipped rate-card files alone: orders read from the
/// sandbox through the real clients, quoted offline by the cards `daemon.rate_cards` names
/// (registered by `ChannelFactory`), decided into SQLite, with no paid call.
@Suite("Shipping arbitrage from rate cards, end to end", .timeLimit(.minutes(1)))
struct RateCardShippingTests {
    static let shippedCards = ["usps-ground-advantage.toml", "ups-ground.toml"].map {
        URL(fileURLWithPath: packageRoot)
            .appendingPathComponent("config/rate-cards/\($0)").path
    }

    static func job() -> String {
        ShippingArbitrageTests.job().replacingOccurrences(of: #"rate_sources = ["api"]"#, with: #"rate_sources = ["rate-cards"]"#)
    }

    @Test("every open line is quoted by every card at the card's own price, the cheapest adequate is recommended, no carrier is called")
    func quotesFromLoadedCards() async throws {
        try await WorkflowHarness.with(listings: 200, seed: 1) { h in
            let world = try WorkflowWorld.load(h, jobs: ["ship": Self.job()])
            #expect(world.catalog["ship"] != nil)
            // The daemon's channels, with the config naming the shipped cards.
            var config = world.config
            config.rateCards = Self.shippedCards
            let spend = InMemorySpendRecorder()
            let values = h.sandbox.developmentCredentials(for: config)
            let services = ChannelFactory.services(
                config: config, secret: { SecretText(values[$0] ?? "") },
                transport: URLSessionTransport(allowList: ChannelFactory.allowList(config)), recorder: spend,
                rateLimiters: RateLimiters(clock: world.clock), clock: world.clock, logger: WorkflowHarness.quietLogger)
            #expect(services.rateShoppers.keys.sorted() == ["rate-cards"])
            let plan = ShippingArbitragePlan(parameters: ShippingArbitrageTests.parameters(world), marketplaces: services.marketplaces, shoppers: services.rateShoppers, ledger: h.store,
                                             clock: world.clock, currency: config.currency, unavailable: services.unavailable)
            let cards = RateCardSet.load(config).cards

            // Each channel's first order goes across town (zone 1–2, one business day by every
            // card, so at least one line has a choice whatever the weekday); the rest go where
            // the sandbox draws.
            let acrossTown = try #require(SandboxAddress.destinations.first { $0.postalCode == "10013" })
            var orders: [SandboxOrder] = []
            for (i, product) in ShippingArbitrageTests.listed(h, on: .ebay).prefix(3).enumerated() {
                orders.append(try h.sandbox.state.placeOrder(.ebay, sku: product.sku, quantity: 1, shipTo: i == 0 ? acrossTown : nil))
            }
            for (i, product) in ShippingArbitrageTests.listed(h, on: .amazon).prefix(3).enumerated() {
                orders.append(try h.sandbox.state.placeOrder(.amazon, sku: product.sku, quantity: 2, shipTo: i == 0 ? acrossTown : nil))
            }

            let (run, status) = try await world.run("ship", coordinator: world.coordinator(plan: { _ in plan }))
            #expect(status == .succeeded, "\(run.error ?? "")")
            let rows = try h.store.shippingRecommendations(runID: run.id)
            #expect(rows.count == orders.count)
            #expect(rows.contains { $0.status.hasChoice })
            let quotes = try h.store.shippingQuotes(runID: run.id)
            #expect(!quotes.isEmpty)
            #expect(quotes.allSatisfy { $0.source == "rate-cards" && $0.rateID == nil && $0.billableOunces != nil })

            for order in orders {
                let row = try #require(rows.first { $0.marketplace == order.marketplace && $0.orderID == order.orderID })
                let product = try #require(h.sandbox.state.product(sku: order.sku))
                // The witness: the loaded cards asked directly for the product's box and the real destination.
                let rates = cards.quote(Shipment(
                    from: ShippingAddress(zip: SandboxAddress.warehouse.postalCode), to: ShippingAddress(zip: order.shipTo.postalCode),
                    parcel: Parcel(inches: product.lengthInches, product.widthInches, product.heightInches, ounces: product.weightOunces)))
                #expect(!rates.isEmpty)
                let mine = quotes.filter { $0.marketplace == order.marketplace && $0.orderID == order.orderID }
                #expect(Set(mine.map { "\($0.carrier)/\($0.service)/\($0.amountMicros)/\($0.deliveryDays ?? -1)" })
                        == Set(rates.map { "\($0.carrier)/\($0.service)/\($0.amount.micros)/\($0.deliveryDays ?? -1)" }))
                let shipAt = try #require(row.shipAt), deliverBy = try #require(row.deliverBy)
                // The README's rule: transit in business days from the ship date, compared by date.
                let adequate = rates.filter { ShippingArbitrageTests.adequate(days: $0.deliveryDays, shipAt: shipAt, deliverBy: deliverBy) }
                if let cheapest = adequate.map(\.amount.micros).min() {
                    #expect(row.status.hasChoice, "\(row.reason)")
                    #expect(row.labelMicros == cheapest * Int64(order.quantity))
                } else {
                    #expect(row.status == .noAdequateRate, "\(row.reason)")
                }
            }
            // Offline: the only metered calls are the channels' order reads; no carrier call at all.
            #expect(!spend.recorded.isEmpty)
            #expect(spend.recorded.allSatisfy { $0.provider == "ebay" || $0.provider == "amazon" })
        }
    }
}
