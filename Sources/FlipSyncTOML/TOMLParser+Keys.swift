/// Keys, table headers and key/value pairs.
extension Parser {
    // MARK: Keys

    /// The error for anything nested deeper than `maxDepth`, at `offset`.
    func tooDeep(at offset: Int? = nil) -> TOMLError {
        error("nested deeper than \(maxDepth) levels (the limit; each part of a key and each array element is one level)", at: offset)
    }

    /// `a.b."c d"`: the parts, and where the key starts. More than `maxParts` parts is an error
    /// at the first part too many (the rest is not read).
    mutating func parseKey(maxParts: Int) throws(TOMLError) -> ([String], TOMLPosition) {
        let start = position
        var parts: [String] = []
        while true {
            skipWhitespace()
            if parts.count >= maxParts { throw tooDeep() }
            parts.append(try parseSimpleKey())
            skipWhitespace()
            guard peek == UInt8(ascii: ".") else { break }
            index += 1
        }
        return (parts, start)
    }

    mutating func parseSimpleKey() throws(TOMLError) -> String {
        switch peek {
        case UInt8(ascii: "\""):
            if peek(1) == UInt8(ascii: "\"") && peek(2) == UInt8(ascii: "\"") {
                throw error("a key cannot be a multi-line string")
            }
            return try parseBasicString()
        case UInt8(ascii: "'"):
            if peek(1) == UInt8(ascii: "'") && peek(2) == UInt8(ascii: "'") {
                throw error("a key cannot be a multi-line string")
            }
            return try parseLiteralString()
        default:
            let start = index
            while Self.isBareKeyByte(peek) { index += 1 }
            guard index > start else {
                if atEnd || atNewline { throw error("expected a key, found \(describe(peek))") }
                throw error("invalid character \(describe(peek)) in key")
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
    }

    static func isBareKeyByte(_ b: UInt8) -> Bool {
        (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
    }

    static func display(_ key: [String]) -> String {
        key.map { part in
            part.utf8.allSatisfy(isBareKeyByte) && !part.isEmpty ? part : "\"\(part)\""
        }.joined(separator: ".")
    }

    // MARK: Headers

    mutating func parseHeader(root: TableBuilder, flags: Flags) throws(TOMLError) -> ([String], TableBuilder) {
        let headerStart = position
        let isArray = peek(1) == UInt8(ascii: "[")
        index += isArray ? 2 : 1
        let (key, _) = try parseKey(maxParts: maxDepth)
        skipWhitespace()
        guard peek == UInt8(ascii: "]") else { throw error("expected ']' to close the table header, found \(describe(peek))") }
        index += 1
        if isArray {
            guard peek == UInt8(ascii: "]") else { throw error("expected ']]' to close the array-of-tables header") }
            index += 1
        }
        let name = Self.display(key)
        let table: TableBuilder
        if isArray {
            if flags.isSet(key, Flags.frozen) {
                throw error("cannot append to [[\(name)]]: it was defined as an array or inline table", at: index - 1)
            }
            flags.unsetAll(key)
            flags.set(key, Flags.explicitNest, recursive: false)
            let parent = try nest(root, Array(key.dropLast()), at: headerStart)
            let last = key[key.count - 1]
            table = TableBuilder(position: headerStart)
            switch parent.slots[last] {
            case nil:
                parent.set(last, .tableArray(TableArrayBuilder(table), keyPosition: headerStart))
            case .tableArray(let array, _)?:
                array.tables.append(table)
            default:
                throw error("cannot define [[\(name)]]: \"\(name)\" is already defined as a value or table", at: index - 1)
            }
        } else {
            if flags.isSet(key, Flags.explicitNest) || flags.isSet(key, Flags.frozen) {
                throw TOMLError(position: headerStart, message: "table [\(name)] is defined more than once")
            }
            flags.set(key, Flags.explicitNest, recursive: false)
            table = try nest(root, key, at: headerStart)
        }
        try expectLineEnd(after: "table header")
        return (key, table)
    }

    /// tomllib's `get_or_create_nest`: walk `key` from `root`, creating tables as needed and
    /// entering the last table of an array of tables.
    func nest(_ root: TableBuilder, _ key: [String], at position: TOMLPosition) throws(TOMLError) -> TableBuilder {
        var table = root
        for part in key {
            switch table.slots[part] {
            case nil:
                let child = TableBuilder(position: position)
                table.set(part, .table(child, keyPosition: position))
                table = child
            case .table(let child, _)?:
                table = child
            case .tableArray(let array, _)?:
                table = array.tables[array.tables.count - 1]
            case .value(_, let keyPosition)?:
                throw TOMLError(position: position,
                                message: "cannot use \"\(part)\" as a table: it is already a value (line \(keyPosition.line))")
            }
        }
        return table
    }

    // MARK: Key/value pairs

    /// `key = value`, up to the end of the value, in a table `level` levels deep.
    mutating func parseKeyAndValue(level: Int) throws(TOMLError) -> ([String], TOMLPosition, TOMLNode) {
        let (key, keyPosition) = try parseKey(maxParts: maxDepth - level)
        skipWhitespace()
        guard peek == UInt8(ascii: "=") else {
            throw error("expected '=' after key \"\(Self.display(key))\", found \(describe(peek))")
        }
        index += 1
        skipWhitespace()
        return (key, keyPosition, try parseValue(level: level + key.count))
    }

    mutating func parseKeyValue(into table: TableBuilder, header: [String], flags: Flags) throws(TOMLError) {
        let (key, keyPosition, value) = try parseKeyAndValue(level: header.count)
        let absolute = header + key
        // The tables the dotted key passes through: header + key[0..<i] for 1 ≤ i < key.count.
        let containers = (header.count + 1)..<(header.count + key.count)
        if let n = flags.firstSetPrefix(absolute, lengths: containers, Flags.explicitNest) {
            throw TOMLError(position: keyPosition,
                            message: "cannot add to table [\(Self.display(Array(absolute[0..<n])))] with a dotted key: it is defined by a header")
        }
        flags.addPending(absolute, lengths: containers, Flags.explicitNest)
        let parentKey = Array(absolute.dropLast())
        if flags.isSet(parentKey, Flags.frozen) {
            throw TOMLError(position: keyPosition, message: "cannot add to \"\(Self.display(parentKey))\": it is an inline table or array")
        }
        let parent = try nest(table, Array(key.dropLast()), at: keyPosition)
        let stem = key[key.count - 1]
        if let existing = parent.slots[stem] {
            let firstLine: Int
            switch existing {
            case .value(_, let p), .table(_, let p), .tableArray(_, let p): firstLine = p.line
            }
            throw TOMLError(position: keyPosition,
                            message: "duplicate key \"\(Self.display(key))\" (first defined on line \(firstLine))")
        }
        switch value.value {
        case .array, .table: flags.set(absolute, Flags.frozen, recursive: true)
        default: break
        }
        parent.set(stem, .value(value, keyPosition: keyPosition))
    }
}
