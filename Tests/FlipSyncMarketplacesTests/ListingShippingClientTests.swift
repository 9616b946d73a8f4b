import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

/// Listings' shipping settings over real HTTP: eBay's Account API fulfillment policies and
/// Shopify's shipping zones, read from the sandbox, and the marketplaces' per-listing charges.
@Suite("Listings' shipping settings: eBay fulfillment policies, Shopify shipping zones", .timeLimit(.minutes(1)))
struct ListingShippingClientTests {
    static func usd(_ text: String) throws -> Money { try Money(parsing: "\(text) USD") }

    @Test("getFulfillmentPolicies returns every policy with its handling time and first domestic service, exact")
    func ebayPolicies() async throws {
        try await Harness.with(listings: 5) { h in
            let policies = try await h.client.fulfillmentPolicies()
            #expect(policies.map(\.policyID) == ["6000000001", "6000000002", "6000000003"])
            let free = try #require(policies.first)
            #expect(free.name == "Free shipping, USPS Ground Advantage")
            #expect(free.handlingDays == 1 && free.localPickup == false && free.domesticCostType == "FLAT_RATE")
            #expect(free.domesticServices == [FulfillmentPolicy.Service(sortOrder: 1, carrierCode: "USPS", serviceCode: "USPSGroundAdvantage",
                                                                        shippingCost: try Self.usd("0.00"), freeShipping: true)])
            let ups = try #require(policies.last)
            #expect(ups.handlingDays == 2)
            #expect(ups.domesticServices.first?.shippingCost == (try Self.usd("9.99")))
            #expect(ups.domesticServices.first?.freeShipping == false)
            #expect(h.recorder.recorded.contains { $0.operation == "account.fulfillment_policy.get_fulfillment_policies" && $0.status == 200 })
        }
    }

    @Test("getFulfillmentPolicy by id is the listed policy; an unknown id is eBay's 404; a non-numeric id is refused unsent")
    func ebayPolicyByID() async throws {
        try await Harness.with(listings: 5) { h in
            let listed = try await h.client.fulfillmentPolicies()
            #expect(try await h.client.fulfillmentPolicy(id: "6000000002") == listed[1])
            await #expect(throws: MarketplaceError.self) { _ = try await h.client.fulfillmentPolicy(id: "6999999999") }
            do {
                _ = try await h.client.fulfillmentPolicy(id: "6999999999")
            } catch let error as MarketplaceError {
                guard case .permanent(let status, let message) = error else { Issue.record("\(error)"); return }
                #expect(status == 404)
                #expect(message.contains("20404"))
            }
            let sent = h.recorder.recorded.count
            do {
                _ = try await h.client.fulfillmentPolicy(id: "../order")
                Issue.record("a path in the id was sent")
            } catch let error as MarketplaceError {
                guard case .refused = error else { Issue.record("\(error)"); return }
            }
            #expect(h.recorder.recorded.count == sent)
        }
    }

    @Test("a 503 is transient, a cut-off body malformed, both naming the operation")
    func ebayPolicyFaults() async throws {
        try await Harness.with(listings: 5) { h in
            h.sandbox.state.inject(SandboxFault(route: .ebayFulfillmentPolicy, remaining: 1, status: 503))
            do {
                _ = try await h.client.fulfillmentPolicies()
                Issue.record("no error")
            } catch let error as MarketplaceError {
                guard case .transient = error else { Issue.record("\(error)"); return }
            }
            h.sandbox.state.inject(SandboxFault(route: .ebayFulfillmentPolicy, remaining: 1, malformed: true))
            do {
                _ = try await h.client.fulfillmentPolicies()
                Issue.record("no error")
            } catch let error as MarketplaceError {
                guard case .malformed(let message) = error else { Issue.record("\(error)"); return }
                #expect(message.contains("get_fulfillment_policies"))
            }
        }
    }

    @Test("every published eBay listing gets its offer's policy: the override or the policy's cost, its handling time and service key")
    func ebayListingShipping() async throws {
        try await Harness.with(listings: 12) { h in
            let marketplace = EbayMarketplace(client: h.client)
            let settings = try await marketplace.listingShipping()
            #expect(settings.count == 12)
            // The policies are read once for all listings, not once per listing.
            #expect(h.recorder.recorded.filter { $0.operation.hasPrefix("account.") }.count == 1)
            let policies = Dictionary(uniqueKeysWithValues: try await h.client.fulfillmentPolicies().map { ($0.policyID, $0) })
            for listing in settings {
                // The witness: the offer as the Inventory API gives it, and the policy it names.
                let offer = try #require(try await h.client.offers(sku: listing.sku).first)
                let policyID = try #require(offer.fulfillmentPolicyID)
                let policy = try #require(policies[policyID])
                let first = try #require(policy.domesticServices.first)
                #expect(listing.listingID == offer.offerID)
                #expect(listing.charge == (offer.domesticShippingCost ?? (first.freeShipping ? .zero(.usd) : first.shippingCost)))
                #expect(listing.charge?.micros == h.sandbox.state.product(sku: listing.sku)?.shippingChargedMicros)
                #expect(listing.handlingDays == policy.handlingDays)
                #expect(listing.serviceKey == (first.carrierCode == "UPS" ? "ups-ground" : "usps-ground-advantage"))
                #expect(listing.policy.contains(policy.policyID))
            }
        }
    }

    /// The charge rules of one policy for one offer, without HTTP.
    struct PolicyCase: Sendable, CustomTestStringConvertible {
        var name: String
        var override: String?
        var costType: String
        var free: Bool
        var cost: String?
        var carrier: String?
        var expectedCharge: String?
        var expectedKey: String?
        var testDescription: String { name }
    }

    static let policyCases: [PolicyCase] = [
        PolicyCase(name: "flat rate", override: nil, costType: "FLAT_RATE", free: false, cost: "4.99", carrier: "USPS",
                   expectedCharge: "4.99", expectedKey: "usps-ground-advantage"),
        PolicyCase(name: "free shipping", override: nil, costType: "FLAT_RATE", free: true, cost: "0.00", carrier: "USPS",
                   expectedCharge: "0.00", expectedKey: "usps-ground-advantage"),
        PolicyCase(name: "the offer's override wins", override: "7.99", costType: "FLAT_RATE", free: false, cost: "4.99", carrier: "USPS",
                   expectedCharge: "7.99", expectedKey: "usps-ground-advantage"),
        PolicyCase(name: "calculated shipping has no known charge", override: nil, costType: "CALCULATED", free: false, cost: nil,
                   carrier: "USPS", expectedCharge: nil, expectedKey: "usps-ground-advantage"),
        PolicyCase(name: "no carrier code: no service key", override: nil, costType: "FLAT_RATE", free: false, cost: "4.99", carrier: nil,
                   expectedCharge: "4.99", expectedKey: nil),
    ]

    @Test("eBay charge rules", arguments: policyCases)
    func ebayChargeRules(_ c: PolicyCase) throws {
        let offer = SellerOffer(offerID: "1", sku: "S", marketplaceID: "EBAY_US", price: try Self.usd("20.00"), availableQuantity: 1,
                                status: "PUBLISHED", domesticShippingCost: try c.override.map(Self.usd), fulfillmentPolicyID: "9")
        let policy = FulfillmentPolicy(policyID: "9", name: "P", marketplaceID: "EBAY_US", handlingDays: 3, localPickup: false,
                                       domesticCostType: c.costType,
                                       domesticServices: [.init(sortOrder: 1, carrierCode: c.carrier, serviceCode: "USPSGroundAdvantage",
                                                                shippingCost: try c.cost.map(Self.usd), freeShipping: c.free)])
        let shipping = EbayMarketplace.shipping(offer, policy: policy)
        #expect(shipping.charge == (try c.expectedCharge.map(Self.usd)))
        #expect(shipping.serviceKey == c.expectedKey)
        #expect(shipping.handlingDays == 3)
        #expect((shipping.charge == nil) == (shipping.note != nil))
    }

    @Test("deliveryProfiles (GraphQL): zones, countries and rates with weights in grams and subtotals exact")
    func shopifyZones() async throws {
        try await ShopifyHarness.with(listings: 3) { h in
            let zones = try await h.client.shippingZones()
            #expect(zones.map(\.name) == ["Domestic", "Canada"])
            let us = zones[0]
            #expect(us.countries == [.init(code: "US", provinceCodes: [])])
            #expect(us.weightRates.map(\.lowGrams) == [0, 450, 2270])
            #expect(us.weightRates.map(\.highGrams) == [450, 2270, 31_750])
            #expect(us.weightRates.map(\.price) == [try Self.usd("0.00"), try Self.usd("5.99"), try Self.usd("12.99")])
            #expect(us.priceRates == [.init(name: "Free over $75", price: try Self.usd("0.00"), minSubtotal: try Self.usd("75.00"),
                                            maxSubtotal: nil)])
            h.state.inject(SandboxFault(route: .shopifyDeliveryProfiles, remaining: 1, status: 503))
            await #expect(throws: MarketplaceError.self) { _ = try await h.client.shippingZones() }
        }
    }

    @Test("each Shopify variant's charge is the cheapest US rate that takes its weight or its price")
    func shopifyListingShipping() async throws {
        try await ShopifyHarness.with(listings: 30) { h in
            let settings = try await h.marketplace.listingShipping()
            #expect(settings.count == 30)
            for listing in settings {
                let product = try #require(h.state.product(sku: listing.sku))
                let channel = try #require(h.state.channelListing(.shopify, sku: listing.sku))
                // The sandbox's zone by hand: free under 1 lb (450 g) or from 75.00; 5.99 to 5 lb; 12.99 above.
                let grams = Int((Double(product.weightOunces) * 28.349523125).rounded())
                let expected: Int64 = grams <= 450 || channel.priceMicros >= 75_000_000 ? 0 : grams <= 2270 ? 5_990_000 : 12_990_000
                #expect(listing.charge == Money(micros: expected, currency: .usd), "\(listing.sku) \(grams) g")
                #expect(listing.listingID == channel.listingID)
                #expect(listing.handlingDays == nil && listing.serviceKey == nil)
            }
        }
    }
}
