import GRDB
import GRDBSQLite

extension Statement {
    /// Executes the statement with `values` bound in order through SQLite's C API, then run by
    /// GRDB's `execute()` (so its transaction tracking and errors are those of
    /// `execute(arguments:)`).
    ///
    /// For the writes a sweep makes per listing and per call (spend rows, decisions, coverage,
    /// remembered offers and searches, the snapshot's rows): `execute(arguments:)` builds a
    /// `StatementArguments` of existentials and converts each value to a `DatabaseValue` before
    /// binding it, which was 3–4 % of a sweep's CPU samples. Here an `Int64` is one
    /// `sqlite3_bind_int64`.
    ///
    /// Throws, and runs nothing, if the count of `values` is not the statement's parameters'.
    func executeBound<each Value: DirectBindable>(_ values: repeat each Value) throws {
        try bound(repeat each values).execute()
    }

    /// The statement with `values` bound in order, as `executeBound` binds them, for a cursor
    /// fetched from it without arguments of its own (`Row.fetchCursor(statement)`, which then
    /// only resets it). Throws if the count of `values` is not the statement's parameters'.
    func bound<each Value: DirectBindable>(_ values: repeat each Value) throws -> Statement {
        // Resets the statement and clears its bindings: GRDB then runs what is bound here
        // instead of binding arguments of its own.
        setUncheckedArguments(StatementArguments())
        let statement = sqliteStatement
        var index: Int32 = 0, failed = SQLITE_OK
        for value in repeat each values {
            index += 1
            let code = value.bind(to: statement, at: index)
            if code != SQLITE_OK && failed == SQLITE_OK { failed = code }
        }
        let expected = sqlite3_bind_parameter_count(statement)
        guard index == expected else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "\(index) values bound for \(expected) parameters", sql: sql)
        }
        // A value SQLite could not take (out of memory copying a text): an error, never a NULL
        // in its place.
        guard failed == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: failed), message: String(cString: sqlite3_errstr(failed)), sql: sql)
        }
        return self
    }
}

/// A value `Statement.executeBound` binds: as GRDB binds the same Swift type. Returns SQLite's
/// result code.
protocol DirectBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) -> Int32
}

/// SQLite copies the text before `sqlite3_bind_text` returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension Int64: DirectBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) -> Int32 { sqlite3_bind_int64(statement, index, self) }
}

extension Int: DirectBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) -> Int32 { sqlite3_bind_int64(statement, index, Int64(self)) }
}

extension Bool: DirectBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) -> Int32 { sqlite3_bind_int64(statement, index, self ? 1 : 0) }
}

extension String: DirectBindable {
    /// As GRDB binds text: up to a NUL, so that lookups GRDB binds find the same text.
    func bind(to statement: SQLiteStatement, at index: Int32) -> Int32 { sqlite3_bind_text(statement, index, self, -1, transient) }
}

extension Optional: DirectBindable where Wrapped: DirectBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) -> Int32 {
        if let self { self.bind(to: statement, at: index) } else { sqlite3_bind_null(statement, index) }
    }
}
