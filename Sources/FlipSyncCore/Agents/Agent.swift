import Logging

/// One unit of a run's work. `key` is its idempotency key: stable for the same work, so a
/// resumed run skips what already succeeded.
public struct PlannedTask: Sendable, Hashable {
    public var key: String
    public var agent: String
    /// What the agent needs, as text (JSON where structured).
    public var input: String

    public init(key: String, agent: String, input: String = "") {
        self.key = key
        self.agent = agent
        self.input = input
    }
}

/// What a task produced: a JSON result for the ledger and a line for people.
public struct TaskOutput: Sendable, Hashable {
    public var result: String
    public var summary: String

    public init(result: String, summary: String) {
        self.result = result
        self.summary = summary
    }
}

/// What an agent may use while it works.
public struct AgentContext: Sendable {
    public var job: JobDefinition
    public var runID: Int64
    public var clock: any SchedulerClock
    public var logger: Logger
}

/// A role that does one task: fetch, decide, apply, probe. An agent is a small value; the run
/// coordinator gives it tasks, retries its transient failures and records every outcome.
///
/// Contract: `perform` either returns the task's output or throws — a `TaskFailure` to say
/// whether retrying can help, `CancellationError` when cancelled (it must stop promptly, HTTP
/// requests included). It must be safe to call again with the same task (idempotent by key).
public protocol Agent: Sendable {
    var name: String { get }
    func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput
}

/// A job kind's plan: the tasks one run does and the agents that do them.
public protocol WorkflowPlan: Sendable {
    func tasks(for job: JobDefinition, runID: Int64) async throws -> [PlannedTask]
    func agent(named name: String) -> (any Agent)?
    /// Called when every task so far has ended: the next wave of tasks for the same run, or
    /// none to finish. Throwing ends the run `failed` with the error (a circuit breaker that
    /// forbids applying, say). Keys must be unique across waves.
    func followUp(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> [PlannedTask]
    /// Sums up finished tasks for the run's summary.
    func summarize(_ tasks: [TaskInfo]) -> String
}

extension WorkflowPlan {
    public func followUp(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> [PlannedTask] { [] }

    public func summarize(_ tasks: [TaskInfo]) -> String {
        let ok = tasks.filter { $0.status == .succeeded }.count
        return "\(ok) of \(tasks.count) task\(tasks.count == 1 ? "" : "s") succeeded"
    }
}
