/// Parsing entry points.
public enum TOML {
    /// How deep a document may nest: every part of a key (table headers and dotted keys, inside
    /// inline tables too) and every element of an array is one level, so the value at
    /// `a.b.c[0][1].d` is 6 levels deep. Deeper documents are refused with an error, never
    /// recursed into; the parser's work then stays linear in the document's size.
    public static let defaultMaxDepth = 32

    /// Parses a whole TOML 1.0 document. Throws the first error, with its line and column.
    /// Anything nested deeper than `maxDepth` levels (see `defaultMaxDepth`) is refused.
    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(TOMLError) -> TOMLTable {
        try parse(bytes: Array(text.utf8), maxDepth: maxDepth)
    }

    public static func parse(bytes: some Collection<UInt8>, maxDepth: Int = defaultMaxDepth) throws(TOMLError) -> TOMLTable {
        var parser = Parser(bytes: Array(bytes), maxDepth: maxDepth)
        return try parser.parseDocument()
    }
}

// MARK: - Building tables

/// A table while the document is being read. Tables opened by headers stay open for later
/// headers and dotted keys, so they are reference types until `freeze()`.
private final class TableBuilder {
    var order: [String] = []
    var slots: [String: Slot] = [:]
    let position: TOMLPosition

    enum Slot {
        case value(TOMLNode, keyPosition: TOMLPosition)
        case table(TableBuilder, keyPosition: TOMLPosition)
        case tableArray(TableArrayBuilder, keyPosition: TOMLPosition)
    }

    init(position: TOMLPosition) {
        self.position = position
    }

    func set(_ key: String, _ slot: Slot) {
        if slots[key] == nil { order.append(key) }
        slots[key] = slot
    }

    func freeze() -> TOMLTable {
        var entries: [TOMLTable.Entry] = []
        entries.reserveCapacity(order.count)
        for key in order {
            switch slots[key]! {
            case .value(let node, let keyPosition):
                entries.append(.init(key: key, keyPosition: keyPosition, node: node))
            case .table(let table, let keyPosition):
                entries.append(.init(key: key, keyPosition: keyPosition,
                                     node: TOMLNode(value: .table(table.freeze()), position: table.position)))
            case .tableArray(let array, let keyPosition):
                let tables = array.tables
                let nodes = tables.map { TOMLNode(value: .table($0.freeze()), position: $0.position) }
                entries.append(.init(key: key, keyPosition: keyPosition,
                                     node: TOMLNode(value: .array(nodes), position: tables.first?.position ?? keyPosition)))
            }
        }
        return TOMLTable(entries: entries, position: position)
    }
}

/// The tables of an `[[array]]` so far. A reference, so appending one more never copies the
/// others (a file of many `[[x]]` headers stays linear).
private final class TableArrayBuilder {
    var tables: [TableBuilder]

    init(_ first: TableBuilder) {
        tables = [first]
    }
}

/// Python `tomllib`'s bookkeeping of which key paths may still be opened, so that exactly the
/// same documents are accepted and refused.
private final class Flags {
    /// Declared by a `[header]`, or (pending) a namespace made by dotted keys in this section.
    static let explicitNest: UInt8 = 1
    /// An inline table or array value: nothing may be added to it.
    static let frozen: UInt8 = 2

    final class Node {
        var flags: UInt8 = 0
        var recursiveFlags: UInt8 = 0
        var nested: [String: Node] = [:]
    }

    let root = Node()
    /// Key paths whose prefixes of lengths `lengths` get `flag` at the next header.
    var pending: [(key: [String], lengths: Range<Int>, flag: UInt8)] = []

    func set(_ key: [String], _ flag: UInt8, recursive: Bool) {
        var node = root
        for k in key {
            if let next = node.nested[k] { node = next } else {
                let next = Node()
                node.nested[k] = next
                node = next
            }
        }
        if recursive { node.recursiveFlags |= flag } else { node.flags |= flag }
    }

    func unsetAll(_ key: [String]) {
        var node = root
        for k in key.dropLast() {
            guard let next = node.nested[k] else { return }
            node = next
        }
        if let last = key.last { node.nested[last] = nil }
    }

    func isSet(_ key: [String], _ flag: UInt8) -> Bool {
        guard let last = key.last else { return false }
        var node = root
        for k in key.dropLast() {
            guard let next = node.nested[k] else { return false }
            if next.recursiveFlags & flag != 0 { return true }
            node = next
        }
        guard let target = node.nested[last] else { return false }
        return (target.flags | target.recursiveFlags) & flag != 0
    }

    /// `isSet(Array(key[0..<n]), flag)` for each `n` in `lengths`, in one walk: the first such
    /// length that is set, or nil.
    func firstSetPrefix(_ key: [String], lengths: Range<Int>, _ flag: UInt8) -> Int? {
        var node = root
        var ancestorRecursive: UInt8 = 0
        for n in 1..<max(1, lengths.upperBound) {
            guard let next = node.nested[key[n - 1]] else { return nil }
            if lengths.contains(n) && (ancestorRecursive | next.flags | next.recursiveFlags) & flag != 0 { return n }
            ancestorRecursive |= next.recursiveFlags
            node = next
        }
        return nil
    }

    /// `set(Array(key[0..<n]), flag, recursive: false)` for each `n` in `lengths`, at the next
    /// `finalizePending()`.
    func addPending(_ key: [String], lengths: Range<Int>, _ flag: UInt8) {
        if !lengths.isEmpty { pending.append((key, lengths, flag)) }
    }

    func finalizePending() {
        for (key, lengths, flag) in pending {
            var node = root
            for n in 1..<lengths.upperBound {
                if let next = node.nested[key[n - 1]] { node = next } else {
                    let next = Node()
                    node.nested[key[n - 1]] = next
                    node = next
                }
                if lengths.contains(n) { node.flags |= flag }
            }
        }
        pending.removeAll()
    }
}

// MARK: - The parser

private struct Parser {
    let bytes: [UInt8]
    let maxDepth: Int
    var index = 0
    var line = 1
    var lineStart = 0
    /// For documents with non-ASCII text, `scalarsBefore[i]` is the number of Unicode scalars in
    /// `bytes[0..<i]` (set once the document is known to be UTF-8), so a column costs O(1);
    /// for ASCII documents columns are byte offsets and this stays empty.
    var scalarsBefore: [UInt32] = []

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    // MARK: Positions and errors

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8 { index < bytes.count ? bytes[index] : 0 }
    func peek(_ offset: Int) -> UInt8 { index + offset < bytes.count ? bytes[index + offset] : 0 }

    /// O(1): the parser keeps `line` and `lineStart` as it goes, and columns (which count
    /// Unicode scalars) come from `scalarsBefore`. Never re-scans the line.
    func position(at offset: Int) -> TOMLPosition {
        let offset = min(max(offset, lineStart), bytes.count)
        if scalarsBefore.isEmpty {
            return TOMLPosition(line: line, column: offset - lineStart + 1)
        }
        return TOMLPosition(line: line, column: Int(scalarsBefore[offset] - scalarsBefore[lineStart]) + 1)
    }

    var position: TOMLPosition { position(at: index) }

    func error(_ message: String, at offset: Int? = nil) -> TOMLError {
        TOMLError(position: position(at: offset ?? index), message: message)
    }

    func describe(_ byte: UInt8) -> String {
        switch byte {
        case 0 where atEnd: return "end of file"
        case UInt8(ascii: "\n"): return "end of line"
        case 0x20...0x7E: return "'\(Character(Unicode.Scalar(byte)))'"
        case 0x80...:
            // The document is valid UTF-8 (checked first): show the whole character.
            var end = index + 1
            while end < bytes.count && bytes[end] & 0xC0 == 0x80 { end += 1 }
            return "'\(String(decoding: bytes[index..<end], as: UTF8.self))'"
        default: return "byte 0x\(String(byte, radix: 16))"
        }
    }

    mutating func newline() {
        // Caller has checked peek is \n (or \r\n).
        if peek == UInt8(ascii: "\r") { index += 1 }
        index += 1
        line += 1
        lineStart = index
    }

    var atNewline: Bool {
        peek == UInt8(ascii: "\n") || (peek == UInt8(ascii: "\r") && peek(1) == UInt8(ascii: "\n"))
    }

    mutating func skipWhitespace() {
        while peek == UInt8(ascii: " ") || peek == UInt8(ascii: "\t") { index += 1 }
    }

    /// A comment runs to the end of the line; control characters other than tab are not allowed.
    mutating func skipComment() throws(TOMLError) {
        guard peek == UInt8(ascii: "#") else { return }
        while !atEnd && !atNewline {
            try checkCharacter(allowTab: true, what: "comment")
            index += 1
        }
    }

    /// Rejects control characters (and a lone carriage return) at `index`.
    func checkCharacter(allowTab: Bool, what: String) throws(TOMLError) {
        let byte = peek
        if (byte < 0x20 && !(allowTab && byte == UInt8(ascii: "\t"))) || byte == 0x7F {
            if byte == UInt8(ascii: "\r") { throw error("carriage return without a line feed in \(what)") }
            throw error("control character 0x\(String(byte, radix: 16)) in \(what)")
        }
    }

    /// After a value or header: optional whitespace and comment, then end of line or file.
    mutating func expectLineEnd(after what: String) throws(TOMLError) {
        skipWhitespace()
        try skipComment()
        if atEnd { return }
        guard atNewline else { throw error("expected end of line after \(what), found \(describe(peek))") }
        newline()
    }

    // MARK: Document

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        try validateUTF8()
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3; lineStart = 3 }
        let root = TableBuilder(position: TOMLPosition(line: 1, column: 1))
        let flags = Flags()
        var header: [String] = []
        var current = root
        while !atEnd {
            skipWhitespace()
            if atEnd { break }
            if atNewline { newline(); continue }
            if peek == UInt8(ascii: "#") {
                try skipComment()
                continue
            }
            if peek == UInt8(ascii: "[") {
                flags.finalizePending()
                (header, current) = try parseHeader(root: root, flags: flags)
                continue
            }
            try parseKeyValue(into: current, header: header, flags: flags)
            try expectLineEnd(after: "value")
        }
        return root.freeze()
    }

    /// The whole document must be UTF-8; report the line of the first bad sequence.
    mutating func validateUTF8() throws(TOMLError) {
        var i = 0
        var lineNumber = 1
        var start = 0
        var ascii = true
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x80 {
                if b == UInt8(ascii: "\n") { lineNumber += 1; start = i + 1 }
                i += 1
                continue
            }
            let length: Int
            var scalar: UInt32
            switch b {
            case 0xC2...0xDF: length = 2; scalar = UInt32(b & 0x1F)
            case 0xE0...0xEF: length = 3; scalar = UInt32(b & 0x0F)
            case 0xF0...0xF4: length = 4; scalar = UInt32(b & 0x07)
            default: length = 0; scalar = 0
            }
            var ok = length > 0 && i + length <= bytes.count
            if ok {
                for k in 1..<length {
                    let c = bytes[i + k]
                    if c & 0xC0 != 0x80 { ok = false; break }
                    scalar = scalar << 6 | UInt32(c & 0x3F)
                }
            }
            // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
            if ok {
                let minimum: UInt32 = length == 2 ? 0x80 : (length == 3 ? 0x800 : 0x10000)
                ok = scalar >= minimum && scalar <= 0x10FFFF && !(0xD800...0xDFFF).contains(scalar)
            }
            guard ok else {
                // Once, on the way out: the column counts the scalars before the bad byte.
                var column = 1
                for k in start..<i where bytes[k] & 0xC0 != 0x80 { column += 1 }
                throw TOMLError(position: TOMLPosition(line: lineNumber, column: column), message: "invalid UTF-8")
            }
            ascii = false
            i += length
        }
        if !ascii {
            scalarsBefore.reserveCapacity(bytes.count + 1)
            var count: UInt32 = 0
            for b in bytes {
                scalarsBefore.append(count)
                if b & 0xC0 != 0x80 { count += 1 }
            }
            scalarsBefore.append(count)
        }
    }

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

    // MARK: Strings

    mutating func parseBasicString() throws(TOMLError) -> String {
        let opening = index
        index += 1
        var out: [UInt8] = []
        while true {
            if atEnd || atNewline { throw error("unterminated string", at: opening) }
            let byte = peek
            if byte == UInt8(ascii: "\"") { index += 1; break }
            if byte == UInt8(ascii: "\\") {
                try parseEscape(into: &out)
                continue
            }
            try checkCharacter(allowTab: true, what: "string")
            out.append(byte)
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func parseLiteralString() throws(TOMLError) -> String {
        let opening = index
        index += 1
        let start = index
        while true {
            if atEnd || atNewline { throw error("unterminated string", at: opening) }
            if peek == UInt8(ascii: "'") { break }
            try checkCharacter(allowTab: true, what: "string")
            index += 1
        }
        defer { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    mutating func parseEscape(into out: inout [UInt8]) throws(TOMLError) {
        let escapeStart = index
        index += 1
        let code = peek
        func simple(_ b: UInt8) { out.append(b); index += 1 }
        switch code {
        case UInt8(ascii: "b"): simple(0x08)
        case UInt8(ascii: "t"): simple(0x09)
        case UInt8(ascii: "n"): simple(0x0A)
        case UInt8(ascii: "f"): simple(0x0C)
        case UInt8(ascii: "r"): simple(0x0D)
        case UInt8(ascii: "\""): simple(0x22)
        case UInt8(ascii: "\\"): simple(0x5C)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = code == UInt8(ascii: "u") ? 4 : 8
            index += 1
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let digit = Self.hexValue(peek) else {
                    throw error("\\\(Character(Unicode.Scalar(code))) needs \(count) hex digits", at: escapeStart)
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw error("\\\(Character(Unicode.Scalar(code)))\(String(value, radix: 16, uppercase: true)) is not a Unicode scalar value", at: escapeStart)
            }
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            let shown = atEnd || atNewline ? "" : String(decoding: [code], as: UTF8.self)
            throw error("invalid escape \"\\\(shown)\"", at: escapeStart)
        }
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 48...57: return b - 48
        case 65...70: return b - 55
        case 97...102: return b - 87
        default: return nil
        }
    }

    mutating func parseMultilineString(literal: Bool) throws(TOMLError) -> String {
        // Remember where it opened: by the time the end of file shows it unterminated, the
        // current line has moved on.
        let opening = position
        let quote = literal ? UInt8(ascii: "'") : UInt8(ascii: "\"")
        index += 3
        if atNewline { newline() }
        var out: [UInt8] = []
        while true {
            if atEnd { throw TOMLError(position: opening, message: "unterminated multi-line string") }
            let byte = peek
            if byte == quote {
                var run = 0
                while peek(run) == quote { run += 1 }
                if run >= 3 {
                    guard run <= 5 else { throw error("too many quotes at the end of a multi-line string") }
                    out.append(contentsOf: repeatElement(quote, count: run - 3))
                    index += run
                    return String(decoding: out, as: UTF8.self)
                }
                out.append(contentsOf: repeatElement(quote, count: run))
                index += run
                continue
            }
            if atNewline {
                newline()
                out.append(UInt8(ascii: "\n"))
                continue
            }
            if !literal && byte == UInt8(ascii: "\\") {
                // A backslash at the end of a line trims the newline and the whitespace after it.
                var probe = index + 1
                while probe < bytes.count && (bytes[probe] == UInt8(ascii: " ") || bytes[probe] == UInt8(ascii: "\t")) { probe += 1 }
                if probe < bytes.count && (bytes[probe] == UInt8(ascii: "\n") || (bytes[probe] == UInt8(ascii: "\r") && probe + 1 < bytes.count && bytes[probe + 1] == UInt8(ascii: "\n"))) {
                    index = probe
                    while true {
                        skipWhitespace()
                        if atNewline { newline(); continue }
                        break
                    }
                    continue
                }
                try parseEscape(into: &out)
                continue
            }
            try checkCharacter(allowTab: true, what: "string")
            out.append(byte)
            index += 1
        }
    }

    // MARK: Numbers and dates

    mutating func parseNumberOrDate() throws(TOMLError) -> TOMLValue {
        let start = index
        // Dates and times start with four (date) or two (time) digits and a separator.
        let digitsAhead = (0..<5).prefix { Self.isDigit(peek($0)) }.count
        if digitsAhead == 4 && peek(4) == UInt8(ascii: "-") { return .dateTime(try parseDateTime()) }
        if digitsAhead == 2 && peek(2) == UInt8(ascii: ":") { return .dateTime(try parseDateTime()) }

        while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
        if let value = Self.plainDecimal(bytes[start..<index]) { return .integer(value) }
        let token = String(decoding: bytes[start..<index], as: UTF8.self)
        if let value = Self.integer(token) { return .integer(value) }
        if let value = Self.float(token) { return .float(value) }
        if Self.looksLikeInteger(token) { throw error("integer \(token) does not fit in 64 bits", at: start) }
        if token.isEmpty { throw error("invalid value \(describe(peek)) (strings need quotes)") }
        throw error("invalid number \"\(token)\"", at: start)
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    /// The common case without building strings: an optional sign and 1 to 18 decimal digits,
    /// no leading zero, no underscore. Anything else (nil) takes the general path.
    static func plainDecimal(_ token: ArraySlice<UInt8>) -> Int64? {
        var digits = token[...]
        var negative = false
        if let first = digits.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard (1...18).contains(digits.count), digits.count == 1 || digits.first != UInt8(ascii: "0") else { return nil }
        var value: Int64 = 0
        for b in digits {
            guard isDigit(b) else { return nil }
            value = value * 10 + Int64(b - 48)
        }
        return negative ? -value : value
    }

    static func isNumberByte(_ b: UInt8) -> Bool {
        isBareKeyByte(b) || b == UInt8(ascii: "+") || b == UInt8(ascii: ".")
    }

    static func looksLikeInteger(_ token: String) -> Bool {
        var t = Substring(token)
        if t.first == "+" || t.first == "-" { t = t.dropFirst() }
        return !t.isEmpty && t.allSatisfy { $0.isNumber || $0 == "_" }
    }

    /// Digits in `radix` with single underscores between them.
    static func digitsWithUnderscores(_ s: Substring, radix: Int) -> String? {
        guard let first = s.first, let last = s.last, first != "_", last != "_" else { return nil }
        var out = ""
        var previousUnderscore = false
        for c in s {
            if c == "_" {
                if previousUnderscore { return nil }
                previousUnderscore = true
                continue
            }
            guard c.isASCII, c.hexDigitValue.map({ $0 < radix }) ?? false else { return nil }
            previousUnderscore = false
            out.append(c)
        }
        return out
    }

    static func integer(_ token: String) -> Int64? {
        var body = Substring(token)
        if body.hasPrefix("0x") || body.hasPrefix("0o") || body.hasPrefix("0b") {
            let radix = body.hasPrefix("0x") ? 16 : (body.hasPrefix("0o") ? 8 : 2)
            guard let digits = digitsWithUnderscores(body.dropFirst(2), radix: radix) else { return nil }
            guard let magnitude = UInt64(digits, radix: radix), magnitude <= UInt64(Int64.max) else { return nil }
            return Int64(magnitude)
        }
        var negative = false
        if body.first == "+" || body.first == "-" {
            negative = body.first == "-"
            body = body.dropFirst()
        }
        guard let digits = digitsWithUnderscores(body, radix: 10) else { return nil }
        if digits.count > 1 && digits.first == "0" { return nil }  // no leading zeros
        return Int64(negative ? "-" + digits : digits)
    }

    static func float(_ token: String) -> Double? {
        var body = Substring(token)
        var sign = ""
        if body.first == "+" || body.first == "-" {
            sign = body.first == "-" ? "-" : ""
            body = body.dropFirst()
        }
        if body == "inf" { return sign == "-" ? -.infinity : .infinity }
        if body == "nan" { return sign == "-" ? -Double.nan : .nan }
        // int-part [ "." digits ] [ ("e"|"E") [sign] digits ], at least one of the two.
        let exponentIndex = body.firstIndex { $0 == "e" || $0 == "E" }
        let mantissa = exponentIndex.map { body[..<$0] } ?? body
        let pointIndex = mantissa.firstIndex(of: ".")
        let intPart = pointIndex.map { mantissa[..<$0] } ?? mantissa
        guard let intDigits = digitsWithUnderscores(intPart, radix: 10),
              !(intDigits.count > 1 && intDigits.first == "0") else { return nil }
        var text = sign + intDigits
        if let pointIndex {
            guard let fraction = digitsWithUnderscores(mantissa[mantissa.index(after: pointIndex)...], radix: 10) else { return nil }
            text += "." + fraction
        }
        if let exponentIndex {
            var exponent = body[body.index(after: exponentIndex)...]
            var exponentSign = ""
            if exponent.first == "+" || exponent.first == "-" {
                exponentSign = exponent.first == "-" ? "-" : ""
                exponent = exponent.dropFirst()
            }
            guard let digits = digitsWithUnderscores(exponent, radix: 10) else { return nil }
            text += "e" + exponentSign + digits
        }
        guard pointIndex != nil || exponentIndex != nil else { return nil }
        return Double(text)
    }

    mutating func fixedDigits(_ count: Int) -> Int? {
        var value = 0
        for _ in 0..<count {
            guard Self.isDigit(peek) else { return nil }
            value = value * 10 + Int(peek - 48)
            index += 1
        }
        return value
    }

    mutating func expect(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        index += 1
        return true
    }

    mutating func parseDateTime() throws(TOMLError) -> TOMLDateTime {
        let start = index
        func bad(_ what: String) -> TOMLError { error("invalid \(what)", at: start) }
        var result = TOMLDateTime(kind: .localTime)
        var hasDate = false
        if Self.isDigit(peek(2)) {  // YYYY-MM-DD
            guard let y = fixedDigits(4), expect(UInt8(ascii: "-")), let m = fixedDigits(2), expect(UInt8(ascii: "-")),
                  let d = fixedDigits(2) else { throw bad("date") }
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
            let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            guard (1...12).contains(m), d >= 1, d <= monthDays[m - 1] else { throw bad("date") }
            (result.year, result.month, result.day) = (y, m, d)
            result.kind = .localDate
            hasDate = true
            let separator = peek
            let timeFollows = (separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t")
                || separator == UInt8(ascii: " ")) && Self.isDigit(peek(1)) && Self.isDigit(peek(2)) && peek(3) == UInt8(ascii: ":")
            guard timeFollows else {
                if Self.isNumberByte(peek) || peek == UInt8(ascii: ":") { throw bad("date") }
                return result
            }
            index += 1
        }
        guard let h = fixedDigits(2), expect(UInt8(ascii: ":")), let mi = fixedDigits(2), expect(UInt8(ascii: ":")),
              let s = fixedDigits(2), h < 24, mi < 60, s < 60 else { throw bad(hasDate ? "date-time" : "time") }
        (result.hour, result.minute, result.second) = (h, mi, s)
        if peek == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            var nanos = 0
            while Self.isDigit(peek) {
                if digits < 9 { nanos = nanos * 10 + Int(peek - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw bad("fractional seconds") }
            for _ in digits..<max(digits, 9) { nanos *= 10 }
            result.nanosecond = nanos
        }
        result.kind = hasDate ? .localDateTime : .localTime
        if hasDate {
            if peek == UInt8(ascii: "Z") || peek == UInt8(ascii: "z") {
                index += 1
                result.offsetSeconds = 0
                result.kind = .offsetDateTime
            } else if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") {
                let negative = peek == UInt8(ascii: "-")
                index += 1
                guard let oh = fixedDigits(2), expect(UInt8(ascii: ":")), let om = fixedDigits(2), oh < 24, om < 60 else {
                    throw bad("time offset")
                }
                result.offsetSeconds = (oh * 3600 + om * 60) * (negative ? -1 : 1)
                result.kind = .offsetDateTime
            }
        }
        if Self.isNumberByte(peek) || peek == UInt8(ascii: ":") { throw bad(hasDate ? "date-time" : "time") }
        return result
    }
}
