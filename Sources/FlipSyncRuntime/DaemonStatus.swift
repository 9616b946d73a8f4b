import Synchronization

/// What the daemon says about itself beyond the scheduler's own status line: whether `READY=1`
/// has been sent, and why the last reload was refused (until a later one succeeds). Shared by the
/// scheduler service (which sends `READY=1` and `STATUS=`), the reload service (which handles no
/// SIGHUP before `READY=1`, so systemd never sees `RELOADING=1` first) and `flipsyncctl status`.
public final class DaemonStatus: Sendable {
    private struct State {
        var reloadProblem: String?
        var ready = false
        var readyWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Why the last reload was refused; nil once one succeeds.
    public var reloadProblem: String? {
        get { state.withLock { $0.reloadProblem } }
        set { state.withLock { $0.reloadProblem = newValue } }
    }

    /// The scheduler's status line with the reload problem, if any, after it:
    /// `4 jobs, 0 running, next: … in 3h; reload failed: …; kept the previous jobs`.
    public func line(_ schedulerLine: String) -> String {
        reloadProblem.map { "\(schedulerLine); \($0)" } ?? schedulerLine
    }

    /// `READY=1` has been sent.
    public var isReady: Bool { state.withLock { $0.ready } }

    func markReady() {
        let waiters = state.withLock { s in
            s.ready = true
            defer { s.readyWaiters.removeAll() }
            return Array(s.readyWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once `READY=1` has been sent (at once if it has), or once the task is cancelled.
    func untilReady() async {
        let id = state.withLock { s in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s in
                    if s.ready || Task.isCancelled { return true }
                    s.readyWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.readyWaiters.removeValue(forKey: id) }?.resume()
        }
    }
}
