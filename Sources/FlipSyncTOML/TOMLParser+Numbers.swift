/// Numbers (integers and floats) and dates and times.
extension Parser {
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
