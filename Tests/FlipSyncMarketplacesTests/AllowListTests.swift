import FlipSyncCore
import FlipSyncMarketplaces
import Foundation
import Testing

@Suite("Production allow-list: Shopify's bulk result files", .timeLimit(.minutes(1)))
struct AllowListTests {
    static func config(shopify baseURL: String) throws -> FlipSyncConfig {
        let directory = NSTemporaryDirectory() + "flipsync-allowlist-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            [marketplaces.shopify]
            base_url = "\(baseURL)"
            credentials = { access_token = "shopify-access-token" }
            """.write(toFile: directory + "/flipsync.toml", atomically: true, encoding: .utf8)
        let log = DiagnosticLog()
        let config = FlipSyncConfig.load(path: directory + "/flipsync.toml", environment: .init(workingDirectory: directory), log: log)
        return try #require(config, "\(log.entries)")
    }

    @Test("a real store: its shop and storage.googleapis.com over https, nothing else; plain http to that host is still refused")
    func realStore() throws {
        let list = ChannelFactory.allowList(try Self.config(shopify: "https://my-shop.myshopify.com"))
        #expect(list.entries == ["my-shop.myshopify.com:443", "storage.googleapis.com:443"])
        #expect(list.allows(scheme: "https", host: "storage.googleapis.com", port: 443))
        #expect(!list.allows(scheme: "http", host: "storage.googleapis.com", port: 80))
        #expect(!list.allows(scheme: "https", host: "storage.googleapis.com.evil.example", port: 443))
    }

    @Test("the sandbox: only its own host, which serves the bulk file itself")
    func sandbox() throws {
        let list = ChannelFactory.allowList(try Self.config(shopify: "http://127.0.0.1:8080/shopify"))
        #expect(list.entries == ["127.0.0.1:8080"])
        #expect(!list.allows(scheme: "https", host: "storage.googleapis.com", port: 443))
    }
}
