import Foundation
import Testing
@testable import FlipSyncCore

/// `[marketplaces.ebay] daily_quota` and `[quotas] reserve`, read as the daemon reads its config.
@Suite("Config: daily_quota and [quotas] reserve", .timeLimit(.minutes(1)))
struct QuotaConfigTests {
    static let ebay = """
        [marketplaces.ebay]
        base_url = "https://api.ebay.com"
        credentials = { client_id = "ebay-client-id", client_secret = "ebay-client-secret", refresh_token = "ebay-refresh-token" }
        """

    /// The config from `text`, or nil; every diagnostic as `file:line: message`, sorted by line.
    static func load(_ text: String) -> (config: FlipSyncConfig?, diagnostics: [String], file: String) {
        let scratch = Scratch()
        let file = scratch.write("flipsync.toml", text)
        let log = DiagnosticLog()
        let config = FlipSyncConfig.load(path: file, environment: .init(workingDirectory: scratch.path), log: log)
        return (config, log.entries.sorted().map { "\($0.file):\($0.line): \($0.message)" }, file)
    }

    @Test("valid forms: eBay's documented limits overridden per API, reserves by job kind or job name, in percent")
    func validForms() throws {
        let (config, diagnostics, _) = Self.load(Self.ebay + """

            daily_quota = { browse = 25000, oauth_client_credentials = 2000 }

            [quotas]
            reserve = { marketplace-sync = "20%", "nightly-repricing" = "5%" }
            """)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let loaded = try #require(config)
        #expect(loaded.marketplaces[.ebay]?.dailyQuota == ["browse": 25_000, "oauth_client_credentials": 2_000])
        #expect(loaded.quotaReserves == ["marketplace-sync": .percent(20), "nightly-repricing": .percent(5)])
        // The policy: overridden APIs take the config's number, the others keep eBay's documented one.
        let policy = QuotaPolicy(config: loaded, jobs: [])
        #expect(policy.limits[QuotaKey(provider: "ebay", api: "browse")] == 25_000)
        #expect(policy.limits[QuotaKey(provider: "ebay", api: "oauth_client_credentials")] == 2_000)
        #expect(policy.limits[QuotaKey(provider: "ebay", api: "browse_get_items")] == 5_000)
        #expect(policy.reserved(limit: 25_000) == 5_000 + 1_250)
        #expect(policy.ceiling(limit: 25_000, for: "nightly-repricing") == 25_000 - 5_000)
    }

    @Test("absent: eBay's documented limits and no reserve")
    func absent() throws {
        let (config, diagnostics, _) = Self.load(Self.ebay)
        #expect(diagnostics.isEmpty)
        let loaded = try #require(config)
        #expect(loaded.marketplaces[.ebay]?.dailyQuota == [:] && loaded.quotaReserves.isEmpty)
        #expect(QuotaPolicy(config: loaded, jobs: []).limits == QuotaPolicy.documentedLimits)
    }

    /// An eBay-only task size: its key, a valid value, one out of range, the range as errors
    /// give it, the error for another marketplace, and where the loaded config keeps it.
    struct TaskSizeKey: Sendable, CustomStringConvertible {
        var key: String
        var valid: Int
        var outOfRange: Int
        var allowed: String
        var elsewhere: String
        var value: @Sendable (FlipSyncConfig.Marketplace) -> Int?
        var description: String { key }
    }

    static let taskSizeKeys = [
        TaskSizeKey(key: "refresh_task_listings", valid: 250, outOfRange: 0, allowed: "1…100000",
                    elsewhere: "only eBay refreshes remembered searches", value: { $0.refreshTaskListings }),
        TaskSizeKey(key: "search_task_gtins", valid: 16, outOfRange: 65, allowed: "1…64",
                    elsewhere: "only eBay searches by GTIN", value: { $0.searchTaskGTINs }),
    ]

    @Test("refresh_task_listings and search_task_gtins: eBay only, in range, absent = the channel's default; errors at their line",
          arguments: taskSizeKeys)
    func taskSizes(_ size: TaskSizeKey) throws {
        let (config, diagnostics, _) = Self.load(Self.ebay + "\n\(size.key) = \(size.valid)\n")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let ebay = try #require(config?.marketplaces[.ebay])
        #expect(size.value(ebay) == size.valid)
        let absent = try #require(Self.load(Self.ebay).config?.marketplaces[.ebay])
        #expect(size.value(absent) == nil)
        let (bad, errors, file) = Self.load(Self.ebay + """

            \(size.key) = \(size.outOfRange)

            [marketplaces.amazon]
            base_url = "https://sellingpartnerapi-na.amazon.com"
            seller_id = "A1SELLER"
            credentials = { client_id = "a", client_secret = "b", refresh_token = "c" }
            \(size.key) = 2
            """)
        #expect(bad == nil)
        #expect(errors == [
            "\(file):4: \"marketplaces.ebay.\(size.key)\" is \(size.outOfRange); allowed: \(size.allowed)",
            "\(file):10: \"marketplaces.amazon.\(size.key)\": \(size.elsewhere)",
        ])
    }

    @Test("reserves adding up to exactly 100% are accepted")
    func exactlyAll() throws {
        let (config, diagnostics, _) = Self.load("""
            [quotas]
            reserve = { marketplace-sync = "60%", readiness-scan = "40%" }
            """)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(try #require(config).quotaReserves.values.reduce(0) { total, share in
            guard case .percent(let p) = share else { return total }
            return total + p
        } == 100)
    }

    @Test("every error at its file:line with its message; nothing is loaded")
    func errors() throws {
        let (config, diagnostics, file) = Self.load(Self.ebay + """

            daily_quota = { browse = 0, browze = 100, oauth_refresh_token = "lots", browse_get_items = 2000000000 }

            [marketplaces.amazon]
            base_url = "https://sellingpartnerapi-na.amazon.com"
            seller_id = "A1SELLER"
            credentials = { client_id = "a", client_secret = "b", refresh_token = "c" }
            daily_quota = { getItemOffers = 100 }

            [quotas]
            reserve = { marketplace-sync = "20.5%", readiness-scan = "0%", nightly = 20, "shipping" = "101%" }
            spare = 1
            """)
        #expect(config == nil)
        // Sorted by line, then by message.
        #expect(diagnostics == [
            "\(file):4: \"marketplaces.ebay.daily_quota.browse\" is 0; allowed: 1…1000000000",
            "\(file):4: \"marketplaces.ebay.daily_quota.browse_get_items\" is 2000000000; allowed: 1…1000000000",
            "\(file):4: \"marketplaces.ebay.daily_quota.oauth_refresh_token\" must be an integer, found a string",
            "\(file):4: unknown API \"browze\" in [marketplaces.ebay.daily_quota]; expected one of: browse, browse_get_items, oauth_client_credentials, oauth_refresh_token; did you mean \"browse\"?",
            "\(file):10: \"marketplaces.amazon.daily_quota\": amazon has no daily call quotas; only eBay's APIs have them",
            "\(file):13: \"quotas.reserve.marketplace-sync\" must be a whole percentage, like \"20%\"",
            "\(file):13: \"quotas.reserve.nightly\" must be a string, found an integer",
            "\(file):13: \"quotas.reserve.readiness-scan\" is 0%; allowed: 1%…100%",
            "\(file):13: \"quotas.reserve.shipping\" is 101%; allowed: 1%…100%",
            "\(file):14: unknown key \"spare\" in [quotas]",
        ])
    }

    @Test("reserves over 100% in all are refused at the entry that goes over")
    func overAll() {
        let (config, diagnostics, file) = Self.load("""
            [quotas]
            reserve = { marketplace-sync = "60%", readiness-scan = "30%", nightly-repricing = "20%" }
            """)
        #expect(config == nil)
        #expect(diagnostics == ["\(file):2: the reserves in [quotas] reserve add up to more than 100%"])
        // Written as a table, each entry on its own line: the line of the one that goes over.
        let (_, table, tableFile) = Self.load("""
            [quotas.reserve]
            marketplace-sync = "60%"
            readiness-scan = "40%"
            nightly-repricing = "1%"
            """)
        #expect(table == ["\(tableFile):4: the reserves in [quotas] reserve add up to more than 100%"])
    }
}
