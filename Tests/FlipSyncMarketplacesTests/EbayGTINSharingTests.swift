import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("eBay competition: one Browse search per distinct GTIN", .timeLimit(.minutes(1)))
struct EbayGTINSharingTests {
    @Test("12 listings with 4 distinct GTINs make 4 searches; each gets the identifier matches its own read would")
    func listingsSharingAGTINShareTheSearch() async throws {
        try await Harness.with(listings: 30) { h in
            let marketplace = EbayMarketplace(client: h.client)
            let active = try await marketplace.activeListings()
            try #require(active.count >= 12)
            let gtins = active.prefix(4).compactMap(\.gtin)
            try #require(gtins.count == 4)
            // Several of our listings of the same product (same GTIN, same condition).
            let listings = (0..<12).map { i -> MarketplaceListing in
                var listing = active[i]
                listing.gtin = gtins[i % 4]
                listing.condition = .new
                return listing
            }
            let groups = try marketplace.competitionGroups(listings)
            #expect(groups.count == 4 && groups.allSatisfy { $0.count == 3 && Set($0.map(\.gtin)).count == 1 })

            let before = h.sandbox.state.requestCounts[SandboxRoute.search.rawValue] ?? 0
            let lookups = try await marketplace.competitions(for: listings, titleMatches: false)
            let searches = (h.sandbox.state.requestCounts[SandboxRoute.search.rawValue] ?? 0) - before
            #expect(searches == 4, "\(searches) searches for 4 distinct GTINs")
            #expect(lookups.count == 12)

            // With title matches wanted, each listing's keyword search is made as well.
            let withTitles = try await marketplace.competitions(for: listings, titleMatches: true)
            let more = (h.sandbox.state.requestCounts[SandboxRoute.search.rawValue] ?? 0) - before - searches
            #expect(more == 4 + 12)

            var anyOffers = false
            for (index, listing) in listings.enumerated() {
                let single = try await marketplace.competition(for: listing)
                #expect(withTitles[index] == .found(single), "\(listing.sku): differs from its own read")
                let byIdentifier = Competition(offers: single.offers.filter(\.matchedByIdentifier), buyBox: single.buyBox)
                #expect(lookups[index] == .found(byIdentifier), "\(listing.sku): the shared search gave other identifier matches")
                anyOffers = anyOffers || !byIdentifier.offers.isEmpty
            }
            #expect(anyOffers)
        }
    }
}
