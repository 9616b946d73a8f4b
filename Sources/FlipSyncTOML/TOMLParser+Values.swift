/// Values: arrays and inline tables, dispatching to strings, numbers and dates.
extension Parser {
    // MARK: Values

    /// A value `level` levels deep (its key path's length, counting array elements).
    mutating func parseValue(level: Int) throws(TOMLError) -> TOMLNode {
        let start = position
        let value: TOMLValue
        switch peek {
        case UInt8(ascii: "\""):
            if peek(1) == UInt8(ascii: "\"") && peek(2) == UInt8(ascii: "\"") {
                value = .string(try parseMultilineString(literal: false))
            } else {
                value = .string(try parseBasicString())
            }
        case UInt8(ascii: "'"):
            if peek(1) == UInt8(ascii: "'") && peek(2) == UInt8(ascii: "'") {
                value = .string(try parseMultilineString(literal: true))
            } else {
                value = .string(try parseLiteralString())
            }
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            if bytes[index...].starts(with: "true".utf8) && !Self.isBareKeyByte(peek(4)) {
                index += 4
                value = .boolean(true)
            } else if bytes[index...].starts(with: "false".utf8) && !Self.isBareKeyByte(peek(5)) {
                index += 5
                value = .boolean(false)
            } else {
                throw error("invalid value (strings need quotes)")
            }
        case UInt8(ascii: "["):
            value = try parseArray(level: level)
        case UInt8(ascii: "{"):
            value = try parseInlineTable(level: level)
        case 0 where atEnd:
            throw error("expected a value, found end of file")
        default:
            if atNewline { throw error("expected a value, found end of line") }
            value = try parseNumberOrDate()
        }
        return TOMLNode(value: value, position: start)
    }

    /// Its elements are one level deeper than the array.
    mutating func parseArray(level: Int) throws(TOMLError) -> TOMLValue {
        index += 1
        var items: [TOMLNode] = []
        while true {
            try skipWhitespaceCommentsAndNewlines()
            if peek == UInt8(ascii: "]") { index += 1; return .array(items) }
            if level + 1 > maxDepth { throw tooDeep() }
            items.append(try parseValue(level: level + 1))
            try skipWhitespaceCommentsAndNewlines()
            if peek == UInt8(ascii: ",") { index += 1; continue }
            if peek == UInt8(ascii: "]") { index += 1; return .array(items) }
            if atEnd { throw error("unterminated array") }
            throw error("expected ',' or ']' in array, found \(describe(peek))")
        }
    }

    mutating func skipWhitespaceCommentsAndNewlines() throws(TOMLError) {
        while true {
            skipWhitespace()
            if peek == UInt8(ascii: "#") { try skipComment() }
            if atNewline { newline(); continue }
            return
        }
    }

    /// Its keys' parts add levels, as dotted keys do.
    mutating func parseInlineTable(level: Int) throws(TOMLError) -> TOMLValue {
        let start = position
        index += 1
        let table = TableBuilder(position: start)
        let flags = Flags()
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return .table(table.freeze())
        }
        while true {
            let (key, keyPosition, value) = try parseKeyAndValue(level: level)
            if flags.isSet(key, Flags.frozen) || flags.isSet(Array(key.dropLast()), Flags.frozen) {
                throw TOMLError(position: keyPosition, message: "cannot add to \"\(Self.display(Array(key.dropLast())))\": it is an inline table or array")
            }
            let parent = try nest(table, Array(key.dropLast()), at: keyPosition)
            let stem = key[key.count - 1]
            if parent.slots[stem] != nil {
                throw TOMLError(position: keyPosition, message: "duplicate key \"\(Self.display(key))\" in inline table")
            }
            switch value.value {
            case .array, .table: flags.set(key, Flags.frozen, recursive: true)
            default: break
            }
            parent.set(stem, .value(value, keyPosition: keyPosition))
            skipWhitespace()
            if peek == UInt8(ascii: ",") {
                index += 1
                skipWhitespace()
                if peek == UInt8(ascii: "}") { throw error("trailing comma in inline table") }
                continue
            }
            if peek == UInt8(ascii: "}") {
                index += 1
                return .table(table.freeze())
            }
            if atNewline || atEnd { throw error("inline tables must be on one line (expected '}')") }
            throw error("expected ',' or '}' in inline table, found \(describe(peek))")
        }
    }
}
