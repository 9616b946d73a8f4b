import Synchronization

/// A token bucket: `rate` tokens per `per`, holding at most `burst`. One bucket per API host and
/// credential; every request takes a token first, waiting on the scheduler's clock when empty.
public final class TokenBucket: Sendable {
    private struct State {
        var tokens: Double
        var last: Int64
    }

    private let state: Mutex<State>
    private let clock: any SchedulerClock
    public let ratePerSecond: Double
    public let burst: Double

    public init(requests: Int, per: TimeSpan, burst: Int, clock: any SchedulerClock) {
        self.clock = clock
        ratePerSecond = Double(requests) / (Double(max(per.milliseconds, 1)) / 1000)
        self.burst = Double(max(burst, 1))
        state = Mutex(State(tokens: Double(max(burst, 1)), last: clock.monotonicMilliseconds()))
    }

    /// Takes a token, or says how long to wait for one.
    public func tryAcquire() -> TimeSpan? {
        let now = clock.monotonicMilliseconds()
        return state.withLock { s in
            s.tokens = min(burst, s.tokens + Double(now - s.last) / 1000 * ratePerSecond)
            s.last = now
            if s.tokens >= 1 {
                s.tokens -= 1
                return nil
            }
            let wait = (1 - s.tokens) / ratePerSecond * 1000
            return TimeSpan(milliseconds: Int64(wait.rounded(.up)))
        }
    }

    /// Waits until a token is available and takes it.
    public func acquire() async throws {
        while let wait = tryAcquire() {
            try await clock.sleep(milliseconds: wait.milliseconds)
        }
    }

    /// A server said how many requests it allows (`x-amzn-RateLimit-Limit`): slow down to it.
    public func drain() {
        state.withLock { $0.tokens = 0 }
    }
}

/// Buckets by key (host and credential), created on first use.
public final class RateLimiters: Sendable {
    private let buckets = Mutex<[String: TokenBucket]>([:])
    private let clock: any SchedulerClock
    /// The cluster's shared rates (`[daemon] cluster`), consulted by the request pipeline after
    /// these local buckets; nil on a single node.
    public let shared: (any SharedRateGate)?

    public init(clock: any SchedulerClock, shared: (any SharedRateGate)? = nil) {
        self.clock = clock
        self.shared = shared
    }

    public func bucket(_ key: String, requests: Int, per: TimeSpan, burst: Int) -> TokenBucket {
        buckets.withLock { b in
            if let existing = b[key] { return existing }
            let bucket = TokenBucket(requests: requests, per: per, burst: burst, clock: clock)
            b[key] = bucket
            return bucket
        }
    }
}
