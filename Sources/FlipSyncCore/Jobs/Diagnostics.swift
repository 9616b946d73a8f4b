import FlipSyncTOML

/// One problem found in a job or config file, reported GNU-style (`PATH:LINE: error: message`)
/// so editors can jump to it.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible, Comparable {
    public enum Severity: String, Sendable, Comparable {
        case error, warning

        public static func < (a: Severity, b: Severity) -> Bool { a == .error && b == .warning }
    }

    public var file: String
    public var line: Int
    public var severity: Severity
    public var message: String

    public init(file: String, line: Int, severity: Severity = .error, message: String) {
        self.file = file
        self.line = line
        self.severity = severity
        self.message = message
    }

    /// One line, always starting with `FILE:LINE:`: control characters in the file name or the
    /// message (which quotes values from the file) are escaped, so a value cannot end the line
    /// early or fake a diagnostic for another file.
    public var description: String {
        "\(Self.escaped(file)):\(line): \(severity.rawValue): \(Self.escaped(message))"
    }

    /// `text` with every character that could break or disguise a line written as an escape:
    /// `\n`, `\r`, `\t`, and `\u{XX}` for the other C0 controls, DEL, the C1 controls, the
    /// line and paragraph separators (U+2028, U+2029) and the bidirectional controls
    /// (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069). Other text is unchanged.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else { out.append(scalar); continue }
            let escape: String
            switch scalar {
            case "\n": escape = "\\n"
            case "\r": escape = "\\r"
            case "\t": escape = "\\t"
            default: escape = "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            }
            out.append(contentsOf: escape.unicodeScalars)
        }
        return String(out)
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    public static func < (a: Diagnostic, b: Diagnostic) -> Bool {
        (a.file, a.line, a.message) < (b.file, b.line, b.message)
    }
}

/// Collects diagnostics while files are read; nothing stops at the first error.
public final class DiagnosticLog {
    public private(set) var entries: [Diagnostic] = []

    public init() {}

    public var hasErrors: Bool { entries.contains { $0.severity == .error } }

    public func error(_ file: String, _ line: Int, _ message: String) {
        entries.append(Diagnostic(file: file, line: max(line, 1), message: message))
    }

    public func warning(_ file: String, _ line: Int, _ message: String) {
        entries.append(Diagnostic(file: file, line: max(line, 1), severity: .warning, message: message))
    }

    public func append(contentsOf other: [Diagnostic]) {
        entries.append(contentsOf: other)
    }
}

/// A value and the line of the key that set it.
public struct Located<Value> {
    public var value: Value
    public var line: Int
}

extension Located: Sendable where Value: Sendable {}
extension Located: Equatable where Value: Equatable {}
extension Located: Hashable where Value: Hashable {}

/// Reads one TOML table strictly: every accessor declares a key as known, reports wrong types
/// and bad values at the key's line, and `finish()` reports every key nobody asked for, with a
/// "did you mean" for near misses.
struct TableReader {
    let file: String
    let table: TOMLTable
    /// Dotted path of this table for messages ("", "retry", "params").
    let scope: String
    let log: DiagnosticLog
    private(set) var known: [String] = []

    init(file: String, table: TOMLTable, scope: String, log: DiagnosticLog) {
        self.file = file
        self.table = table
        self.scope = scope
        self.log = log
    }

    var line: Int { table.position.line }

    func qualified(_ key: String) -> String { scope.isEmpty ? key : "\(scope).\(key)" }

    func entry(_ key: String) -> TOMLTable.Entry? {
        table.entries.first { $0.key == key }
    }

    func has(_ key: String) -> Bool { entry(key) != nil }

    func error(_ line: Int, _ message: String) { log.error(file, line, message) }

    /// The raw node, declaring the key known.
    mutating func node(_ key: String, required: Bool = false) -> (TOMLNode, Int)? {
        known.append(key)
        guard let entry = entry(key) else {
            if required {
                error(line, "missing required key \"\(qualified(key))\"")
            }
            return nil
        }
        return (entry.node, entry.keyPosition.line)
    }

    private func typeError(_ key: String, _ line: Int, expected: String, found node: TOMLNode) {
        error(line, "\"\(qualified(key))\" must be \(expected), found \(article(node.value.typeName))")
    }

    private func article(_ type: String) -> String {
        (type.first.map { "aeiou".contains($0) } ?? false) ? "an \(type)" : "a \(type)"
    }

    mutating func string(_ key: String, required: Bool = false) -> Located<String>? {
        guard let (node, line) = node(key, required: required) else { return nil }
        guard case .string(let s) = node.value else {
            typeError(key, line, expected: "a string", found: node)
            return nil
        }
        return Located(value: s, line: line)
    }

    mutating func bool(_ key: String) -> Located<Bool>? {
        guard let (node, line) = node(key) else { return nil }
        guard case .boolean(let b) = node.value else {
            typeError(key, line, expected: "true or false", found: node)
            return nil
        }
        return Located(value: b, line: line)
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int64>, required: Bool = false) -> Located<Int>? {
        guard let (node, line) = node(key, required: required) else { return nil }
        guard case .integer(let i) = node.value else {
            typeError(key, line, expected: "an integer", found: node)
            return nil
        }
        guard range.contains(i) else {
            error(line, "\"\(qualified(key))\" is \(i); allowed: \(range.lowerBound)…\(range.upperBound)")
            return nil
        }
        return Located(value: Int(i), line: line)
    }

    /// A string converted by `parse`; its error message is reported at the key's line.
    mutating func parsed<T>(_ key: String, required: Bool = false,
                            _ parse: (String) throws(ValueError) -> T) -> Located<T>? {
        guard let s = string(key, required: required) else { return nil }
        do {
            return Located(value: try parse(s.value), line: s.line)
        } catch {
            self.error(s.line, "\"\(qualified(key))\": \(error.message)")
            return nil
        }
    }

    mutating func duration(_ key: String, in range: ClosedRange<TimeSpan>? = nil) -> Located<TimeSpan>? {
        guard let v = parsed(key, { (text) throws(ValueError) in try TimeSpan(parsing: text) }) else { return nil }
        if let range, !range.contains(v.value) {
            error(v.line, "\"\(qualified(key))\" is \(v.value); allowed: \(range.lowerBound)…\(range.upperBound)")
            return nil
        }
        return v
    }

    mutating func money(_ key: String) -> Located<Money>? {
        parsed(key) { (text) throws(ValueError) in try Money(parsing: text) }
    }

    mutating func percent(_ key: String, in range: ClosedRange<Int64>? = nil) -> Located<Percent>? {
        guard let v = parsed(key, { (text) throws(ValueError) in try Percent(parsing: text) }) else { return nil }
        if let range, !range.contains(v.value.partsPerMillion) {
            let low = Percent(partsPerMillion: range.lowerBound), high = Percent(partsPerMillion: range.upperBound)
            error(v.line, "\"\(qualified(key))\" is \(v.value); allowed: \(low)…\(high)")
            return nil
        }
        return v
    }

    /// One of a fixed set of words.
    mutating func choice<T: RawRepresentable & CaseIterable>(_ key: String, required: Bool = false) -> Located<T>?
    where T.RawValue == String {
        guard let s = string(key, required: required) else { return nil }
        if let value = T(rawValue: s.value) { return Located(value: value, line: s.line) }
        error(s.line, "\"\(qualified(key))\" is \"\(s.value)\"" + Suggestion.expectation(s.value, options: T.allCases.map(\.rawValue)))
        return nil
    }

    /// A string or an array of strings (an array may not be empty).
    mutating func strings(_ key: String, required: Bool = false) -> Located<[Located<String>]>? {
        guard let (node, line) = node(key, required: required) else { return nil }
        switch node.value {
        case .string(let s):
            return Located(value: [Located(value: s, line: line)], line: line)
        case .array(let items):
            var out: [Located<String>] = []
            for item in items {
                guard case .string(let s) = item.value else {
                    error(item.position.line, "\"\(qualified(key))\" must hold strings, found \(article(item.value.typeName))")
                    return nil
                }
                out.append(Located(value: s, line: item.position.line))
            }
            guard !out.isEmpty else {
                error(line, "\"\(qualified(key))\" must not be empty")
                return nil
            }
            return Located(value: out, line: line)
        default:
            typeError(key, line, expected: "a string or an array of strings", found: node)
            return nil
        }
    }

    /// A sub-table, read by its own reader (which the caller must `finish()`).
    mutating func table(_ key: String, required: Bool = false) -> TableReader? {
        guard let (node, line) = node(key, required: required) else { return nil }
        guard case .table(let t) = node.value else {
            typeError(key, line, expected: "a table", found: node)
            return nil
        }
        return TableReader(file: file, table: t, scope: qualified(key), log: log)
    }

    /// Reports every key of the table that no accessor asked for.
    func finish() {
        for entry in table.entries where !known.contains(entry.key) {
            var message = scope.isEmpty ? "unknown key \"\(entry.key)\"" : "unknown key \"\(entry.key)\" in [\(scope)]"
            if let guess = Suggestion.closest(to: entry.key, in: known) { message += "; did you mean \"\(guess)\"?" }
            error(entry.keyPosition.line, message)
        }
    }
}

/// "Did you mean": the closest candidate by edit distance, if it is close enough to be a typo.
enum Suggestion {
    /// `unknown WHAT "VALUE" [in CONTEXT]; expected one of: A, B, C; did you mean "A"?`
    static func unknown(_ what: String, _ value: String, in context: String? = nil, options: [String]) -> String {
        "unknown \(what) \"\(value)\"" + (context.map { " in \($0)" } ?? "") + expectation(value, options: options)
    }

    /// `; expected one of: A, B, C; did you mean "A"?`
    static func expectation(_ value: String, options: [String]) -> String {
        var message = "; expected one of: \(options.joined(separator: ", "))"
        if let guess = closest(to: value, in: options) { message += "; did you mean \"\(guess)\"?" }
        return message
    }

    /// Words longer than this get no suggestion: no key, zone or option is nearly this long,
    /// and the edit distance costs time proportional to the product of the lengths.
    static let maxSuggestedLength = 64

    static func closest(to word: String, in candidates: [String]) -> String? {
        guard word.utf8.count <= maxSuggestedLength else { return nil }
        let lowered = word.lowercased()
        var best: (String, Int)?
        for candidate in Set(candidates) {
            let other = candidate.lowercased()
            // The distance is at least the difference in length, and at most 3 is ever accepted.
            guard abs(other.utf8.count - lowered.utf8.count) <= 3 else { continue }
            let d = distance(lowered, other)
            if best.map({ d < $0.1 || (d == $0.1 && candidate < $0.0) }) ?? true { best = (candidate, d) }
        }
        guard let (candidate, d) = best else { return nil }
        // Allow about one edit per three characters (at least one, at most three).
        let allowed = min(3, max(1, candidate.count / 3))
        return d <= allowed ? candidate : nil
    }

    /// Damerau–Levenshtein distance (optimal string alignment), so swapped letters count as one.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previous2[j - 2] + 1)
                }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
