import FlipSyncCore
import FlipSyncStore
#if canImport(Glibc)
import Glibc
#endif

/// Health: timed round trips and the schema check `flipsyncctl status` reports.
extension PostgresLedger {
    /// Times `count` single-row writes (each its own transaction) and reads against a scratch
    /// table, in microseconds: round trips to the server included.
    public func timedRoundTrips(count: Int) throws -> (writes: [Int64], reads: [Int64]) {
        func micros() -> Int64 {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
        }
        try session.query("CREATE TABLE IF NOT EXISTS probe (id BIGINT PRIMARY KEY, value TEXT NOT NULL)")
        try session.query("DELETE FROM probe")
        var writes: [Int64] = [], reads: [Int64] = []
        for i in 0..<count {
            let start = micros()
            try session.query("INSERT INTO probe (id, value) VALUES ($1, $2)", [.integer(Int64(i)), .text("probe \(i)")])
            writes.append(micros() - start)
            let readStart = micros()
            try session.query("SELECT value FROM probe WHERE id = $1", [.integer(Int64(i))])
            reads.append(micros() - readStart)
        }
        try session.query("DELETE FROM probe")
        return (writes, reads)
    }

    /// PostgreSQL has no `PRAGMA quick_check`: "ok" when the server answers and every schema step
    /// this FlipSync knows is applied; otherwise what is missing.
    public func integrityCheck(full: Bool = false) throws(LedgerError) -> String {
        let applied = Set(try appliedMigrations())
        let missing = PostgresLedgerSchema.migrations.map(\.name).filter { !applied.contains($0) }
        return missing.isEmpty ? "ok" : "missing schema steps: \(missing.joined(separator: ", "))"
    }
}
