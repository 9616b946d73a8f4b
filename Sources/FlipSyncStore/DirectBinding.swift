import GRDB
import GRDBSQLite

extension Statement {
    /// Executes the statement with `values` bound in order through SQLite's C API, and steps it
    /// to its end with `sqlite3_step`.
    ///
    /// For the writes a sweep makes per listing and per call (spend rows, decisions, coverage,
    /// remembered offers and searches, the snapshot's rows), all made inside a write transaction
    /// (the group-commit drainer's, or one of the store's `write`s), and none going on after a
    /// failed statement: its error ends the write and the transaction is rolled back. GRDB's
    /// `execute(arguments:)` builds a `StatementArguments` of existentials and converts each
    /// value to a `DatabaseValue` before binding it (3–4 % of a sweep's CPU samples), and its
    /// `execute()` then resets the statement and clears its bindings, checks the scheduling
    /// queue, the transaction's abort, suspension and observed regions, and the autocommit state
    /// around each step (a sixth of the drainer's samples). None of those applies to an INSERT
    /// or UPDATE inside a transaction on a connection nothing observes: here an `Int64` is one
    /// `sqlite3_bind_int64`, and the statement is one `sqlite3_step`. Whether SQLite left the
    /// transaction after a failure is the drainer's check (`GroupCommit.checkStillInTransaction`),
    /// as before.
    ///
    /// Throws, and runs nothing, if the count of `values` is not the statement's parameters'. A
    /// failed step throws SQLite's error (its extended code and message, and the SQL); the
    /// statement is reset at once, so it stays in GRDB's cache ready for the next execution.
    /// GRDB's own ways of running the statement (`execute(arguments:)`, `bound`) reset it and
    /// bind their own values before they run, so the two may alternate on one cached statement.
    func executeBound<each Value: DirectBindable>(_ values: repeat each Value) throws {
        let statement = sqliteStatement
        // The previous execution's error (if its step failed) was thrown by it.
        sqlite3_reset(statement)
        try bind(statement, repeat each values)
        while true {
            switch sqlite3_step(statement) {
            case SQLITE_DONE:
                return
            case SQLITE_ROW:
                continue
            case let code:
                let message = String(cString: sqlite3_errmsg(sqlite3_db_handle(statement)))
                sqlite3_reset(statement)
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
            }
        }
    }

    /// The statement with `values` bound in order, as `executeBound` binds them, for a cursor
    /// fetched from it without arguments of its own (`Row.fetchCursor(statement)`, which then
    /// only resets it). Throws if the count of `values` is not the statement's parameters'.
    func bound<each Value: DirectBindable>(_ values: repeat each Value) throws -> Statement {
        // Resets the statement and clears its bindings: GRDB then runs what is bound here
        // instead of binding arguments of its own.
        setUncheckedArguments(StatementArguments())
        try bind(sqliteStatement, repeat each values)
        return self
    }

    /// Binds `values` to parameters 1, 2, … of `statement`. Throws when their count is not the
    /// statement's parameters', or when SQLite could not take one (out of memory copying a text):
    /// an error, never a NULL in its place.
    private func bind<each Value: DirectBindable>(_ statement: SQLiteStatement, _ values: repeat each Value) throws {
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
        guard failed == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: failed), message: String(cString: sqlite3_errstr(failed)), sql: sql)
        }
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
    /// As GRDB binds text: up to a NUL, so that lookups GRDB binds find the same text. The bytes
    /// are the string's own (`withUTF8`), measured to the NUL here: passing the `String` where
    /// C wants a `char *` made a NUL-terminated copy of every text first (`utf8CString`, an
    /// allocation a bound text, 1 % of a sweep's samples). SQLite copies what it is given.
    func bind(to statement: SQLiteStatement, at index: Int32) -> Int32 {
        var text = self
        return text.withUTF8 { bytes in
            let length = bytes.firstIndex(of: 0) ?? bytes.count
            guard length <= Int(Int32.max) else { return SQLITE_TOOBIG }
            // An empty buffer may have no address, and a NULL pointer would bind NULL, not "".
            guard let base = bytes.baseAddress, length > 0 else { return sqlite3_bind_text(statement, index, "", 0, transient) }
            return base.withMemoryRebound(to: CChar.self, capacity: length) { sqlite3_bind_text(statement, index, $0, Int32(length), transient) }
        }
    }
}

extension Optional: DirectBindable where Wrapped: DirectBindable {
    func bind(to statement: SQLiteStatement, at index: Int32) -> Int32 {
        if let self { self.bind(to: statement, at: index) } else { sqlite3_bind_null(statement, index) }
    }
}
