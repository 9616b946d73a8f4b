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
    /// Tasks of the cluster's task queue (`flipsync_cluster_tasks`) this node holds claimed and
    /// has not finished, now (`ClusterTaskQueue.claimedByNode()`).
    public var tasksClaimed: Int64

    public init(node: String, host: String, pid: Int64, startedAt: Int64, heartbeatAgeMilliseconds: Int64, role: Role,
                tasksInFlight: Int64, tasksClaimed: Int64 = 0) {
        self.node = node
        self.host = host
        self.pid = pid
        self.startedAt = startedAt
        self.heartbeatAgeMilliseconds = heartbeatAgeMilliseconds
        self.role = role
        self.tasksInFlight = tasksInFlight
        self.tasksClaimed = tasksClaimed
    }

    private enum CodingKeys: String, CodingKey {
        case node, host, pid, startedAt, heartbeatAgeMilliseconds, role, tasksInFlight, tasksClaimed
    }

    /// A daemon from before `tasksClaimed` sends none: 0.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(node: try c.decode(String.self, forKey: .node), host: try c.decode(String.self, forKey: .host),
                  pid: try c.decode(Int64.self, forKey: .pid), startedAt: try c.decode(Int64.self, forKey: .startedAt),
                  heartbeatAgeMilliseconds: try c.decode(Int64.self, forKey: .heartbeatAgeMilliseconds),
                  role: try c.decode(Role.self, forKey: .role), tasksInFlight: try c.decode(Int64.self, forKey: .tasksInFlight),
                  tasksClaimed: try c.decodeIfPresent(Int64.self, forKey: .tasksClaimed) ?? 0)
    }
}
