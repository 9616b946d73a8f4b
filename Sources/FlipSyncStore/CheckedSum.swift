import FlipSyncCore
import GRDB

/// The sum of an INTEGER column over the rows `condition` selects, 0 when none; an error when
/// any value summed is not an integer. SQLite's `SUM` counts text as 0 (and a REAL as itself),
/// so a corrupted row would otherwise change a budget or a stock figure without a word.
func checkedSum(_ db: Database, of column: String, from table: String, where condition: String,
                arguments: StatementArguments) throws -> Int64 {
    let sql = "SELECT COALESCE(SUM(\(column)), 0) AS total, \(NotIntegers.counted(column)) FROM \(table) WHERE \(condition)"
    guard let row = try Row.fetchOne(db.cachedStatement(sql: sql), arguments: arguments) else { return 0 }
    try NotIntegers.check(row, table: table, column: column, condition: "where \(condition)")
    return try row.decode(Int64.self, forColumn: "total")
}

/// Values summed that are not integers; the ledger's error wraps it with the file's path.
struct NotIntegers: Error, CustomStringConvertible {
    let table: String, column: String, count: Int64, condition: String

    /// The result column `check` reads, to select next to a sum of `column`: how many of the
    /// values summed are not integers (0 over no rows).
    static func counted(_ column: String) -> String {
        "COALESCE(SUM(typeof(\(column)) != 'integer'), 0) AS not_integers"
    }

    /// Throws when `row`'s `not_integers` column (``counted(_:)``) counts any value.
    static func check(_ row: Row, table: String, column: String, condition: String = "in a total") throws {
        let count = try row.decode(Int64.self, forColumn: "not_integers")
        guard count == 0 else { throw NotIntegers(table: table, column: column, count: count, condition: condition) }
    }

    var description: String {
        "\(table).\(column): \(count) \(count == 1 ? "value that is not an integer" : "values that are not integers") \(condition)"
    }
}
