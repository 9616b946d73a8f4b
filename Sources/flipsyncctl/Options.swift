import ArgumentParser
import FlipSyncControl
import FlipSyncCore
import FlipSyncStore

/// Where the running daemon listens: `--socket`, else the config's `control_socket`.
struct DaemonOptions: ParsableArguments {
    @Option(name: .long, help: "The config file (default: config/flipsync.toml, else built-in defaults).")
    var config: String?

    @Option(name: .long, help: "The daemon's control socket (default: from the config; under systemd /run/flipsync/control.sock).")
    var socket: String?

    func client() -> ControlClient {
        ControlClient(path: socket ?? ConfigLocator.load(explicit: config, environment: .current).config.controlSocket)
    }

    /// Sends a request and returns its final response; an unreachable daemon or an `ok: false`
    /// answer is printed and ends the command with status 1.
    func send(_ request: ControlRequest, onProgress: (ControlResponse) -> Void = { _ in }) throws -> ControlResponse {
        var last: ControlResponse?
        do {
            try client().send(request) { response in
                if response.final { last = response } else { onProgress(response) }
            }
        } catch {
            printError("flipsyncctl: \(error)")
            throw ExitCode(1)
        }
        guard let last else {
            printError("flipsyncctl: the daemon closed the connection without an answer")
            throw ExitCode(1)
        }
        guard last.ok else {
            printError("flipsyncctl: \(last.error ?? "the daemon refused the request")")
            throw ExitCode(1)
        }
        return last
    }
}

/// The run ledger, read-only: `--database`, else the config's `database`.
struct LedgerOptions: ParsableArguments {
    @Option(name: .long, help: "The config file (default: config/flipsync.toml, else built-in defaults).")
    var config: String?

    @Option(name: .long, help: "The SQLite run ledger (default: from the config; under systemd /var/lib/flipsync/flipsync.sqlite).")
    var database: String?

    /// The config's currency: the unit of the ledger's spend figures.
    var currency: Currency { ConfigLocator.load(explicit: config, environment: .current).config.currency }

    /// The ledger's file: `--database`, else the config's `database`.
    var path: String { database ?? ConfigLocator.load(explicit: config, environment: .current).config.databasePath }

    func open() throws -> RunStore {
        let path = self.path
        guard FileSystem.kind(of: path) == .file else {
            printError("flipsyncctl: no run ledger at \(path) (nothing has run yet, or pass --database)")
            throw ExitCode(1)
        }
        do {
            return try RunStore(path: path, mode: .readOnly)
        } catch {
            printError("flipsyncctl: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `3h 12min left`-style spans for tables, from seconds.
func span(_ seconds: Int64) -> String {
    TimeSpan.seconds(abs(seconds)).roundedForHumans
}
