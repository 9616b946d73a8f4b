import Foundation
import Testing
@testable import FlipSyncTOML

/// The same type-tagged rendering `Vectors/generate.py` makes of tomllib's result.
func canonical(_ value: TOMLValue) -> String {
    func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
    func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value > 0x7E {
                    for unit in String(scalar).utf16 {
                        let hex = String(unit, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
    switch value {
    case .boolean(let b): return "bool:\(b)"
    case .integer(let i): return "int:\(i)"
    case .float(let d):
        if d.isNaN { return "float:nan" }
        let hex = String(d.bitPattern, radix: 16)
        return "float:" + String(repeating: "0", count: 16 - hex.count) + hex
    case .string(let s): return "string:" + jsonString(s)
    case .dateTime(let t):
        let date = "\(pad(t.year, 4))-\(pad(t.month, 2))-\(pad(t.day, 2))"
        let time = "\(pad(t.hour, 2)):\(pad(t.minute, 2)):\(pad(t.second, 2)).\(pad(t.nanosecond / 1000, 6))"
        switch t.kind {
        case .offsetDateTime:
            let o = t.offsetSeconds ?? 0
            return "datetime:\(date)T\(time)\(o >= 0 ? "+" : "")\(o)"
        case .localDateTime: return "datetime-local:\(date)T\(time)"
        case .localDate: return "date-local:\(date)"
        case .localTime: return "time-local:\(time)"
        }
    case .array(let items): return "[" + items.map { canonical($0.value) }.joined(separator: ",") + "]"
    case .table(let table):
        // Python sorts keys by code point; so do we (unicodeScalars order).
        let sorted = table.entries.sorted { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
        return "{" + sorted.map { jsonString($0.key) + ":" + canonical($0.node.value) }.joined(separator: ",") + "}"
    }
}

struct Vectors: Decodable {
    struct Valid: Decodable { var toml: String; var canonical: String }
    struct Invalid: Decodable { var toml: String; var line: Int? }
    var valid: [Valid]
    var invalid: [Invalid]

    static let shared: Vectors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Vectors/vectors.json")
        return try! JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }()
}

@Suite("TOML agrees with Python's tomllib", .timeLimit(.minutes(5)))
struct TOMLOracleTests {
    @Test("every document tomllib accepts parses to the same value")
    func validDocuments() {
        var failures: [String] = []
        for v in Vectors.shared.valid {
            do {
                let got = canonical(.table(try TOML.parse(v.toml)))
                if got != v.canonical { failures.append("\(v.toml.debugDescription)\n  want \(v.canonical)\n  got  \(got)") }
            } catch {
                failures.append("\(v.toml.debugDescription): \(error)")
            }
        }
        #expect(Vectors.shared.valid.count > 500)
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.prefix(10).joined(separator: "\n"))")
    }

    @Test("every document tomllib rejects is rejected, at the same line where known")
    func invalidDocuments() {
        var failures: [String] = []
        for v in Vectors.shared.invalid {
            do {
                let table = try TOML.parse(v.toml)
                failures.append("\(v.toml.debugDescription): accepted as \(canonical(.table(table)))")
            } catch {
                if let line = v.line, error.position.line != line {
                    failures.append("\(v.toml.debugDescription): line \(error.position.line), expected \(line): \(error.message)")
                }
            }
        }
        #expect(Vectors.shared.invalid.count > 500)
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.prefix(10).joined(separator: "\n"))")
    }
}

@Suite("TOML positions and messages", .timeLimit(.minutes(5)))
struct TOMLPositionTests {
    @Test("keys, values and tables know their lines and columns")
    func positions() throws {
        let doc = try TOML.parse("""
            # header comment
            name = "x"
              a.b.c = 1
            [server]
            port = 8080
            [[jobs]]
            id = 1
            [[jobs]]
            id = 2
            """)
        let name = try #require(doc.entries.first)
        #expect(name.key == "name" && name.keyPosition == TOMLPosition(line: 2, column: 1))
        #expect(name.node.position == TOMLPosition(line: 2, column: 8))
        let a = try #require(doc.entries.first { $0.key == "a" })
        #expect(a.keyPosition == TOMLPosition(line: 3, column: 3))
        guard case .table(let server) = doc["server"]?.value else { Issue.record("no [server]"); return }
        #expect(server.position.line == 4 && server.entries[0].keyPosition.line == 5)
        guard case .array(let jobs) = doc["jobs"]?.value else { Issue.record("no [[jobs]]"); return }
        #expect(jobs.map(\.position.line) == [6, 8])
    }

    @Test(arguments: [
        ("a = 1\nb 2\n", 2, "expected '=' after key \"b\", found '2'"),
        ("a = \"open\n", 1, "unterminated string"),
        ("a = 1\n\n[t]\nx = 1\na = 2\nx = 3\n", 6, "duplicate key \"x\" (first defined on line 4)"),
        ("a = \"bad \\q escape\"\n", 1, "invalid escape \"\\q\""),
        ("d = 2026-02-30\n", 1, "invalid date"),
        ("[t]\n[t]\n", 2, "table [t] is defined more than once"),
        ("a = 1\nÿ = 2\n", 2, "invalid character 'ÿ' in key"),
    ])
    func messages(_ text: String, _ line: Int, _ message: String) {
        #expect {
            _ = try TOML.parse(text)
        } throws: { error in
            guard let e = error as? TOMLError else { return false }
            return e.position.line == line && e.message == message
        }
    }

    static let tooDeep = "nested deeper than 32 levels (the limit; each part of a key and each array element is one level)"

    @Test("arrays nested deeper than the limit are refused, not recursed into")
    func depth() {
        let deep = "a = " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        // `a` is level 1, the 33rd '[' (column 37) would be level 33.
        #expect(throws: TOMLError(position: TOMLPosition(line: 1, column: 37), message: Self.tooDeep)) {
            try TOML.parse(deep)
        }
        #expect(throws: Never.self) { try TOML.parse("a = " + String(repeating: "[", count: 32) + String(repeating: "]", count: 32)) }
        #expect(TOML.defaultMaxDepth == 32)
    }

    @Test("a table header of 8,000 parts is an error at the 33rd part, not a crash")
    func deepHeader() throws {
        let header = "[" + Array(repeating: "a", count: 8_000).joined(separator: ".") + "]\nx = 1\n"
        #expect(header.utf8.count > 16_000)
        // '[' is column 1, part n starts at column 2n.
        #expect(throws: TOMLError(position: TOMLPosition(line: 1, column: 66), message: Self.tooDeep)) { try TOML.parse(header) }
        let arrayHeader = "[[" + Array(repeating: "a", count: 8_000).joined(separator: ".") + "]]\n"
        #expect(throws: TOMLError(position: TOMLPosition(line: 1, column: 67), message: Self.tooDeep)) { try TOML.parse(arrayHeader) }
        // 32 parts are allowed; a key inside would be level 33.
        let limit = "[" + Array(repeating: "a", count: 32).joined(separator: ".") + "]\n"
        #expect(throws: Never.self) { try TOML.parse(limit) }
        #expect(throws: TOMLError(position: TOMLPosition(line: 2, column: 1), message: Self.tooDeep)) { try TOML.parse(limit + "x = 1\n") }
        let inside = try TOML.parse("[" + Array(repeating: "a", count: 31).joined(separator: ".") + "]\nx = 1\n")
        var table = inside
        for _ in 0..<31 {
            guard case .table(let next) = table["a"]?.value else { Issue.record("no table a"); return }
            table = next
        }
        #expect(table["x"]?.value == .integer(1))
    }

    @Test("a dotted key of 10,000 parts is an error at the 33rd part; its levels add to the header's")
    func deepDottedKey() {
        let key = Array(repeating: "a", count: 10_000).joined(separator: ".") + " = 1\n"
        #expect(throws: TOMLError(position: TOMLPosition(line: 2, column: 65), message: Self.tooDeep)) { try TOML.parse("# x\n" + key) }
        #expect(throws: Never.self) { try TOML.parse(Array(repeating: "a", count: 32).joined(separator: ".") + " = 1\n") }
        let header = "[" + Array(repeating: "t", count: 30).joined(separator: ".") + "]\n"
        #expect(throws: Never.self) { try TOML.parse(header + "b.c = 1\n") }
        #expect(throws: TOMLError(position: TOMLPosition(line: 2, column: 5), message: Self.tooDeep)) { try TOML.parse(header + "b.c.d = 1\n") }
    }

    @Test("inline tables and arrays of inline tables nested deeper than the limit are refused")
    func deepInlineTables() {
        let tables = "a = " + String(repeating: "{b = ", count: 10_000) + "1" + String(repeating: "}", count: 10_000)
        #expect { try TOML.parse(tables) } throws: { ($0 as? TOMLError)?.message == Self.tooDeep && ($0 as? TOMLError)?.position.line == 1 }
        // a, then 31 b's: 32 levels.
        #expect(throws: Never.self) { try TOML.parse("a = " + String(repeating: "{b = ", count: 31) + "1" + String(repeating: "}", count: 31)) }
        #expect(throws: TOMLError(position: TOMLPosition(line: 1, column: 161), message: Self.tooDeep)) {
            try TOML.parse("a = " + String(repeating: "{b = ", count: 32) + "1" + String(repeating: "}", count: 32))
        }
        // Each array element and each key part inside is a level: [{b = [{b = …}]}].
        let mixed = "a = " + String(repeating: "[{b = ", count: 5_000) + "1" + String(repeating: "}]", count: 5_000)
        #expect { try TOML.parse(mixed) } throws: { ($0 as? TOMLError)?.message == Self.tooDeep }
        let dotted = "a = " + String(repeating: "{b.c.d = ", count: 5_000) + "1" + String(repeating: "}", count: 5_000)
        #expect { try TOML.parse(dotted) } throws: { ($0 as? TOMLError)?.message == Self.tooDeep }
    }

    @Test("one-line arrays of 20,000 and 60,000 items parse whole, with every item's column")
    func longLines() throws {
        for count in [20_000, 60_000] {
            let doc = try TOML.parse("a = [" + Array(repeating: "1", count: count).joined(separator: ",") + "]\n")
            guard case .array(let items) = doc["a"]?.value else { Issue.record("no array"); return }
            #expect(items.count == count)
            // Item n starts at column 6 + 2n: columns stay right without re-scanning the line.
            #expect(items.last?.position == TOMLPosition(line: 1, column: 6 + 2 * (count - 1)))
        }
        let strings = try TOML.parse("a = [" + Array(repeating: "\"é\"", count: 20_000).joined(separator: ",") + "]\n")
        guard case .array(let items) = strings["a"]?.value else { Issue.record("no array"); return }
        // Columns count scalars: "é" is 3 columns and 4 bytes.
        #expect(items.last?.position == TOMLPosition(line: 1, column: 6 + 4 * 19_999))
    }

    @Test("columns count Unicode scalars, not bytes, after non-ASCII text")
    func scalarColumns() throws {
        let doc = try TOML.parse("x = 1\nt = {\"é\" = 1, b = 2}\n")
        guard case .table(let t) = doc["t"]?.value else { Issue.record("no t"); return }
        #expect(t.entries.map(\.keyPosition) == [TOMLPosition(line: 2, column: 6), TOMLPosition(line: 2, column: 15)])
        // '!' is the 6th byte of its line but the 5th scalar.
        #expect(throws: TOMLError(position: TOMLPosition(line: 2, column: 5), message: "expected '=' after key \"\"é\"\", found '!'")) {
            try TOML.parse("x = 1\n\"é\" ! 1\n")
        }
    }

    @Test("50,000 [[x]] headers and 5,000 deep dotted keys parse whole")
    func manyTablesAndDottedKeys() throws {
        let doc = try TOML.parse(String(repeating: "[[x]]\ny = 1\n", count: 50_000))
        guard case .array(let xs) = doc["x"]?.value else { Issue.record("no x"); return }
        #expect(xs.count == 50_000 && xs.last?.position.line == 99_999)
        let prefix = Array(repeating: "p", count: 31).joined(separator: ".")
        var text = ""
        for i in 0..<5_000 { text += "\(prefix).k\(i) = \(i)\n" }
        var table = try TOML.parse(text)
        for _ in 0..<31 {
            guard case .table(let next) = table["p"]?.value else { Issue.record("no table p"); return }
            table = next
        }
        #expect(table.entries.count == 5_000 && table["k4999"]?.value == .integer(4_999))
        // A duplicate among them is still found, at its line.
        #expect(throws: TOMLError(position: TOMLPosition(line: 5_001, column: 1), message: "duplicate key \"\(prefix).k7\" (first defined on line 8)")) {
            try TOML.parse(text + "\(prefix).k7 = 0\n")
        }
    }

    @Test("invalid UTF-8 is an error at its line, not a crash")
    func invalidUTF8() {
        #expect(throws: TOMLError(position: TOMLPosition(line: 2, column: 6), message: "invalid UTF-8")) {
            try TOML.parse(bytes: Array("a = 1\nb = \"".utf8) + [0xFF, 0x22, 0x0A])
        }
    }

    @Test("CRLF line endings and a byte-order mark are accepted")
    func crlfAndBOM() throws {
        let doc = try TOML.parse(bytes: [0xEF, 0xBB, 0xBF] + Array("a = 1\r\nb = \"\"\"x\r\ny\"\"\"\r\n".utf8))
        #expect(doc["a"]?.value == .integer(1) && doc["b"]?.value == .string("x\ny"))
        #expect(doc.entries[1].keyPosition.line == 2)
    }

    @Test("random mutations never crash and every error has a line inside the document")
    func fuzz() {
        var state: UInt64 = 0x5EED
        func random(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(max(n, 1)))
        }
        let seeds = Vectors.shared.valid.map { Array($0.toml.utf8) }.filter { !$0.isEmpty }
        let alphabet = Array("=[]{}\"'.,#\n\r\t \\xuU0_+-:Tz".utf8) + [0x00, 0xC3, 0xFF, 0x7F]
        var cases = 0
        for _ in 0..<20_000 {
            var bytes = seeds[random(seeds.count)]
            for _ in 0...random(4) {
                let i = random(bytes.count)
                switch random(3) {
                case 0: bytes.remove(at: i)
                case 1: bytes.insert(alphabet[random(alphabet.count)], at: i)
                default: bytes[i] = alphabet[random(alphabet.count)]
                }
                if bytes.isEmpty { bytes = [0x61] }
            }
            let lines = bytes.filter { $0 == 0x0A }.count + 1
            do {
                _ = try TOML.parse(bytes: bytes)
            } catch {
                #expect(error.position.line >= 1 && error.position.line <= lines, "\(bytes)")
            }
            cases += 1
        }
        #expect(cases == 20_000)
    }
}
