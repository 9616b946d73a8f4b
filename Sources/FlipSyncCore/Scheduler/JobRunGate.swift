import Logging

/// What keeps two nodes from running one job at once (`[daemon] cluster`): before a run starts,
/// its node takes the job's cluster-wide run lease; it gives it back when the run ends. A lease
/// whose node died (its heartbeat went stale), stopped, or was restarted (another process under
/// its name) is free. Without a gate (one node) the scheduler's own `running` map is the rule.
public protocol JobRunGate: Sendable {
    /// Takes `job`'s run lease for `run`. A resume (`run.resumes` set) takes it only if no run of
    /// the job has started since the run it resumes was recorded; else `.superseded`.
    func acquire(job: String, run: RunInfo) async throws -> JobRunVerdict
    /// Gives the lease back (a failed release is retried at the next heartbeat; until then the
    /// lease is held only while this process lives).
    func release(_ lease: JobRunLease) async
    /// Whether this node may go on running under `lease`: false once its heartbeat has failed for
    /// longer than the lease lasts (another node may take the lease then) or another node asked
    /// the run to stop (`overlap = "replace"`).
    func stillHeld(_ lease: JobRunLease) async -> Bool
    /// Asks the node running `holder`'s run to cancel it (`overlap = "replace"`); it does at its
    /// next heartbeat.
    func requestCancel(_ holder: JobRunHolder) async throws
    /// How often (ms) a waiting run asks again; a running one checks ``stillHeld(_:)`` twice as often.
    var retryMilliseconds: Int64 { get }
}

/// A job's run lease, held: the job and the lease's generation (its fencing token, one more at
/// each acquisition).
public struct JobRunLease: Sendable, Hashable {
    public var job: String
    public var generation: Int64

    public init(job: String, generation: Int64) {
        self.job = job
        self.generation = generation
    }
}

/// The run holding a job's lease, as another node sees it.
public struct JobRunHolder: Sendable, Hashable, CustomStringConvertible {
    public var job: String
    public var node: String
    public var runID: Int64
    public var generation: Int64

    public init(job: String, node: String, runID: Int64, generation: Int64) {
        self.job = job
        self.node = node
        self.runID = runID
        self.generation = generation
    }

    public var description: String { "run \(runID) of \(job) on node \(node)" }
}

public enum JobRunVerdict: Sendable, Hashable {
    case acquired(JobRunLease)
    /// Another live run holds the lease.
    case held(by: JobRunHolder)
    /// A resume refused: `by` started after the interrupted run and does its work.
    case superseded(by: JobRunHolder)
}

/// A run executor that holds the job's cluster-wide run lease while its inner executor runs.
/// When another node's run holds it, the job's `overlap` decides, as it does on one node:
/// `skip` ends this run `skipped` (its summary names the other run); `queue` waits for the lease
/// (asking every ``JobRunGate/retryMilliseconds``, until the daemon stops); `replace` asks the
/// holder's node to cancel its run and waits likewise. A resume superseded by a newer run ends
/// `skipped` without running. A run that loses its lease while running (this node's heartbeat
/// failing past the lease, or a `replace` from another node) is cancelled.
public struct GatedRunExecutor: RunExecutor {
    let inner: any RunExecutor
    let gate: any JobRunGate
    let ledger: any RunLedger
    let clock: any SchedulerClock
    let logger: Logger

    public init(inner: any RunExecutor, gate: any JobRunGate, ledger: any RunLedger, clock: any SchedulerClock, logger: Logger) {
        self.inner = inner
        self.gate = gate
        self.ledger = ledger
        self.clock = clock
        self.logger = logger
    }

    public func execute(run: RunInfo, job: JobDefinition) async -> RunStatus {
        var logger = self.logger
        logger[metadataKey: "job"] = "\(job.name)"
        logger[metadataKey: "run"] = "\(run.id)"
        var waitingFor: JobRunHolder?
        var cancelAsked: JobRunHolder?
        var failures = 0
        while true {
            if Task.isCancelled { return end(run, .cancelled, error: "cancelled while waiting for the job's cluster run lease", logger: logger) }
            let verdict: JobRunVerdict
            do {
                verdict = try await gate.acquire(job: job.name, run: run)
                failures = 0
            } catch {
                // The cluster database unreachable: nobody can say whether another node runs
                // the job, so this run does not start yet. Bounded: after a minute of failures
                // it ends failed (the next fire tries again).
                failures += 1
                let waited = Int64(failures) * gate.retryMilliseconds
                if waited >= Self.unreachableBoundMilliseconds {
                    return end(run, .failed, error: "cannot take the job's cluster run lease: \(error)", logger: logger)
                }
                logger.warning("cannot take the job's cluster run lease (retrying): \(error)", metadata: ["event": "run-lease-failed"])
                if !(await pause()) { return end(run, .cancelled, error: "cancelled while waiting for the job's cluster run lease", logger: logger) }
                continue
            }
            switch verdict {
            case .acquired(let lease):
                if let waitingFor { logger.info("\(waitingFor) ended; starting", metadata: ["event": "run-lease-acquired"]) }
                return await execute(run: run, job: job, holding: lease, logger: logger)
            case .superseded(let newer):
                logger.notice("not resuming run \(run.resumes ?? 0): \(newer) started after it", metadata: ["event": "run-superseded"])
                return end(run, .skipped, summary: "superseded: \(newer) started after the interrupted run \(run.resumes ?? 0)",
                           logger: logger)
            case .held(let holder):
                switch job.overlap {
                case .skip:
                    logger.notice("skipped: \(holder) is still running", metadata: ["event": "run-skipped"])
                    return end(run, .skipped, summary: "overlap: \(holder) is still running", logger: logger)
                case .queue, .replace:
                    if waitingFor != holder {
                        logger.info("waiting for \(holder) to end (overlap = \(job.overlap.rawValue))", metadata: ["event": "run-lease-waiting"])
                        waitingFor = holder
                    }
                    if job.overlap == .replace, cancelAsked != holder {
                        do {
                            try await gate.requestCancel(holder)
                            cancelAsked = holder
                            logger.notice("asked node \(holder.node) to cancel \(holder): a new run replaces it", metadata: ["event": "run-replacing"])
                        } catch {
                            logger.warning("cannot ask node \(holder.node) to cancel \(holder): \(error)")
                        }
                    }
                    if !(await pause()) { return end(run, .cancelled, error: "cancelled while waiting for \(holder)", logger: logger) }
                }
            }
        }
    }

    /// How long a run waits for an unreachable cluster database before it ends failed (ms).
    public static let unreachableBoundMilliseconds: Int64 = 60_000

    /// Runs the inner executor while a watcher checks the lease; releases it afterwards.
    private func execute(run: RunInfo, job: JobDefinition, holding lease: JobRunLease, logger: Logger) async -> RunStatus {
        let inner = self.inner, gate = self.gate, clock = self.clock
        let status = await withTaskGroup(of: RunStatus?.self) { group in
            group.addTask { await inner.execute(run: run, job: job) }
            group.addTask {
                while !Task.isCancelled {
                    do { try await clock.sleep(milliseconds: max(1, gate.retryMilliseconds / 2)) } catch { return nil }
                    if !(await gate.stillHeld(lease)) {
                        logger.warning("lost the job's cluster run lease (heartbeat failing past the lease, or replaced by another node's run): cancelling",
                                       metadata: ["event": "run-lease-lost"])
                        return nil
                    }
                }
                return nil
            }
            var status: RunStatus = .cancelled
            while let next = await group.next() {
                if let next {
                    status = next
                    group.cancelAll()
                } else {
                    // The watcher ended: the lease is lost (or the run is cancelled anyway).
                    group.cancelAll()
                }
            }
            return status
        }
        await gate.release(lease)
        return status
    }

    /// Waits one retry interval; false when cancelled.
    private func pause() async -> Bool {
        do {
            try await clock.sleep(milliseconds: gate.retryMilliseconds)
            return true
        } catch {
            return false
        }
    }

    private func end(_ run: RunInfo, _ status: RunStatus, summary: String? = nil, error: String? = nil, logger: Logger) -> RunStatus {
        do {
            try ledger.finishRun(runID: run.id, status: status, summary: summary, error: error, spendMicros: 0, at: clock.wallMilliseconds())
        } catch {
            logger.error("cannot record the end of run \(run.id): \(error)")
        }
        return status
    }
}
