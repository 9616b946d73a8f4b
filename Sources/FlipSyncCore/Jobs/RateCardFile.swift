import FlipSyncTOML

/// One carrier service's rate card as written in its file (`config/rate-cards/*.toml`), every
/// value with the line that set it:
///
/// ```toml
/// carrier = "USPS"
/// service = "GroundAdvantage"
/// currency = "USD"
/// dimensional_divisor = 166
/// dimensional_rule = "over-one-cubic-foot"   # or "always"
/// transit_days = [2, 2, 3, 3, 4, 4, 5, 5]    # zones 1…8
/// ounce_breaks = [                           # optional; up_to in whole ounces (16: up to 15.99 oz)
///   { up_to = 4, prices = ["5.40", "5.40", "5.50", "5.60", "5.70", "5.85", "5.95", "6.15"] },
/// ]
/// pound_breaks = [                           # up_to in whole pounds
///   { up_to = 1, prices = ["6.35", "6.35", "6.55", "6.75", "6.95", "7.20", "7.55", "8.15"] },
/// ]
/// zones = [                                  # ZIP3 ranges; the first entry that holds both wins
///   { origin = "100-119", destination = "100-119", zone = 1 },
/// ]
/// fallback_zone = 8                          # optional: pairs no entry names (else not served)
/// ```
///
/// Prices are decimal strings in the card's currency, read exactly into `Money` (never through a
/// floating-point number). Reading checks syntax, types and the ZIP3 ranges; the card's shape
/// (8 prices per break, increasing breaks, zones 1…8) is checked where the card is built
/// (`RateCard` in FlipSyncMarketplaces), which reports it at these lines.
public struct RateCardFile: Sendable, Hashable {
    /// Which parcels a carrier bills by dimensional weight.
    public enum DimensionalRule: String, CaseIterable, Sendable, Hashable {
        /// Every parcel (UPS and FedEx daily rates).
        case always
        /// Only parcels over one cubic foot, 1,728 cubic inches (USPS).
        case overOneCubicFoot = "over-one-cubic-foot"
    }

    /// One weight break: up to `upTo` ounces or pounds, the prices of zones 1…8.
    public struct Break: Sendable, Hashable {
        public var upTo: Int
        public var prices: [Money]
        public var line: Int
    }

    /// Origin ZIP3s × destination ZIP3s → zone.
    public struct ZoneEntry: Sendable, Hashable {
        public var origin: ClosedRange<Int>
        public var destination: ClosedRange<Int>
        public var zone: Int
        public var line: Int
    }

    public var file: String
    public var carrier: Located<String>
    public var service: Located<String>
    public var currency: Located<Currency>
    public var dimensionalDivisor: Located<Int>
    public var dimensionalRule: Located<DimensionalRule>
    public var transitDays: Located<[Int]>
    public var ounceBreaks: [Break]
    public var poundBreaks: [Break]
    public var zones: [ZoneEntry]
    public var fallbackZone: Located<Int>?

    /// Reads and checks one rate-card file; every problem goes to `log` as `file:line`, and the
    /// result is nil if there was any.
    public static func read(path: String, log: DiagnosticLog) -> RateCardFile? {
        guard let table = ConfigFileLoader.parse(path: path, log: log) else { return nil }
        let seen = log.entries.count
        var r = TableReader(file: path, table: table, scope: "", log: log)
        let carrier = r.string("carrier", required: true)
        let service = r.string("service", required: true)
        let currencyText = r.string("currency", required: true)
        var currency: Located<Currency>?
        if let currencyText {
            if let c = Currency(code: currencyText.value) { currency = Located(value: c, line: currencyText.line) } else {
                r.error(currencyText.line, "\"currency\": unknown currency \"\(currencyText.value)\" (use an ISO 4217 code such as USD)")
            }
        }
        let divisor = r.integer("dimensional_divisor", in: Int64(Int32.min)...Int64(Int32.max), required: true)
        let rule: Located<DimensionalRule>? = r.choice("dimensional_rule", required: true)
        let days = readIntegers("transit_days", &r)
        // With the currency wrong the card already failed, but its breaks still get checked: any
        // currency will do for that.
        let priced = currency?.value ?? .usd
        let ounces = readBreaks("ounce_breaks", &r, currency: priced, required: false)
        let pounds = readBreaks("pound_breaks", &r, currency: priced, required: true)
        let zones = readZones(&r)
        let fallback = r.integer("fallback_zone", in: Int64(Int32.min)...Int64(Int32.max))
        r.finish()
        guard !log.entries[seen...].contains(where: { $0.severity == .error }), let carrier, let service, let currency, let divisor, let rule, let days else { return nil }
        return RateCardFile(file: path, carrier: carrier, service: service, currency: currency, dimensionalDivisor: divisor,
                            dimensionalRule: rule, transitDays: days, ounceBreaks: ounces, poundBreaks: pounds, zones: zones,
                            fallbackZone: fallback)
    }

    /// The items of an array (each has its own line) and the key's line; `nil` (reported if
    /// required) when the key is missing or is not an array.
    private static func items(_ key: String, _ r: inout TableReader, required: Bool) -> Located<[TOMLNode]>? {
        guard let (node, line) = r.node(key, required: required) else { return nil }
        guard case .array(let items) = node.value else {
            r.error(line, "\"\(key)\" must be an array (found: \(node.value.typeName))")
            return nil
        }
        return Located(value: items, line: line)
    }

    private static func readIntegers(_ key: String, _ r: inout TableReader) -> Located<[Int]>? {
        guard let nodes = items(key, &r, required: true) else { return nil }
        var values: [Int] = []
        for node in nodes.value {
            guard case .integer(let i) = node.value, let value = Int(exactly: i) else {
                r.error(node.position.line, "\"\(key)\" must hold integers (found: \(node.value.typeName))")
                return nil
            }
            values.append(value)
        }
        return Located(value: values, line: nodes.line)
    }

    /// Inline tables `{ up_to = N, prices = ["5.40", …] }`, each priced in `currency`.
    private static func readBreaks(_ key: String, _ r: inout TableReader, currency: Currency, required: Bool) -> [Break] {
        var breaks: [Break] = []
        for (index, item) in (items(key, &r, required: required)?.value ?? []).enumerated() {
            let scope = "\(key)[\(index + 1)]"
            guard case .table(let table) = item.value else {
                r.error(item.position.line, "\"\(scope)\" must be a table like { up_to = 1, prices = [\"5.40\", …] }, found: \(item.value.typeName)")
                continue
            }
            var t = TableReader(file: r.file, table: table, scope: scope, log: r.log)
            let upTo = t.integer("up_to", in: Int64(Int32.min)...Int64(Int32.max), required: true)
            let texts = t.strings("prices", required: true)
            t.finish()
            var prices: [Money] = []
            for text in texts?.value ?? [] {
                // Exact decimal to micro-units; a sign, a currency or a float is refused.
                guard let micros = Money.parseDecimal(text.value, scaleDigits: 6), text.value.first?.isNumber == true else {
                    t.error(text.line, "\"\(scope).prices\": \"\(text.value)\" is not a price (use a decimal string like \"5.40\", in the card's currency)")
                    continue
                }
                prices.append(Money(micros: micros, currency: currency))
            }
            if let upTo, let texts, prices.count == texts.value.count {
                breaks.append(Break(upTo: upTo.value, prices: prices, line: item.position.line))
            }
        }
        return breaks
    }

    /// Inline tables `{ origin = "100-119", destination = "005-089", zone = 3 }`.
    private static func readZones(_ r: inout TableReader) -> [ZoneEntry] {
        var entries: [ZoneEntry] = []
        for (index, item) in (items("zones", &r, required: true)?.value ?? []).enumerated() {
            let scope = "zones[\(index + 1)]"
            guard case .table(let table) = item.value else {
                r.error(item.position.line, "\"\(scope)\" must be a table like { origin = \"100-119\", destination = \"005-089\", zone = 3 }, found: \(item.value.typeName)")
                continue
            }
            var t = TableReader(file: r.file, table: table, scope: scope, log: r.log)
            let origin = t.parsed("origin", required: true) { (text) throws(ValueError) in try parseZIP3Range(text) }
            let destination = t.parsed("destination", required: true) { (text) throws(ValueError) in try parseZIP3Range(text) }
            let zone = t.integer("zone", in: Int64(Int32.min)...Int64(Int32.max), required: true)
            t.finish()
            if let origin, let destination, let zone {
                entries.append(ZoneEntry(origin: origin.value, destination: destination.value, zone: zone.value, line: item.position.line))
            }
        }
        return entries
    }

    /// `"100"` or `"100-119"`: three-digit ZIP3s, the first not above the second.
    static func parseZIP3Range(_ text: String) throws(ValueError) -> ClosedRange<Int> {
        func zip3(_ part: Substring) -> Int? {
            part.count == 3 && part.allSatisfy({ $0.isASCII && $0.isNumber }) ? Int(part) : nil
        }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let low = zip3(parts[0]), let high = zip3(parts[parts.count - 1]) else {
            throw ValueError("expected a ZIP3 or a range of them like \"100-119\", found \"\(text)\"")
        }
        guard low <= high else { throw ValueError("the range \"\(text)\" runs backwards") }
        return low...high
    }
}
