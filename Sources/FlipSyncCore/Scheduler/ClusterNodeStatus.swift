/// One flipsyncd node of a cluster (`[daemon] cluster`), as `flipsyncctl nodes` shows it.
public struct ClusterNodeStatus: Sendable, Hashable, Codable {
    public enum Role: String, Sendable, Hashable, Codable {
        /// Holds the scheduler lease: the one node that fires schedules.
        case scheduler
        /// Heartbeating, without the lease: stands by to take over.
        case standby
        /// Stopped cleanly (`systemctl stop`): it released its lease and said so.
        case stopped
        /// No heartbeat for longer than the lease: dead, cut off or paused.
        case lost
    }

    public var node: String
    public var host: String
    public var pid: Int64
    /// Milliseconds since the epoch, on the database's clock.
    public var startedAt: Int64
    public var heartbeatAgeMilliseconds: Int64
    public var role: Role
    /// Runs this node had going at its last heartbeat.
    public var tasksInFlight: Int64

    public init(node: String, host: String, pid: Int64, startedAt: Int64, heartbeatAgeMilliseconds: Int64, role: Role,
                tasksInFlight: Int64) {
        self.node = node
        self.host = host
        self.pid = pid
        self.startedAt = startedAt
        self.heartbeatAgeMilliseconds = heartbeatAgeMilliseconds
        self.role = role
        self.tasksInFlight = tasksInFlight
    }
}
