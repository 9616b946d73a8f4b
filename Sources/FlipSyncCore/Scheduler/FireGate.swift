/// One scheduled fire: a job and the time it is due (seconds since the epoch).
public struct FireKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var job: String
    public var scheduledAt: Int64

    public init(job: String, scheduledAt: Int64) {
        self.job = job
        self.scheduledAt = scheduledAt
    }

    public static func < (a: FireKey, b: FireKey) -> Bool {
        (a.scheduledAt, a.job) < (b.scheduledAt, b.job)
    }

    public var description: String { "\(job)@\(scheduledAt)" }
}

/// What lets a scheduler fire when several nodes share one schedule (`[daemon] cluster`): only
/// the node holding the scheduler lease may fire, and each fire is claimed once, cluster-wide,
/// before it is recorded in the node's own ledger. Without a gate (one node, SQLite) the
/// scheduler fires as before.
public protocol FireGate: Sendable {
    /// Claims `fires` for this node. `nil`: this node does not hold the scheduler lease (or its
    /// lease was taken over: a stale token); it fires nothing and asks again later. Otherwise
    /// the fires this node claimed now; the others were claimed before, by some node, and are
    /// not this node's to run or record.
    func claim(_ fires: [FireKey]) async throws -> Set<FireKey>?
    /// The latest fire claimed cluster-wide for each of `jobs` that has one: a node that has
    /// been standing by continues from there, so it neither replays nor loses fires.
    func lastFires(jobs: [String]) async throws -> [String: Int64]
    /// How long (milliseconds) a standby scheduler waits before asking again, unless woken
    /// (`Scheduler.leadershipChanged()`) first.
    var standbyRetryMilliseconds: Int64 { get }
}
