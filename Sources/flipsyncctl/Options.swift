import ArgumentParser
import FlipSyncControl
import FlipSyncCore
import FlipSyncPostgres
import FlipSyncRuntime
import FlipSyncStore
import Synchronization

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

/// The run ledger, read-only: `--database`, else the config's `database` (an SQLite file, or a
/// `postgres://` URL whose password is the credential `postgres-password`).
struct LedgerOptions: ParsableArguments {
    @Option(name: .long, help: "The config file (default: config/flipsync.toml, else built-in defaults).")
    var config: String?

    @Option(name: .long, help: "The run ledger: an SQLite file or postgres://USER@HOST:PORT/DB (default: from the config; under systemd /var/lib/flipsync/flipsync.sqlite).")
    var database: String?

    /// The config's currency: the unit of the ledger's spend figures.
    var currency: Currency { ConfigLocator.load(explicit: config, environment: .current).config.currency }

    /// The ledger's file or URL: `--database`, else the config's `database`.
    var path: String { database ?? ConfigLocator.load(explicit: config, environment: .current).config.databasePath }

    /// The PostgreSQL ledger named by `--database` or the config, `nil` for an SQLite file; a bad
    /// URL ends the command.
    func postgresEndpoint() throws -> ClusterEndpoint? {
        guard let database else { return ConfigLocator.load(explicit: config, environment: .current).config.databaseEndpoint }
        guard database.hasPrefix("postgres://") || database.hasPrefix("postgresql://") else { return nil }
        switch ClusterEndpoint.parse(database) {
        case .success(let endpoint): return endpoint
        case .failure(let error):
            printError("flipsyncctl: --database \(error.message)")
            throw ExitCode(1)
        }
    }

    private func openSQLite() throws -> RunStore {
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

    /// The ledger through its protocols, SQLite (read-only) or PostgreSQL.
    func open() throws -> LedgerReader {
        guard let endpoint = try postgresEndpoint() else { return LedgerReader(sqlite: try openSQLite()) }
        let loaded = ConfigLocator.load(explicit: config, environment: .current).config
        do {
            let password = try Runtime.credentials(loaded)(ClusterEndpoint.passwordCredential).reveal()
            // Read-only: nothing migrated, every transaction read-only on the server.
            return LedgerReader(postgres: try PostgresLedger(endpoint: endpoint, password: password, readOnly: true))
        } catch {
            printError("flipsyncctl: \(endpoint): \(error)")
            throw ExitCode(1)
        }
    }
}

/// What the read commands use of a ledger, as protocols: the same on SQLite and PostgreSQL.
struct LedgerReader {
    let runs: any RunLedger
    let repricing: any RepricingLedger
    let shipping: any ShippingLedger
    let spendHistory: any SpendHistoryReading
    let reports: any ReportReading
    /// The quota's current windows under `policy` at `now`; a table that cannot be read throws.
    let quotaUsage: (QuotaPolicy, Int64) throws -> [QuotaUsage]

    init(sqlite store: RunStore) {
        runs = store
        repricing = store
        shipping = store
        spendHistory = SpendHistory(store: store)
        reports = store
        quotaUsage = { policy, now in try QuotaStore.recordedUsage(store: store, policy: policy, now: now) }
    }

    init(postgres ledger: PostgresLedger) {
        runs = ledger
        repricing = PostgresRepricingLedger(ledger: ledger)
        shipping = PostgresShippingLedger(ledger: ledger)
        spendHistory = PostgresSpendHistory(ledger: ledger)
        reports = PostgresReports(ledger: ledger)
        quotaUsage = { policy, now in
            // `usage()` tells a table it cannot read through `onError`: here an error, never "no calls".
            let failure = FailureNote()
            let quota = PostgresQuotaLedger(ledger: ledger, policy: policy, clock: SystemSchedulerClock(),
                                            onError: { message in failure.note.withLock { $0 = message } })
            let usage = quota.usage()
            if let message = failure.note.withLock({ $0 }) { throw LedgerError.storage(message) }
            return usage
        }
    }
}

private final class FailureNote: Sendable {
    let note = Mutex<String?>(nil)
}

/// `3h 12min left`-style spans for tables, from seconds.
func span(_ seconds: Int64) -> String {
    TimeSpan.seconds(abs(seconds)).roundedForHumans
}
