import FlipSyncCore
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The ledger's health: timed round trips and SQLite's own integrity check.
extension RunStore {
    /// Times `count` single-row writes (each its own transaction, as the daemon writes) and reads
    /// against a scratch table, in microseconds.
    public func timedRoundTrips(count: Int) throws -> (writes: [Int64], reads: [Int64]) {
        func micros() -> Int64 {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
        }
        try writer.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
            try db.execute(sql: "DELETE FROM probe")
        }
        var writes: [Int64] = [], reads: [Int64] = []
        for i in 0..<count {
            let start = micros()
            try writer.write { db in try db.execute(sql: "INSERT INTO probe (id, value) VALUES (?, ?)", arguments: [i, "probe \(i)"]) }
            writes.append(micros() - start)
            let readStart = micros()
            _ = try reader.read { db in try String.fetchOne(db, sql: "SELECT value FROM probe WHERE id = ?", arguments: [i]) }
            reads.append(micros() - readStart)
        }
        try writer.write { db in try db.execute(sql: "DELETE FROM probe") }
        return (writes, reads)
    }

    /// `PRAGMA quick_check` (or the full `integrity_check`): "ok" when the file is sound.
    public func integrityCheck(full: Bool = false) throws(LedgerError) -> String {
        try read { db in
            try String.fetchAll(db, sql: full ? "PRAGMA integrity_check" : "PRAGMA quick_check").joined(separator: "; ")
        }
    }
}
