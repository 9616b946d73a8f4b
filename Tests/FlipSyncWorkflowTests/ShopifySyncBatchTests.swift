import FlipSyncCore
import FlipSyncSandbox
import Testing

@Suite("Sync: Shopify's stock pushed 250 changes an apply", .timeLimit(.minutes(2)))
struct ShopifySyncBatchTests {
    @Test("without a set batch size the sync hands Shopify its pushBatchSize (250): every Shopify quantity in one inventorySetQuantities, every channel converged")
    func shopifyPushesInOneCall() async throws {
        try await WorkflowHarness.with(listings: 60) { harness in
            let rig = try SyncRig(harness, params: "safety_stock = 1")
            #expect(try await rig.run(batchSize: nil).status == .succeeded)
            #expect(try rig.unconverged(safety: 1).isEmpty)
            let shopifyChanges = rig.state.updates.filter { $0.marketplace == .shopify && $0.oldQuantity != $0.newQuantity }.count
            try #require(shopifyChanges > 25, "more Shopify changes than the old batch of 25")
            #expect(rig.state.requestCounts["shopify.inventorySetQuantities"] == 1, "\(shopifyChanges) quantities in one call")
        }
    }
}
