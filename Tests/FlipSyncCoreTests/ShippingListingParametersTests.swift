import Testing
@testable import FlipSyncCore

/// `include_listings` and its parameters, as the job file is validated.
@Suite("Shipping arbitrage: listings' parameters", .timeLimit(.minutes(2)))
struct ShippingListingParametersTests {
    static func job(marketplaces: String = #"["ebay", "shopify"]"#, extra: String) -> String {
        """
        name = "ship"
        kind = "shipping-arbitrage"
        schedule = "hourly"
        [params]
        marketplaces = \(marketplaces)
        origin_postal_code = "10001"
        packaging = "packaging.csv"
        \(extra)
        """
    }

    @Test("include_listings with destinations and a promise is accepted for eBay and Shopify")
    func accepted() throws {
        let (jobs, diagnostics) = check(Self.job(extra: """
            include_listings = true
            listing_destinations = ["10013", "60601", "94103"]
            listing_promise_days = 5
            """))
        #expect(diagnostics.isEmpty)
        guard case .shippingArbitrage(let p) = try #require(jobs.first).parameters else { Issue.record("kind"); return }
        #expect(p.includeListings)
        #expect(p.listingDestinations == ["10013", "60601", "94103"])
        #expect(p.listingPromiseDays == 5)
    }

    @Test("include_listings with amazon is refused at amazon's line of the file, saying why")
    func amazonRefused() throws {
        let text = Self.job(marketplaces: #"["ebay",\n  "amazon"]"#.replacingOccurrences(of: "\\n", with: "\n"), extra: """
            include_listings = true
            listing_destinations = ["10013"]
            """)
        let scratch = Scratch()
        let file = scratch.write("ship.toml", text)
        let (catalog, diagnostics) = JobCatalog.load(paths: [file], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.isEmpty)
        let refusal = try #require(diagnostics.first { $0.message.contains("cannot include amazon") })
        #expect(refusal.line == 6)
        #expect(refusal.description.hasPrefix("\(file):6: error: "))
        #expect(refusal.message.contains("no read of a shipping template's rates"))
    }

    @Test("include_listings without destinations, and listing parameters without include_listings, are refused at their lines")
    func refusedCombinations() {
        let (_, missing) = check(Self.job(extra: "include_listings = true"))
        #expect(missing.count == 1)
        #expect(missing.first?.hasPrefix("8: \"params.include_listings\" = true needs \"params.listing_destinations\"") == true)
        let (_, stray) = check(Self.job(extra: """
            listing_destinations = ["10013", "10013"]
            listing_promise_days = 4
            """))
        #expect(stray.contains("8: \"params.listing_destinations\" lists \"10013\" twice"))
        #expect(stray.contains("8: \"params.listing_destinations\" is only used with \"params.include_listings\" = true"))
        #expect(stray.contains("9: \"params.listing_promise_days\" is only used with \"params.include_listings\" = true"))
    }

    /// A marketplace with no listings' shipping read.
    struct Bare: Marketplace {
        var name: MarketplaceName { .amazon }
        func activeListings() async throws -> [MarketplaceListing] { [] }
        func competition(for listing: MarketplaceListing) async throws -> Competition { Competition(offers: []) }
        func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult] { [] }
        func orders(since cursor: String?) async throws -> OrdersPage { OrdersPage(lines: [], cursor: nil) }
    }

    @Test("a channel without a read of listings' shipping throws a permanent, typed refusal")
    func defaultRefusal() async {
        do {
            _ = try await Bare().listingShipping()
            Issue.record("no error")
        } catch let error as UnsupportedByChannel {
            #expect(error.marketplace == .amazon)
            guard case .permanent = error.taskFailure else { Issue.record("\(error.taskFailure)"); return }
        } catch {
            Issue.record("\(error)")
        }
    }
}
