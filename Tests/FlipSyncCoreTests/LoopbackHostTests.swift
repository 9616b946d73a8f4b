import Testing
@testable import FlipSyncCore

@Suite("Loopback: one rule decides from the parsed host", .timeLimit(.minutes(1)))
struct LoopbackHostTests {
    @Test("loopback hosts: 127.0.0.0/8 as a strict dotted quad, ::1 in any spelling, exactly localhost", arguments: [
        "127.0.0.1", "127.255.255.254", "127.0.0.0", "localhost", "LocalHost", "::1", "[::1]", "0:0:0:0:0:0:0:1",
        "0000:0000:0000:0000:0000:0000:0000:0001", "::0:1", "0::1",
    ])
    func loopback(_ host: String) {
        #expect(LoopbackHost.isLoopback(host: host))
    }

    @Test("look-alikes are not loopback", arguments: [
        "127.0.0.1.nip.io", "localhost.attacker.example", "localhostattacker.example", "localhost.", "127.1", "0x7f.0.0.1",
        "0177.0.0.1", "2130706433", "127.0.0.01", "127.0.0.256", "127.0.0", "::ffff:127.0.0.1", "::", "::2", "1::1",
        "::1%lo", "128.0.0.1", "10.0.0.1", "", "[::1", "evil.example",
    ])
    func notLoopback(_ host: String) {
        #expect(!LoopbackHost.isLoopback(host: host))
    }

    @Test("URLs: the issue's attack URLs, numeric tricks, userinfo and fragment tricks are not loopback", arguments: [
        "http://127.0.0.1.nip.io/ebay", "http://localhost.attacker.example/ebay", "http://localhostattacker.example/ebay",
        "http://127.1/", "http://0x7f.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://127.0.0.1@evil.example/",
        "http://evil.example#@127.0.0.1/", "http://evil.example?@127.0.0.1/", "http://evil.example\\@127.0.0.1/",
        "http://127.0.0.1\\@evil.example/", "http://user:pw@127.0.0.1/", "http://127.0.0.1%2eevil.example/",
        "http://127.0.0.1:80@evil.example/", "http://127.0.0.1 .evil.example/", "http://[::1]evil.example/",
        "http://127.0.0.1:0/", "http://127.0.0.1:99999/", "ftp://127.0.0.1/",
    ])
    func attackURLs(_ url: String) {
        #expect(!LoopbackHost.isLoopback(url: url))
        #expect(!LoopbackHost.isSecureOrLoopback(url: url) || url.hasPrefix("https://"))
    }

    @Test("a server's host key: host lower-cased, the port always written out; a URL these rules refuse is its own key", arguments: [
        ("https://API.eBay.com/sell/inventory/v1", "api.ebay.com:443"), ("http://127.0.0.1:8780/ebay", "127.0.0.1:8780"),
        ("http://localhost/x", "localhost:80"), ("https://[::1]:9/", "::1:9"), ("https://sellingpartnerapi-na.amazon.com", "sellingpartnerapi-na.amazon.com:443"),
        ("ftp://127.0.0.1/", "ftp://127.0.0.1/"), ("http://user@127.0.0.1/", "http://user@127.0.0.1/"), ("", ""),
    ])
    func hostKey(_ url: String, _ key: String) {
        #expect(HTTPURLAuthority.hostKey(of: url) == key)
    }

    @Test("loopback URLs parse to their host and port", arguments: [
        ("http://127.0.0.1:8780/ebay", "127.0.0.1", 8780), ("http://localhost/x", "localhost", 80),
        ("http://[::1]:8780/ollama", "::1", 8780), ("HTTP://LOCALHOST:9/", "localhost", 9), ("http://127.9.8.7?q", "127.9.8.7", 80),
    ])
    func loopbackURLs(_ url: String, _ host: String, _ port: Int) throws {
        #expect(LoopbackHost.isLoopback(url: url))
        let parts = try #require(HTTPURLAuthority(url))
        #expect(parts.host == host && parts.port == port && parts.scheme == "http")
    }

    @Test("the port is explicit only when the URL writes it out, default number or not", arguments: [
        ("http://127.0.0.1:8780/ebay", true), ("http://127.0.0.1:80/ebay", true), ("http://127.0.0.1/ebay", false),
        ("http://[::1]:8780/x", true), ("http://[::1]/x", false), ("https://api.ebay.com/sell", false), ("https://api.ebay.com:443/", true),
    ])
    func explicitPort(_ url: String, _ explicit: Bool) throws {
        #expect(try #require(HTTPURLAuthority(url)).portIsExplicit == explicit)
    }

    @Test("config: plain http base_url and token_url only on a loopback host; the issue's URLs are refused at their lines")
    func configRefusesLookAlikes() {
        let scratch = Scratch()
        let file = scratch.write("flipsync.toml", """
            [marketplaces.ebay]
            base_url = "http://127.0.0.1.nip.io/ebay"
            [marketplaces.amazon]
            base_url = "http://localhost.attacker.example/amazon"
            token_url = "http://127.0.0.1@evil.example/auth/o2/token"
            seller_id = "A1"
            [marketplaces.shopify]
            base_url = "http://localhostattacker.example/shopify"
            [llm.ollama]
            base_url = "http://127.1:11434/ollama"
            model = "m"
            [carriers.easypost]
            base_url = "http://[::ffff:127.0.0.1]:8780/easypost"
            """)
        let log = DiagnosticLog()
        #expect(FlipSyncConfig.load(path: file, environment: .init(workingDirectory: scratch.path), log: log) == nil)
        let lines = log.entries.sorted().map(\.line)
        #expect(lines == [2, 4, 5, 8, 10, 13], "\(log.entries.map(\.message))")
        #expect(log.entries.sorted().first?.message == "\"marketplaces.ebay.base_url\" must be https:// (plain http is allowed only on loopback, for the sandbox)")
    }

    @Test("config: loopback http base URLs in every spelling are accepted")
    func configAcceptsLoopback() {
        let scratch = Scratch()
        let file = scratch.write("flipsync.toml", """
            [marketplaces.ebay]
            base_url = "http://127.0.0.1:8780/ebay"
            [marketplaces.amazon]
            base_url = "http://localhost:8780/amazon"
            token_url = "http://localhost:8780/amazon/auth/o2/token"
            seller_id = "A1"
            [llm.ollama]
            base_url = "http://[::1]:11434"
            model = "m"
            [marketplaces.shopify]
            base_url = "https://shop.example"
            """)
        let log = DiagnosticLog()
        #expect(FlipSyncConfig.load(path: file, environment: .init(workingDirectory: scratch.path), log: log) != nil, "\(log.entries.map(\.message))")
    }
}

/// The allocation-free readers (issue 15: they run twice a request) answer what the former
/// ones did: a URL lower-cased only through its authority parses as the whole URL lower-cased,
/// a host is loopback as its lower-cased self is, and the byte-by-byte dotted quad reads as the
/// former split on dots.
@Suite("Loopback: the fast readers answer as the former ones", .timeLimit(.minutes(1)))
struct LoopbackFastReaderTests {
    /// The former reader, split on dots.
    static func formerIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.utf8.count <= 3, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  part == "0" || part.first != "0", let value = Int(part), value <= 255 else { return nil }
            bytes.append(UInt8(value))
        }
        return bytes
    }

    static let pieces = ["http://", "https://", "HTTPS://", "HtTp://", "127", ".", "0", "00", "1", "255", "256", "09", "localhost", "LOCALHOST",
                         "Example.COM", ":", ":8080", ":0", ":65536", "/", "/Path/X", "?", "?Q=A", "#", "#F", "[", "]", "::1", "[::1]",
                         "@", "user@", "\u{212A}", "\u{130}", "é", "É", "\u{301}", " ", "\\", "%41", "-", "a", "Z"]

    @Test("10,000 generated URLs and hosts")
    func generated() {
        var random = SplitMix64(seed: 2026_12_06)
        var parsed = 0, quads = 0
        for _ in 0..<10_000 {
            let text = (0..<Int.random(in: 1...8, using: &random)).map { _ in Self.pieces.randomElement(using: &random)! }.joined()
            let authority = HTTPURLAuthority(text)
            #expect(authority == HTTPURLAuthority(lowercasedURL: text.lowercased()), "\(text)")
            if authority != nil { parsed += 1 }
            #expect(LoopbackHost.isLoopback(host: text) == LoopbackHost.isLoopback(host: text.lowercased()), "\(text)")
            // Dotted quads and near misses: 3–5 numbers (some with leading zeros or over 255), now
            // and then a stray piece.
            let numbers = ["0", "1", "9", "10", "127", "199", "255", "256", "300", "00", "01", "007", "1000", "", "a"]
            var quadText = (0..<Int.random(in: 3...5, using: &random)).map { _ in
                Int.random(in: 0..<3, using: &random) == 0 ? numbers.randomElement(using: &random)! : String(Int.random(in: 0...255, using: &random))
            }.joined(separator: ".")
            if Int.random(in: 0..<8, using: &random) == 0 { quadText += Self.pieces.randomElement(using: &random)! }
            for candidate in [text, quadText] {
                let quad = LoopbackHost.ipv4Bytes(Substring(candidate))
                #expect(quad == Self.formerIPv4(Substring(candidate)), "\(candidate)")
                if quad != nil { quads += 1 }
                #expect(LoopbackHost.isLoopback(host: candidate) == LoopbackHost.isLoopback(host: candidate.lowercased()), "\(candidate)")
            }
        }
        // The generator reaches both answers, not only refusals.
        #expect(parsed > 100)
        #expect(quads > 1_000)
    }

    @Test("dotted quads: the edges", arguments: ["0.0.0.0", "255.255.255.255", "127.0.0.1", "256.0.0.1", "01.0.0.1", "1.00.0.1", "1.0.0.",
                                                  ".1.0.0", "1..0.1", "1.0.0.1.", "1.0.0.1.2", "1234.0.0.1", "١.0.0.1", "1.0.0.1\r\n", ""])
    func quads(_ text: String) {
        #expect(LoopbackHost.ipv4Bytes(Substring(text)) == Self.formerIPv4(Substring(text)))
    }
}
