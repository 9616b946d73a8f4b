import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
import Synchronization
import FlipSyncTestKit
import Testing

/// Amazon price updates through the Feeds API (JSON_LISTINGS_FEED) over real HTTP to the
/// sandbox, the sandbox on the client's clock so its processing delay and the client's polling
/// meet exactly.
@Suite("Amazon feeds: JSON_LISTINGS_FEED over HTTP", .timeLimit(.minutes(1)))
struct AmazonFeedTests {
    static func usd(_ micros: Int64) -> Money { Money(micros: micros, currency: .usd) }

    @Test("a feed goes createFeedDocument → PUT to the document URL → createFeed → getFeed polls with backoff → getFeedDocument → download, in the documented shapes; the access token never goes to the document store")
    func feedFlowShapes() async throws {
        try await AmazonHarness.with(sandboxOnClientClock: true) { h in
            h.state.amazonFeeds.setProcessingDelay(milliseconds: 60_000)
            let listings = Array(h.state.channelListings(.amazon).prefix(3))
            try #require(listings.count == 3)
            let prices: [Int64] = [12_340_000, 23_450_000, 34_560_000]
            let messages = zip(listings, prices).enumerated().map { index, pair in
                AmazonFeedMessage(messageID: index + 1, sku: pair.0.sku, price: Self.usd(pair.1))
            }
            let feedID = try await h.client.submitListingsFeed(messages)
            #expect(h.state.amazonFeeds.feeds.map(\.id) == [feedID])
            // The uploaded document is a JSON_LISTINGS_FEED (listings-feed-schema-v2).
            let documentID = try #require(h.state.amazonFeeds.inputDocumentID(feed: feedID))
            let bytes = try #require(h.state.amazonFeeds.documentContents(documentID))
            let document = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            let header = try #require(document["header"] as? [String: Any])
            #expect(header["sellerId"] as? String == SandboxState.amazonSellerID && header["version"] as? String == "2.0")
            let sent = try #require(document["messages"] as? [[String: Any]])
            #expect(sent.count == 3)
            for (index, message) in sent.enumerated() {
                #expect(message["messageId"] as? Int == index + 1)
                #expect(message["sku"] as? String == listings[index].sku)
                #expect(message["operationType"] as? String == "PATCH" && message["productType"] as? String == "PRODUCT")
                let patch = try #require((message["patches"] as? [[String: Any]])?.first)
                #expect(patch["op"] as? String == "replace" && patch["path"] as? String == "/attributes/purchasable_offer")
                let offer = try #require((patch["value"] as? [[String: Any]])?.first)
                #expect(offer["marketplace_id"] as? String == SandboxState.amazonMarketplaceID && offer["currency"] as? String == "USD")
            }
            #expect(h.state.channelListing(.amazon, sku: listings[0].sku)?.priceMicros == listings[0].priceMicros,
                    "nothing is applied before the feed is processed")

            let report = try await h.client.listingsFeedReport(feedID)
            #expect(report.feedID == feedID && report.issues.isEmpty)
            #expect(report.messagesProcessed == 3 && report.messagesAccepted == 3 && report.messagesInvalid == 0)
            // Polled at once, then after 5, 10, 20, 40 s: done once 60 s had passed on the shared clock.
            #expect(h.state.requestCounts["amazon.get_feed"] == 5)
            #expect(h.clock.slept >= 60_000)
            for (listing, price) in zip(listings, prices) {
                #expect(h.state.channelListing(.amazon, sku: listing.sku)?.priceMicros == price)
            }
            #expect(h.recorder.count(operation: "feeds.createFeedDocument") == 1)
            #expect(h.recorder.count(operation: "feeds.createFeed") == 1)
            #expect(h.recorder.count(operation: "feeds.getFeedDocument") == 1)
            #expect(h.recorder.count(operation: "feeds.documentTransfer") == 2)
            // The upload and the download went to the document URL without the SP-API token;
            // every SP-API call carried it.
            let store = h.sent.requests.filter { $0.url.contains("/amazon-documents/") }
            #expect(store.map(\.method) == ["PUT", "GET"])
            #expect(store.allSatisfy { !$0.headerNames.contains("x-amz-access-token") && !$0.headerNames.contains("authorization") })
            #expect(h.sent.requests.filter { $0.url.contains("/feeds/2021-06-30/") }.allSatisfy { $0.headerNames.contains("x-amz-access-token") })
            #expect(h.state.amazonFeeds.uploadsWithAccessToken == 0)
        }
    }

    @Test("applyInBulk: an unknown SKU and a price under the minimum fail with the report's code and message, a price of zero is refused before sending, the rest are applied")
    func perSKUErrors() async throws {
        try await AmazonHarness.with(sandboxOnClientClock: true) { h in
            h.state.amazonFeeds.setMinimumPrice(micros: 5_000_000)
            let listings = Array(h.state.channelListings(.amazon).prefix(3))
            let changes = [
                ListingChange(sku: listings[0].sku, listingID: listings[0].listingID, price: Self.usd(19_990_000)),
                ListingChange(sku: "NO-SUCH-SKU", listingID: "B000000000", price: Self.usd(9_990_000)),
                ListingChange(sku: listings[1].sku, listingID: listings[1].listingID, price: Self.usd(4_990_000)),
                ListingChange(sku: listings[2].sku, listingID: listings[2].listingID, price: Self.usd(0)),
            ]
            let submissions = Mutex<[String]>([])
            let messages = Mutex<[Int]>([])
            let results = try await h.marketplace.applyInBulk(changes) { id, ids in
                submissions.withLock { $0.append(id) }
                messages.withLock { $0 = ids }
            }
            #expect(submissions.withLock { $0 } == h.state.amazonFeeds.feeds.map(\.id))
            #expect(messages.withLock { $0 } == [1, 2, 3], "the refused fourth change is not a message")
            #expect(results.map(\.sku) == changes.map(\.sku))
            #expect(results[0].outcome == .applied)
            guard case .failed(let unknown) = results[1].outcome, case .failed(let low) = results[2].outcome,
                  case .failed(let zero) = results[3].outcome else {
                Issue.record("expected failures, got \(results)")
                return
            }
            #expect(unknown.hasPrefix("ERROR SANDBOX_SKU_NOT_FOUND: SKU NO-SUCH-SKU is not listed"))
            #expect(low.hasPrefix("ERROR SANDBOX_PRICE_BELOW_MINIMUM: The price 4.99 is below the minimum 5.00"))
            #expect(zero.contains("must be positive"))
            // Only the three sendable changes were messages of the feed.
            let documentID = try #require(h.state.amazonFeeds.inputDocumentID(feed: submissions.withLock { $0[0] }))
            let document = try #require(try JSONSerialization.jsonObject(with: Data(h.state.amazonFeeds.documentContents(documentID) ?? [])) as? [String: Any])
            #expect((document["messages"] as? [[String: Any]])?.compactMap { $0["messageId"] as? Int } == [1, 2, 3])
            // Prices re-read from the sandbox over the API.
            let live = Dictionary(uniqueKeysWithValues: try await h.marketplace.activeListings().map { ($0.sku, $0.price.micros) })
            #expect(live[listings[0].sku] == 19_990_000)
            #expect(live[listings[1].sku] == listings[1].priceMicros)
            #expect(live[listings[2].sku] == listings[2].priceMicros)
            #expect(h.state.requestCounts["amazon.patch"] == nil)
        }
    }

    @Test("a GZIP processing report is decompressed")
    func gzipReport() async throws {
        try await AmazonHarness.with(sandboxOnClientClock: true) { h in
            h.state.amazonFeeds.setCompressReports(true)
            let listing = try #require(h.state.channelListings(.amazon).first)
            let feedID = try await h.client.submitListingsFeed([
                AmazonFeedMessage(messageID: 1, sku: listing.sku, price: Self.usd(11_110_000)),
                AmazonFeedMessage(messageID: 2, sku: "GHOST", price: Self.usd(11_110_000)),
            ])
            let report = try await h.client.listingsFeedReport(feedID)
            #expect(report.issues.map(\.messageID) == [2] && report.issues.first?.sku == "GHOST")
            #expect(report.messagesAccepted == 1 && report.messagesInvalid == 1)
            let result = try #require(h.state.amazonFeeds.resultDocumentID(feed: feedID))
            let stored = try #require(h.state.amazonFeeds.documentContents(result))
            #expect(stored.prefix(2) == [0x1f, 0x8b])
        }
    }

    @Test("a FATAL feed is an error naming the feed and its issues, and nothing of it is applied")
    func fatalFeed() async throws {
        try await AmazonHarness.with(sandboxOnClientClock: true) { h in
            h.state.amazonFeeds.forceNextOutcomes(["FATAL"])
            let listings = Array(h.state.channelListings(.amazon).prefix(2))
            let changes = listings.map { ListingChange(sku: $0.sku, listingID: $0.listingID, price: Self.usd(15_000_000)) }
            let submitted = Mutex<String?>(nil)
            let error = await caught { _ = try await h.marketplace.applyInBulk(changes) { id, _ in submitted.withLock { $0 = id } } }
            guard let ended = error as? BulkSubmissionEnded else {
                Issue.record("expected BulkSubmissionEnded, got \(String(describing: error))")
                return
            }
            let feedID = try #require(submitted.withLock { $0 })
            #expect(ended.submission == feedID)
            #expect(ended.reason.contains("Amazon feed \(feedID) ended FATAL") && ended.reason.contains("SANDBOX_FATAL"))
            guard case .permanent = ended.taskFailure else {
                Issue.record("a FATAL feed must be permanent, not \(ended.taskFailure)")
                return
            }
            #expect(h.state.updates.isEmpty)
            for listing in listings { #expect(h.state.channelListing(.amazon, sku: listing.sku)?.priceMicros == listing.priceMicros) }
        }
    }

    @Test("a document URL on a host outside the allow-list is refused before it is sent, and no feed is created")
    func documentHostMustBeAllowed() async throws {
        try await AmazonHarness.with(sandboxOnClientClock: true) { h in
            h.state.amazonFeeds.setDocumentHost("localhost")
            let listing = try #require(h.state.channelListings(.amazon).first)
            let error = await caught {
                _ = try await h.client.submitListingsFeed([AmazonFeedMessage(messageID: 1, sku: listing.sku, price: Self.usd(9_990_000))])
            }
            guard case .refused? = error as? MarketplaceError else {
                Issue.record("expected .refused, got \(String(describing: error))")
                return
            }
            #expect(!h.sent.requests.contains { $0.url.contains("/amazon-documents/") })
            #expect(h.state.amazonFeeds.feeds.isEmpty)
        }
    }

    @Test("the choice rule: patches while changes ≤ ⌊rate × seconds left × 0.5⌋, one feed above; never a feed when the time left is unknown")
    func choiceRule() async throws {
        #expect(AmazonMarketplace.patchCapacity(rate: 5, timeLeft: .seconds(100)) == 250)
        #expect(AmazonMarketplace.patchCapacity(rate: 0.5, timeLeft: TimeSpan(milliseconds: 3_999)) == 0)
        #expect(AmazonMarketplace.patchCapacity(rate: 5, timeLeft: TimeSpan(milliseconds: -5_000)) == 0)
        try await AmazonHarness.with { h in
            // The harness's configured rate: 1,000 a second.
            #expect(!h.marketplace.prefersBulk(changes: 500, timeLeft: .seconds(1)))
            #expect(h.marketplace.prefersBulk(changes: 501, timeLeft: .seconds(1)))
            #expect(!h.marketplace.prefersBulk(changes: 1_000_000, timeLeft: nil))
            #expect(h.marketplace.bulkLimit == 25_000)
        }
    }

    @Test("under production limits the feed operations answer at Amazon's rates: getFeedDocument 0.0222/s burst 10 (the 11th call is 429 QuotaExceeded with 0.0222, one token back after 45.046 s), createFeed 0.0083/s burst 15, with their sources")
    func productionFeedLimits() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_780_000_000))
        try await SandboxLimitsTests.Raw.with(.production, clock: clock) { raw in
            let token = try await raw.amazonToken()
            let created = try await raw.send(.post, "/amazon/feeds/2021-06-30/documents",
                                             headers: [("x-amz-access-token", token), ("Content-Type", "application/json")],
                                             body: #"{"contentType":"application/json; charset=UTF-8"}"#)
            #expect(created.status == 201 && created.header("x-amzn-RateLimit-Limit") == "0.5")
            let id = try #require(raw.json(created)["feedDocumentId"] as? String)
            func read() async throws -> HTTPResponse {
                try await raw.send(.get, "/amazon/feeds/2021-06-30/documents/\(id)", headers: [("x-amz-access-token", token)])
            }
            for _ in 0..<10 {
                let response = try await read()
                #expect(response.status == 200 && response.header("x-amzn-RateLimit-Limit") == "0.0222")
            }
            let refused = try await read()
            #expect(refused.status == 429 && refused.header("x-amzn-RateLimit-Limit") == "0.0222")
            #expect(String(decoding: refused.body, as: UTF8.self).contains("QuotaExceeded"))
            // 1 / 0.0222 s = 45.045… s.
            clock.advance(byMilliseconds: 45_044)
            #expect(try await read().status == 429)
            clock.advance(byMilliseconds: 2)
            #expect(try await read().status == 200)
            for (route, rate, burst, operation) in [("amazon.get_feed_document", 0.0222, 10, "getFeedDocument"),
                                                    ("amazon.create_feed", 0.0083, 15, "createFeed"),
                                                    ("amazon.get_feed", 2.0, 15, "getFeed"),
                                                    ("amazon.create_feed_document", 0.5, 15, "createFeedDocument")] {
                let row = try await raw.limitRow(route)
                #expect(row["rate"] as? Double == rate && row["burst"] as? Int == burst, "\(route)")
                #expect((row["source"] as? String)?.hasSuffix("feeds_2021-06-30.json \(operation)") == true, "\(route)")
            }
        }
    }

    @Test("the allow-list built from config/production.example.toml holds Amazon's North America feed-document hosts; the sandbox config's does not (its documents are on the sandbox's own host)")
    func documentHostsInTheAllowList() throws {
        let root = packageRoot
        let production = ConfigLocator.load(explicit: root + "/config/production.example.toml", environment: .init(workingDirectory: "/"))
        try #require(production.config.marketplaces[.amazon]?.baseURL == "https://sellingpartnerapi-na.amazon.com")
        let list = ChannelFactory.allowList(production.config)
        #expect(list.allows(scheme: "https", host: "tortuga-prod-na.s3-external-1.amazonaws.com", port: 443))
        #expect(list.allows(scheme: "https", host: "tortuga-prod-na.s3.amazonaws.com", port: 443))
        #expect(!list.allows(scheme: "http", host: "tortuga-prod-na.s3.amazonaws.com", port: 80))
        #expect(!list.allows(scheme: "https", host: "tortuga-prod-eu.s3-eu-west-1.amazonaws.com", port: 443))
        let sandbox = ConfigLocator.load(explicit: root + "/config/flipsync.toml", environment: .init(workingDirectory: "/"))
        let sandboxList = ChannelFactory.allowList(sandbox.config)
        #expect(sandboxList.allows(scheme: "http", host: "127.0.0.1", port: 8780))
        #expect(!sandboxList.entries.contains { $0.contains("tortuga") })
    }

    @Test("getFeeds (GET /feeds/2021-06-30/feeds) on the sandbox: the model's Feed shape, oldest first, pageSize and nextToken paging (the token alone), the feedTypes/processingStatuses/createdSince filters; 400 InvalidInput for no feedTypes, nextToken with other parameters, an unknown status, pageSize 101 and a bad date; under production limits 0.0222/s burst 10")
    func getFeedsRoute() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_780_000_000))
        try await SandboxLimitsTests.Raw.with(.production, clock: clock) { raw in
            raw.sandbox.state.amazonFeeds.setProcessingDelay(milliseconds: 600_000)
            let token = try await raw.amazonToken()
            let auth = [(name: "x-amz-access-token", value: token)]
            let created = try await raw.send(.post, "/amazon/feeds/2021-06-30/documents", headers: auth + [("Content-Type", "application/json")],
                                             body: #"{"contentType":"application/json; charset=UTF-8"}"#)
            let document = try #require(raw.json(created)["feedDocumentId"] as? String)
            var ids: [String] = []
            for _ in 0..<3 {
                let feed = try await raw.send(.post, "/amazon/feeds/2021-06-30/feeds", headers: auth + [("Content-Type", "application/json")],
                                              body: #"{"feedType":"JSON_LISTINGS_FEED","marketplaceIds":["ATVPDKIKX0DER"],"inputFeedDocumentId":"\#(document)"}"#)
                #expect(feed.status == 202)
                ids.append(try #require(raw.json(feed)["feedId"] as? String))
                clock.advance(byMilliseconds: 1_000)
            }
            func list(_ query: String) async throws -> HTTPResponse {
                try await raw.send(.get, "/amazon/feeds/2021-06-30/feeds?" + query, headers: auth)
            }
            let first = try await list("feedTypes=JSON_LISTINGS_FEED&pageSize=2&processingStatuses=IN_QUEUE,IN_PROGRESS")
            #expect(first.status == 200 && first.header("x-amzn-RateLimit-Limit") == "0.0222")
            let page1 = raw.json(first)
            let feeds1 = try #require(page1["feeds"] as? [[String: Any]])
            #expect(feeds1.map { $0["feedId"] as? String } == ids.prefix(2).map { $0 })
            let feed = try #require(feeds1.first)
            #expect(feed["feedType"] as? String == "JSON_LISTINGS_FEED" && feed["processingStatus"] as? String == "IN_QUEUE")
            #expect(feed["marketplaceIds"] as? [String] == ["ATVPDKIKX0DER"] && (feed["createdTime"] as? String)?.hasSuffix("Z") == true)
            let next = try #require(page1["nextToken"] as? String)
            let second = raw.json(try await list("nextToken=" + next))
            #expect((second["feeds"] as? [[String: Any]])?.map { $0["feedId"] as? String } == [ids[2]])
            #expect(second["nextToken"] == nil)
            // Filters: created since the second feed; a status none has; another feed type.
            let since = Timestamp(milliseconds: 1_780_000_000_000 + 1_000).iso8601UTC
            let recent = raw.json(try await list("feedTypes=JSON_LISTINGS_FEED&createdSince=" + since))
            #expect((recent["feeds"] as? [[String: Any]])?.map { $0["feedId"] as? String } == ids.suffix(2).map { $0 })
            #expect((raw.json(try await list("feedTypes=JSON_LISTINGS_FEED&processingStatuses=DONE"))["feeds"] as? [Any])?.isEmpty == true)
            #expect((raw.json(try await list("feedTypes=POST_PRODUCT_DATA"))["feeds"] as? [Any])?.isEmpty == true)
            // Bad parameters (five of getFeeds' burst of 10 are used: 300 s bring six back).
            clock.advance(byMilliseconds: 300_000)
            for query in ["pageSize=5", "nextToken=\(next)&pageSize=2", "feedTypes=JSON_LISTINGS_FEED&processingStatuses=BAD_VALUE",
                          "feedTypes=JSON_LISTINGS_FEED&pageSize=101", "feedTypes=JSON_LISTINGS_FEED&createdSince=yesterday",
                          "nextToken=not-a-token"] {
                let refused = try await list(query)
                #expect(refused.status == 400, "\(query)")
                #expect(String(decoding: refused.body, as: UTF8.self).contains("InvalidInput"), "\(query)")
            }
            let row = try await raw.limitRow("amazon.get_feeds")
            #expect(row["rate"] as? Double == 0.0222 && row["burst"] as? Int == 10)
            #expect((row["source"] as? String)?.hasSuffix("feeds_2021-06-30.json getFeeds") == true)
        }
    }

    @Test("the client's getFeeds (feeds.getFeeds) pages through every feed with nextToken alone, filters by createdSince and status, goes through the pipeline (counted as its own operation), and settleSubmissions waits on the shared clock for an unfinished feed to end")
    func clientGetFeedsAndSettle() async throws {
        try await AmazonHarness.with(sandboxOnClientClock: true) { h in
            h.state.amazonFeeds.setProcessingDelay(milliseconds: 0)
            let listing = try #require(h.state.channelListings(.amazon).first)
            var done: [String] = []
            for _ in 0..<101 {
                done.append(try await h.client.submitListingsFeed([AmazonFeedMessage(messageID: 1, sku: listing.sku, price: Self.usd(listing.priceMicros))]))
            }
            let start = h.clock.wallMilliseconds()
            let all = try await h.client.feeds(createdSince: start - 3_600_000)
            // 101 feeds: two pages of at most 100.
            #expect(all.map(\.feedID) == done)
            #expect(h.recorder.count(operation: "feeds.getFeeds") == 2)
            #expect(h.sent.requests.filter { $0.url.contains("/feeds/2021-06-30/feeds?nextToken=") }.count == 1)
            h.state.amazonFeeds.setProcessingDelay(milliseconds: 90_000)
            try await h.clock.sleep(milliseconds: 1_000)
            let pending = try await h.client.submitListingsFeed([AmazonFeedMessage(messageID: 1, sku: listing.sku, price: Self.usd(listing.priceMicros + 10_000))])
            let unfinished = try await h.client.feeds(createdSince: h.clock.wallMilliseconds() - 500, processingStatuses: ["IN_QUEUE", "IN_PROGRESS"])
            #expect(unfinished.map(\.feedID) == [pending] && unfinished.allSatisfy(\.isUnfinished))
            // Waiting: too little time is a transient error; enough time sees it end.
            await #expect(throws: MarketplaceError.self) { try await h.marketplace.settleSubmissions(createdSince: start, within: .seconds(10)) }
            let waited = try await h.marketplace.settleSubmissions(createdSince: start, within: .seconds(600))
            #expect(waited == [pending])
            #expect(h.state.channelListing(.amazon, sku: listing.sku)?.priceMicros == listing.priceMicros + 10_000)
            #expect(try await h.marketplace.settleSubmissions(createdSince: start, within: .seconds(600)).isEmpty)
        }
    }
}
