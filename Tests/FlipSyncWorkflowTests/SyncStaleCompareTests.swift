import FlipSyncCore
import FlipSyncSandbox
import FlipSyncStore
import Testing

/// Shopify's compare-and-set during a real sync run: a sale on Shopify lands between the push
/// task's read and its `inventorySetQuantities`. (`ShopifyMarketplaceTests` checks the
/// marketplace's re-read alone; this is the run: coordinator, ledger, every channel.)
@Suite(.serialized, .timeLimit(.minutes(3))) struct SyncStaleCompareTests {
    @Test func aShopifySaleBetweenTheReadAndThePushIsReReadRetriedAndNeverOversold() async throws {
        try await WorkflowHarness.with(listings: 8) { harness in
            let rig = try SyncRig(harness, params: "safety_stock = 1")
            #expect(try await rig.run().status == .succeeded)
            let start = try rig.ledger.onHand()
            let sku = try #require(rig.skusOnEveryChannel.first { (start[$0] ?? 0) >= 6 })
            let s0 = start[sku]!
            #expect(rig.state.listedQuantities(sku: sku).values.allSatisfy { $0 == s0 - 1 })

            // A sale on eBay: the next run pushes s0 − 2 to Amazon and Shopify, Shopify compared
            // with the s0 − 1 its push task reads. Hold that set in the sandbox, and sell 2 on
            // Shopify meanwhile: the compare is stale when the set is processed.
            try rig.state.placeOrder(.ebay, sku: sku, quantity: 1)
            let setsBefore = rig.state.requestCounts[SandboxRoute.shopifyInventorySetQuantities.rawValue] ?? 0
            let readsBefore = rig.state.requestCounts[SandboxRoute.shopifyInventoryItem.rawValue] ?? 0
            let updatesBefore = rig.state.updates.count
            rig.state.inject(SandboxFault(route: .shopifyInventorySetQuantities, remaining: 1, latencyMilliseconds: 1_000))
            let run = Task { try await rig.run() }
            await rig.state.waitUntilHeld(.shopifyInventorySetQuantities)
            try rig.state.placeOrder(.shopify, sku: sku, quantity: 2)
            let result = try await run.value
            #expect(result.status == .succeeded)

            // The stale set changed nothing; the item was read again and the set retried once,
            // with the 2 sold since the read taken off: s0 − 2 − 2.
            #expect((rig.state.requestCounts[SandboxRoute.shopifyInventorySetQuantities.rawValue] ?? 0) - setsBefore == 2)
            #expect((rig.state.requestCounts[SandboxRoute.shopifyInventoryItem.rawValue] ?? 0) - readsBefore == 1)
            let shopify = rig.state.updates.dropFirst(updatesBefore).filter { $0.marketplace == .shopify && $0.sku == sku }
            #expect(shopify.map(\.oldQuantity) == [s0 - 3] && shopify.map(\.newQuantity) == [s0 - 4])
            // Never above what the shelf holds less the safety stock, on any channel, and nothing oversold.
            #expect(rig.state.stock[sku] == s0 - 3)
            #expect(try rig.ledger.onHand()[sku] == s0 - 3)
            #expect(rig.state.oversells.isEmpty)
            #expect(try rig.ledger.oversells().isEmpty)
            #expect(rig.state.listedQuantities(sku: sku) == [.ebay: s0 - 4, .amazon: s0 - 4, .shopify: s0 - 4])
            #expect(try rig.unconverged(safety: 1).isEmpty)
            // The Shopify sale reached on-hand in the same run (recheck), and the other channels were lowered for it.
            let tasks = try harness.store.tasks(runID: result.run.id).map(\.key)
            #expect(tasks.contains("repush:amazon") && tasks.contains("repush:ebay"))
        }
    }
}
