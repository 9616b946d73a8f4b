import FlipSyncCore
import Foundation
import FlipSyncStore
import GRDB
import PostgresNIO

/// Copies an SQLite run ledger into PostgreSQL (`flipsyncctl migrate-store`): opens the SQLite
/// file read-only, migrates the PostgreSQL schema, refuses a target that already holds rows unless
/// told to replace them, copies every ledger table in one PostgreSQL transaction (multi-row
/// inserts, identity sequences set past the largest id), then counts each table on both sides.
public enum LedgerStoreCopy {
    public struct TableCount: Sendable, Hashable {
        public var table: String
        public var source: Int
        public var target: Int
    }

    public enum Failure: Error, CustomStringConvertible {
        case targetNotEmpty([String])
        case sourceIncomplete(String)

        public var description: String {
            switch self {
            case .targetNotEmpty(let tables):
                return "the PostgreSQL ledger already holds rows (in \(tables.joined(separator: ", "))): pass --force to replace them"
            case .sourceIncomplete(let what):
                return "the SQLite ledger \(what): start this FlipSync's flipsyncd on it once (it migrates the file), then copy"
            }
        }
    }

    /// Copies `path` into the database behind `session`; returns each table's row counts (SQLite,
    /// then PostgreSQL after the commit). `replace`: empty a target that holds rows first (in the
    /// same transaction). Throws before writing anything if the target holds rows and `replace` is
    /// false, or if the SQLite ledger lacks a table or column.
    public static func copy(fromSQLite path: String, to session: PostgresSession, replace: Bool,
                            rowsPerStatement: Int = 500) throws -> [TableCount] {
        let source = try RunStore(path: path, mode: .readOnly)
        try PostgresLedger.migrate(session)
        let tables = PostgresLedgerSchema.tables
        var occupied: [String] = []
        for table in tables {
            if !(try session.query("SELECT 1 FROM \(table) LIMIT 1")).isEmpty { occupied.append(table) }
        }
        if !occupied.isEmpty && !replace { throw Failure.targetNotEmpty(occupied) }

        let sourceCounts = try source.readSnapshot { db -> [String: Int] in
            var counts: [String: Int] = [:]
            try session.transaction { () throws(LedgerError) in
                do {
                    if !occupied.isEmpty {
                        try session.query("TRUNCATE \(tables.joined(separator: ", ")) RESTART IDENTITY")
                    }
                    for table in tables {
                        counts[table] = try copyTable(table, db, session, rowsPerStatement: rowsPerStatement)
                    }
                } catch let error as LedgerError {
                    throw error
                } catch {
                    throw .storage("\(error)")
                }
            }
            return counts
        }
        return try tables.map { table in
            let rows = try session.rows("SELECT count(*) AS n FROM \(table)")
            return TableCount(table: table, source: sourceCounts[table] ?? 0, target: Int(try rows[0].get("n", as: Int64.self)))
        }
    }

    /// Copies one table; returns SQLite's row count for it (from the same snapshot).
    static func copyTable(_ table: String, _ db: Database, _ session: PostgresSession, rowsPerStatement: Int) throws -> Int {
        guard try db.tableExists(table) else { throw Failure.sourceIncomplete("has no table \(table)") }
        let sqliteColumns = try db.columns(in: table).map(\.name)
        let postgresColumns = try session.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            [.text(table)]).map { try PostgresColumns($0).get("column_name", as: String.self) }
        let postgresOnly = PostgresLedgerSchema.postgresOnlyColumns[table] ?? []
        let missing = postgresColumns.filter { !postgresOnly.contains($0) && !sqliteColumns.contains($0) }
        guard missing.isEmpty else { throw Failure.sourceIncomplete("has no column \(missing.joined(separator: ", ")) in \(table)") }
        // `tasks.seq` is SQLite's rowid (the order tasks were planned in).
        let copiesRowID = postgresOnly.contains("seq")
        let columns = postgresColumns.filter { !postgresOnly.contains($0) }
        let selected = (copiesRowID ? ["rowid AS seq"] : []) + columns.map { "\"\($0)\"" }
        let inserted = (copiesRowID ? ["seq"] : []) + columns
        let hasRowID = (try? db.execute(sql: "SELECT rowid FROM \(table) LIMIT 0")) != nil
        let order = hasRowID ? " ORDER BY rowid" : ""

        var pending: [[LedgerValue]] = []
        func flush() throws {
            try session.query(PostgresSession.inserts(
                into: table, columns: inserted.map { "\"\($0)\"" }, rows: pending, rowsPerStatement: rowsPerStatement,
                overridingSystemValue: PostgresLedgerSchema.identityTables[table] != nil))
            pending.removeAll(keepingCapacity: true)
        }
        let cursor = try Row.fetchCursor(db, sql: "SELECT \(selected.joined(separator: ", ")) FROM \(table)\(order)")
        while let row = try cursor.next() {
            pending.append((0..<inserted.count).map { value(row[$0] as DatabaseValue) })
            if pending.count == rowsPerStatement { try flush() }
        }
        try flush()

        // Identity columns continue past the largest id copied (and past SQLite's AUTOINCREMENT
        // high-water mark for runs, so no id is ever reused).
        if let column = PostgresLedgerSchema.identityTables[table] {
            var high = try Int64.fetchOne(db, sql: "SELECT max(\(copiesRowID ? "rowid" : column)) FROM \(table)") ?? 0
            if try db.tableExists("sqlite_sequence"),
               let sequence = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = ?", arguments: [table]) {
                high = max(high, sequence)
            }
            try session.query("SELECT setval(pg_get_serial_sequence($1, $2), $3, \(high > 0))",
                              [.text(table), .text(column), .integer(max(high, 1))])
        }
        return try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
    }

    static func value(_ value: DatabaseValue) -> LedgerValue {
        switch value.storage {
        case .null: return .null
        case .int64(let v): return .integer(v)
        case .double(let v): return .real(v)
        case .string(let v): return .text(v)
        case .blob(let data): return .blob([UInt8](data))
        }
    }
}
