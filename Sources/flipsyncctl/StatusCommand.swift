import ArgumentParser
import FlipSyncControl
import FlipSyncCore

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running daemon's status line and its jobs.",
        discussion: """
            The status line is the one systemctl status shows ("4 jobs, 1 running, next: \
            nightly-repricing in 3h12m"), with a note when the last reload was refused. Exit \
            status 1 if the daemon cannot be reached.
            """
    )

    @OptionGroup var daemon: DaemonOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let response = try daemon.send(.status)
        if json {
            print(try JSONOutput.encode(response))
            return
        }
        print("flipsyncd: \(response.status ?? "running")")
        print()
        print(Table.render(jobTable(response.jobs ?? [])), terminator: "")
    }
}

struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause a job: its fires are recorded as skipped until it is resumed.",
        discussion: "The pause survives restarts (it is kept in the run ledger). A running run goes on."
    )

    @OptionGroup var daemon: DaemonOptions

    @Argument(help: "The job's name.")
    var job: String

    func run() throws {
        _ = try daemon.send(.pause(job: job))
        print("paused \(job)")
    }
}

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resume a paused job.",
        discussion: "Fires from now on run again. Fires missed while paused stay skipped."
    )

    @OptionGroup var daemon: DaemonOptions

    @Argument(help: "The job's name.")
    var job: String

    func run() throws {
        _ = try daemon.send(.resume(job: job))
        print("resumed \(job)")
    }
}
