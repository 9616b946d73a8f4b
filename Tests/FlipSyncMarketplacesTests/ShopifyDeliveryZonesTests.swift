import FlipSyncCore
@testable import FlipSyncMarketplaces
@testable import FlipSyncSandbox
import Foundation
import Testing

/// Shopify's shipping zones read from the GraphQL Admin API's delivery profiles: the parsed
/// zones are the sandbox's data, the connections are paged, and what FlipSync cannot read is
/// a clear error.
@Suite("Shopify shipping zones from deliveryProfiles (GraphQL)", .timeLimit(.minutes(1)))
struct ShopifyDeliveryZonesTests {
    static func usd(_ text: String) throws -> Money { try Money(parsing: "\(text) USD") }

    /// `SandboxShippingPolicies.shopifyDeliveryProfiles` walked by hand into the zones the
    /// client should parse (kilograms to grams, GREATER_THAN_OR_EQUAL_TO the low bound).
    static func expectedZones() throws -> [ShopifyShippingZone] {
        var zones: [ShopifyShippingZone] = []
        for profile in SandboxShippingPolicies.shopifyDeliveryProfiles {
            for group in profile["profileLocationGroups"] as? [[String: Any]] ?? [] {
                for entry in group["locationGroupZones"] as? [[String: Any]] ?? [] {
                    let zone = try #require(entry["zone"] as? [String: Any])
                    let countries = (zone["countries"] as? [[String: Any]] ?? []).map { country in
                        ShopifyShippingZone.Country(code: (country["code"] as? [String: Any])?["countryCode"] as? String ?? "?", provinceCodes: [])
                    }
                    var weightRates: [ShopifyShippingZone.WeightRate] = []
                    var priceRates: [ShopifyShippingZone.PriceRate] = []
                    for method in entry["methodDefinitions"] as? [[String: Any]] ?? [] {
                        let name = try #require(method["name"] as? String)
                        let price = try usd(try #require(((method["rateProvider"] as? [String: Any])?["price"] as? [String: Any])?["amount"] as? String))
                        let conditions = method["methodConditions"] as? [[String: Any]] ?? []
                        var low: Int?, high: Int?, minimum: Money?, maximum: Money?
                        var weight = false
                        for condition in conditions {
                            let criteria = try #require(condition["conditionCriteria"] as? [String: Any])
                            let isLow = condition["operator"] as? String == "GREATER_THAN_OR_EQUAL_TO"
                            if condition["field"] as? String == "TOTAL_WEIGHT" {
                                weight = true
                                #expect(criteria["unit"] as? String == "KILOGRAMS")
                                let grams = Int((try #require(criteria["value"] as? Double) * 1000).rounded())
                                if isLow { low = grams } else { high = grams }
                            } else {
                                let bound = try usd(try #require(criteria["amount"] as? String))
                                if isLow { minimum = bound } else { maximum = bound }
                            }
                        }
                        if weight {
                            weightRates.append(.init(name: name, price: price, lowGrams: low ?? 0, highGrams: high))
                        } else {
                            priceRates.append(.init(name: name, price: price, minSubtotal: minimum, maxSubtotal: maximum))
                        }
                    }
                    let id = try #require(Int64((zone["id"] as? String ?? "").split(separator: "/").last ?? ""))
                    zones.append(ShopifyShippingZone(id: id, name: zone["name"] as? String ?? "", countries: countries,
                                                     weightRates: weightRates, priceRates: priceRates, carrierRateProviders: 0))
                }
            }
        }
        return zones
    }

    @Test("the parsed zones equal the sandbox's delivery profiles (rates, bounds, countries), one zone a page with zonePageSize 1")
    func zonesEqualSandboxData() async throws {
        try await ShopifyHarness.with(listings: 3, zonePageSize: 1) { h in
            let zones = try await h.client.shippingZones()
            let expected = try Self.expectedZones()
            #expect(zones == expected)
            // The data by hand, so a mistake in both walks is still caught.
            #expect(zones.map(\.id) == [410_000_001, 410_000_002])
            #expect(zones.map(\.countries) == [[.init(code: "US", provinceCodes: [])], [.init(code: "CA", provinceCodes: [])]])
            #expect(zones[0].weightRates.map(\.name) == ["Free under 1 lb", "Standard", "Heavy"])
            #expect(zones[0].weightRates.map(\.lowGrams) == [0, 450, 2270])
            #expect(zones[0].weightRates.map(\.highGrams) == [450, 2270, 31_750])
            #expect(zones[0].priceRates == [.init(name: "Free over $75", price: try Self.usd("0.00"), minSubtotal: try Self.usd("75.00"),
                                                  maxSubtotal: nil)])
            #expect(zones[1].weightRates == [.init(name: "Canada Post", price: try Self.usd("19.99"), lowGrams: 0, highGrams: 31_750)])
            #expect(zones.allSatisfy { $0.carrierRateProviders == 0 })
            // One profiles page, then the group's two zones one page each.
            let counts = h.state.requestCounts
            #expect(counts["shopify.deliveryProfiles"] == 1)
            #expect(counts["shopify.deliveryProfile"] == 2)
            #expect(counts["shopify.shipping_zones"] == nil)
        }
    }

    @Test("the zones query at the default page size fits Shopify's 1,000-point limit; REST shipping_zones.json is gone")
    func zonesQueryCost() async throws {
        try await ShopifyHarness.with(listings: 3) { h in
            let answer = try await h.graphQL(ShopifyClient.deliveryZonesQuery,
                                             variables: #"{"profile":"gid://shopify/DeliveryProfile/1","group":"gid://shopify/DeliveryLocationGroup/1","first":5}"#)
            #expect(answer.status == 200)
            #expect(answer.body["errors"] == nil)
            let cost = try #require(((answer.body["extensions"] as? [String: Any])?["cost"] as? [String: Any])?["requestedQueryCost"] as? Int)
            #expect(cost > 0 && cost <= SandboxShopify.maxQueryCost, "requested \(cost)")
            let rest = try await h.raw(.get, "shipping_zones.json")
            #expect(rest.status == 404)
        }
    }

    @Test("an unknown field in the zones query is the sandbox's undefinedField error, surfaced naming the field and type")
    func unknownFieldIsClearError() async throws {
        try await ShopifyHarness.with(listings: 3) { h in
            let query = ShopifyClient.deliveryZonesQuery.replacingOccurrences(of: "restOfWorld", with: "restOfTheWorld")
            do {
                _ = try await h.client.graphQL("deliveryProfile", query, ["profile": "gid://shopify/DeliveryProfile/1",
                                                                          "group": "gid://shopify/DeliveryLocationGroup/1", "first": 5],
                                               as: ShopifyWire.DeliveryZonesData.self)
                Issue.record("an unknown field was answered")
            } catch let error as MarketplaceError {
                guard case .permanent(_, let message) = error else { Issue.record("\(error)"); return }
                #expect(message.contains("undefinedField"))
                #expect(message.contains("restOfTheWorld") && message.contains("DeliveryCountryCodeOrRestOfWorld"))
            }
            // A field selected on the union itself, not in an inline fragment, is refused too.
            let direct = try await h.graphQL("""
                { deliveryProfiles(first: 1) { nodes { profileLocationGroups { locationGroupZones(first: 1) { nodes {
                  methodDefinitions(first: 1) { nodes { rateProvider { price { amount } } } } } } } } } }
                """)
            let errors = try #require(direct.body["errors"] as? [[String: Any]])
            #expect(errors.first?["message"] as? String == "Field 'price' doesn't exist on type 'DeliveryRateProvider'")
        }
    }

    struct ShapeCase: Sendable, CustomTestStringConvertible {
        var name: String
        /// One method definition's JSON.
        var method: String
        /// A fragment of the error's message; nil when the zone reads.
        var error: String?
        var testDescription: String { name }
    }

    static func method(provider: String = #"{"__typename":"DeliveryRateDefinition","price":{"amount":"4.00","currencyCode":"USD"}}"#,
                       conditions: String, active: Bool = true) -> String {
        #"{"id":"gid://shopify/DeliveryMethodDefinition/9","name":"Odd","active":\#(active),"rateProvider":\#(provider),"methodConditions":[\#(conditions)]}"#
    }

    static func weight(_ op: String, _ value: Double, _ unit: String = "KILOGRAMS") -> String {
        #"{"field":"TOTAL_WEIGHT","operator":"\#(op)","conditionCriteria":{"__typename":"Weight","unit":"\#(unit)","value":\#(value)}}"#
    }

    static func price(_ op: String, _ amount: String, _ currency: String = "USD") -> String {
        #"{"field":"TOTAL_PRICE","operator":"\#(op)","conditionCriteria":{"__typename":"MoneyV2","amount":"\#(amount)","currencyCode":"\#(currency)"}}"#
    }

    static let shapeCases: [ShapeCase] = [
        ShapeCase(name: "an unknown operator", method: method(conditions: weight("EQUAL_TO", 1)), error: "operator EQUAL_TO"),
        ShapeCase(name: "weight and price mixed", method: method(conditions: weight("GREATER_THAN_OR_EQUAL_TO", 1) + "," + price("LESS_THAN_OR_EQUAL_TO", "10.00")),
                  error: "both weight and price"),
        ShapeCase(name: "a price bound in another currency", method: method(conditions: price("GREATER_THAN_OR_EQUAL_TO", "10.00", "CAD")),
                  error: "in CAD, not USD"),
        ShapeCase(name: "a weight criterion on the price field", method: method(conditions: #"{"field":"TOTAL_PRICE","operator":"LESS_THAN_OR_EQUAL_TO","conditionCriteria":{"__typename":"Weight","unit":"GRAMS","value":5}}"#),
                  error: "condition on TOTAL_PRICE with a Weight criterion"),
        ShapeCase(name: "an unknown weight unit", method: method(conditions: weight("LESS_THAN_OR_EQUAL_TO", 1, "STONES")), error: "STONES"),
        ShapeCase(name: "two low bounds", method: method(conditions: weight("GREATER_THAN_OR_EQUAL_TO", 1) + "," + weight("GREATER_THAN_OR_EQUAL_TO", 2)),
                  error: "two low weight bounds"),
        ShapeCase(name: "a carrier-calculated rate is counted, not read", method: method(provider: #"{"__typename":"DeliveryParticipant"}"#, conditions: ""),
                  error: nil),
        ShapeCase(name: "an inactive rate with an unknown operator is skipped", method: method(conditions: weight("EQUAL_TO", 1), active: false), error: nil),
        ShapeCase(name: "pounds are converted to grams", method: method(conditions: weight("LESS_THAN_OR_EQUAL_TO", 2, "POUNDS")), error: nil),
    ]

    @Test("a rate FlipSync cannot read is MarketplaceError.malformed naming the zone and the rate", arguments: shapeCases)
    func badShapes(_ c: ShapeCase) async throws {
        try await ShopifyHarness.with(listings: 1) { h in
            let json = #"{"zone":{"id":"gid://shopify/DeliveryZone/77","name":"Odd zone","countries":[{"code":{"countryCode":null,"restOfWorld":true},"provinces":[]}]},"#
                + #""methodDefinitions":{"nodes":[\#(c.method)],"pageInfo":{"hasNextPage":false,"endCursor":null}}}"#
            let wire = try JSONDecoder().decode(ShopifyWire.LocationGroupZone.self, from: Data(json.utf8))
            do {
                let zone = try h.client.zone(wire)
                #expect(c.error == nil, "read although it should fail: \(zone)")
                #expect(zone.id == 77 && zone.countries == [.init(code: "*", provinceCodes: [])])
                if c.name.hasPrefix("a carrier") { #expect(zone.carrierRateProviders == 1 && zone.weightRates.isEmpty && zone.priceRates.isEmpty) }
                if c.name.hasPrefix("an inactive") { #expect(zone.weightRates.isEmpty && zone.priceRates.isEmpty && zone.carrierRateProviders == 0) }
                if c.name.hasPrefix("pounds") { #expect(zone.weightRates.map(\.highGrams) == [907] && zone.weightRates.map(\.lowGrams) == [0]) }
            } catch let error as MarketplaceError {
                guard case .malformed(let message) = error, let fragment = c.error else { Issue.record("\(error)"); return }
                #expect(message.contains(fragment), "\(message)")
                #expect(message.contains("\"Odd zone\"") && message.contains("rate \"Odd\""), "\(message)")
            }
        }
    }
}
