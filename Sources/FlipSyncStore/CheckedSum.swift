import FlipSyncCore
import GRDB

/// The sum of an INTEGER column over the rows `condition` selects, 0 when none; an error when
/// any value summed is not an integer. SQLite's `SUM` counts text as 0 (and a REAL as itself),
/// so a corrupted row would otherwise change a budget or a stock figure without a word.
func checkedSum(_ db: Database, of column: String, from table: String, where condition: String,
                arguments: StatementArguments) throws -> Int64 {
    let sql = "SELECT COALESCE(SUM(\(column)), 0), COALESCE(SUM(typeof(\(column)) != 'integer'), 0) FROM \(table) WHERE \(condition)"
    guard let row = try Row.fetchOne(db.cachedStatement(sql: sql), arguments: arguments) else { return 0 }
    let notIntegers = try row.decode(Int64.self, atIndex: 1)
    guard notIntegers == 0 else { throw NotIntegers(table: table, column: column, count: notIntegers, condition: "where \(condition)") }
    return try row.decode(Int64.self, atIndex: 0)
}

/// Values summed that are not integers; the ledger's error wraps it with the file's path.
struct NotIntegers: Error, CustomStringConvertible {
    let table: String, column: String, count: Int64, condition: String

    /// Throws when `row`'s `not_integers` column (`SUM(typeof(column) != 'integer')` in a
    /// grouped SELECT) counts any value of its group.
    static func check(_ row: Row, table: String, column: String) throws {
        let count = try row.decode(Int64.self, forColumn: "not_integers")
        guard count == 0 else { throw NotIntegers(table: table, column: column, count: count, condition: "in a total") }
    }

    var description: String {
        "\(table).\(column): \(count) \(count == 1 ? "value that is not an integer" : "values that are not integers") \(condition)"
    }
}
