import Testing
@testable import FlipSyncCore

@Suite("LedgerError.wrapping", .timeLimit(.minutes(1)))
struct LedgerErrorWrappingTests {
    struct Other: Error, CustomStringConvertible { var description: String { "disk I/O error" } }

    @Test("a LedgerError passes as it is (never \"run ledger: run ledger: …\", notFound stays notFound); any other error becomes .storage")
    func wrapping() {
        #expect(LedgerError.wrapping(LedgerError.storage("sync_stock row: bad")).description == "run ledger: sync_stock row: bad")
        guard case .notFound(let what) = LedgerError.wrapping(LedgerError.notFound("run 7")) else {
            Issue.record("notFound was wrapped")
            return
        }
        #expect(what == "run 7")
        #expect(LedgerError.wrapping(Other()).description == "run ledger: disk I/O error")
    }
}
