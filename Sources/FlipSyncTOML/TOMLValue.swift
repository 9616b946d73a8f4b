/// A place in a TOML document: 1-based line, and column in Unicode scalars.
public struct TOMLPosition: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }
}

/// A TOML date, time or date-time, with the fields its kind has (the others are 0).
public struct TOMLDateTime: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case offsetDateTime, localDateTime, localDate, localTime
    }

    public var kind: Kind
    public var year = 0, month = 0, day = 0
    public var hour = 0, minute = 0, second = 0
    public var nanosecond = 0
    /// Only for `offsetDateTime`; `Z` is 0.
    public var offsetSeconds: Int?

    public init(kind: Kind) {
        self.kind = kind
    }
}

/// A TOML value. Tables keep their keys in source order.
public indirect enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case dateTime(TOMLDateTime)
    case array([TOMLNode])
    case table(TOMLTable)

    /// The type's name as error messages use it.
    public var typeName: String {
        switch self {
        case .string: return "string"
        case .integer: return "integer"
        case .float: return "float"
        case .boolean: return "boolean"
        case .dateTime: return "datetime"
        case .array: return "array"
        case .table: return "table"
        }
    }

    public static func == (a: TOMLValue, b: TOMLValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.integer(let x), .integer(let y)): return x == y
        // NaN equals NaN here: a document is equal to itself.
        case (.float(let x), .float(let y)): return x == y || (x.isNaN && y.isNaN)
        case (.boolean(let x), .boolean(let y)): return x == y
        case (.dateTime(let x), .dateTime(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.table(let x), .table(let y)): return x == y
        default: return false
        }
    }
}

/// A value and where it starts in the document.
public struct TOMLNode: Sendable, Equatable {
    public var value: TOMLValue
    /// Where the value starts; for a table, its header or the key that first implied it.
    public var position: TOMLPosition

    public init(value: TOMLValue, position: TOMLPosition) {
        self.value = value
        self.position = position
    }
}

/// A table: its entries in the order they were first defined.
public struct TOMLTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        /// Where the key (its first part, for a dotted key) was written.
        public var keyPosition: TOMLPosition
        public var node: TOMLNode

        public init(key: String, keyPosition: TOMLPosition, node: TOMLNode) {
            self.key = key
            self.keyPosition = keyPosition
            self.node = node
        }
    }

    public var entries: [Entry]
    /// The header line `[a.b]`, or where the table was first implied.
    public var position: TOMLPosition

    public init(entries: [Entry], position: TOMLPosition) {
        self.entries = entries
        self.position = position
    }

    public subscript(key: String) -> TOMLNode? {
        entries.first { $0.key == key }?.node
    }

    public var keys: [String] { entries.map(\.key) }
}

/// A syntax error: where, and what (lower-case, no trailing period).
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var position: TOMLPosition
    public var message: String

    public init(position: TOMLPosition, message: String) {
        self.position = position
        self.message = message
    }

    public var description: String { "line \(position.line), column \(position.column): \(message)" }
}
