import Synchronization

/// What every quota ledger holds besides its storage: the clock, the policy (replaced on a
/// reload, read once per call) and where storage errors are told.
public final class QuotaLedgerState: Sendable {
    public let clock: any SchedulerClock
    /// Told of storage errors (which let the call through).
    public let onError: @Sendable (String) -> Void
    private let policyBox: Mutex<QuotaPolicy>

    public init(policy: QuotaPolicy, clock: any SchedulerClock, onError: @escaping @Sendable (String) -> Void) {
        self.clock = clock
        self.onError = onError
        policyBox = Mutex(policy)
    }

    public var policy: QuotaPolicy { policyBox.withLock { $0 } }

    public func setPolicy(_ policy: QuotaPolicy) { policyBox.withLock { $0 = policy } }

    /// The policy, the wall time and `key`'s current window, read once for one call.
    public func moment(_ key: QuotaKey) -> QuotaMoment {
        let policy = self.policy
        let now = clock.wallMilliseconds()
        return QuotaMoment(policy: policy, now: now, window: policy.window(key, at: now))
    }
}

/// One call's view of the quota: the policy in force, now (wall milliseconds) and the key's window.
public struct QuotaMoment: Sendable {
    public var policy: QuotaPolicy
    public var now: Int64
    public var window: Range<Int64>
}

/// A quota ledger whose clock, policy and error report are a `QuotaLedgerState`.
public protocol QuotaLedgerWithState: QuotaLedger, QuotaAllowance {
    var state: QuotaLedgerState { get }
}

extension QuotaLedgerWithState {
    public var policy: QuotaPolicy { state.policy }

    /// A reload's new limits and reserves, from the next call on.
    public func setPolicy(_ policy: QuotaPolicy) { state.setPolicy(policy) }

    /// What `job` may still use of each limited API now, under the current policy.
    public func remaining(for job: String?) -> [QuotaKey: Int64] { remaining(for: job, policy: policy) }
}
