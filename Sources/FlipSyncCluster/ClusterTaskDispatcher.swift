import FlipSyncCore
import Logging
import Synchronization

/// A run's side of the task queue (``TaskDispatch``): each dispatched task is enqueued (one row,
/// its run, its key, the node whose run it is) and waited for; one loop per node asks the
/// database every `pollMilliseconds`, for every task this node's runs wait on at once, which
/// have ended. Ended rows stay an hour (which node ran what), then the workers prune them; the
/// run ledger keeps the tasks' history. A run that stops waiting (cancelled, timed out, its daemon stopping) asks for the
/// task to be stopped where it runs, or never claimed.
///
/// The queue unreachable when a task is handed over: ``TaskDispatchUnavailable`` (the
/// coordinator then runs the task itself). Unreachable while waiting: the loop keeps asking,
/// and the run's own `timeout` bounds the wait.
public final class ClusterTaskDispatcher: TaskDispatch {
    private let queue: ClusterTaskQueue
    private let node: String
    private let clock: any SchedulerClock
    private let logger: Logger
    private let pollMilliseconds: Int64
    private let signals: ClusterTaskSignals

    private struct Waiting {
        var continuation: CheckedContinuation<TaskEnding, any Error>
    }
    private struct State {
        var waiting: [Int64: Waiting] = [:]
        var polling: Task<Void, Never>?
        var unreachableLogged = false
    }
    private let state = Mutex(State())

    /// How long a resumed run waits for its predecessors' tasks still held elsewhere
    /// (``settle(runs:logger:)``): past the workers' 15 s task lease, so a dead holder's lease
    /// has expired by then and a live one has seen the stop at one of its renewals.
    private let settleMilliseconds: Int64

    /// `signals`: shared with this node's worker (``ClusterTaskSignals``).
    public init(queue: ClusterTaskQueue, node: String, clock: any SchedulerClock, logger: Logger, pollMilliseconds: Int64 = 100,
                signals: ClusterTaskSignals = ClusterTaskSignals(), settleMilliseconds: Int64 = 20_000) {
        self.settleMilliseconds = max(0, settleMilliseconds)
        self.signals = signals
        self.queue = queue
        self.node = node
        self.clock = clock
        self.logger = logger
        self.pollMilliseconds = max(10, pollMilliseconds)
    }

    deinit {
        state.withLock { $0.polling?.cancel() }
    }

    public func dispatch(_ task: DispatchedTask) async throws -> DispatchOutcome {
        try Task.checkCancellation()
        let id: Int64
        do {
            id = try await queue.enqueue(run: String(task.runID), key: task.key, payload: task.json, origin: node)
        } catch {
            throw TaskDispatchUnavailable(reason: String(reflecting: error))
        }
        signals.enqueued.signal()
        let ending: TaskEnding
        do {
            ending = try await wait(for: id)
        } catch {
            let queue = self.queue, logger = self.logger
            // Not awaited: the run ends now; the holder sees the request at its next renewal.
            Task {
                do { try await queue.requestCancel(id) } catch {
                    logger.warning("cannot ask for task \(id) to stop: \(String(reflecting: error))")
                }
            }
            throw error
        }
        switch ending.outcome {
        case "finished"?: return .finished
        case "budget_exhausted"?: return .budgetExhausted(ending.message ?? "budget exhausted")
        default:
            return .abandoned(ending.message ?? (ending.failed ? "its queued task failed" : "its queued task ended \(ending.outcome ?? "")"))
        }
    }

    public func settle(runs: [Int64], logger: Logger) async {
        let ids = runs.map(String.init)
        do {
            let open = try await queue.cancelRuns(ids)
            guard open > 0 else { return }
            logger.notice("resuming: \(open) tasks of the earlier runs \(ids.joined(separator: ", ")) were still queued or running; stopping them first",
                          metadata: ["event": "resume-settling"])
            let deadline = clock.monotonicMilliseconds() + settleMilliseconds
            while true {
                let held = try await queue.held(runs: ids)
                if held == 0 { return }
                if clock.monotonicMilliseconds() >= deadline {
                    logger.warning("resuming: \(held) tasks of the earlier runs \(ids.joined(separator: ", ")) still held elsewhere after \(settleMilliseconds) ms; the resume goes on and may run them again",
                                   metadata: ["event": "resume-unsettled"])
                    return
                }
                try await clock.sleep(milliseconds: pollMilliseconds)
            }
        } catch is CancellationError {
            return
        } catch {
            logger.warning("resuming: cannot stop the earlier runs' queued tasks (\(String(reflecting: error))); the resume goes on",
                           metadata: ["event": "resume-unsettled"])
        }
    }

    private func wait(for id: Int64) async throws -> TaskEnding {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<TaskEnding, any Error>) in
                let cancelled = state.withLock { s -> Bool in
                    if Task.isCancelled { return true }
                    s.waiting[id] = Waiting(continuation: continuation)
                    if s.polling == nil { s.polling = Task { [weak self] in await self?.poll() } }
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiting.removeValue(forKey: id) }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Asks for the endings of every task waited on, until none is; then stops (the next
    /// dispatch starts it again).
    private func poll() async {
        while !Task.isCancelled {
            let ids: [Int64]? = state.withLock { s in
                if s.waiting.isEmpty {
                    s.polling = nil
                    return nil
                }
                return Array(s.waiting.keys)
            }
            guard let ids else { return }
            do {
                let endings = try await queue.endings(ids)
                let ended = state.withLock { s -> [(CheckedContinuation<TaskEnding, any Error>, TaskEnding)] in
                    s.unreachableLogged = false
                    return endings.compactMap { id, ending in s.waiting.removeValue(forKey: id).map { ($0.continuation, ending) } }
                }
                for (continuation, ending) in ended { continuation.resume(returning: ending) }
            } catch {
                let first = state.withLock { s -> Bool in
                    defer { s.unreachableLogged = true }
                    return !s.unreachableLogged
                }
                if first {
                    logger.error("cannot read the queued tasks' endings; asking again: \(String(reflecting: error))",
                                 metadata: ["event": "cluster-unreachable"])
                }
            }
            await signals.ended.wait(milliseconds: pollMilliseconds, clock: clock)
        }
        // Cancelled (the dispatcher is going away): nobody will answer the waiters.
        let left = state.withLock { s -> [Waiting] in
            defer { s.waiting = [:]; s.polling = nil }
            return Array(s.waiting.values)
        }
        for waiter in left { waiter.continuation.resume(throwing: CancellationError()) }
    }
}

/// What one node's dispatcher and worker tell each other in-process, so neither waits for its
/// poll when the other just did something: a task enqueued here wakes this node's worker to
/// claim; a task ended here wakes this node's dispatcher to read the ending. (Other nodes see it
/// at their next poll.)
public final class ClusterTaskSignals: Sendable {
    /// Signalled when a task was enqueued.
    public let enqueued = Wakeup()
    /// Signalled when a task ended.
    public let ended = Wakeup()

    public init() {}
}

/// A wait that ends at a deadline or as soon as it is signalled. A signal with no one waiting
/// is kept for the next wait (one, not counted).
public final class Wakeup: Sendable {
    private let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init() {}

    public func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let waiter = s.waiter else {
                s.pending = true
                return nil
            }
            s.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Whether a signal is kept for the next wait; clears it (for tests).
    func takePendingSignal() -> Bool {
        state.withLock { s -> Bool in defer { s.pending = false }; return s.pending }
    }

    /// Waits up to `milliseconds` on `clock`, less if signalled (or cancelled).
    public func wait(milliseconds: Int64, clock: any SchedulerClock) async {
        if state.withLock({ s -> Bool in defer { s.pending = false }; return s.pending }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(milliseconds: milliseconds) }
            group.addTask { await self.signalled() }
            await group.next()
            group.cancelAll()
        }
    }

    private func signalled() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.pending || Task.isCancelled {
                        s.pending = false
                        return true
                    }
                    s.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }
    }
}
