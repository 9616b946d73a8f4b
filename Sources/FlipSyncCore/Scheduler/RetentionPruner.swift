import Logging

/// Deletes finished runs older than the retention age, in the background, in small batches, so
/// the writer is never held for long and the database does not grow without end.
///
/// Contract: `pruneOnce` deletes every finished run created before `now - retention` (and,
/// through the schema, its tasks), `batchSize` rows per transaction, yielding between batches;
/// it never touches queued or running runs. Then it deletes the leftover decide cut, the
/// listings snapshot and the decisions of every repricing sweep whose first run is gone
/// (`RunLedger.pruneSweepRows`),
/// ten times `batchSize` rows per transaction. `run` does that at start (after `initialDelay`) and
/// then every `interval`, until cancelled.
public struct RetentionPruner: Sendable {
    public var ledger: any RunLedger
    public var clock: any SchedulerClock
    public var retention: TimeSpan
    public var interval: TimeSpan
    public var batchSize: Int
    public var logger: Logger

    public init(ledger: any RunLedger, clock: any SchedulerClock, retention: TimeSpan, interval: TimeSpan = .seconds(3600),
                batchSize: Int = 500, logger: Logger) {
        self.ledger = ledger
        self.clock = clock
        self.retention = retention
        self.interval = interval
        self.batchSize = max(1, batchSize)
        self.logger = logger
    }

    /// Returns how many runs were deleted.
    @discardableResult
    public func pruneOnce() async throws -> Int {
        let cutoff = clock.wallMilliseconds() - retention.milliseconds
        var total = 0
        while true {
            try Task.checkCancellation()
            let deleted = try ledger.pruneRuns(createdBefore: cutoff, limit: batchSize)
            total += deleted
            if deleted < batchSize { break }
            await Task.yield()
        }
        if total > 0 {
            logger.info("pruned \(total) runs older than \(retention)", metadata: ["event": "runs-pruned"])
        }
        // The snapshots and decisions of sweeps whose first run is gone (now or before: a ledger
        // from before this pruning catches up), `sweepRowsPerBatch` rows per transaction.
        var rows = 0
        while true {
            try Task.checkCancellation()
            let deleted = try ledger.pruneSweepRows(limit: sweepRowsPerBatch)
            rows += deleted
            if deleted < sweepRowsPerBatch { break }
            await Task.yield()
        }
        if rows > 0 {
            logger.info("pruned \(rows) listing and decision rows of sweeps whose runs are gone", metadata: ["event": "sweeps-pruned"])
        }
        return total
    }

    /// Rows of gone sweeps deleted per transaction: ten times `batchSize`.
    var sweepRowsPerBatch: Int { batchSize * 10 }

    public func run(initialDelay: TimeSpan = .seconds(60)) async {
        var delay = initialDelay
        while !Task.isCancelled {
            do {
                try await clock.sleep(milliseconds: delay.milliseconds)
                try await pruneOnce()
            } catch is CancellationError {
                return
            } catch {
                logger.error("pruning old runs failed: \(error)", metadata: ["event": "prune-failed"])
            }
            delay = interval
        }
    }
}
