/// An ISO 4217 currency code with the number of digits its minor unit has.
public struct Currency: Hashable, Sendable, CustomStringConvertible {
    public let code: String
    /// Digits after the decimal point in ordinary prices (USD 2, JPY 0, KWD 3).
    public let minorUnitDigits: Int

    /// The currencies FlipSync's marketplaces settle in. Others are refused rather than guessed.
    public static let known: [String: Int] = [
        "USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CHF": 2, "SEK": 2, "NOK": 2,
        "DKK": 2, "PLN": 2, "CZK": 2, "MXN": 2, "BRL": 2, "INR": 2, "SGD": 2, "HKD": 2, "CNY": 2,
        "JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3,
    ]

    public init?(code: String) {
        guard let digits = Self.known[code] else { return nil }
        self.code = code
        self.minorUnitDigits = digits
    }

    public static let usd = Currency(code: "USD")!

    public var description: String { code }
}

/// An exact amount of money: integer micro-units (millionths of the major unit) and a currency.
///
/// Micro-units hold both shelf prices (`19.99 USD` = 19,990,000) and metered API costs
/// (a token at `0.000002 USD`) without rounding. Arithmetic never mixes currencies and traps on
/// overflow (±9.2 trillion major units), so a sum is either exact or a crash, never a silent error.
public struct Money: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let microsPerUnit: Int64 = 1_000_000

    public var micros: Int64
    public var currency: Currency

    public init(micros: Int64, currency: Currency) {
        self.micros = micros
        self.currency = currency
    }

    public static func zero(_ currency: Currency) -> Money { Money(micros: 0, currency: currency) }

    /// In minor units (cents for USD), rounding half away from zero.
    public var minorUnits: Int64 {
        let scale = Self.pow10(6 - currency.minorUnitDigits)
        let (q, r) = micros.quotientAndRemainder(dividingBy: scale)
        if abs(r) * 2 >= scale { return q + (micros < 0 ? -1 : 1) }
        return q
    }

    public init(minorUnits: Int64, currency: Currency) {
        self.init(micros: minorUnits * Self.pow10(6 - currency.minorUnitDigits), currency: currency)
    }

    static func pow10(_ n: Int) -> Int64 {
        var v: Int64 = 1
        for _ in 0..<n { v *= 10 }
        return v
    }

    public static func < (a: Money, b: Money) -> Bool {
        precondition(a.currency == b.currency, "comparing \(a.currency) with \(b.currency)")
        return a.micros < b.micros
    }

    public static func + (a: Money, b: Money) -> Money {
        precondition(a.currency == b.currency, "adding \(a.currency) to \(b.currency)")
        return Money(micros: a.micros + b.micros, currency: a.currency)
    }

    public static func - (a: Money, b: Money) -> Money {
        precondition(a.currency == b.currency, "subtracting \(b.currency) from \(a.currency)")
        return Money(micros: a.micros - b.micros, currency: a.currency)
    }

    public static func * (a: Money, n: Int64) -> Money {
        Money(micros: a.micros * n, currency: a.currency)
    }

    /// `19.99 USD`: the currency's usual digits, more only where the amount needs them.
    public var description: String {
        "\(decimalString) \(currency.code)"
    }

    /// The one money formatter: `19.99`, `-0.5`→`-0.50`, `0.125` (USD, a fraction of a cent):
    /// the currency's digits, more only where the amount needs them.
    ///
    /// Written digit by digit into one buffer (a sweep formats several amounts for each
    /// decision's explanation): the sign, the whole units, then the six digits of the fraction
    /// less its trailing zeros beyond the currency's digits.
    public var decimalString: String {
        let whole = micros.magnitude / UInt64(Self.microsPerUnit)
        var fraction = micros.magnitude % UInt64(Self.microsPerUnit)
        var places = 6
        while places > currency.minorUnitDigits, fraction % 10 == 0 {
            fraction /= 10
            places -= 1
        }
        var wholeDigits = 1
        var rest = whole
        while rest >= 10 {
            rest /= 10
            wholeDigits += 1
        }
        // At most "-", 13 whole digits (Int64's range in micro-units), "." and 6 fraction digits.
        return String(unsafeUninitializedCapacity: 24) { buffer in
            var end = 0
            if micros < 0 {
                buffer[0] = UInt8(ascii: "-")
                end = 1
            }
            func write(_ value: UInt64, digits: Int) {
                var value = value
                for index in stride(from: end + digits - 1, through: end, by: -1) {
                    buffer[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                end += digits
            }
            write(whole, digits: wholeDigits)
            if places > 0 {
                buffer[end] = UInt8(ascii: ".")
                end += 1
                write(fraction, digits: places)
            }
            return end
        }
    }

    /// Exactly the currency's minor-unit digits (`12.50`, `1200` for JPY): ``decimalString`` of
    /// the amount in whole minor units (rounded half away from zero), as marketplace APIs want.
    public var fixedDecimalString: String {
        Money(minorUnits: minorUnits, currency: currency).decimalString
    }

    /// `Money(parsing: amount + " " + currencyCode)` where that simply succeeds — an amount that
    /// starts with a digit, both parts printable ASCII without spaces — without building and
    /// splitting the text (a marketplace's amounts arrive as these two fields, by the thousand in
    /// a sweep); nil wherever that parse would read them otherwise or throw, so the caller can
    /// ask it for its answer and its error.
    public init?(amount: String, currencyCode: String) {
        func plain(_ text: String) -> Bool { !text.isEmpty && text.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E } }
        guard let first = amount.utf8.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9"), plain(amount), plain(currencyCode),
              let currency = Currency(code: currencyCode), let micros = Self.parseDecimal(amount, scaleDigits: 6), micros >= 0
        else { return nil }
        self.init(micros: micros, currency: currency)
    }

    /// Parses `"0.50 USD"`, `"USD 0.50"` or `"12 EUR"`. At most six decimal places; the currency
    /// must be known. A negative amount is allowed only if `allowNegative`.
    public init(parsing text: String, allowNegative: Bool = false) throws(ValueError) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2 else {
            throw ValueError("expected an amount and a currency, like \"0.50 USD\", found \"\(text)\"")
        }
        let (amountText, codeText) = parts[0].first?.isLetter == true ? (parts[1], parts[0]) : (parts[0], parts[1])
        guard let currency = Currency(code: String(codeText)) else {
            throw ValueError("unknown currency \"\(codeText)\" in \"\(text)\" (use an ISO 4217 code such as USD, EUR, GBP)")
        }
        guard let micros = Self.parseDecimal(String(amountText), scaleDigits: 6) else {
            throw ValueError("\"\(amountText)\" is not an amount (use digits with at most 6 decimal places, like 0.50)")
        }
        guard allowNegative || micros >= 0 else { throw ValueError("amount \"\(text)\" must not be negative") }
        self.init(micros: micros, currency: currency)
    }

    /// A decimal number scaled by 10^scaleDigits, exactly; `nil` if malformed, too precise or too large.
    static func parseDecimal(_ text: String, scaleDigits: Int) -> Int64? {
        var bytes = Substring(text).utf8[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") { negative = true; bytes = bytes.dropFirst() }
        else if bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        var whole: Int64 = 0, fraction: Int64 = 0, fractionDigits = 0, wholeDigits = 0
        var seenPoint = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                if seenPoint { return nil }
                seenPoint = true
            } else if byte == UInt8(ascii: "_") || byte == UInt8(ascii: ",") {
                if seenPoint { return nil }  // thousands separators only before the point
            } else if byte >= 48 && byte <= 57 {
                let digit = Int64(byte - 48)
                if seenPoint {
                    fractionDigits += 1
                    if fractionDigits > scaleDigits { return nil }
                    fraction = fraction * 10 + digit
                } else {
                    wholeDigits += 1
                    if wholeDigits > 12 { return nil }
                    whole = whole * 10 + digit
                }
            } else {
                return nil
            }
        }
        guard wholeDigits + fractionDigits > 0, !(seenPoint && fractionDigits == 0) else { return nil }
        let value = whole * pow10(scaleDigits) + fraction * pow10(scaleDigits - fractionDigits)
        return negative ? -value : value
    }
}

/// A share such as `15%` or `0.25%`, exact to a ten-thousandth of a percent.
public struct Percent: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Parts per million: 1% = 10,000.
    public var partsPerMillion: Int64

    public init(partsPerMillion: Int64) {
        self.partsPerMillion = partsPerMillion
    }

    public static func < (a: Percent, b: Percent) -> Bool { a.partsPerMillion < b.partsPerMillion }

    /// Parses `"15%"`, `"0.25%"`, `"-3%"`.
    public init(parsing text: String) throws(ValueError) {
        let trimmed = text.trimmingASCIISpaces()
        guard trimmed.hasSuffix("%"),
              let ppm = Money.parseDecimal(String(trimmed.dropLast()).trimmingASCIISpaces(), scaleDigits: 4) else {
            throw ValueError("expected a percentage like \"15%\" or \"0.5%\", found \"\(text)\"")
        }
        self.init(partsPerMillion: ppm)
    }

    /// A percentage written as a bare number (eBay's `feedbackPercentage`, "98.5" for 98.5 %):
    /// exactly what `Percent(parsing: text + "%")` reads, without building and trimming that
    /// text (a competitor's seller is read per search item, thousands a sweep).
    public init(parsingNumber text: String) throws(ValueError) {
        var bytes = Substring(text).utf8[...]
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes.removeFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
        let number = bytes.count == text.utf8.count ? text : String(Substring(bytes))
        guard let ppm = Money.parseDecimal(number, scaleDigits: 4) else {
            throw ValueError("expected a percentage like \"15%\" or \"0.5%\", found \"\(text)%\"")
        }
        self.init(partsPerMillion: ppm)
    }

    /// `amount × self`, rounded half away from zero to a micro-unit.
    public func of(_ amount: Money) -> Money {
        let product = amount.micros.multipliedFullWidth(by: partsPerMillion)
        let (q, r) = Int64(1_000_000).dividingFullWidth(product)
        let rounded = abs(r) * 2 >= 1_000_000 ? q + ((amount.micros < 0) != (partsPerMillion < 0) ? -1 : 1) : q
        return Money(micros: rounded, currency: amount.currency)
    }

    public var description: String {
        var text = Money(micros: partsPerMillion * 100, currency: .usd).decimalString
        if text.hasSuffix(".00") { text.removeLast(3) }
        return text + "%"
    }
}

/// A span of time, exact to the millisecond: `45m`, `2s`, `1h30m`, `500ms`, `1d`.
public struct TimeSpan: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    public static func seconds(_ s: Int64) -> TimeSpan { TimeSpan(milliseconds: s * 1000) }
    public static let zero = TimeSpan(milliseconds: 0)

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.milliseconds < b.milliseconds }

    public var duration: Duration { .milliseconds(milliseconds) }
    public var seconds: Int64 { milliseconds / 1000 }

    static let units: [(names: [String], ms: Int64)] = [
        (["ms", "msec"], 1),
        (["s", "sec", "secs", "second", "seconds"], 1000),
        (["m", "min", "mins", "minute", "minutes"], 60_000),
        (["h", "hr", "hrs", "hour", "hours"], 3_600_000),
        (["d", "day", "days"], 86_400_000),
        (["w", "week", "weeks"], 604_800_000),
    ]

    /// Parses systemd-style spans: one or more `NUMBER UNIT` pairs (`1h30m`, `1h 30min`, `90s`,
    /// `0.5s`). A bare `0` is zero. Units: ms, s, m/min, h, d, w (and their long names).
    public init(parsing text: String) throws(ValueError) {
        let trimmed = text.trimmingASCIISpaces()
        if trimmed == "0" { self.init(milliseconds: 0); return }
        var bytes = Array(trimmed.utf8)[...]
        var total: Int64 = 0
        var parts = 0
        func fail() -> ValueError {
            ValueError("expected a duration like \"45m\", \"2s\", \"1h30m\" or \"500ms\", found \"\(text)\"")
        }
        while !bytes.isEmpty {
            while bytes.first == UInt8(ascii: " ") { bytes = bytes.dropFirst() }
            let numberEnd = bytes.firstIndex { !(($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: ".")) } ?? bytes.endIndex
            let numberText = String(decoding: bytes[..<numberEnd], as: UTF8.self)
            bytes = bytes[numberEnd...]
            while bytes.first == UInt8(ascii: " ") { bytes = bytes.dropFirst() }
            let unitEnd = bytes.firstIndex { !(($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90)) } ?? bytes.endIndex
            let unitText = String(decoding: bytes[..<unitEnd], as: UTF8.self).lowercased()
            bytes = bytes[unitEnd...]
            guard let unit = Self.units.first(where: { $0.names.contains(unitText) }),
                  let scaled = Money.parseDecimal(numberText, scaleDigits: 3) else { throw fail() }
            // `scaled` is the number in thousandths, so the span is scaled × unit / 1000 ms.
            let (product, overflow) = scaled.multipliedReportingOverflow(by: unit.ms)
            guard !overflow else { throw ValueError("duration \"\(text)\" is too long") }
            guard product % 1000 == 0 else { throw ValueError("duration \"\(text)\" is finer than a millisecond") }
            let exact = product / 1000
            let (sum, overflow2) = total.addingReportingOverflow(exact)
            guard !overflow2, sum < 100 * 365 * 86_400_000 else { throw ValueError("duration \"\(text)\" is too long") }
            total = sum
            parts += 1
        }
        guard parts > 0 else { throw fail() }
        self.init(milliseconds: total)
    }

    /// The shortest systemd-style form: `1h30m`, `45s`, `250ms`.
    public var description: String {
        if milliseconds == 0 { return "0" }
        var rest = milliseconds
        var out = milliseconds < 0 ? "-" : ""
        rest = abs(rest)
        for (names, ms) in Self.units.reversed() where rest >= ms {
            out += "\(rest / ms)\(names[0])"
            rest %= ms
        }
        return out
    }
}

/// A value that does not parse; the message says what was expected and what was found.
extension Int64 {
    /// `self + other`, held at `Int64.max` (or `.min`) instead of overflowing: for a run's
    /// totals of amounts channels and carriers answered, never for a value the ledger keeps.
    public func saturatingAdd(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

public struct ValueError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
