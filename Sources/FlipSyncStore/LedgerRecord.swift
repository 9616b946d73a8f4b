import FlipSyncCore
import GRDB

/// A ledger table's record. Every read of its table goes through `fetchAllNamed` or
/// `fetchOneNamed`, so a row that does not decode (an unknown marketplace, currency or status, a
/// NULL where a value is required, text where a number is) is an error naming the table and the
/// row's key columns, never a default.
protocol LedgerRow: FetchableRecord, TableRecord {
    /// The columns that name a row in an error: its primary key.
    static var keyColumns: [String] { get }
    /// Throws when the columns decode but do not agree (an amount without its currency);
    /// `named` names the row. None by default.
    func check() throws
}

extension LedgerRow {
    func check() throws {}

    static func fetchAllNamed(_ db: Database, _ request: QueryInterfaceRequest<Self>) throws -> [Self] {
        try fetchAllNamed(db, request, key: keyColumns)
    }

    static func fetchOneNamed(_ db: Database, _ request: QueryInterfaceRequest<Self>) throws -> Self? {
        try fetchAllNamed(db, request.limit(1), key: keyColumns).first
    }

    /// The records a raw SELECT returns (a join selecting this table's columns, `l.*`).
    static func fetchAllNamed(_ db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Self] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { try named($0, key: keyColumns) }
    }

    /// As `fetchAllNamed(_:sql:arguments:)`, through the connection's prepared statement for
    /// `sql` (prepared once, not on every read): for reads on a task's path.
    static func fetchAllNamed(_ db: Database, cachedSQL sql: String, arguments: StatementArguments) throws -> [Self] {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map { try named($0, key: keyColumns) }
    }
}

extension FetchableRecord where Self: TableRecord {
    /// Every record `request` selects. A row that does not decode (an unknown status, a NULL
    /// where a value is required) is an error naming the table and the row's `key` columns,
    /// never a default.
    static func fetchAllNamed(_ db: Database, _ request: QueryInterfaceRequest<Self>, key: [String]) throws -> [Self] {
        try Row.fetchAll(db, request).map { try named($0, key: key) }
    }

    /// `row` as a record, or an error naming the table and the row's `key` columns.
    static func named(_ row: Row, key: [String]) throws -> Self {
        do {
            let record = try Self(row: row)
            if let checked = record as? any LedgerRow { try checked.check() }
            return record
        } catch {
            let named = key.map { "\($0) \(row[$0] as DatabaseValue)" }.joined(separator: ", ")
            // An unknown code says so itself ("unknown marketplace "etsy""); GRDB's own errors name the column.
            let reason = if case DecodingError.dataCorrupted(let context) = error { context.debugDescription } else { "\(error)" }
            throw LedgerError.storage("\(databaseTableName) row (\(named)) does not decode: \(reason)")
        }
    }
}

/// The column a value is being decoded from, as the table names it (`reason_code`).
private func columnName(_ path: [any CodingKey]) -> String {
    guard let key = path.last?.stringValue else { return "value" }
    return key.reduce(into: "") { name, c in
        if c.isUppercase { name += "_" + c.lowercased() } else { name.append(c) }
    }
}

/// Reading a record's columns by name in its `init(row:)` (not through `Codable`, whose keyed
/// containers cost several times the read itself). A NULL where a value is required, or text where
/// a number is, is GRDB's error naming the column; a code no type knows is the same
/// `DecodingError` the `Codable` path threw, so `named` words it the same way.
extension Row {
    /// The text `column` holds as one of `T`'s raw values, or "unknown <column> "<text>"".
    func code<T: RawRepresentable>(_ column: String) throws -> T where T.RawValue == String {
        let text: String = try decode(forColumn: column)
        guard let value = T(rawValue: text) else { throw unknown(column, text) }
        return value
    }

    /// As `code`, NULL being nil.
    func code<T: RawRepresentable>(_ column: String) throws -> T? where T.RawValue == String {
        guard let text: String = try decode(forColumn: column) else { return nil }
        guard let value = T(rawValue: text) else { throw unknown(column, text) }
        return value
    }

    /// A `String`-backed `Codable` enum (`RunStatus`, `TaskStatus`) with the message the
    /// synthesized `Decodable` conformance gives an unknown value.
    func rawEnum<T: RawRepresentable>(_ column: String) throws -> T where T.RawValue == String {
        let text: String = try decode(forColumn: column)
        guard let value = T(rawValue: text) else { throw invalidRaw(T.self, text) }
        return value
    }

    /// As `rawEnum`, NULL being nil.
    func rawEnum<T: RawRepresentable>(_ column: String) throws -> T? where T.RawValue == String {
        guard let text: String = try decode(forColumn: column) else { return nil }
        guard let value = T(rawValue: text) else { throw invalidRaw(T.self, text) }
        return value
    }
}

/// One record's columns in a row, read by name (a SELECT of its table) or, for a join that
/// selects them in the record's `columns` order, by position from `start`: a record's `init`
/// reads through this, so both ways of reading it are one piece of code. `i` is a column's place
/// in `names`; an unknown code's error names the column either way.
struct RecordColumns {
    let row: Row
    let names: [String]
    /// Where the record's first column is; nil: by name.
    let start: Int?

    func decode<V: DatabaseValueConvertible & StatementColumnConvertible>(_ i: Int) throws -> V {
        guard let start else { return try row.decode(forColumn: names[i]) }
        // A join read by position comes from a cursor, straight from its statement, where GRDB
        // converts whatever SQLite holds with no check (text in an integer column would read as
        // 0). So the value is read as stored and converted as a copied row converts it.
        let stored = row[start + i] as DatabaseValue
        guard let value = V.fromDatabaseValue(stored) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(names[i]) holds \(stored), not a \(V.self)"))
        }
        return value
    }

    /// The text column `i` holds as one of `T`'s raw values, or "unknown <column> "<text>"".
    func code<T: RawRepresentable>(_ i: Int) throws -> T where T.RawValue == String {
        let text: String = try decode(i)
        guard let value = T(rawValue: text) else { throw unknown(names[i], text) }
        return value
    }

    /// A currency code this build knows, or "unknown <column> "<code>"" (never USD).
    func currency(_ i: Int) throws -> Currency {
        let code: String = try decode(i)
        guard let currency = Currency(code: code) else { throw unknown(names[i], code) }
        return currency
    }
}

private func unknown(_ column: String, _ text: String) -> DecodingError {
    DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unknown \(column) \"\(text)\""))
}

private func invalidRaw<T>(_ type: T.Type, _ text: String) -> DecodingError {
    DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "Cannot initialize \(T.self) from invalid String value \(text)"))
}

/// A text column holding one of `T`'s raw values (a marketplace, strategy, status, reason). Any
/// other text does not decode: "unknown <column> "<text>"", never a default.
struct Coded<T: RawRepresentable & Sendable>: Codable, Sendable where T.RawValue == String {
    var value: T

    init(_ value: T) { self.value = value }

    /// `column` of `row`: "unknown <column> "<text>"" when no `T` has its text.
    init(row: Row, _ column: String) throws { value = try row.code(column) }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = T(rawValue: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown \(columnName(decoder.codingPath)) \"\(text)\"")
        }
        self.value = value
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value.rawValue)
    }
}

/// A text column holding an ISO 4217 code this build knows (`Currency.known`). Any other code
/// does not decode: "unknown currency "<code>"", never USD.
struct CurrencyCode: Codable, Sendable {
    var currency: Currency

    init(_ currency: Currency) { self.currency = currency }

    /// `column` of `row`: "unknown <column> "<code>"" when this build knows no such currency.
    init(row: Row, _ column: String) throws {
        let code: String = try row.decode(forColumn: column)
        guard let currency = Currency(code: code) else { throw unknown(column, code) }
        self.currency = currency
    }

    /// As `init(row:_:)`, NULL being nil.
    static func optional(row: Row, _ column: String) throws -> CurrencyCode? {
        guard let code: String = try row.decode(forColumn: column) else { return nil }
        guard let currency = Currency(code: code) else { throw unknown(column, code) }
        return CurrencyCode(currency)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let code = try container.decode(String.self)
        guard let currency = Currency(code: code) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown \(columnName(decoder.codingPath)) \"\(code)\"")
        }
        self.currency = currency
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(currency.code)
    }

    var code: String { currency.code }
}

/// Throws unless an amount column and its currency column are both recorded or both NULL:
/// the store never writes one without the other.
func pair(_ micros: Int64?, _ currency: CurrencyCode?, _ column: String) throws {
    guard (micros == nil) == (currency == nil) else {
        throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(column): an amount without its currency, or a currency without an amount"))
    }
}

/// `micros` in `currency`, when both are recorded (`pair` has checked they are both or neither).
func money(_ micros: Int64?, _ currency: CurrencyCode?) -> Money? {
    guard let micros, let currency else { return nil }
    return Money(micros: micros, currency: currency.currency)
}
