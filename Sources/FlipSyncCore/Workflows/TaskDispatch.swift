import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One task handed to another process to run: everything a node that claims it needs to run it
/// as the run's own coordinator would (the job by name, from that node's own job files).
/// Stored as JSON in the cluster's task queue (`payload`).
public struct DispatchedTask: Sendable, Hashable, Codable {
    public var job: String
    public var runID: Int64
    public var key: String
    public var agent: String
    /// The task's input, as the JSON the run ledger keeps (`TaskPayload.json`).
    public var input: String

    public init(job: String, runID: Int64, task: PlannedTask) {
        (self.job, self.runID, key, agent, input) = (job, runID, task.key, task.agent, task.input.json)
    }

    public var planned: PlannedTask {
        var task = PlannedTask(key: key, agent: agent)
        task.input = TaskPayload(json: input)
        return task
    }

    /// The JSON the queue stores.
    public var json: String { TaskPayload(self).json }

    /// The task a queue row holds; a permanent failure when it holds something else.
    public static func decode(_ json: String) throws -> DispatchedTask {
        try TaskPayload(json: json).decode(DispatchedTask.self, what: "a queued task")
    }
}

/// How a dispatched task ended where it ran. Its states and result are in the run ledger
/// (shared by the nodes), written by the node that ran it; this says only what the run's
/// coordinator must act on.
public enum DispatchOutcome: Sendable, Hashable {
    /// Its attempts are over, succeeded or failed, as the ledger's row says.
    case finished
    /// A paid call went over the job's budget: the run ends `budget_exhausted` with this.
    case budgetExhausted(String)
    /// Not run: its run had already ended when a node claimed it (or its job is unknown there,
    /// which the node recorded as the task's failure).
    case abandoned(String)
}

/// Where a run's coordinator sends the tasks of its plan's `distributedAgents` instead of
/// running them itself: a cluster's task queue, from which any node with room claims them.
/// The coordinator still bounds them by the job's `concurrency` (a dispatched task counts as
/// in flight until it has ended), and it writes their `pending` rows first, as for its own.
public protocol TaskDispatch: Sendable {
    /// Hands the task over and waits until it has ended on whichever node ran it. Cancelled
    /// (the run timed out, was cancelled or its daemon is stopping), it asks that node to stop
    /// the task and throws `CancellationError` without waiting for it.
    func dispatch(_ task: DispatchedTask) async throws -> DispatchOutcome

    /// Before a resumed run plans: `runs` (the earlier runs of its chain of resumes) no longer
    /// wait for their dispatched tasks. Their unclaimed tasks are never claimed again, a node
    /// running one is asked to stop it, and this returns once none is held any more, or after
    /// the dispatcher's bound (what is still held then is journaled, and may run again). So
    /// the resume reads what its predecessors finished after they have finished, and never
    /// runs a task that another node is still running for a predecessor.
    func settle(runs: [Int64], logger: Logger) async
}

extension TaskDispatch {
    public func settle(runs: [Int64], logger: Logger) async {}
}

/// The queue could not take the task (its database unreachable): the coordinator runs it itself.
public struct TaskDispatchUnavailable: Error, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "the task queue is unavailable: \(reason)" }
}

extension RunCoordinator {
    /// Runs a task another node's coordinator dispatched (``TaskDispatch``), here, as that
    /// coordinator would have: its agent from the job's plan, its retries, each state written to
    /// the shared run ledger, its spend recorded against its run. `job` is this node's
    /// definition of the job (nil: this node has no such job, recorded as the task's failure).
    /// A task whose run is no longer `running` is not run (`abandoned`). Throws only
    /// `CancellationError` (or the ledger's error), to hand the task back.
    public func performDispatched(_ dispatched: DispatchedTask, job: JobDefinition?) async throws -> DispatchOutcome {
        guard let run = try ledger.run(id: dispatched.runID), run.status == .running else {
            return .abandoned("run \(dispatched.runID) is no longer running")
        }
        guard let job, job.name == dispatched.job else {
            let why = "this node has no job \"\(dispatched.job)\" (every node needs the same job files)"
            var info = TaskInfo(runID: dispatched.runID, key: dispatched.key, agent: dispatched.agent, status: .failed,
                                finishedAt: clock.wallMilliseconds(), error: why, input: dispatched.input)
            info.attempts = 1
            try await ledger.commitTask(info)
            return .abandoned(why)
        }
        var logger = self.logger
        logger[metadataKey: "job"] = "\(job.name)"
        logger[metadataKey: "run"] = "\(dispatched.runID)"
        let context = AgentContext(job: job, runID: dispatched.runID, clock: clock, logger: logger)
        do {
            try await performHere(dispatched.planned, workflow: plan(job), policy: RetryPolicy(job.retry), context: context)
            return .finished
        } catch Ending.budget(let message) {
            return .budgetExhausted(message)
        }
    }
}
