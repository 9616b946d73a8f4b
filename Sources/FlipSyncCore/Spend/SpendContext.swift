/// Who is spending: the job, run and task a call is made for.
///
/// The run coordinator binds `current` around each task's `agent.perform`, so a client deep
/// inside the task (an HTTP call, an LLM call) reports to the `SpendRecorder` without being told
/// which job, run or task it works for. Outside a task (a daemon probe, a command-line check)
/// `current` is `nil` and only the global budgets apply.
public struct SpendContext: Sendable, Hashable {
    public var job: String
    public var runID: Int64
    public var taskKey: String

    public init(job: String, runID: Int64, taskKey: String) {
        self.job = job
        self.runID = runID
        self.taskKey = taskKey
    }

    /// The task being performed on this Swift task, if any.
    @TaskLocal public static var current: SpendContext?
}
