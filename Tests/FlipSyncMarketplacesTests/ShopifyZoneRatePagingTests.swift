import FlipSyncCore
@testable import FlipSyncMarketplaces
@testable import FlipSyncSandbox
import Foundation
import Testing

/// A Shopify zone with more than the 25 rates read with it has the rest read by follow-up
/// queries on its `methodDefinitions` connection, over real HTTP against the sandbox.
@Suite("Shopify shipping zones with more than 25 rates are paged", .timeLimit(.minutes(2)))
struct ShopifyZoneRatePagingTests {
    static func usd(_ text: String) throws -> Money { try Money(parsing: "\(text) USD") }

    /// Rate `i` of zone `zone`: `i`.00 for orders of 10×`i`.00 or more.
    static func rate(_ zone: Int64, _ i: Int, operator op: String = "GREATER_THAN_OR_EQUAL_TO") -> [String: Any] {
        let id = zone * 1000 + Int64(i)
        return ["id": "gid://shopify/DeliveryMethodDefinition/\(id)", "name": "R\(i)", "active": true, "description": NSNull(),
                "rateProvider": ["__typename": "DeliveryRateDefinition", "id": "gid://shopify/DeliveryRateDefinition/\(id)",
                                 "price": ["amount": "\(i).00", "currencyCode": "USD"]] as [String: Any],
                "methodConditions": [["id": "gid://shopify/DeliveryCondition/\(id)", "field": "TOTAL_PRICE", "operator": op,
                                      "conditionCriteria": ["__typename": "MoneyV2", "amount": "\(i * 10).00", "currencyCode": "USD"]] as [String: Any]]]
    }

    static func zone(_ id: Int64, _ name: String, _ rates: [[String: Any]]) -> [String: Any] {
        ["zone": ["id": "gid://shopify/DeliveryZone/\(id)", "name": name,
                  "countries": [["id": "gid://shopify/DeliveryCountry/\(id)", "name": "Mexico",
                                 "code": ["countryCode": "MX", "restOfWorld": false] as [String: Any], "provinces": [] as [Any]] as [String: Any]]] as [String: Any],
         "methodDefinitions": rates]
    }

    @Test("zones of 60 and 260 rates are read whole, in order: 1 zones page + 1 follow-up for 60 + 3 for 260 (100 rates each); each query under 1,000 points")
    func largeZonesReadWhole() async throws {
        try await ShopifyHarness.with(listings: 1) { h in
            try h.state.shopifyDelivery.addZone(Self.zone(77, "Sixty", (1...60).map { Self.rate(77, $0) }))
            try h.state.shopifyDelivery.addZone(Self.zone(78, "Two sixty", (1...260).map { Self.rate(78, $0) }))
            let zones = try await h.client.shippingZones()
            #expect(zones.map(\.id) == [410_000_001, 410_000_002, 77, 78])
            // The two small zones as before (nothing paged for them).
            #expect(zones[0].weightRates.count == 3 && zones[0].priceRates.count == 1)
            #expect(zones[1].weightRates.count == 1)
            for (zone, count) in [(zones[2], 60), (zones[3], 260)] {
                #expect(zone.priceRates.count == count)
                #expect(zone.priceRates.map(\.name) == (1...count).map { "R\($0)" })
                let expected = try (1...count).map { i -> ShopifyShippingZone.PriceRate in
                    ShopifyShippingZone.PriceRate(name: "R\(i)", price: try Self.usd("\(i).00"), minSubtotal: try Self.usd("\(i * 10).00"),
                                                  maxSubtotal: nil)
                }
                #expect(zone.priceRates == expected)
                #expect(zone.weightRates.isEmpty && zone.countries == [.init(code: "MX", provinceCodes: [])])
            }
            let counts = h.state.requestCounts
            #expect(counts["shopify.deliveryProfiles"] == 1)
            #expect(counts["shopify.deliveryProfile"] == 5)
            #expect(h.statuses("deliveryProfile") == [200, 200, 200, 200, 200])

            // The follow-up's requested cost, as the client estimates it before Shopify says.
            let answer = try await h.graphQL(ShopifyClient.zoneRatesQuery, variables: #"""
                {"profile":"gid://shopify/DeliveryProfile/1","group":"gid://shopify/DeliveryLocationGroup/1","zoneAfter":"\#(Self.zoneCursor(h, before: 3))","after":"\#(Self.rateCursor(h, 24))"}
                """#)
            #expect(answer.body["errors"] == nil)
            let cost = try #require(((answer.body["extensions"] as? [String: Any])?["cost"] as? [String: Any])?["requestedQueryCost"] as? Int)
            #expect(cost == 7 + ShopifyClient.ratesPerPage * 4 && cost <= SandboxShopify.maxQueryCost, "requested \(cost)")
            let profile = (answer.body["data"] as? [String: Any])?["deliveryProfile"] as? [String: Any]
            let group = (profile?["profileLocationGroups"] as? [[String: Any]])?.first
            let nodes = try #require((group?["locationGroupZones"] as? [String: Any])?["nodes"] as? [[String: Any]])
            #expect((nodes.first?["zone"] as? [String: Any])?["id"] as? String == "gid://shopify/DeliveryZone/78")
            #expect(((nodes.first?["methodDefinitions"] as? [String: Any])?["nodes"] as? [[String: Any]])?.count == 100)
            // The zones page at the default 5 zones still fits one query.
            let page = try await h.graphQL(ShopifyClient.deliveryZonesQuery,
                                           variables: #"{"profile":"gid://shopify/DeliveryProfile/1","group":"gid://shopify/DeliveryLocationGroup/1","first":5}"#)
            let pageCost = try #require(((page.body["extensions"] as? [String: Any])?["cost"] as? [String: Any])?["requestedQueryCost"] as? Int)
            #expect(pageCost == 3 + 5 * 106 && pageCost <= SandboxShopify.maxQueryCost, "requested \(pageCost)")
        }
    }

    @Test("with a 1,000-point bucket restoring 500 a second, the follow-ups wait for the cost bucket (from extensions.cost) and are never THROTTLED")
    func followUpsWaitForTheBucket() async throws {
        try await ShopifyHarness.with(listings: 1) { h in
            h.state.setShopifyThrottle(maximumAvailable: 1000, restoreRate: 500)
            try h.state.shopifyDelivery.addZone(Self.zone(78, "Two sixty", (1...260).map { Self.rate(78, $0) }))
            let zones = try await h.client.shippingZones()
            #expect(zones.last?.priceRates.count == 260)
            // 533 + 3 × 407 points requested of a 1,000-point bucket: the client waited instead.
            #expect(h.state.requestCounts["shopify.deliveryProfile"] == 4)
            #expect(h.state.shopifyThrottledCount == 0)
        }
    }

    @Test("a zone needing more follow-up pages than the cap is refused naming the zone and the cap, after exactly the cap's pages; at the cap it reads whole")
    func followUpPagesAreCapped() async throws {
        #expect(ShopifyClientConfiguration(baseURL: "http://127.0.0.1:1").zoneRatePageLimit == 100)
        // 260 rates: 25 with the zone, then 3 follow-ups of 100, 100 and 35. A cap of 2 stops before the third.
        try await ShopifyHarness.with(listings: 1, zoneRatePageLimit: 2) { h in
            try h.state.shopifyDelivery.addZone(Self.zone(78, "Two sixty", (1...260).map { Self.rate(78, $0) }))
            do {
                let zones = try await h.client.shippingZones()
                Issue.record("read past the cap: \(zones.map { "\($0.name) \($0.priceRates.count)" })")
            } catch let error as MarketplaceError {
                guard case .refused(let message) = error else { Issue.record("\(error)"); return }
                #expect(message.contains("Shopify shipping zone \"Two sixty\" (gid://shopify/DeliveryZone/78)"), "\(message)")
                #expect(message.contains("more rates than 2 follow-up pages (the cap a zone) hold: 225 read"), "\(message)")
            }
            // The zones page and the 2 follow-ups the cap allows; no third.
            #expect(h.state.requestCounts["shopify.deliveryProfile"] == 3)
        }
        try await ShopifyHarness.with(listings: 1, zoneRatePageLimit: 3) { h in
            try h.state.shopifyDelivery.addZone(Self.zone(78, "Two sixty", (1...260).map { Self.rate(78, $0) }))
            let zones = try await h.client.shippingZones()
            #expect(zones.last?.priceRates.count == 260)
            #expect(h.state.requestCounts["shopify.deliveryProfile"] == 4)
        }
    }

    @Test("a follow-up that answers another zone (the zone moved between queries) is malformed naming the zone, never mixed in")
    func followUpAnsweringAnotherZone() async throws {
        try await ShopifyHarness.with(listings: 1) { h in
            try h.state.shopifyDelivery.addZone(Self.zone(77, "Sixty", (1...60).map { Self.rate(77, $0) }))
            // Zone 77's first page as read, but addressed after zone 0: the sandbox answers Canada.
            let page = #"{"zone":{"id":"gid://shopify/DeliveryZone/77","name":"Sixty","countries":[]},"#
                + #""methodDefinitions":{"nodes":[],"pageInfo":{"hasNextPage":true,"endCursor":"\#(Self.rateCursor(h, 24))"}}}"#
            let wire = try JSONDecoder().decode(ShopifyWire.LocationGroupZone.self, from: Data(page.utf8))
            do {
                let rates = try await h.client.remainingRates(of: wire, profile: "gid://shopify/DeliveryProfile/1",
                                                              group: "gid://shopify/DeliveryLocationGroup/1", zoneAfter: Self.zoneCursor(h, before: 1))
                Issue.record("read \(rates.count) rates of another zone")
            } catch let error as MarketplaceError {
                guard case .malformed(let message) = error else { Issue.record("\(error)"); return }
                #expect(message.contains("Shopify shipping zone \"Sixty\" (gid://shopify/DeliveryZone/77)"), "\(message)")
                #expect(message.contains("no longer where it was read"), "\(message)")
            }
            // The same zone addressed right reads its 35 remaining rates.
            let rest = try await h.client.remainingRates(of: wire, profile: "gid://shopify/DeliveryProfile/1",
                                                         group: "gid://shopify/DeliveryLocationGroup/1", zoneAfter: Self.zoneCursor(h, before: 2))
            #expect(rest.map(\.name) == (26...60).map { "R\($0)" })
            // A cursor the sandbox never gave is a GraphQL error, as Shopify answers it, not a null page.
            let bad = try await h.graphQL(ShopifyClient.zoneRatesQuery, variables: #"""
                {"profile":"gid://shopify/DeliveryProfile/1","group":"gid://shopify/DeliveryLocationGroup/1","zoneAfter":null,"after":"not-a-cursor"}
                """#)
            let errors = try #require(bad.body["errors"] as? [[String: Any]])
            #expect((errors.first?["extensions"] as? [String: Any])?["code"] as? String == "BAD_REQUEST")
            #expect(errors.first?["message"] as? String == "Invalid cursor for current pagination sort.")
        }
    }

    /// The sandbox's cursor of zone `index - 1` of the group (the one before zone `index`).
    static func zoneCursor(_ h: ShopifyHarness, before index: Int) -> String { ShopifyRoutes.cursor("lgz", [Int64(index - 1)]) }

    /// The sandbox's cursor of rate `index` (0-based) of a zone.
    static func rateCursor(_ h: ShopifyHarness, _ index: Int) -> String { ShopifyRoutes.cursor("md", [Int64(index)]) }

    struct LaterPageCase: Sendable, CustomTestStringConvertible {
        var name: String
        /// The 1-based rate made bad.
        var bad: Int
        /// Fragments the error must contain.
        var fragments: [String]
        var testDescription: String { name }
    }

    static let laterPageCases: [LaterPageCase] = [
        LaterPageCase(name: "rate 40 (the follow-up page) has an unknown operator", bad: 40,
                      fragments: ["Shopify shipping zone \"Sixty\" (gid://shopify/DeliveryZone/77)", "rate \"R40\"", "operator EQUAL_TO"]),
        LaterPageCase(name: "rate 50 (the follow-up page) has no active flag: the page is not the documented JSON", bad: 50,
                      fragments: ["Shopify shipping zone \"Sixty\" (gid://shopify/DeliveryZone/77)", "rates after the first 25",
                                  "not the documented JSON"]),
    ]

    @Test("a zone whose later rates page is unreadable is MarketplaceError.malformed naming the zone", arguments: laterPageCases)
    func laterPageMalformed(_ c: LaterPageCase) async throws {
        try await ShopifyHarness.with(listings: 1) { h in
            var rates = (1...60).map { Self.rate(77, $0) }
            if c.bad == 40 { rates[39] = Self.rate(77, 40, operator: "EQUAL_TO") } else { rates[c.bad - 1]["active"] = nil }
            try h.state.shopifyDelivery.addZone(Self.zone(77, "Sixty", rates))
            do {
                let zones = try await h.client.shippingZones()
                Issue.record("read although rate \(c.bad) is bad: \(zones.map(\.name))")
            } catch let error as MarketplaceError {
                guard case .malformed(let message) = error else { Issue.record("\(error)"); return }
                for fragment in c.fragments { #expect(message.contains(fragment), "\(message)") }
            }
            // The zones page, then the one follow-up that failed.
            #expect(h.state.requestCounts["shopify.deliveryProfile"] == 2)
        }
    }
}
