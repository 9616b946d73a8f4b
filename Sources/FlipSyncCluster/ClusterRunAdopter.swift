import FlipSyncCore
import Logging
import ServiceLifecycle

/// Runs whose node died, taken over (issue 16: nodes that die are survived). On a PostgreSQL
/// run ledger the nodes share, the node holding the scheduler lease looks every
/// `everyMilliseconds` for nodes that are no longer live (``ClusterCoordinator/lostNodes(horizonMilliseconds:)``:
/// stopped, or no heartbeat for longer than the 6 s lease), marks their `queued` and `running`
/// runs `interrupted` in one transaction (``RunAdopting/adoptRuns(of:upTo:at:)``) and
/// hands each to `resume` (the scheduler's, which resumes those whose job has
/// `resume_interrupted = true` as runs of this node).
///
/// Why it cannot run a job twice: the resume takes the job's cluster-wide run lease, free only
/// once the dead process's heartbeat is older than the lease; a resume that finds a newer run
/// of its job has taken the lease is superseded; a resume first settles what its predecessor
/// still has in the task queue (``ClusterTaskDispatcher/settle(runs:logger:)``). If the node
/// restarts before the adoption, its own start interrupts and resumes its runs and the
/// adoption finds nothing; if the two race, the run is marked once and a second resume of it
/// is superseded. Runs recorded after the look began (a restarted process's) are never taken:
/// the look reads the last run id first, and run ids are one sequence, so no clock is compared.
public struct ClusterRunAdopter: Service, CustomStringConvertible {
    let coordinator: ClusterCoordinator
    let ledger: any RunAdopting
    let clock: any SchedulerClock
    let logger: Logger
    let everyMilliseconds: Int64
    let resume: @Sendable (RunInfo) async -> Void

    public init(coordinator: ClusterCoordinator, ledger: any RunAdopting, clock: any SchedulerClock, logger: Logger,
                everyMilliseconds: Int64 = 2_000, resume: @escaping @Sendable (RunInfo) async -> Void) {
        self.coordinator = coordinator
        self.ledger = ledger
        self.clock = clock
        self.logger = logger
        self.everyMilliseconds = max(10, everyMilliseconds)
        self.resume = resume
    }

    public var description: String { "run-adopter" }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                do {
                    try await adoptOnce()
                    failing = false
                } catch is CancellationError {
                    return
                } catch {
                    if !failing {
                        logger.warning("cannot look for runs of lost nodes; trying again every \(everyMilliseconds) ms: \(String(reflecting: error))",
                                       metadata: ["event": "run-adoption-failed"])
                    }
                    failing = true
                }
                do { try await clock.sleep(milliseconds: everyMilliseconds) } catch { return }
            }
        }
    }

    /// One look: nothing unless this node holds the scheduler lease; else the runs of lost nodes,
    /// marked interrupted and handed to `resume`. Returns them.
    @discardableResult
    public func adoptOnce() async throws -> [RunInfo] {
        guard await coordinator.token != nil else { return [] }
        // Read before the lost nodes: a process that joins after that look, under a lost
        // node's name, records its runs with larger ids.
        let last = try ledger.lastRunID()
        let lost = try await coordinator.lostNodes()
        guard !lost.isEmpty else { return [] }
        let adopted = try ledger.adoptRuns(of: lost, upTo: last, at: clock.wallMilliseconds())
        for run in adopted {
            logger.warning("run \(run.id) of \(run.job): \(run.error ?? "its node is lost"); resuming it here if its job resumes interrupted runs",
                           metadata: ["event": "run-adopted", "job": "\(run.job)", "run": "\(run.id)"])
            await resume(run)
        }
        return adopted
    }
}
