import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

/// The sandbox's indexed Browse search must give exactly what filtering every competitor offer
/// gives (same offers, same order, same totals), for every kind of query the route accepts.
@Suite("Sandbox Browse search index", .timeLimit(.minutes(2)))
struct SandboxSearchIndexTests {
    /// The straightforward search the index replaces: every offer, lower-cased title.
    static func scan(_ offers: [(offer: SandboxCompetitorOffer, lowered: String)], gtin: String?, keywords: [String]?,
                     conditionIDs: Set<Int>?) -> [SandboxCompetitorOffer] {
        offers.filter { entry in
            if let gtin, entry.offer.gtin != gtin { return false }
            if let keywords, !keywords.allSatisfy({ entry.lowered.contains($0) }) { return false }
            if let conditionIDs, !conditionIDs.contains(entry.offer.condition.id) { return false }
            return true
        }.map(\.offer)
    }

    /// Keywords as the route makes them from `q`.
    static func keywords(_ q: String) -> [String] { q.lowercased().split(separator: " ").map(String.init) }

    @Test("indexed search equals the full scan for titles, GTINs, conditions, partial words, odd and empty queries")
    func indexEqualsScan() {
        let catalog = SeededCatalog(seed: 11, listings: 400)
        let state = SandboxState(catalog: catalog, credentials: .development, tokenLifetime: .seconds(7200),
                                 clock: SystemSchedulerClock())
        let offers = state.competitors.map { (offer: $0, lowered: $0.title.lowercased()) }
        #expect(offers.map(\.offer) == catalog.competitors)
        let conditionSets: [Set<Int>?] = [nil, [1000], [1000, 1500], [3000, 7000], [4242]]
        var queries: [(gtin: String?, q: String?)] = [
            (nil, "acme"), (nil, "ACME wireless"), (nil, "mouse"), (nil, "mous"), (nil, "e"), (nil, "1"), (nil, "a1"),
            (nil, "compatible with"), (nil, "with compatible acme"), (nil, "Wireless  Mouse"), (nil, "no-such-word"),
            (nil, ""), (nil, " "), (nil, "mouse mouse"), (nil, "usb-c"), (nil, "b-c hu"), (nil, "lamp\tdesk"),
            ("000000000000", nil), ("000000000000", "acme"),
        ]
        for listing in catalog.listings.prefix(60) {
            let words = listing.title.split(separator: " ")
            queries.append((nil, listing.title))
            queries.append((nil, listing.title.uppercased()))
            queries.append((listing.gtin, nil))
            queries.append((listing.gtin, listing.title))
            queries.append((listing.gtin, "compatible"))
            queries.append((nil, String(words.last!.dropFirst())))        // part of the model: "123" of "A123"
            queries.append((nil, "\(words.first!) \(words.last!.prefix(2))"))  // brand and part of the model
        }
        var compared = 0, nonEmpty = 0
        for query in queries {
            for conditions in conditionSets {
                let keywords = query.q.map(Self.keywords)
                let indexed = state.searchCompetitors(gtin: query.gtin, keywords: keywords, conditionIDs: conditions)
                let scanned = Self.scan(offers, gtin: query.gtin, keywords: keywords, conditionIDs: conditions)
                #expect(indexed == scanned, "gtin \(query.gtin ?? "-") q \(query.q ?? "-") conditions \(conditions.map { "\($0.sorted())" } ?? "-")")
                compared += 1
                if !scanned.isEmpty { nonEmpty += 1 }
            }
        }
        #expect(compared == queries.count * conditionSets.count)
        #expect(nonEmpty > compared / 2, "most queries should find something, or the comparison proves little")
        #expect(state.competitors(gtin: catalog.listings[0].gtin) == catalog.competitors.filter { $0.gtin == catalog.listings[0].gtin })
    }

    @Test("over HTTP, search by title with a condition filter returns the scan's offers cheapest first, with its totals")
    func routeMatchesScan() async throws {
        try await Harness.with(listings: 150) { h in
            let offers = h.sandbox.state.competitors.map { (offer: $0, lowered: $0.title.lowercased()) }
            for listing in h.sandbox.state.listings.prefix(25) {
                for conditions in [[Int](), [1000, 1500]] {
                    let expected = Self.scan(offers, gtin: nil, keywords: Self.keywords(listing.title),
                                             conditionIDs: conditions.isEmpty ? nil : Set(conditions))
                        .sorted { ($0.landedMicros, $0.itemId) < ($1.landedMicros, $1.itemId) }
                    let page = try await h.client.searchPage(BrowseQuery(.keywords(listing.title), conditionIDs: conditions, pageSize: 200))
                    #expect(page.items.map(\.itemID) == expected.map(\.itemId), "q \(listing.title) conditions \(conditions)")
                    #expect(page.total == expected.count)
                }
            }
        }
    }
}
