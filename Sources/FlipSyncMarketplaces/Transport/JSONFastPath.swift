#if canImport(Glibc)
import Glibc
#endif

/// A fast reader for the JSON bodies a sweep receives by the thousand (eBay's getOffers,
/// getInventoryItems and Browse search and getItems), used before `JSONDecoder` and never
/// instead of it.
///
/// It reads only the plain documents those APIs send: UTF-8 without a byte-order mark, at most
/// 64 levels deep, integers where the wire type has an `Int`, no key that the wire type reads
/// given twice, every value of the type the wire type expects. On anything else — invalid JSON,
/// a missing or mistyped field, a number like `1.0` or `1e3` in an `Int` field, a duplicate key,
/// a lone surrogate — it gives up (`nil`) and `StatusMapping.decode` decodes the same bytes with
/// `JSONDecoder`, so every error, and every value it would have read differently, is
/// `JSONDecoder`'s, message for message. Where it answers, it answers what `JSONDecoder` would:
/// unknown keys ignored, `null` and an absent key both `nil` for an optional field, escapes
/// (`\n`, `\"`, `\u00e9`, surrogate pairs) decoded. Tests/FlipSyncMarketplacesTests compare the
/// two on generated and mutated bodies.
///
/// Why: `JSONDecoder` built a dictionary for every object and went through `Decoder`'s generic
/// containers for every field, 8–10 % of a sweep's CPU (BENCHMARKS.md, issue 15).
enum JSONFastPath {
    /// The reader gave up: the caller decodes with `JSONDecoder`.
    struct GiveUp: Error {}

    /// `read` given the body's document when it is an object the fast path reads, or nil. The
    /// object points into `bytes`: it is read inside, never kept.
    static func read<T>(_ bytes: [UInt8], _ read: (Object) throws(GiveUp) -> T) -> T? {
        bytes.withUnsafeBufferPointer { buffer -> T? in
            var parser = Parser(bytes: buffer)
            guard let value = try? parser.document(), case .object(let object) = value else { return nil }
            return try? read(object)
        }
    }

    /// A JSON value, pointing into the body it was parsed from. A string that is ASCII without
    /// escapes (nearly all of eBay's, keys and values) and a number keep their place in the body
    /// and are made into Swift strings only when a wire type reads them: most of a body's fields
    /// are never read. Any other string is decoded (escapes resolved, UTF-8 checked) when parsed.
    enum Value {
        case null
        case bool(Bool)
        /// A number's text.
        case number(Range<Int>)
        /// An ASCII string without escapes: its bytes between the quotes.
        case text(Range<Int>)
        /// Any other string, decoded.
        case string(String)
        case array([Value])
        case object(Object)
    }

    /// An object's key: its bytes when ASCII without escapes, decoded otherwise.
    enum Key {
        case text(Range<Int>)
        case string(String)
    }

    /// An object's members in document order, and the body they point into.
    struct Object {
        let body: UnsafeBufferPointer<UInt8>
        var members: [(key: Key, value: Value)]

        /// The text of `range` in the body (ASCII, checked when parsed).
        private func text(_ range: Range<Int>) -> String {
            String(decoding: UnsafeBufferPointer(rebasing: body[range]), as: UTF8.self)
        }

        /// A member's key as Swift text.
        private func name(_ key: Key) -> String {
            switch key {
            case .text(let range): text(range)
            case .string(let decoded): decoded
            }
        }

        /// A string value as Swift text, or nil when `value` is not a string.
        private func string(of value: Value) -> String? {
            switch value {
            case .text(let range): text(range)
            case .string(let decoded): decoded
            default: nil
            }
        }

        /// The value of `key`: nil when absent. Gives up when the key is there twice (which one
        /// `JSONDecoder` takes is its business).
        ///
        /// Keys are compared as Swift compares strings, as `JSONDecoder`'s are: a key of ASCII
        /// bytes byte for byte with an ASCII `key` (two ASCII strings are equal exactly when
        /// their bytes are), anything else as `String`s, by canonical equivalence ("\u212A", the
        /// Kelvin sign, is "K").
        func value(_ key: String) throws(GiveUp) -> Value? {
            let found = key.utf8.withContiguousStorageIfAvailable { wanted -> (index: Int?, twice: Bool) in
                let ascii = wanted.allSatisfy { $0 < 0x80 }
                var index: Int?
                for i in members.indices {
                    let equal: Bool
                    switch members[i].key {
                    case .text(let range):
                        if ascii {
                            equal = range.count == wanted.count
                                && (wanted.isEmpty || memcmp(body.baseAddress! + range.lowerBound, wanted.baseAddress!, wanted.count) == 0)
                        } else {
                            equal = text(range) == key
                        }
                    case .string(let decoded):
                        equal = decoded == key
                    }
                    guard equal else { continue }
                    if index != nil { return (index, true) }
                    index = i
                }
                return (index, false)
            } ?? slowIndex(key)
            guard !found.twice else { throw GiveUp() }
            return found.index.map { members[$0].value }
        }

        /// `value`'s search for a key whose bytes are not contiguous (a bridged string).
        private func slowIndex(_ key: String) -> (index: Int?, twice: Bool) {
            var index: Int?
            for i in members.indices {
                guard name(members[i].key) == key else { continue }
                if index != nil { return (index, true) }
                index = i
            }
            return (index, false)
        }

        /// An optional field: nil when absent or null.
        func optional(_ key: String) throws(GiveUp) -> Value? {
            guard let value = try value(key) else { return nil }
            if case .null = value { return nil }
            return value
        }

        func string(_ key: String) throws(GiveUp) -> String {
            guard let value = try value(key), let text = string(of: value) else { throw GiveUp() }
            return text
        }

        func optionalString(_ key: String) throws(GiveUp) -> String? {
            guard let value = try optional(key) else { return nil }
            guard let text = string(of: value) else { throw GiveUp() }
            return text
        }

        /// An `Int` field: the number's text a plain integer that fits (`-0` is 0).
        func optionalInt(_ key: String) throws(GiveUp) -> Int? {
            guard let value = try optional(key) else { return nil }
            guard case .number(let range) = value, let number = Int(text(range)) else { throw GiveUp() }
            return number
        }

        /// A `[String]` field: an array of strings only (a `null` in it gives up, as `JSONDecoder`
        /// fails there).
        func optionalStrings(_ key: String) throws(GiveUp) -> [String]? {
            guard let value = try optional(key) else { return nil }
            return try strings(value)
        }

        /// A `[String: [String]]` field. A key given twice (or two keys Swift holds equal) gives
        /// up: which one `JSONDecoder` keeps is its business.
        func optionalStringArrays(_ key: String) throws(GiveUp) -> [String: [String]]? {
            guard let value = try optional(key) else { return nil }
            guard case .object(let object) = value else { throw GiveUp() }
            var out: [String: [String]] = [:]
            out.reserveCapacity(object.members.count)
            for member in object.members {
                guard out.updateValue(try strings(member.value), forKey: object.name(member.key)) == nil else { throw GiveUp() }
            }
            return out
        }

        private func strings(_ value: Value) throws(GiveUp) -> [String] {
            guard case .array(let elements) = value else { throw GiveUp() }
            var out: [String] = []
            out.reserveCapacity(elements.count)
            for element in elements {
                guard let text = string(of: element) else { throw GiveUp() }
                out.append(text)
            }
            return out
        }

        func optionalObject<T>(_ key: String, _ read: (Object) throws(GiveUp) -> T) throws(GiveUp) -> T? {
            guard let value = try optional(key) else { return nil }
            guard case .object(let object) = value else { throw GiveUp() }
            return try read(object)
        }

        func optionalArray<T>(_ key: String, _ read: (Object) throws(GiveUp) -> T) throws(GiveUp) -> [T]? {
            guard let value = try optional(key) else { return nil }
            guard case .array(let elements) = value else { throw GiveUp() }
            var out: [T] = []
            out.reserveCapacity(elements.count)
            for element in elements {
                guard case .object(let object) = element else { throw GiveUp() }
                out.append(try read(object))
            }
            return out
        }
    }

    /// A recursive-descent parser over the body's bytes (RFC 8259), strict: anything it does not
    /// accept throws `GiveUp`, including what is valid JSON but outside the fast path.
    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var depth = 0
        static let maximumDepth = 64

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func document() throws(GiveUp) -> Value {
            let value = try self.value()
            skipWhitespace()
            guard index == bytes.count else { throw GiveUp() }
            return value
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value() throws(GiveUp) -> Value {
            skipWhitespace()
            guard index < bytes.count else { throw GiveUp() }
            switch bytes[index] {
            case UInt8(ascii: "{"): return .object(try object())
            case UInt8(ascii: "["): return .array(try array())
            case UInt8(ascii: "\""):
                switch try string() {
                case .text(let range): return .text(range)
                case .string(let decoded): return .string(decoded)
                }
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return .number(try number())
            }
        }

        mutating func literal(_ word: StaticString) throws(GiveUp) {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { throw GiveUp() }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw GiveUp() }
            index += count
        }

        mutating func object() throws(GiveUp) -> Object {
            depth += 1
            guard depth <= Self.maximumDepth else { throw GiveUp() }
            defer { depth -= 1 }
            index += 1  // {
            var members: [(key: Key, value: Value)] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return Object(body: bytes, members: members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw GiveUp() }
                let key = try string()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw GiveUp() }
                index += 1
                members.append((key, try value()))
                skipWhitespace()
                guard index < bytes.count else { throw GiveUp() }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return Object(body: bytes, members: members)
                default: throw GiveUp()
                }
            }
        }

        mutating func array() throws(GiveUp) -> [Value] {
            depth += 1
            guard depth <= Self.maximumDepth else { throw GiveUp() }
            defer { depth -= 1 }
            index += 1  // [
            var elements: [Value] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return elements }
            while true {
                elements.append(try value())
                skipWhitespace()
                guard index < bytes.count else { throw GiveUp() }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return elements
                default: throw GiveUp()
                }
            }
        }

        /// A string from its opening quote: its place in the body when it is ASCII without
        /// escapes, decoded otherwise. Control characters and invalid UTF-8 give up.
        mutating func string() throws(GiveUp) -> Key {
            index += 1  // "
            let start = index
            var ascii = true
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let end = index
                    index += 1
                    if ascii { return .text(start..<end) }
                    guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) else { throw GiveUp() }
                    return .string(text)
                }
                if byte == UInt8(ascii: "\\") { return .string(try escapedString(from: start)) }
                guard byte >= 0x20 else { throw GiveUp() }
                if byte >= 0x80 { ascii = false }
                index += 1
            }
            throw GiveUp()
        }

        /// The rest of a string with escapes, from its first byte at `start`.
        mutating func escapedString(from start: Int) throws(GiveUp) -> String {
            var utf8: [UInt8] = []
            utf8.reserveCapacity(index - start + 32)
            utf8.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    guard let text = String(validating: utf8, as: UTF8.self) else { throw GiveUp() }
                    return text
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw GiveUp() }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            // A high surrogate must be followed by an escaped low one.
                            guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { throw GiveUp() }
                            index += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw GiveUp() }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw GiveUp()
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw GiveUp() }
                        utf8.append(contentsOf: UTF8.encode(unicode)!)
                    default: throw GiveUp()
                    }
                default:
                    // The run up to the next escape, quote or control character, copied at once
                    // (URLs written with `\/` are mostly such runs).
                    let run = index
                    while index < bytes.count, bytes[index] >= 0x20, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
                        index += 1
                    }
                    guard index > run else { throw GiveUp() }
                    utf8.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index]))
                }
            }
            throw GiveUp()
        }

        mutating func hex4() throws(GiveUp) -> UInt32 {
            guard bytes.count - index >= 4 else { throw GiveUp() }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw GiveUp()
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        /// A number's text, checked against JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
        mutating func number() throws(GiveUp) -> Range<Int> {
            let start = index
            func digit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9") }
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digit(index) else { throw GiveUp() }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else {
                while digit(index) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digit(index) else { throw GiveUp() }
                while digit(index) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard digit(index) else { throw GiveUp() }
                while digit(index) { index += 1 }
            }
            return start..<index
        }
    }
}

/// A wire type the fast path can read: `init(fast:)` gives up (throws) wherever `JSONDecoder`
/// might read the object differently or fail.
protocol FastJSONDecodable: Decodable {
    init(fast object: JSONFastPath.Object) throws(JSONFastPath.GiveUp)
}

extension FastJSONDecodable {
    /// The body read by the fast path, or nil when it gave up.
    static func fast(_ bytes: [UInt8]) -> Self? {
        JSONFastPath.read(bytes) { (object) throws(JSONFastPath.GiveUp) in try Self(fast: object) }
    }
}
