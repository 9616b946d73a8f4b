import Testing
@testable import FlipSyncCore
import FlipSyncTestKit

/// The tests' sandbox config text, read as the daemon reads its config.
@Suite("SandboxConfigText: the sandbox's [marketplaces.*] tables for tests", .timeLimit(.minutes(1)))
struct SandboxConfigTextTests {
    @Test("at config/flipsync.toml's rates, the tables are the shipped sandbox config's but for marketplace_id")
    func shippedConfig() throws {
        let root = ShippedFilesTests.root
        let shipped = try #require(FlipSyncConfig.load(path: root + "/config/flipsync.toml", environment: .init(workingDirectory: root),
                                                       log: DiagnosticLog()))
        let text = SandboxConfigText.marketplaces(baseURL: "http://127.0.0.1:8780", rates: [
            .ebay: .init("50/s", burst: 50), .amazon: .init("50/s", burst: 50), .shopify: .init("2/s", burst: 40),
        ])
        let (config, diagnostics, _) = QuotaConfigTests.load(text)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let built = try #require(config).marketplaces
        #expect(Set(built.keys) == Set(MarketplaceName.allCases))
        for name in MarketplaceName.allCases {
            var expected = try #require(shipped.marketplaces[name])
            expected.marketplaceID = nil
            #expect(built[name] == expected, "\(name)")
        }
    }

    @Test("only the marketplaces given, each at its own rate; by default all three at 1000/s with a burst of 1000")
    func marketplacesAndRates() throws {
        let some = try #require(QuotaConfigTests.load(SandboxConfigText.marketplaces(baseURL: "http://127.0.0.1:1", rates: [
            .amazon: .init("1/2s", burst: 1), .shopify: .init("50/s", burst: 50),
        ])).config)
        #expect(Set(some.marketplaces.keys) == [.amazon, .shopify])
        #expect(some.marketplaces[.amazon]?.rateLimit == FlipSyncConfig.RateLimit(requests: 1, per: .seconds(2), burst: 1))
        #expect(some.marketplaces[.shopify]?.rateLimit == FlipSyncConfig.RateLimit(requests: 50, per: .seconds(1), burst: 50))
        let all = try #require(QuotaConfigTests.load(SandboxConfigText.marketplaces(baseURL: "http://127.0.0.1:1")).config)
        #expect(Set(all.marketplaces.keys) == Set(MarketplaceName.allCases))
        #expect(all.marketplaces.values.allSatisfy { $0.rateLimit == FlipSyncConfig.RateLimit(requests: 1000, per: .seconds(1), burst: 1000) })
    }
}
