import ArgumentParser
import FlipSyncCore
import FlipSyncPostgres
import FlipSyncSystemd
import Foundation

struct MigrateStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Copy an SQLite run ledger into PostgreSQL and verify its row counts.",
        discussion: """
            Opens the SQLite ledger read-only (stop flipsyncd first, so nothing is written while \
            it is copied), creates or updates the ledger's tables in the PostgreSQL database, and \
            copies every table in one PostgreSQL transaction (ids kept; identity sequences set past \
            the largest id). A database that already holds ledger rows is refused unless --force, \
            which replaces them. Then counts each table on both sides and prints the counts. The \
            password comes from --password-file, else from the credential postgres-password \
            ($CREDENTIALS_DIRECTORY, else the config's credentials_directory); never from the \
            command line, and it is never printed. Exit status 1 if anything fails or any count \
            differs.
            """
    )

    @Option(name: .long, help: "The config file (default: config/flipsync.toml, else built-in defaults).")
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The SQLite run ledger (default: the config's database).", valueName: "path"))
    var from: String?

    @Option(name: .long, help: ArgumentHelp("The PostgreSQL database (no password in it).", valueName: "postgres://user@host:port/db"))
    var to: String

    @Option(name: .long, help: ArgumentHelp("A file holding the password (default: the credential postgres-password).", valueName: "path"))
    var passwordFile: String?

    @Flag(name: .long, help: "Replace the ledger rows the PostgreSQL database already holds.")
    var force = false

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let endpoint: ClusterEndpoint
        switch ClusterEndpoint.parse(to) {
        case .success(let parsed): endpoint = parsed
        case .failure(let error):
            printError("flipsyncctl: --to \(error.message)")
            throw ExitCode(1)
        }
        let loaded = ConfigLocator.load(explicit: config, environment: .current).config
        let source = from ?? loaded.databasePath
        guard FileSystem.kind(of: source) == .file else {
            printError("flipsyncctl: no SQLite ledger at \(source)")
            throw ExitCode(1)
        }
        let password: String
        do {
            if let passwordFile {
                var text = try String(contentsOfFile: passwordFile, encoding: .utf8)
                if text.hasSuffix("\n") { text.removeLast() }
                password = text
            } else {
                password = try Credentials.read(ClusterEndpoint.passwordCredential, credentialsDirectory: loaded.credentialsDirectory).reveal()
            }
        } catch {
            printError("flipsyncctl: cannot read the PostgreSQL password: \(error)")
            throw ExitCode(1)
        }
        let counts: [LedgerStoreCopy.TableCount]
        do {
            let session = try PostgresSession(endpoint: endpoint, password: password, timeout: 60)
            defer { session.close() }
            counts = try LedgerStoreCopy.copy(fromSQLite: source, to: session, replace: force)
        } catch {
            printError("flipsyncctl: \(error)")
            throw ExitCode(1)
        }
        let mismatched = counts.filter { $0.source != $0.target }
        if json {
            print(try JSONOutput.encode(MigrateStoreReport(
                from: source, to: "\(endpoint)", matched: mismatched.isEmpty,
                tables: counts.map { .init(table: $0.table, sqlite: $0.source, postgresql: $0.target) })))
        } else {
            printTable(counts)
        }
        guard mismatched.isEmpty else {
            printError("flipsyncctl: row counts differ in \(mismatched.map(\.table).joined(separator: ", "))")
            throw ExitCode(1)
        }
        if !json {
            let total = counts.reduce(0) { $0 + $1.source }
            print("copied \(total) rows in \(counts.count) tables from \(source) to \(endpoint); every count matches")
        }
    }

    private func printTable(_ counts: [LedgerStoreCopy.TableCount]) {
        var rows = [["TABLE", "SQLITE", "POSTGRESQL", ""]]
        for count in counts {
            rows.append([count.table, "\(count.source)", "\(count.target)", count.source == count.target ? "ok" : "MISMATCH"])
        }
        print(Table.render(rows), terminator: "")
    }
}

/// `migrate-store --json`: each table's row count on both sides.
private struct MigrateStoreReport: Encodable {
    struct Table: Encodable {
        var table: String
        var sqlite: Int
        var postgresql: Int
    }

    var from: String
    var to: String
    var matched: Bool
    var tables: [Table]
}
