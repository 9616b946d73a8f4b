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

// MARK: - The parser

struct Parser {
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
}
