import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
import Testing

@Suite("Amazon listings: search and patch over HTTP", .timeLimit(.minutes(1)))
struct AmazonListingsTests {
    @Test("activeListings reads every page and matches the channel's listings")
    func activeListingsAllPages() async throws {
        try await AmazonHarness.with { h in
            let expected = h.state.channelListings(.amazon)
            try #require(expected.count > 20)
            let listings = try await h.marketplace.activeListings()
            #expect(listings.map(\.sku) == expected.map(\.sku))
            #expect(h.state.requestCounts["amazon.listings"] == (expected.count + 19) / 20)
            for (listing, channel) in zip(listings, expected) {
                let product = try #require(h.state.product(sku: channel.sku))
                #expect(listing.marketplace == .amazon)
                #expect(listing.listingID == channel.listingID && listing.asin == channel.listingID)
                #expect(listing.price.micros == channel.priceMicros && listing.price.currency == .usd)
                #expect(listing.quantity == channel.quantity)
                #expect(listing.gtin == product.gtin && listing.title == product.title)
            }
        }
    }

    @Test("searchListingsItems pages chain with nextToken until the last page")
    func listingsPaging() async throws {
        try await AmazonHarness.with { h in
            let count = h.state.channelListings(.amazon).count
            var skus: [String] = []
            var token: String?
            var pages = 0
            repeat {
                let page = try await h.client.listings(pageToken: token, pageSize: 7)
                #expect(page.numberOfResults == count)
                #expect(page.items.count == min(7, count - skus.count))
                skus += page.items.map(\.sku)
                token = page.nextPageToken
                pages += 1
            } while token != nil
            #expect(skus == h.state.channelListings(.amazon).map(\.sku))
            #expect(pages == (count + 6) / 7)
        }
    }

    @Test("a page size outside 1…20 is refused before sending")
    func pageSizeRefused() async throws {
        try await AmazonHarness.with { h in
            let error = await caught { _ = try await h.client.listings(pageSize: 21) }
            guard case .refused? = error as? MarketplaceError else {
                Issue.record("expected .refused, got \(String(describing: error))")
                return
            }
            #expect(h.state.requestCounts["amazon.listings"] == nil)
        }
    }

    @Test("apply patches price and quantity, one PATCH per change, and the sandbox logs each update")
    func applyChangesPriceAndQuantity() async throws {
        try await AmazonHarness.with { h in
            let listings = Array(h.state.channelListings(.amazon).prefix(3))
            try #require(listings.count == 3)
            let changes = [
                ListingChange(sku: listings[0].sku, listingID: listings[0].listingID, price: Money(micros: 19_990_000, currency: .usd)),
                ListingChange(sku: listings[1].sku, listingID: listings[1].listingID, quantity: 0),
                ListingChange(sku: listings[2].sku, listingID: listings[2].listingID, price: Money(micros: 7_250_000, currency: .usd),
                              quantity: 11),
            ]
            let results = try await h.marketplace.apply(changes)
            #expect(results.map(\.sku) == changes.map(\.sku))
            #expect(results.allSatisfy { $0.outcome == .applied })
            #expect(h.recorder.count(operation: "listings.patchListingsItem") == 3)

            let first = try #require(h.state.channelListing(.amazon, sku: listings[0].sku))
            #expect(first.priceMicros == 19_990_000 && first.quantity == listings[0].quantity)
            let second = try #require(h.state.channelListing(.amazon, sku: listings[1].sku))
            #expect(second.priceMicros == listings[1].priceMicros && second.quantity == 0)
            let third = try #require(h.state.channelListing(.amazon, sku: listings[2].sku))
            #expect(third.priceMicros == 7_250_000 && third.quantity == 11)

            let updates = h.state.updates
            #expect(updates.map(\.sku) == changes.map(\.sku))
            #expect(updates.allSatisfy { $0.marketplace == .amazon })
            #expect(updates[0].oldPriceMicros == listings[0].priceMicros && updates[0].newPriceMicros == 19_990_000)
            #expect(updates[2].oldQuantity == listings[2].quantity && updates[2].newQuantity == 11)
        }
    }

    @Test("an INVALID submission fails that change with Amazon's issues and changes nothing; the others still apply")
    func invalidSubmission() async throws {
        try await AmazonHarness.with { h in
            let listings = Array(h.state.channelListings(.amazon).prefix(2))
            let euro = try #require(Currency(code: "EUR"))
            let results = try await h.marketplace.apply([
                ListingChange(sku: listings[0].sku, listingID: listings[0].listingID, price: Money(micros: 12_000_000, currency: euro)),
                ListingChange(sku: listings[1].sku, listingID: listings[1].listingID, quantity: 4),
            ])
            guard case .failed(let reason) = results[0].outcome else {
                Issue.record("expected the EUR price to fail, got \(results[0].outcome)")
                return
            }
            #expect(reason.contains("SANDBOX_INVALID_CURRENCY") && reason.contains("ERROR"))
            #expect(results[1].outcome == .applied)
            #expect(h.state.channelListing(.amazon, sku: listings[0].sku) == listings[0])
            #expect(h.state.updates.map(\.sku) == [listings[1].sku])
        }
    }

    @Test("a change the client cannot send, or a SKU Amazon does not list, fails alone")
    func refusedAndUnknown() async throws {
        try await AmazonHarness.with { h in
            let listing = try #require(h.state.channelListings(.amazon).first)
            let results = try await h.marketplace.apply([
                ListingChange(sku: listing.sku, listingID: listing.listingID, price: .zero(.usd)),
                ListingChange(sku: "NOT-LISTED-1", listingID: "B0NOPE", quantity: 1),
                ListingChange(sku: listing.sku, listingID: listing.listingID, quantity: 2),
            ])
            guard case .failed(let refused) = results[0].outcome, case .failed(let unknown) = results[1].outcome else {
                Issue.record("expected two failures, got \(results.map(\.outcome))")
                return
            }
            #expect(refused.contains("must be positive"))
            #expect(unknown.contains("404") && unknown.contains("NotFound"))
            #expect(results[2].outcome == .applied)
            // The zero price was never sent.
            #expect(h.state.requestCounts["amazon.patch"] == 2)
        }
    }

    struct BadPrice: Sendable, CustomTestStringConvertible {
        var value: String
        var testDescription: String { value }
    }

    @Test("the sandbox answers INVALID with an INVALID_PRICE issue for a price that is not positive or not in cents",
          arguments: [BadPrice(value: "0"), BadPrice(value: "-5.00"), BadPrice(value: "12.345")])
    func sandboxRefusesBadPrices(_ price: BadPrice) async throws {
        try await AmazonHarness.with { h in
            let listing = try #require(h.state.channelListings(.amazon).first)
            let token = try await h.rawAccessToken()
            let body = #"{"productType":"PRODUCT","patches":[{"op":"replace","path":"/attributes/purchasable_offer","value":[{"marketplace_id":"ATVPDKIKX0DER","currency":"USD","our_price":[{"schedule":[{"value_with_tax":\#(price.value)}]}]}]}]}"#
            let response = try await h.transport.send(HTTPRequest(
                method: .patch,
                url: h.sandbox.baseURL + "/amazon/listings/2021-08-01/items/\(SandboxState.amazonSellerID)/\(listing.sku)?marketplaceIds=ATVPDKIKX0DER",
                headers: [("x-amz-access-token", token), ("Content-Type", "application/json")], body: Array(body.utf8)))
            #expect(response.status == 200)
            #expect(response.header("x-amzn-RateLimit-Limit") == "500")
            struct Submission: Decodable {
                struct Issue: Decodable { var code: String; var severity: String; var categories: [String] }
                var sku: String; var status: String; var submissionId: String; var issues: [Issue]
            }
            let submission = try JSONDecoder().decode(Submission.self, from: Data(response.body))
            #expect(submission.status == "INVALID" && submission.sku == listing.sku && !submission.submissionId.isEmpty)
            #expect(submission.issues.map(\.code) == ["SANDBOX_INVALID_PRICE"])
            #expect(submission.issues.first?.categories == ["INVALID_PRICE"])
            #expect(h.state.channelListing(.amazon, sku: listing.sku) == listing)
            #expect(h.state.updates.isEmpty)
        }
    }
}
