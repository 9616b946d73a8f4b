import Synchronization

/// The sweep each run belongs to, remembered: a run's `resumes` is written with its row and
/// never changed, so once a run's chain has been followed to its first run the answer holds for
/// the life of the process. Only runs whose row was found are remembered (a run not recorded
/// yet may still get a row that resumes another). Bounded: emptied when it reaches `limit`.
public final class SweepIDCache: Sendable {
    private let known = Mutex<[Int64: Int64]>([:])
    private let limit: Int

    public init(limit: Int = 4096) { self.limit = max(1, limit) }

    /// The remembered sweep of `runID`, or `lookup`'s answer (remembered when it found the run).
    public func sweepID<E: Error>(ofRun runID: Int64, lookup: (Int64) throws(E) -> (sweep: Int64, found: Bool)) throws(E) -> Int64 {
        if let sweep = known.withLock({ $0[runID] }) { return sweep }
        let (sweep, found) = try lookup(runID)
        if found {
            known.withLock { map in
                if map.count >= limit { map.removeAll(keepingCapacity: true) }
                map[runID] = sweep
            }
        }
        return sweep
    }
}
