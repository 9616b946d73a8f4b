@testable import FlipSyncMarketplaces
import Testing

/// Form bodies and query strings: RFC 3986's unreserved characters kept, every other byte of
/// the UTF-8 as `%XX`; written byte by byte (issue 15: a query string is built for every
/// request), the same text as the former string-by-string encoder.
@Suite("FormEncoding", .timeLimit(.minutes(1)))
struct FormEncodingTests {
    /// The former encoder, string by string.
    static func formerEscape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    @Test("known encodings")
    func known() {
        #expect(FormEncoding.encode([("q", "red shoes"), ("filter", "conditionIds:{1000|3000}"), ("limit", "50")])
                == "q=red%20shoes&filter=conditionIds%3A%7B1000%7C3000%7D&limit=50")
        #expect(FormEncoding.escape("café/~a-b_c.d") == "caf%C3%A9%2F~a-b_c.d")
        #expect(FormEncoding.encode([]) == "")
        #expect(FormEncoding.queryValue("q", in: "https://x/y?" + FormEncoding.encode([("a", "1"), ("q", "a&b=c é")])) == "a&b=c é")
    }

    @Test("every byte, and 2,000 generated strings, as the former encoder")
    func generated() {
        let everyByte = String(decoding: (0...127).map { UInt8($0) }, as: UTF8.self) + "é€😀"
        #expect(FormEncoding.escape(everyByte) == Self.formerEscape(everyByte))
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("aZ09-._~ !*'();:@&=+$,/?#[]%\"<>\\^`{|}\n\té€😀\u{301}")
        for _ in 0..<2_000 {
            let key = String((0..<Int.random(in: 0...6, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
            let value = String((0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
            #expect(FormEncoding.encode([(key, value), ("k", value)]) == "\(Self.formerEscape(key))=\(Self.formerEscape(value))&k=\(Self.formerEscape(value))")
        }
    }
}
