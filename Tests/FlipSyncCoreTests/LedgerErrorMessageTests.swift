import Foundation
import GRDB
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore

/// A storage error names the ledger's file once and says "run ledger:" once, however deep the
/// `LedgerError` inside was raised: `write` and `groupWrite` used to wrap one again
/// ("run ledger: /x.sqlite: run ledger: …").
@Suite("Ledger errors: the message is not doubled", .timeLimit(.minutes(2)))
struct LedgerErrorMessageTests {
    static func withLedger(_ body: (String) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try await body(dir.appendingPathComponent("ledger.sqlite").path)
    }

    static func occurrences(of needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    @Test("a LedgerError thrown inside write is the caller's error with the path once")
    func writeKeepsInnerLedgerError() async throws {
        try await Self.withLedger { path in
            let store = try RunStore(path: path)
            let error = #expect(throws: LedgerError.self) {
                try store.write { _ in throw LedgerError.storage("sweep_listings row (sweep_id 1) does not decode: x") }
            }
            #expect(error.map { "\($0)" } == "run ledger: \(path): sweep_listings row (sweep_id 1) does not decode: x")
        }
    }

    @Test("a nested write's error names the path once")
    func nestedWriteNamesPathOnce() async throws {
        try await Self.withLedger { path in
            let store = try RunStore(path: path)
            let error = #expect(throws: LedgerError.self) {
                try store.write { _ in try store.write { _ in throw LedgerError.storage("boom") } }
            }
            #expect(error.map { "\($0)" } == "run ledger: \(path): boom")
        }
    }

    @Test("a LedgerError thrown inside groupWrite is the caller's error with the path once")
    func groupWriteKeepsInnerLedgerError() async throws {
        try await Self.withLedger { path in
            let store = try RunStore(path: path)
            var caught: LedgerError?
            do {
                _ = try await store.groupWrite { _ -> Int in throw LedgerError.storage("boom") }
            } catch {
                caught = error as? LedgerError
            }
            #expect(caught.map { "\($0)" } == "run ledger: \(path): boom")
        }
    }

    @Test("a write on a read-only ledger says run ledger and the path once, and SQLite's reason")
    func readOnlyWrite() async throws {
        try await Self.withLedger { path in
            _ = try RunStore(path: path)
            let readOnly = try RunStore(path: path, mode: .readOnly)
            let offer = RememberedOffer(sku: "A1", offerID: "O1", marketplaceID: nil, price: nil, availableQuantity: nil,
                                        domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: 1)
            let error = await #expect(throws: LedgerError.self) { try await readOnly.rememberOffers(marketplace: .ebay, [offer]) }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.hasPrefix("run ledger: \(path): "), "\(text)")
            #expect(Self.occurrences(of: "run ledger:", in: text) == 1, "\(text)")
            #expect(Self.occurrences(of: path, in: text) == 1, "\(text)")
            #expect(text.lowercased().contains("readonly"), "\(text)")
        }
    }
}
