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
