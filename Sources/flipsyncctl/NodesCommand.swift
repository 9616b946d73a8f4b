import ArgumentParser
import FlipSyncControl
import FlipSyncCore

struct NodesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List the cluster's nodes: role, heartbeat age, runs in flight, tasks claimed.",
        discussion: """
            Asks the running daemon, which reads them from the cluster's PostgreSQL database \
            ([daemon] cluster). Roles: scheduler (holds the scheduler lease and fires the \
            schedules), standby (heartbeating, ready to take over), stopped (stopped cleanly), \
            lost (no heartbeat for longer than the lease). IN FLIGHT: runs going at the node's last \
            heartbeat; CLAIMED: tasks of the cluster's task queue the node holds claimed now. Exit status 1 if the daemon cannot be \
            reached or is not in a cluster.
            """
    )

    @OptionGroup var daemon: DaemonOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let response = try daemon.send(.nodes)
        let nodes = response.nodes ?? []
        if json {
            print(try JSONOutput.encode(nodes))
            return
        }
        var rows = [["NODE", "HOST", "PID", "ROLE", "HEARTBEAT", "IN FLIGHT", "CLAIMED"]]
        for node in nodes {
            rows.append([node.node, node.host, "\(node.pid)", node.role.rawValue,
                         "\(TimeSpan.seconds(node.heartbeatAgeMilliseconds / 1000).roundedForHumans) ago", "\(node.tasksInFlight)",
                         "\(node.tasksClaimed)"])
        }
        print(Table.render(rows), terminator: "")
    }
}
