import Testing
@testable import FlipSyncCore

/// A channel's page of order lines is checked before the sync or the shipping plan counts it.
@Suite("Orders page: line quantities bounded", .timeLimit(.minutes(1)))
struct OrdersPageTests {
    static func page(_ quantities: [Int]) -> OrdersPage {
        OrdersPage(lines: quantities.enumerated().map { i, q in
            OrderLine(marketplace: .ebay, orderID: "o\(i)", lineID: "\(i)", sku: "A", quantity: q, placedAt: 0)
        }, cursor: "c")
    }

    @Test("0…1,000,000 units a line pass; a negative quantity (which would add stock) or a larger one fails the whole page, naming the line")
    func quantitiesOutsideTheBoundRefuseThePage() throws {
        #expect(try Self.page([0, 1, 1_000_000]).checked() == Self.page([0, 1, 1_000_000]))
        for (quantities, says) in [([1, -5], "ebay order o1 line 1: quantity -5 is outside 0…1000000"),
                                   ([1_000_001], "ebay order o0 line 0: quantity 1000001 is outside 0…1000000")] {
            let error = #expect(throws: TaskFailure.self) { try Self.page(quantities).checked() }
            guard case .permanent(let message)? = error else { Issue.record("not permanent: \(String(describing: error))"); continue }
            #expect(message.hasPrefix(says) && message.hasSuffix("the page of \(quantities.count) lines is not applied"), "\(message)")
        }
    }
}
