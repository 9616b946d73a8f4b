import Synchronization

/// A fixed number of permits shared by every run: the daemon-wide bound on tasks in flight
/// (`pool_size`). Waiters are served in arrival order; a cancelled waiter leaves the queue.
public final class PermitPool: Sendable {
    private struct State {
        var available: Int
        var nextID = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    }

    private let state: Mutex<State>
    public let capacity: Int

    public init(permits: Int) {
        precondition(permits > 0, "a pool needs at least one permit")
        capacity = permits
        state = Mutex(State(available: permits))
    }

    public var inUse: Int { state.withLock { capacity - $0.available } }
    /// Tasks waiting for a permit.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    public func acquire() async throws {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { s in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if s.available > 0 && s.waiters.isEmpty {
                        s.available -= 1
                        return .success(())
                    }
                    s.waiters.append((id, continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    public func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if s.waiters.isEmpty {
                s.available += 1
                return nil
            }
            return s.waiters.removeFirst().continuation  // the permit passes straight on
        }
        next?.resume()
    }

    /// Runs `body` holding one permit.
    public func withPermit<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }
}
