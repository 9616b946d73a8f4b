import Testing
@testable import FlipSyncCore

@Suite("Repricing coverage: max_listings_per_run and which listings a run checks", .timeLimit(.minutes(1)))
struct CoverageTests {
    func parameters(_ extra: String) -> (RepricingSweep.Parameters?, [String]) {
        let (jobs, errors) = check(minimalRepricing + "\n" + extra)
        guard case .repricingSweep(let p)? = jobs.first?.parameters else { return (nil, errors) }
        return (p, errors)
    }

    @Test("max_listings_per_run: absent is every listing; 1… is accepted; 0 or a string is refused at its line")
    func validation() {
        #expect(parameters("").0?.maxListingsPerRun == nil)
        #expect(parameters("max_listings_per_run = 5000").0?.maxListingsPerRun == 5000)
        let (zero, zeroErrors) = parameters("max_listings_per_run = 0")
        #expect(zero == nil)
        #expect(zeroErrors.count == 1 && zeroErrors.first?.hasPrefix("6: ") == true && zeroErrors.first?.contains("max_listings_per_run") == true,
                "\(zeroErrors)")
        let (_, textErrors) = parameters("max_listings_per_run = \"all\"")
        #expect(textErrors.first?.hasPrefix("6: ") == true && textErrors.first?.contains("integer") == true, "\(textErrors)")
    }

    static func listing(_ sku: String) -> MarketplaceListing {
        MarketplaceListing(marketplace: .ebay, sku: sku, listingID: sku, title: sku, condition: .new,
                           price: Money(micros: 10_000_000, currency: .usd), quantity: 1)
    }

    @Test("never checked first (by SKU), then oldest checked, then SKU; this sweep's own first; all when under the limit")
    func selectionOrder() {
        let listings = ["A", "B", "C", "D", "E", "F"].map(Self.listing)
        let coverage: [String: ListingCoverage] = [
            "A": ListingCoverage(lastChecked: 300, sweep: 1), "B": ListingCoverage(lastChecked: 100, sweep: 1),
            "C": ListingCoverage(lastChecked: 200, sweep: 2), "E": ListingCoverage(lastChecked: 100, sweep: 2),
        ]
        func pick(_ max: Int?, sweep: Int64 = 9) -> [String] {
            RepricingSweepPlan.selected(listings, coverage: coverage, sweep: sweep, max: max).map(\.sku)
        }
        #expect(pick(nil) == ["A", "B", "C", "D", "E", "F"])
        #expect(pick(6) == ["A", "B", "C", "D", "E", "F"])
        #expect(pick(2) == ["D", "F"])
        #expect(pick(3) == ["B", "D", "F"])  // B and E tie at 100: SKU decides
        #expect(pick(4) == ["B", "D", "E", "F"])
        #expect(pick(5) == ["B", "C", "D", "E", "F"])
        // Resumed sweep 2 already checked C and E: they stay selected, the rest by the same order.
        #expect(pick(3, sweep: 2) == ["C", "D", "E"])
    }
}
