/// How a failed task is retried: up to `attempts` tries in all, waiting an exponentially growing,
/// fully jittered delay between them (AWS's "full jitter": uniform in 0…min(cap, base·2ⁿ)),
/// and never less than a server's `Retry-After`.
public struct RetryPolicy: Sendable, Hashable {
    public var attempts: Int
    public var backoff: TimeSpan
    public var maxBackoff: TimeSpan

    public init(attempts: Int, backoff: TimeSpan, maxBackoff: TimeSpan) {
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.maxBackoff = maxBackoff
    }

    public init(_ settings: RetrySettings) {
        self.init(attempts: settings.attempts, backoff: settings.backoff, maxBackoff: settings.maxBackoff)
    }

    /// The wait before try `attempt + 1`, after try `attempt` (1-based) failed.
    public func delay(afterAttempt attempt: Int, retryAfter: TimeSpan?, using random: inout some RandomNumberGenerator) -> TimeSpan {
        let exponent = min(max(attempt - 1, 0), 40)
        let (scaled, overflow) = backoff.milliseconds.multipliedReportingOverflow(by: Int64(1) << exponent)
        let ceiling = overflow ? maxBackoff.milliseconds : min(scaled, maxBackoff.milliseconds)
        let jittered = ceiling > 0 ? Int64.random(in: 0...ceiling, using: &random) : 0
        return TimeSpan(milliseconds: max(jittered, retryAfter?.milliseconds ?? 0))
    }
}

/// Why a task failed, as far as retrying is concerned.
public enum TaskFailure: Error, Sendable, CustomStringConvertible {
    /// Worth another try (a 5xx, a timeout, a 429), after at least `retryAfter` if given.
    case transient(String, retryAfter: TimeSpan?)
    /// Another try would fail the same way (a 4xx, a validation error, a missing capability).
    case permanent(String)
    /// The spend budget does not allow the paid call this task needs.
    case budgetExhausted(String)

    public var description: String {
        switch self {
        case .transient(let message, _), .permanent(let message), .budgetExhausted(let message): return message
        }
    }
}
