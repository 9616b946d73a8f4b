/// One measured value a readiness probe records.
public enum EvidenceValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case integer(Int64)
    case text(String)
    case flag(Bool)
    case none

    public var integer: Int64? { if case .integer(let v) = self { return v } else { return nil } }
    public var text: String? { if case .text(let v) = self { return v } else { return nil } }
    public var flag: Bool? { if case .flag(let v) = self { return v } else { return nil } }

    public var description: String {
        switch self {
        case .integer(let v): return "\(v)"
        case .text(let v): return v
        case .flag(let v): return v ? "true" : "false"
        case .none: return "null"
        }
    }

    var json: String {
        switch self {
        case .integer(let v): return "\(v)"
        case .text(let v): return JSONText.string(v)
        case .flag(let v): return v ? "true" : "false"
        case .none: return "null"
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .none }
        else if let v = try? container.decode(Bool.self) { self = .flag(v) }
        else if let v = try? container.decode(Int64.self) { self = .integer(v) }
        else { self = .text(try container.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .integer(let v): try container.encode(v)
        case .text(let v): try container.encode(v)
        case .flag(let v): try container.encode(v)
        case .none: try container.encodeNil()
        }
    }
}

/// A probe's raw evidence: named values in the order measured, stored as a flat JSON object
/// (`{"operations":200,"write_us.p95":812,"quick_check":"ok"}`) — the probe task's result.
///
/// Flat on purpose: the scoring wave reads it back with `init(json:)`, which understands
/// exactly what `json` writes (strings, integers, booleans, null), nothing nested.
public struct ReadinessEvidence: Sendable, Hashable {
    public private(set) var entries: [(name: String, value: EvidenceValue)] = []

    public init() {}

    public init(_ entries: [(String, EvidenceValue)]) {
        for (name, value) in entries { self[name] = value }
    }

    public subscript(name: String) -> EvidenceValue? {
        get { entries.first { $0.name == name }?.value }
        set {
            let value = newValue ?? EvidenceValue.none
            if let index = entries.firstIndex(where: { $0.name == name }) { entries[index].value = value }
            else { entries.append((name, value)) }
        }
    }

    public var json: String {
        "{" + entries.map { JSONText.string($0.name) + ":" + $0.value.json }.joined(separator: ",") + "}"
    }

    /// Reads what `json` wrote; nil for anything else.
    public init?(json: String) {
        var reader = FlatJSONReader(Array(json.utf8))
        guard let entries = reader.object() else { return nil }
        self.entries = entries
    }

    /// The scalar fields a JSON object starts with, up to its first array or object.
    init?(leadingScalarsOf json: String) {
        var reader = FlatJSONReader(Array(json.utf8))
        guard let entries = reader.object(stoppingAtNested: true) else { return nil }
        self.entries = entries
    }

    public static func == (a: ReadinessEvidence, b: ReadinessEvidence) -> Bool {
        a.entries.elementsEqual(b.entries) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for entry in entries {
            hasher.combine(entry.name)
            hasher.combine(entry.value)
        }
    }
}

/// A reader of one flat JSON object (string keys; string, integer, boolean or null values).
private struct FlatJSONReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// `stoppingAtNested`: return the fields read so far at the first array or object value.
    mutating func object(stoppingAtNested: Bool = false) -> [(name: String, value: EvidenceValue)]? {
        var entries: [(name: String, value: EvidenceValue)] = []
        guard consume(UInt8(ascii: "{")) else { return nil }
        if consume(UInt8(ascii: "}")) { return atEnd() ? entries : nil }
        repeat {
            guard let name = string(), consume(UInt8(ascii: ":")) else { return nil }
            if stoppingAtNested, peek() == UInt8(ascii: "[") || peek() == UInt8(ascii: "{") { return entries }
            guard let value = value() else { return nil }
            entries.append((name, value))
        } while consume(UInt8(ascii: ","))
        guard consume(UInt8(ascii: "}")), atEnd() else { return nil }
        return entries
    }

    private mutating func atEnd() -> Bool {
        skipSpaces()
        return index == bytes.count
    }

    private mutating func skipSpaces() {
        while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
    }

    private mutating func peek() -> UInt8? {
        skipSpaces()
        return index < bytes.count ? bytes[index] : nil
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        skipSpaces()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func literal(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard bytes.count - index >= w.count, Array(bytes[index..<index + w.count]) == w else { return false }
        index += w.count
        return true
    }

    private mutating func value() -> EvidenceValue? {
        skipSpaces()
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "\"") { return string().map(EvidenceValue.text) }
        if literal("true") { return .flag(true) }
        if literal("false") { return .flag(false) }
        if literal("null") { return EvidenceValue.none }
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        return Int64(String(decoding: bytes[start..<index], as: UTF8.self)).map(EvidenceValue.integer)
    }

    private mutating func string() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
            raw = []
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                flush()
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    guard bytes.count - index >= 4, let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16),
                          let scalar = Unicode.Scalar(code) else { return nil }
                    index += 4
                    scalars.append(scalar)
                default: return nil
                }
            default:
                raw.append(byte)
            }
        }
        return nil
    }
}
