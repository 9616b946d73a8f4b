/// Basic, literal and multi-line strings, with their escapes.
extension Parser {
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
}
