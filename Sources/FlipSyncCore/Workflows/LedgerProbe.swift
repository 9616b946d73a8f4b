/// What the readiness scan can ask of the run ledger.
public protocol LedgerProbe: Sendable {
    /// Times `count` single-row writes and reads; microseconds each.
    func timedRoundTrips(count: Int) throws -> (writes: [Int64], reads: [Int64])
    /// `PRAGMA quick_check`: "ok" when sound.
    func integrityCheck(full: Bool) throws(LedgerError) -> String
}
