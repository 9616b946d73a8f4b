import FlipSyncCore
import GRDB

extension RunStore {
    /// `body` in one read transaction of this ledger (one consistent snapshot of every table),
    /// for tools that read it whole (`flipsyncctl migrate-store`).
    public func readSnapshot<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        try read(body)
    }
}
