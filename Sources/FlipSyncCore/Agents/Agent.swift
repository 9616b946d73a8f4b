#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// A task's input or result: a `Codable` value of its workflow's own type, as the JSON the run
/// ledger keeps (`tasks.input`, `tasks.result`). Written only by `JSONEncoder` and read only by
/// `JSONDecoder`: no text is split or assembled by hand.
public struct TaskPayload: Sendable, Hashable {
    /// The JSON text (an object, with keys sorted, so the same value is always the same text).
    public let json: String

    /// The JSON of `value`. Encoding a workflow's plain values (strings, integers, booleans,
    /// arrays and objects of them) cannot fail; if one ever did, that is a programming error.
    public init<Value: Encodable>(_ value: Value) {
        do {
            json = String(decoding: try Self.encoder.encode(value), as: UTF8.self)
        } catch {
            preconditionFailure("a task payload of type \(Value.self) cannot be encoded: \(error)")
        }
    }

    /// One encoder and one decoder for every payload: their options never change after this, and
    /// Foundation's coders may encode and decode on several threads at once (each call copies the
    /// options it reads), so no payload pays for a coder of its own.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
    private static let decoder = JSONDecoder()

    /// JSON as the ledger holds it.
    public init(json: String) {
        self.json = json
    }

    /// No input: `{}`.
    public static let none = TaskPayload(json: "{}")

    /// The value this JSON holds; `TaskFailure.permanent` naming `what` and the type when it holds
    /// something else (a retry cannot make a malformed payload readable).
    public func decode<Value: Decodable>(_ type: Value.Type, what: String) throws -> Value {
        do {
            return try Self.decoder.decode(Value.self, from: Data(json.utf8))
        } catch {
            throw TaskFailure.permanent("\(what) is not a \(Value.self): \(error)")
        }
    }
}

/// One unit of a run's work. `key` is its idempotency key: stable for the same work, so a
/// resumed run skips what already succeeded.
public struct PlannedTask: Sendable, Hashable {
    public var key: String
    public var agent: String
    /// What the agent needs: a value of the workflow's own input type (`input(as:)` reads it back).
    public var input: TaskPayload
    /// What the task holds in memory while it runs, in its wave's unit (``PlannedWave/holdLimit``;
    /// the repricing sweep's decide tasks: their listings). Never stored: a task read back from
    /// the ledger holds 1.
    public var holds: Int

    public init(key: String, agent: String) {
        self.key = key
        self.agent = agent
        self.input = .none
        self.holds = 1
    }

    public init<Input: Encodable>(key: String, agent: String, input: Input, holds: Int = 1) {
        self.key = key
        self.agent = agent
        self.input = TaskPayload(input)
        self.holds = Swift.max(1, holds)
    }

    /// The input as the agent's own type; a permanent failure naming the task when it is not one.
    public func input<Input: Decodable>(as type: Input.Type) throws -> Input {
        try input.decode(type, what: "task \(key)'s input")
    }
}

/// What a task produced: a result for the ledger (a `Codable` value of the workflow's own type)
/// and a line for people.
public struct TaskOutput: Sendable, Hashable {
    public var result: TaskPayload
    public var summary: String

    public init<Result: Encodable>(result: Result, summary: String) {
        self.result = TaskPayload(result)
        self.summary = summary
    }

    /// A result already in JSON (the readiness scan's evidence and report, which keep their order).
    public init(result: TaskPayload, summary: String) {
        self.result = result
        self.summary = summary
    }
}

extension TaskInfo {
    /// The recorded result as the workflow's own type; nil when the task has none (it has not
    /// succeeded). A result that is not a `Result` is an error naming the task, never a default.
    public func result<Result: Decodable>(as type: Result.Type) throws -> Result? {
        guard let result else { return nil }
        return try TaskPayload(json: result).decode(type, what: "task \(key)'s result (run \(runID))")
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
    /// The next wave as `followUp` plans it, handed to the coordinator page by page
    /// (`PlannedWave`): a plan with waves of many tasks (the repricing sweep's decide wave)
    /// builds each page when the coordinator asks for it, so the wave is never held whole. The
    /// default: `followUp`'s tasks.
    func followUpWave(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> PlannedWave
    /// Agents whose succeeded tasks `followUp` and `summarize` need only one of (the first
    /// planned): with a ledger that can leave the rest out (`CondensedTaskReading`), the
    /// coordinator hands them the run's tasks without the others, so a wave of 100,000 tasks
    /// is not read back whole. Failed and unfinished tasks of these agents are all kept.
    var condensedAgents: Set<String> { get }
    /// Agents whose tasks may run on any node of a cluster (``TaskDispatch``): each reads what
    /// it needs from its input and the shared ledger, never from the planning process's memory,
    /// and is safe to run again on another node. The default: none.
    var distributedAgents: Set<String> { get }
}

/// One wave of a run, given page by page: `count` tasks in all, `page(offset, limit)` the
/// tasks from `offset` on, at most `limit` (fewer only at the end). Pages are asked for in
/// order, each once.
///
/// `holdLimit` bounds what the wave's tasks in flight hold together (``PlannedTask/holds``): a
/// task starts only while the tasks in flight and it hold at most `holdLimit`, or when nothing
/// else is in flight (a task holding more than the limit runs alone). Tasks still start in the
/// wave's order; the job's `concurrency` bounds their number as before.
public struct PlannedWave: Sendable {
    public var count: Int
    public var page: @Sendable (_ offset: Int, _ limit: Int) async throws -> [PlannedTask]
    public var holdLimit: Int

    public init(count: Int, holdLimit: Int = .max,
                page: @escaping @Sendable (_ offset: Int, _ limit: Int) async throws -> [PlannedTask]) {
        self.count = count
        self.page = page
        self.holdLimit = Swift.max(1, holdLimit)
    }

    /// A wave already planned whole.
    public init(_ tasks: [PlannedTask]) {
        count = tasks.count
        holdLimit = .max
        page = { offset, limit in
            let start = Swift.min(Swift.max(0, offset), tasks.count)
            return Array(tasks[start..<Swift.min(tasks.count, start + Swift.max(0, limit))])
        }
    }

    public static let empty = PlannedWave([])
}

extension WorkflowPlan {
    public func followUp(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> [PlannedTask] { [] }

    public func followUpWave(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> PlannedWave {
        PlannedWave(try await followUp(after: tasks, job: job, runID: runID))
    }

    public var condensedAgents: Set<String> { [] }

    public var distributedAgents: Set<String> { [] }

    public func summarize(_ tasks: [TaskInfo]) -> String {
        let ok = tasks.filter { $0.status == .succeeded }.count
        return "\(ok) of \(tasks.count) task\(tasks.count == 1 ? "" : "s") succeeded"
    }
}
