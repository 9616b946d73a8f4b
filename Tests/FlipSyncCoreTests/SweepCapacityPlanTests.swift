import Testing
@testable import FlipSyncCore

@Suite("Repricing sweep capacity: research_days and the planner's walk", .timeLimit(.minutes(1)))
struct SweepCapacityPlanTests {
    @Test("research_days: default 7, 0…90 accepted (0: always search), -1 or 91 refused at its line")
    func researchDaysValidation() {
        func parse(_ extra: String) -> (RepricingSweep.Parameters?, [String]) {
            let (jobs, errors) = check(minimalRepricing + "\n" + extra)
            guard case .repricingSweep(let p)? = jobs.first?.parameters else { return (nil, errors) }
            return (p, errors)
        }
        #expect(parse("").0?.researchDays == 7)
        #expect(parse("research_days = 90").0?.researchDays == 90)
        #expect(parse("research_days = 0").0?.researchDays == 0)
        for bad in ["research_days = -1", "research_days = 91", "research_days = \"7\""] {
            let (p, errors) = parse(bad)
            #expect(p == nil && errors.count == 1 && errors.first?.hasPrefix("6: ") == true && errors.first?.contains("research_days") == true,
                    "\(bad): \(errors)")
        }
    }

    /// One call per distinct GTIN, as eBay's GTIN searches are counted.
    final class PerGTIN: CompetitionCallCounter {
        var taken = Set<String>()
        func adding(_ l: MarketplaceListing, refreshGroup: Int) -> [QuotaKey: Int64] { [key: taken.contains(l.gtin ?? l.sku) ? 0 : 1] }
        func take(_ l: MarketplaceListing, refreshGroup: Int) { taken.insert(l.gtin ?? l.sku) }
        let key = QuotaKey(provider: "ebay", api: "browse")
    }

    static func listing(_ sku: String, _ gtin: String, quantity: Int = 1) -> MarketplaceListing {
        MarketplaceListing(marketplace: .ebay, sku: sku, listingID: sku, gtin: gtin, title: sku, condition: .new,
                           price: Money(micros: 10_000_000, currency: .usd), quantity: quantity)
    }

    /// Keys as eBay cuts: by GTIN, a GTIN starting with "r" refreshed, none alone; every
    /// third key closed at 2 listings (as Amazon's batches are).
    struct TestGrouper: CompetitionGrouper {
        func key(for listing: MarketplaceListing) -> CompetitionGroupKey? {
            guard let gtin = listing.gtin, gtin != "none" else { return nil }
            if gtin.hasPrefix("r") { return CompetitionGroupKey("", refresh: true) }
            return CompetitionGroupKey(gtin, limit: gtin.hasSuffix("0") ? 2 : nil)
        }
    }

    @Test("refresh groups with a limit are cut in the order listings are taken (NAME#n, n = taken ÷ limit); other keys pass unchanged")
    func refreshGroupCut() {
        var cut = RefreshGroupCut()
        let refresh = CompetitionGroupKey("", refresh: true, limit: 3), gtin = CompetitionGroupKey("G1"), batch = CompetitionGroupKey("B", limit: 2)
        var ordinals: [Int] = [], names: [String] = []
        for index in 0..<8 {
            let place = cut.place(refresh)
            #expect(place.key?.refresh == true && place.key?.limit == nil)
            ordinals.append(place.ordinal)
            names.append(place.key?.name ?? "-")
            // A listing not taken (index 4) does not fill its group.
            if index != 4 { cut.take(refresh) }
            #expect(cut.place(gtin).key == gtin && cut.place(gtin).ordinal == 0)
            #expect(cut.place(batch).key == batch && cut.place(nil).key == nil)
            cut.take(gtin)
            cut.take(batch)
        }
        #expect(ordinals == [0, 0, 0, 1, 1, 1, 1, 2])
        #expect(names == ["#0", "#0", "#0", "#1", "#1", "#1", "#1", "#2"])
    }

    @Test("the decide wave's cut, listing by listing: refresh groups first, then each group in order of its first listing, a key's group closed at its limit; the same cut as grouping the whole list at once")
    func groupBuilder() {
        let gtins = ["g1", "g2", "g1", "none", "r1", "g10", "g10", "g10", "g2", "r2", "none", "g10"]
        let listings = gtins.enumerated().map { Self.listing("S\($0.offset)", $0.element) }
        var builder = CompetitionGroupBuilder<String>()
        for listing in listings { builder.add(listing.sku, key: TestGrouper().key(for: listing)) }
        let (skus, groups) = builder.build()
        let cut = groups.map { (Array(skus[$0.range]), $0.refresh) }
        #expect(cut.map(\.0) == [["S4", "S9"], ["S0", "S2"], ["S1", "S8"], ["S3"], ["S5", "S6"], ["S7", "S11"], ["S10"]])
        #expect(cut.map(\.1) == [true, false, false, false, false, false, false])

        // Random lists: the same groups as a reference cut of the whole list (by key, in order
        // of first listing, limits closing a group, refresh first).
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let count = Int(rng.next() % 60)
            let list = (0..<count).map { i in Self.listing("K\(i)", ["g1", "g2", "g30", "g40", "none", "r5", "r6"][Int(rng.next() % 7)]) }
            var reference: [(key: CompetitionGroupKey?, skus: [String])] = []
            for listing in list {
                let key = TestGrouper().key(for: listing)
                if let key, let at = reference.lastIndex(where: { $0.key == key }),
                   key.limit.map({ reference[at].skus.count < $0 }) ?? true {
                    reference[at].skus.append(listing.sku)
                } else {
                    reference.append((key, [listing.sku]))
                }
            }
            let expected = reference.filter { $0.key?.refresh == true }.map(\.skus) + reference.filter { $0.key?.refresh != true }.map(\.skus)
            var builder = CompetitionGroupBuilder<String>()
            for listing in list { builder.add(listing.sku, key: TestGrouper().key(for: listing)) }
            let (skus, groups) = builder.build()
            #expect(groups.map { Array(skus[$0.range]) } == expected)
        }
    }

    @Test("the walk: listings sharing a taken GTIN and listings needing no read are free; after the first that does not fit only free ones; the first bound hit is named")
    func walk() throws {
        let listings = [Self.listing("A", "g1"), Self.listing("B", "g2"), Self.listing("C", "g1"), Self.listing("D", "g3"),
                        Self.listing("E", "g5", quantity: 0), Self.listing("F", "g4")]
        let browse = QuotaKey(provider: "ebay", api: "browse")
        let quota = try RepricingSweepPlan.capacity(listings, coverage: [:], sweep: 1, max: nil, counter: PerGTIN(),
                                                remaining: [browse: 2], needsRead: { $0.quantity > 0 })
        #expect(quota.selected.map(\.sku) == ["A", "B", "C", "E"])
        #expect(quota.limitedBy == "ebay/browse quota (2 calls left)")
        #expect(quota.planned == [browse: 2])
        let capped = try RepricingSweepPlan.capacity(listings, coverage: [:], sweep: 1, max: 3, counter: PerGTIN(),
                                                 remaining: [browse: 10], needsRead: { $0.quantity > 0 })
        #expect(capped.selected.map(\.sku) == ["A", "B", "C"] && capped.limitedBy == "max_listings_per_run")
        let enough = try RepricingSweepPlan.capacity(listings, coverage: [:], sweep: 1, max: nil, counter: PerGTIN(),
                                                 remaining: [browse: 4], needsRead: { $0.quantity > 0 })
        #expect(enough.selected.count == 6 && enough.limitedBy == nil && enough.planned == [browse: 4])
        // 80% of 2.5 s at 0.5/s with a burst of 1: 1 + ⌊2 × 0.5⌋ = 2 requests of 2 listings.
        let rate = CompetitionReadRate(operation: "batch", requestsPerSecond: 0.5, burst: 1, listingsPerRequest: 2)
        #expect(rate.requests(in: 2_000) == 2 && rate.requests(in: 0) == 1)
        let timed = try RepricingSweepPlan.capacity(listings, coverage: [:], sweep: 1, max: nil, rate: rate, timeout: TimeSpan(milliseconds: 2_500))
        #expect(timed.selected.map(\.sku) == ["A", "B", "C", "D"] && timed.limitedBy == "timeout" && timed.timeoutListings == 4)
        // A rate that counts calls (eBay's Browse): the same 2 requests bound the GTIN searches, not
        // the listings; a listing sharing a taken GTIN or needing no read is free, as under a quota.
        let browseRate = CompetitionReadRate(operation: "browse", requestsPerSecond: 0.5, burst: 1, listingsPerRequest: 1, countsCalls: true)
        let calls = try RepricingSweepPlan.capacity(listings, coverage: [:], sweep: 1, max: nil, rate: browseRate, timeout: TimeSpan(milliseconds: 2_500),
                                                counter: PerGTIN(), remaining: [browse: 10], needsRead: { $0.quantity > 0 })
        #expect(calls.selected.map(\.sku) == ["A", "B", "C", "E"] && calls.limitedBy == "timeout" && calls.timeoutRequests == 2
                && calls.timeoutListings == 4 && calls.planned == [browse: 2])
        // A checked listing goes after the never checked; A shares C's GTIN, so it is still free.
        let later = try RepricingSweepPlan.capacity(listings, coverage: ["A": ListingCoverage(lastChecked: 5, sweep: 0)], sweep: 1, max: nil,
                                                counter: PerGTIN(), remaining: [browse: 2], needsRead: { $0.quantity > 0 })
        #expect(later.selected.map(\.sku) == ["A", "B", "C", "E"] && later.planned == [browse: 2])
    }

    @Test("pending listings (eBay offers not read yet): each taken counts one offer read against its own room in the timeout; once one does not fit none does; a pending hold still fits under a spent quota")
    func pendingOfferReads() throws {
        func pending(_ sku: String, _ gtin: String, quantity: Int = 1) -> MarketplaceListing {
            var l = Self.listing(sku, gtin, quantity: quantity)
            l.listingID = ""
            return l
        }
        let listings = [pending("A", "g1"), Self.listing("B", "g2"), pending("C", "g1"), pending("D", "g3"),
                        pending("E", "g5", quantity: 0), Self.listing("F", "g4")]
        #expect(listings.filter(\.offerPending).map(\.sku) == ["A", "C", "D", "E"])
        let browse = QuotaKey(provider: "ebay", api: "browse")
        // 80% of 2.5 s at 0.5/s with a burst of 1: 1 + ⌊2 × 0.5⌋ = 2 offer reads.
        let offers = CompetitionReadRate(operation: "getOffers", requestsPerSecond: 0.5, burst: 1, listingsPerRequest: 1)
        let timed = try RepricingSweepPlan.capacity(listings, coverage: [:], sweep: 1, max: nil, timeout: TimeSpan(milliseconds: 2_500),
                                                counter: PerGTIN(), offerRate: offers, remaining: [browse: 10], needsRead: { $0.quantity > 0 })
        // A and C read their offers (C's search is A's); D does not fit, nor E; F would add a search after that.
        #expect(timed.selected.map(\.sku) == ["A", "B", "C"] && timed.limitedBy == "timeout", "\(timed.selected.map(\.sku))")
        #expect(timed.offerReads == 2 && timed.offerReadRoom == 2 && timed.planned == [browse: 2])
        let record = timed.record(marketplace: .ebay)
        #expect(record.offerReads == .init(planned: 2, room: 2, operation: "getOffers"))
        #expect(record.journalFields.contains { $0 == ("offer_reads_planned", "2") } && record.journalFields.contains { $0 == ("offer_reads_room", "2") })
        // With room for the reads but one Browse call left: the quota binds; pending listings adding
        // no quota call (C shares A's search, E is out of stock) are still taken.
        let quota = try RepricingSweepPlan.capacity(listings, coverage: [:], sweep: 1, max: nil, timeout: TimeSpan(milliseconds: 60_000),
                                                counter: PerGTIN(), offerRate: offers, remaining: [browse: 1], needsRead: { $0.quantity > 0 })
        #expect(quota.selected.map(\.sku) == ["A", "C", "E"] && quota.limitedBy == "ebay/browse quota (1 calls left)",
                "\(quota.selected.map(\.sku)) \(quota.limitedBy ?? "")")
        #expect(quota.offerReads == 3)
    }
}
