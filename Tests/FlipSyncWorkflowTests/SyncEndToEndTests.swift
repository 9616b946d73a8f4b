import FlipSyncCore
import FlipSyncSandbox
import FlipSyncStore
import Testing

/// The marketplace sync end to end: the sandbox's eBay, Amazon and Shopify over real HTTP,
/// the real clients, a real run coordinator and SQLite.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SyncEndToEndTests {
    static let listings = 8

    @Test func ordersOnTwoMarketplacesAreAppliedOnceAndEveryChannelConverges() async throws {
        try await WorkflowHarness.with(listings: Self.listings) { harness in
            let rig = try SyncRig(harness, params: "safety_stock = 1")
            #expect(try await rig.run().status == .succeeded)
            #expect(try rig.unconverged(safety: 1).isEmpty)
            let initial = try rig.ledger.onHand()

            let skus = rig.skusOnEveryChannel.filter { (initial[$0] ?? 0) >= 3 }
            let (a, b) = (try #require(skus.first), try #require(skus.last))
            try rig.state.placeOrder(.ebay, sku: a, quantity: 1)
            try rig.state.placeOrder(.amazon, sku: b, quantity: 2)
            let second = try await rig.run()
            #expect(second.status == .succeeded)

            var expected = initial
            expected[a]! -= 1
            expected[b]! -= 2
            #expect(try rig.ledger.onHand() == expected)
            #expect(try rig.ledger.orderLineCount() == 2)
            #expect(try rig.unconverged(safety: 1).isEmpty)
            #expect(rig.state.listedQuantities(sku: b) == [.ebay: expected[b]! - 1, .amazon: expected[b]! - 1, .shopify: expected[b]! - 1])
            let tasks = try harness.store.tasks(runID: second.run.id)
            #expect(tasks.map(\.key).filter { $0.hasPrefix("repush:") }.isEmpty, "no new lines in the recheck, no second push")

            // The channels return those orders again (overlapping cursors): nothing changes.
            #expect(try await rig.run().status == .succeeded)
            #expect(try rig.ledger.onHand() == expected)
            #expect(try rig.ledger.orderLineCount() == 2)
            #expect(rig.state.oversells.isEmpty)
        }
    }
}

extension SyncEndToEndTests {
    @Test func stockReachingZeroSendsEveryChannelToZeroInTheSameRun() async throws {
        try await WorkflowHarness.with(listings: Self.listings) { harness in
            let rig = try SyncRig(harness, params: "safety_stock = 0")
            #expect(try await rig.run().status == .succeeded)
            // Stock pushes only: the sandbox logs each request's fields, and none set a price.
            #expect(!rig.state.updates.isEmpty && rig.state.updates.allSatisfy { $0.quantitySent && !$0.priceSent })
            let onHand = try rig.ledger.onHand()
            let sku = try #require(rig.skusOnEveryChannel.first { (onHand[$0] ?? 0) > 0 })
            // Shopify sells the last units.
            try rig.state.placeOrder(.shopify, sku: sku, quantity: onHand[sku]!)
            #expect(try await rig.run().status == .succeeded)
            #expect(try rig.ledger.onHand()[sku] == 0)
            #expect(rig.state.listedQuantities(sku: sku) == [.ebay: 0, .amazon: 0, .shopify: 0])
            #expect(throws: OrderRefusal.self) { try rig.state.placeOrder(.amazon, sku: sku, quantity: 1) }
            #expect(rig.state.oversells.isEmpty)
        }
    }

    @Test func aRepeatedSyncSendsNothing() async throws {
        try await WorkflowHarness.with(listings: Self.listings) { harness in
            let rig = try SyncRig(harness, params: """
                safety_stock = 1
                push_price = true
                price_source = "shopify"
                """)
            #expect(try await rig.run().status == .succeeded)
            let updates = rig.state.updates.count
            #expect(updates > 0, "the seeded channels differ from on-hand − safety and from Shopify's prices")
            let again = try await rig.run()
            #expect(again.status == .succeeded)
            #expect(rig.state.updates.count == updates)
            #expect(try rig.ledger.pushes(runID: again.run.id).isEmpty)
            #expect(try rig.ledger.drift(runID: again.run.id).isEmpty)
            // Prices followed Shopify's.
            for sku in rig.skusOnEveryChannel {
                let shopify = try #require(rig.state.channelListing(.shopify, sku: sku)).priceMicros
                #expect(rig.state.channelListing(.amazon, sku: sku)?.priceMicros == shopify)
                #expect(rig.state.listing(sku: sku)?.priceMicros == shopify)
            }
        }
    }

    @Test func aDryRunRecordsWhatItWouldPushAndSendsNothing() async throws {
        try await WorkflowHarness.with(listings: Self.listings) { harness in
            let rig = try SyncRig(harness, params: """
                safety_stock = 2
                dry_run = true
                """)
            let dry = try await rig.run()
            #expect(dry.status == .succeeded)
            #expect(rig.state.updates.isEmpty)
            let pushes = try rig.ledger.pushes(runID: dry.run.id)
            #expect(!pushes.isEmpty)
            #expect(pushes.allSatisfy { $0.status == "not-sent" })
        }
    }

    @Test func driftIntroducedOnAChannelIsFoundRecordedAndCorrected() async throws {
        try await WorkflowHarness.with(listings: Self.listings) { harness in
            let rig = try SyncRig(harness, params: "safety_stock = 1")
            #expect(try await rig.run().status == .succeeded)
            let onHand = try rig.ledger.onHand()
            let skus = rig.skusOnEveryChannel.filter { (onHand[$0] ?? 0) >= 2 }
            let (a, b) = (try #require(skus.first), try #require(skus.last))
            rig.state.applyChannel(.amazon, sku: a, priceMicros: nil, quantity: 50)
            rig.state.applyChannel(.shopify, sku: b, priceMicros: nil, quantity: 0)
            let run = try await rig.run()
            #expect(run.status == .succeeded)
            let drift = try rig.ledger.drift(runID: run.run.id)
            let target = { (sku: String) in onHand[sku]! - 1 }
            #expect(drift[.amazon] == [Drift(sku: a, live: 50, expected: target(a), target: target(a))])
            #expect(drift[.shopify] == [Drift(sku: b, live: 0, expected: target(b), target: target(b))])
            #expect(drift[.ebay] == nil)
            #expect(rig.state.channelListing(.amazon, sku: a)?.quantity == target(a))
            #expect(rig.state.channelListing(.shopify, sku: b)?.quantity == target(b))
        }
    }

    @Test func withoutDriftCorrectionALoweredListingIsRecordedButNotRaised() async throws {
        try await WorkflowHarness.with(listings: Self.listings) { harness in
            let rig = try SyncRig(harness, params: "safety_stock = 1")
            #expect(try await rig.run().status == .succeeded)
            let onHand = try rig.ledger.onHand()
            let sku = try #require(rig.skusOnEveryChannel.first { (onHand[$0] ?? 0) >= 2 })
            rig.state.applyChannel(.shopify, sku: sku, priceMicros: nil, quantity: 0)
            let strict = try SyncRig(harness, params: """
                safety_stock = 1
                correct_drift = false
                """)
            let run = try await strict.run()
            #expect(run.status == .succeeded)
            #expect(try rig.ledger.drift(runID: run.run.id)[.shopify]?.map(\.sku) == [sku])
            #expect(rig.state.channelListing(.shopify, sku: sku)?.quantity == 0)
        }
    }
}

/// A real channel client whose process "dies" right after a change batch reached the channel:
/// `apply` sends the batch for real, then throws `CancellationError` instead of returning the
/// channel's answer, so the sync never records it (the worst moment for a crash).
struct DiesAfterApplying: Marketplace {
    let wrapped: any Marketplace
    var name: MarketplaceName { wrapped.name }

    /// `marketplaces` with `name`'s client dying after its first batch.
    static func replacing(_ name: MarketplaceName, in marketplaces: [MarketplaceName: any Marketplace]) -> [MarketplaceName: any Marketplace] {
        var out = marketplaces
        if let client = marketplaces[name] { out[name] = DiesAfterApplying(wrapped: client) }
        return out
    }
    func activeListings() async throws -> [MarketplaceListing] { try await wrapped.activeListings() }
    func competition(for listing: MarketplaceListing) async throws -> Competition { try await wrapped.competition(for: listing) }
    func orders(since cursor: String?) async throws -> OrdersPage { try await wrapped.orders(since: cursor) }
    func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult] {
        _ = try await wrapped.apply(changes)
        throw CancellationError()
    }
}

extension SyncEndToEndTests {
    @Test func ordersOnTwoChannelsWhileAPushIsInFlightDoNotOversellAndAreCaughtUp() async throws {
        try await WorkflowHarness.with(listings: Self.listings) { harness in
            let rig = try SyncRig(harness, params: "safety_stock = 1")
            #expect(try await rig.run().status == .succeeded)
            let onHand = try rig.ledger.onHand()
            let sku = try #require(rig.skusOnEveryChannel.first { (onHand[$0] ?? 0) >= 4 })
            // Amazon's listings are read only by its push task: hold that read, and sell meanwhile
            // on eBay and Shopify, after their orders were pulled.
            rig.state.inject(SandboxFault(route: .amazonListings, remaining: 1, latencyMilliseconds: 1_000))
            let run = Task { try await rig.run() }
            await rig.state.waitUntilHeld(.amazonListings)
            try rig.state.placeOrder(.ebay, sku: sku, quantity: 1)
            try rig.state.placeOrder(.shopify, sku: sku, quantity: 2)
            let result = try await run.value
            #expect(result.status == .succeeded)

            #expect(rig.state.oversells.isEmpty)
            #expect(try rig.ledger.oversells().isEmpty)
            #expect(try rig.ledger.onHand()[sku] == onHand[sku]! - 3)
            #expect(try rig.ledger.onHand()[sku] == rig.state.stock[sku])
            // The run ends with every channel at shelf − safety: no single channel can sell a unit
            // the shelf does not have.
            #expect(try rig.unconverged(safety: 1).isEmpty)
            #expect(rig.state.listedQuantities(sku: sku).values.allSatisfy { $0 == onHand[sku]! - 4 })
        }
    }

    @Test func aRunThatDiesMidPushAndRunsAgainAppliesNoChangeTwice() async throws {
        try await WorkflowHarness.with(listings: Self.listings) { harness in try await Self.dieMidPushThenRunAgain(harness) }
    }

    static func dieMidPushThenRunAgain(_ harness: WorkflowHarness) async throws {
        let rig = try SyncRig(harness, params: "safety_stock = 1")
        let first = try await rig.run(marketplaces: DiesAfterApplying.replacing(.shopify, in: rig.marketplaces), batchSize: 3)
        #expect(first.status == .cancelled)
        // The first batch of three reached Shopify, but its answer was never recorded.
        let landed = Set(rig.state.updates.filter { $0.marketplace == .shopify }.map(\.sku))
        #expect(landed.count == 3)
        let unanswered = try rig.ledger.pushes(runID: first.run.id).filter { $0.marketplace == .shopify && $0.status == "intent" }
        #expect(landed.isSubset(of: unanswered.map(\.sku)))

        let second = try await rig.run(resumes: first.run.id)
        #expect(second.status == .succeeded)
        let resent = try rig.ledger.pushes(runID: second.run.id).filter { $0.marketplace == .shopify }.map(\.sku)
        #expect(!resent.isEmpty)
        #expect(Set(resent).isDisjoint(with: landed))

        var perListing: [String: Int] = [:]
        for update in rig.state.updates { perListing["\(update.marketplace.rawValue) \(update.sku)", default: 0] += 1 }
        let twice = perListing.filter { $0.value > 1 }
        #expect(twice.isEmpty, "\(twice)")
        #expect(try rig.unconverged(safety: 1).isEmpty)
        // And once more: nothing left to send.
        let updates = rig.state.updates.count
        #expect(try await rig.run().status == .succeeded)
        #expect(rig.state.updates.count == updates)
    }
}

extension SyncEndToEndTests {
    @Test func whenAChannelsOrdersCannotBeReadQuantitiesAreOnlyLowered() async throws {
        try await WorkflowHarness.with(listings: Self.listings) { harness in
            let rig = try SyncRig(harness, params: "safety_stock = 1")
            #expect(try await rig.run().status == .succeeded)
            let onHand = try rig.ledger.onHand()
            let skus = rig.skusOnEveryChannel.filter { (onHand[$0] ?? 0) >= 3 }
            let (low, high) = (try #require(skus.first), try #require(skus.last))
            rig.state.applyChannel(.shopify, sku: low, priceMicros: nil, quantity: 0)
            rig.state.applyChannel(.shopify, sku: high, priceMicros: nil, quantity: 40)
            // Amazon's orders are unreadable: on-hand may be too high, so nothing may go up.
            rig.state.inject(SandboxFault(route: .amazonOrders, status: 500))
            let run = try await rig.run()
            #expect(run.status == .failed)
            #expect(rig.state.channelListing(.shopify, sku: low)?.quantity == 0)
            #expect(rig.state.channelListing(.shopify, sku: high)?.quantity == onHand[high]! - 1)
        }
    }
}
