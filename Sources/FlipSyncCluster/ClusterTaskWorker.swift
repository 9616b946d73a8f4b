import FlipSyncCore
import Logging
import ServiceLifecycle
import Synchronization

/// Every node's claiming side of the task queue, as a `Service`: while the node has room in its
/// pool it claims pending tasks (``ClusterTaskQueue/claim(node:limit:leaseMilliseconds:)``, `FOR
/// UPDATE SKIP LOCKED`), runs each through `perform` (the run coordinator's
/// ``RunCoordinator/performDispatched(_:job:)``), and writes how it ended. Its leases are renewed
/// every `renewMilliseconds`; the renewal also brings the runs' requests to stop a task.
///
/// - Starting, it first gives back the tasks its node name still holds: a dead predecessor's
///   (the node name check allows one live process per name), claimable again at once.
/// - A node that cannot renew its leases for `fenceMilliseconds` (less than the lease) stops
///   its tasks and claims nothing until a renewal gets through, so no other node that claims
///   them after the lease has expired runs them alongside it.
/// - Draining (``beginDrain()``, when `systemctl stop` begins): it claims only its own runs'
///   tasks (so they can finish), and leaves the others' to the other nodes.
/// - Stopping (graceful shutdown, after the scheduler has drained): it claims nothing, waits up
///   to `handBackMilliseconds` for the tasks it runs, then stops the rest and gives them back
///   to the queue at once for another node.
public final class ClusterTaskWorker: Service, Sendable, CustomStringConvertible {
    public struct Timing: Sendable {
        public var pollMilliseconds: Int64 = 500
        public var leaseMilliseconds: Int64 = 15_000
        public var renewMilliseconds: Int64 = 3_000
        public var fenceMilliseconds: Int64 = 10_000
        public var handBackMilliseconds: Int64 = 10_000
        public var pruneEveryMilliseconds: Int64 = 60_000
        /// Ended tasks nobody read (their run's node died) are deleted after this.
        public var keepEndedMilliseconds: Int64 = 3_600_000

        public init() {}
    }

    private let queue: ClusterTaskQueue
    private let node: String
    private let pool: PermitPool
    private let perform: @Sendable (DispatchedTask) async throws -> DispatchOutcome
    private let clock: any SchedulerClock
    private let logger: Logger
    private let signals: ClusterTaskSignals
    public let timing: Timing

    private struct Running {
        var task: ClaimedTask
        var handle: Task<DispatchOutcome, any Error>?
        var cancelRequested = false
        var handBack = false
    }
    private struct State {
        var running: [Int64: Running] = [:]
        var draining = false
        var stopping = false
        var fenced = false
        /// The last claim took as many tasks as there was room for: more may be pending, so a
        /// task ending here (room again) wakes the loop for another claim at once.
        var saturated = false
        var lastRenewal: Int64
        var claimed = 0
        var finished = 0
    }
    private let state: Mutex<State>

    /// `pool` is the node's pool (`pool_size`): the worker claims while it has free permits, and
    /// never holds more tasks than it has permits; `signals` is shared with this node's
    /// dispatcher (``ClusterTaskSignals``).
    public init(queue: ClusterTaskQueue, node: String, pool: PermitPool,
                perform: @escaping @Sendable (DispatchedTask) async throws -> DispatchOutcome,
                clock: any SchedulerClock, logger: Logger, timing: Timing = .init(),
                signals: ClusterTaskSignals = ClusterTaskSignals()) {
        self.signals = signals
        self.queue = queue
        self.node = node
        self.pool = pool
        self.perform = perform
        self.clock = clock
        self.logger = logger
        self.timing = timing
        state = Mutex(State(lastRenewal: clock.monotonicMilliseconds()))
    }

    public var description: String { "task-worker" }

    /// Tasks this worker runs now.
    public var running: Int { state.withLock { $0.running.count } }
    /// Tasks claimed and ended since it started (for tests and the journal).
    public var counts: (claimed: Int, finished: Int) { state.withLock { ($0.claimed, $0.finished) } }

    /// From now on, claims only tasks of this node's own runs.
    public func beginDrain() {
        let first = state.withLock { s -> Bool in
            defer { s.draining = true }
            return !s.draining
        }
        if first {
            logger.notice("draining: claiming only this node's own runs' tasks", metadata: ["event": "tasks-draining"])
        }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                var nextRenewal: Int64 = 0, nextPrune: Int64 = 0
                var recovered = false
                while !state.withLock({ $0.stopping }) {
                    if !recovered {
                        // Before any renewal, which would keep a dead predecessor's leases alive.
                        do {
                            let freed = try await queue.releaseHeld(node: node)
                            if freed > 0 {
                                logger.notice("released \(freed) tasks this node's previous process held", metadata: ["event": "tasks-released"])
                            }
                            recovered = true
                        } catch {
                            logger.warning("cannot release this node's previous tasks; retrying: \(String(reflecting: error))",
                                           metadata: ["event": "cluster-unreachable"])
                            do { try await clock.sleep(milliseconds: timing.pollMilliseconds) } catch { break }
                            continue
                        }
                    }
                    let now = clock.monotonicMilliseconds()
                    if now >= nextRenewal {
                        await renew()
                        nextRenewal = now + timing.renewMilliseconds
                    }
                    if now >= nextPrune {
                        do { try await queue.prune(olderThanMilliseconds: timing.keepEndedMilliseconds) } catch {}
                        nextPrune = now + timing.pruneEveryMilliseconds
                    }
                    let (free, draining, fenced) = state.withLock { s in
                        // Free permits now (the node's own runs use the pool too), and never more
                        // tasks held than permits: a task claimed has not always taken its permit yet.
                        (max(0, min(pool.capacity - pool.inUse - pool.waiting, pool.capacity - s.running.count)), s.draining, s.fenced)
                    }
                    var full = false
                    if free > 0 && !fenced {
                        do {
                            let claimed = try await queue.claim(node: node, limit: free, leaseMilliseconds: timing.leaseMilliseconds,
                                                                onlyFrom: draining ? node : nil)
                            full = claimed.count == free
                            state.withLock { s in
                                s.claimed += claimed.count
                                s.saturated = full
                                for task in claimed { s.running[task.id] = Running(task: task) }
                            }
                            for task in claimed { group.addTask { await self.execute(task) } }
                        } catch {
                            logger.warning("cannot claim tasks: \(String(reflecting: error))", metadata: ["event": "cluster-unreachable"])
                        }
                    }
                    if !full {
                        // Woken early by a task enqueued or ended on this node (room again), or by
                        // the listener for any node's; never past the next renewal.
                        let untilRenewal = max(1, nextRenewal - clock.monotonicMilliseconds())
                        await signals.enqueued.wait(milliseconds: min(timing.pollMilliseconds, untilRenewal), clock: clock)
                        if Task.isCancelled { break }
                    }
                }
                await handBack()
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
        }
    }

    /// Renews the leases; stops the tasks whose run asked, and all of them when the renewals
    /// have failed for `fenceMilliseconds`.
    private func renew() async {
        do {
            let (_, cancel) = try await queue.renew(node: node, leaseMilliseconds: timing.leaseMilliseconds)
            let now = clock.monotonicMilliseconds()
            let toCancel = state.withLock { s -> [Task<DispatchOutcome, any Error>] in
                s.lastRenewal = now
                s.fenced = false
                var handles: [Task<DispatchOutcome, any Error>] = []
                for id in cancel {
                    guard var entry = s.running[id], !entry.cancelRequested else { continue }
                    entry.cancelRequested = true
                    s.running[id] = entry
                    if let handle = entry.handle { handles.append(handle) }
                }
                return handles
            }
            for handle in toCancel { handle.cancel() }
        } catch {
            let now = clock.monotonicMilliseconds()
            let toCancel = state.withLock { s -> [Task<DispatchOutcome, any Error>] in
                guard now - s.lastRenewal >= timing.fenceMilliseconds, !s.fenced else { return [] }
                s.fenced = true
                return s.running.values.compactMap(\.handle)
            }
            let stopping = toCancel.isEmpty ? "" : "; stopping \(toCancel.count) tasks before their leases expire"
            logger.error("cannot renew the task leases: \(String(reflecting: error))\(stopping)",
                         metadata: ["event": "cluster-unreachable"])
            for handle in toCancel { handle.cancel() }
        }
    }

    /// Stopping: waits up to `handBackMilliseconds` for the running tasks, then stops the rest
    /// and gives them back.
    private func handBack() async {
        let deadline = clock.monotonicMilliseconds() + timing.handBackMilliseconds
        while state.withLock({ !$0.running.isEmpty }) && clock.monotonicMilliseconds() < deadline {
            // Leases stay renewed while the tasks finish.
            if (try? await clock.sleep(milliseconds: min(250, timing.renewMilliseconds))) == nil { break }
            if state.withLock({ clock.monotonicMilliseconds() - $0.lastRenewal >= timing.renewMilliseconds }) { await renew() }
        }
        let left = state.withLock { s -> [Task<DispatchOutcome, any Error>] in
            for id in s.running.keys { s.running[id]?.handBack = true }
            return s.running.values.compactMap(\.handle)
        }
        if !left.isEmpty {
            logger.notice("stopping: handing \(left.count) unfinished tasks back to the queue", metadata: ["event": "tasks-released"])
        }
        for handle in left { handle.cancel() }
    }

    private func execute(_ claimed: ClaimedTask) async {
        let dispatched: DispatchedTask
        do {
            dispatched = try DispatchedTask.decode(claimed.payload)
        } catch {
            _ = try? await queue.fail(claimed, node: node, error: "\(error)", retry: false)
            _ = state.withLock { $0.running.removeValue(forKey: claimed.id) }
            return
        }
        let perform = self.perform
        let handle = Task { try await perform(dispatched) }
        let early = state.withLock { s -> Bool in
            s.running[claimed.id]?.handle = handle
            return s.stopping && s.running[claimed.id]?.handBack == true || s.fenced
        }
        if early { handle.cancel() }
        let result = await withTaskCancellationHandler { await handle.result } onCancel: { handle.cancel() }
        let (entry, saturated) = state.withLock { s -> (Running?, Bool) in
            s.finished += 1
            return (s.running.removeValue(forKey: claimed.id), s.saturated)
        }
        defer {
            signals.ended.signal()
            // Room for another claim; only worth a query when the last claim left tasks behind.
            if saturated { signals.enqueued.signal() }
        }
        do {
            switch result {
            case .success(let outcome):
                let (name, message): (String, String?)
                switch outcome {
                case .finished: (name, message) = ("finished", nil)
                case .budgetExhausted(let why): (name, message) = ("budget_exhausted", why)
                case .abandoned(let why): (name, message) = ("abandoned", why)
                }
                _ = try await queue.finish(claimed, node: node, outcome: name, message: message)
            case .failure(let error):
                if entry?.cancelRequested == true {
                    _ = try await queue.finish(claimed, node: node, outcome: "cancelled", message: "stopped at its run's request")
                } else if entry?.handBack == true || error is CancellationError {
                    // Stopping, or fenced: another node runs it (at once, or once its lease expires).
                    _ = try await queue.release(claimed, node: node)
                } else {
                    // The ledger failed under it: once more elsewhere, twice at most.
                    logger.error("task \(claimed.key) of run \(claimed.run) failed here: \(String(reflecting: error))")
                    _ = try await queue.fail(claimed, node: node, error: "\(error)", retry: claimed.attempts < 3)
                }
            }
        } catch {
            // Its lease expires and another node claims it again (the task is idempotent by key).
            logger.warning("cannot record how task \(claimed.key) of run \(claimed.run) ended: \(String(reflecting: error))",
                           metadata: ["event": "cluster-unreachable"])
        }
    }
}
