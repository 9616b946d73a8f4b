import FlipSyncCore
import Foundation

// Feeds API 2021-06-30 and the JSON_LISTINGS_FEED, for price updates in bulk.
//
// Sources (github.com/amzn/selling-partner-api-models):
// - models/feeds-api-model/feeds_2021-06-30.json: `createFeedDocument` (POST
//   /feeds/2021-06-30/documents, `CreateFeedDocumentSpecification {contentType}` → 201
//   `CreateFeedDocumentResponse {feedDocumentId, url}`; usage plan 0.5/s, burst 15), `createFeed`
//   (POST /feeds/2021-06-30/feeds, `CreateFeedSpecification {feedType, marketplaceIds,
//   inputFeedDocumentId}` → 202 `CreateFeedResponse {feedId}`; 0.0083/s, burst 15), `getFeed`
//   (GET /feeds/2021-06-30/feeds/{feedId} → `Feed {feedId, feedType, processingStatus
//   CANCELLED|DONE|FATAL|IN_PROGRESS|IN_QUEUE, resultFeedDocumentId}`; 2/s, burst 15),
//   `getFeeds` (GET /feeds/2021-06-30/feeds?feedTypes&marketplaceIds&pageSize 1…100&
//   processingStatuses&createdSince&createdUntil, or nextToken alone → `GetFeedsResponse {feeds
//   [Feed], nextToken}`; lists comma-separated; 0.0222/s, burst 10; `Feed` carries no input
//   document id), `getFeedDocument` (GET /feeds/2021-06-30/documents/{feedDocumentId} → `FeedDocument
//   {feedDocumentId, url, compressionAlgorithm GZIP}`; 0.0222/s, burst 10). The `url`s are
//   presigned and expire after 5 minutes.
// - schemas/feeds/listings-feed-schema-v2.json: `{header {sellerId, version "2.0", issueLocale},
//   messages [1…25,000 of {messageId 1…2147483647, sku, operationType PATCH, productType,
//   patches [{op, path, value}]}]}`.
// - schemas/feeds/listings-feed-processing-report-schema-v2.json: `{header {sellerId, version,
//   feedId}, issues [{messageId, sku, code, severity ERROR|WARNING|INFO, message,
//   attributeName}], summary {errors, warnings, messagesProcessed, messagesAccepted,
//   messagesInvalid}}`.

/// A feed document to upload to: `CreateFeedDocumentResponse`, or a result's `FeedDocument`.
public struct AmazonFeedDocument: Sendable, Hashable {
    public var feedDocumentID: String
    /// Presigned (5 minutes), on Amazon's document store, not the SP-API host.
    public var url: String
    /// `GZIP` when the document is compressed (result documents only).
    public var compressionAlgorithm: String?
}

/// `getFeed`'s `Feed`, the parts we read.
public struct AmazonFeedStatus: Sendable, Hashable {
    public var feedID: String
    /// `IN_QUEUE`, `IN_PROGRESS`, `DONE`, `CANCELLED`, `FATAL`.
    public var processingStatus: String
    public var resultFeedDocumentID: String?
    /// `createdTime` (wall milliseconds), when given.
    public var createdAt: Int64? = nil

    /// Not yet ended: `IN_QUEUE` or `IN_PROGRESS`.
    public var isUnfinished: Bool { ["IN_QUEUE", "IN_PROGRESS"].contains(processingStatus) }
}

/// One issue of a processing report.
public struct AmazonFeedIssue: Sendable, Hashable, CustomStringConvertible {
    /// Nil for an issue of the whole feed (its format, say).
    public var messageID: Int?
    public var sku: String?
    public var code: String?
    /// `ERROR`, `WARNING`, `INFO`.
    public var severity: String
    public var message: String
    public var attributeName: String?

    /// As the patch path writes an `Issue`: `ERROR 90220: message`.
    public var description: String { "\(severity) \(code ?? "-"): \(message)" }
}

/// A JSON_LISTINGS_FEED processing report.
public struct AmazonFeedReport: Sendable, Hashable {
    public var feedID: String
    public var issues: [AmazonFeedIssue]
    public var messagesProcessed: Int?
    public var messagesAccepted: Int?
    public var messagesInvalid: Int?
}

/// One price (and optionally quantity) update as one feed message.
public struct AmazonFeedMessage: Sendable, Hashable {
    public var messageID: Int
    public var sku: String
    public var price: Money?
    public var quantity: Int?

    public init(messageID: Int, sku: String, price: Money? = nil, quantity: Int? = nil) {
        self.messageID = messageID
        self.sku = sku
        self.price = price
        self.quantity = quantity
    }
}

/// A feed that ended `FATAL` or `CANCELLED`: none of its messages can be counted as applied
/// (Amazon: "some, none, or all of the operations within the feed may have completed").
/// Permanent: resubmitting the same document will not help; a resumed run checks live prices.
public struct AmazonFeedEnded: Error, Sendable, Hashable, CustomStringConvertible {
    public var feedID: String
    public var processingStatus: String
    /// The report's issues, when the feed had a result document.
    public var issues: [AmazonFeedIssue]

    public var description: String {
        let detail = issues.isEmpty ? "" : ": " + issues.prefix(5).map(\.description).joined(separator: "; ")
        return "Amazon feed \(feedID) ended \(processingStatus)\(detail)"
    }
}

extension AmazonClient {
    /// The feed type of every feed we send.
    public static let listingsFeedType = "JSON_LISTINGS_FEED"
    /// The content type the document is created with and uploaded as (the same both times: the
    /// presigned URL is signed for it).
    public static let feedContentType = "application/json; charset=UTF-8"
    /// `messages.maxItems` of listings-feed-schema-v2.json.
    public static let feedMessageLimit = 25_000

    // MARK: Feeds API calls

    /// `createFeedDocument`: a document id and the presigned URL to upload its contents to.
    public func createFeedDocument() async throws -> AmazonFeedDocument {
        let operation = AmazonOperation.createFeedDocument
        let body = try JSONEncoder().encode(["contentType": Self.feedContentType])
        let url = configuration.baseURL + "/feeds/2021-06-30/documents"
        let response = try await authorized(operation) { self.request(.post, url, token: $0, body: Array(body)) }
        let wire = try decode(AmazonWireFeedDocument.self, response, operation: operation)
        return AmazonFeedDocument(feedDocumentID: wire.feedDocumentId, url: wire.url, compressionAlgorithm: wire.compressionAlgorithm)
    }

    /// Uploads a document's contents: `PUT` to the presigned URL with the content type it was
    /// created for, and no SP-API access token (the URL carries its own signature; the token
    /// is never sent to the document store). The URL's host must be in the transport's
    /// allow-list.
    public func uploadFeedDocument(_ document: AmazonFeedDocument, contents: [UInt8]) async throws {
        let request = HTTPRequest(method: .put, url: document.url, headers: [("Content-Type", Self.feedContentType)],
                                  body: contents, timeout: configuration.timeout)
        let response = try await exchange.send(request, .feedDocumentTransfer)
        try Self.checkDocumentStore(response, what: "uploading feed document \(document.feedDocumentID)")
    }

    /// `createFeed` for a JSON_LISTINGS_FEED document already uploaded: the feed id.
    public func createFeed(inputFeedDocumentID: String) async throws -> String {
        let operation = AmazonOperation.createFeed
        let body = try JSONEncoder().encode(AmazonWireCreateFeed(feedType: Self.listingsFeedType, marketplaceIds: [configuration.marketplaceID],
                                                                 inputFeedDocumentId: inputFeedDocumentID))
        let url = configuration.baseURL + "/feeds/2021-06-30/feeds"
        let response = try await authorized(operation) { self.request(.post, url, token: $0, body: Array(body)) }
        let wire = try decode(AmazonWireCreateFeedResponse.self, response, operation: operation)
        guard !wire.feedId.isEmpty else { throw MarketplaceError.malformed("\(operation.rawValue): empty feedId") }
        return wire.feedId
    }

    /// `getFeed`.
    public func feed(id feedID: String) async throws -> AmazonFeedStatus {
        let operation = AmazonOperation.getFeed
        let url = configuration.baseURL + "/feeds/2021-06-30/feeds/\(FormEncoding.escape(feedID))"
        let response = try await authorized(operation) { self.request(.get, url, token: $0) }
        let wire = try decode(AmazonWireFeed.self, response, operation: operation)
        guard wire.feedId == feedID else {
            throw MarketplaceError.malformed("\(operation.rawValue): asked for feed \(feedID), got \(wire.feedId)")
        }
        return AmazonFeedStatus(feedID: wire.feedId, processingStatus: wire.processingStatus, resultFeedDocumentID: wire.resultFeedDocumentId)
    }

    /// `getFeeds`, every page: our marketplace's JSON_LISTINGS_FEEDs created at or after
    /// `createdSince` (wall milliseconds), in `processingStatuses` (any status when empty),
    /// 100 a page; later pages are asked for with `nextToken` alone, as the model requires.
    public func feeds(createdSince: Int64, processingStatuses: [String] = []) async throws -> [AmazonFeedStatus] {
        let operation = AmazonOperation.getFeeds
        var query = "feedTypes=\(Self.listingsFeedType)&marketplaceIds=\(FormEncoding.escape(configuration.marketplaceID))&pageSize=100"
            + "&createdSince=\(FormEncoding.escape(Self.iso8601(createdSince)))"
        if !processingStatuses.isEmpty { query += "&processingStatuses=" + processingStatuses.joined(separator: ",") }
        var found: [AmazonFeedStatus] = []
        var nextToken: String?
        repeat {
            let url = configuration.baseURL + "/feeds/2021-06-30/feeds?" + (nextToken.map { "nextToken=" + FormEncoding.escape($0) } ?? query)
            let response = try await authorized(operation) { self.request(.get, url, token: $0) }
            let wire = try decode(AmazonWireFeeds.self, response, operation: operation)
            found += wire.feeds.map {
                AmazonFeedStatus(feedID: $0.feedId, processingStatus: $0.processingStatus, resultFeedDocumentID: $0.resultFeedDocumentId,
                                 createdAt: $0.createdTime.flatMap(ISO8601.milliseconds))
            }
            guard wire.nextToken == nil || wire.nextToken != nextToken else {
                throw MarketplaceError.malformed("\(operation.rawValue): nextToken did not advance")
            }
            nextToken = wire.nextToken
        } while nextToken != nil
        return found
    }

    /// Polls `getFeed` until the feed has ended (`DONE`, `FATAL` or `CANCELLED`, all alike here),
    /// at once and then as `waitForFeed` does; still unfinished when the next poll would come
    /// after `within`, a `transient` error naming it.
    public func waitUntilEnded(_ feedID: String, within: TimeSpan) async throws -> AmazonFeedStatus {
        let start = clock.monotonicMilliseconds()
        var wait = max(1, configuration.feedPollInterval.milliseconds)
        while true {
            let feed = try await feed(id: feedID)
            guard feed.isUnfinished else { return feed }
            let elapsed = clock.monotonicMilliseconds() - start
            guard elapsed + wait <= within.milliseconds else {
                throw MarketplaceError.transient("Amazon feed \(feedID) is still \(feed.processingStatus) after \(TimeSpan(milliseconds: elapsed))")
            }
            try await clock.sleep(milliseconds: wait)
            wait = min(wait * 2, max(wait, configuration.feedPollMaxInterval.milliseconds))
        }
    }

    /// `getFeedDocument`: where a result document is, and whether it is compressed.
    public func feedDocument(id documentID: String) async throws -> AmazonFeedDocument {
        let operation = AmazonOperation.getFeedDocument
        let url = configuration.baseURL + "/feeds/2021-06-30/documents/\(FormEncoding.escape(documentID))"
        let response = try await authorized(operation) { self.request(.get, url, token: $0) }
        let wire = try decode(AmazonWireFeedDocument.self, response, operation: operation)
        if let algorithm = wire.compressionAlgorithm, algorithm != "GZIP" {
            throw MarketplaceError.malformed("\(operation.rawValue): unknown compressionAlgorithm \(algorithm)")
        }
        return AmazonFeedDocument(feedDocumentID: wire.feedDocumentId, url: wire.url, compressionAlgorithm: wire.compressionAlgorithm)
    }

    /// A result document's contents: `GET` from its presigned URL without the access token,
    /// gunzipped when `compressionAlgorithm` is `GZIP`.
    public func downloadFeedDocument(_ document: AmazonFeedDocument) async throws -> [UInt8] {
        let request = HTTPRequest(method: .get, url: document.url, headers: [("Accept", "application/json")], timeout: configuration.timeout)
        let response = try await exchange.send(request, .feedDocumentTransfer)
        try Self.checkDocumentStore(response, what: "downloading feed document \(document.feedDocumentID)")
        guard document.compressionAlgorithm == "GZIP" else { return response.body }
        do {
            return try Gzip.decompress(response.body)
        } catch {
            throw MarketplaceError.malformed("feed document \(document.feedDocumentID) is not valid GZIP: \(error)")
        }
    }

    /// The document store answers S3's way (XML errors, no SP-API error list): 2xx is done, 5xx
    /// transient, anything else (403 for an expired or wrongly signed URL) permanent.
    static func checkDocumentStore(_ response: HTTPResponse, what: String) throws {
        switch response.status {
        case 200...299: return
        case 500...599: throw MarketplaceError.transient("\(what): the document store answered HTTP \(response.status)")
        default: throw MarketplaceError.permanent(status: response.status, message: "\(what): the document store answered HTTP \(response.status)")
        }
    }

    // MARK: The flow

    /// The JSON_LISTINGS_FEED document for `messages`: one `PATCH` message each, replacing
    /// `purchasable_offer` (and `fulfillment_availability` when a quantity is given) exactly as
    /// `patchListingsItem` does.
    public func listingsFeedDocument(_ messages: [AmazonFeedMessage], productType: String = "PRODUCT") throws -> [UInt8] {
        guard (1...Self.feedMessageLimit).contains(messages.count) else {
            throw MarketplaceError.refused("a JSON_LISTINGS_FEED carries 1…\(Self.feedMessageLimit) messages, not \(messages.count)")
        }
        let wire = try messages.map { message in
            AmazonWireListingsFeed.Message(messageId: message.messageID, sku: message.sku, operationType: "PATCH",
                                           productType: productType,
                                           patches: try patches(sku: message.sku, price: message.price, quantity: message.quantity))
        }
        let feed = AmazonWireListingsFeed(header: .init(sellerId: configuration.sellerID, version: "2.0", issueLocale: "en_US"),
                                          messages: wire)
        return Array(try JSONEncoder().encode(feed))
    }

    /// Creates a document, uploads `messages` to it and creates the feed: the feed id. Nothing
    /// is applied until Amazon processes the feed; `priceFeedReport` waits for that.
    public func submitListingsFeed(_ messages: [AmazonFeedMessage]) async throws -> String {
        let contents = try listingsFeedDocument(messages)
        let document = try await createFeedDocument()
        try await uploadFeedDocument(document, contents: contents)
        return try await createFeed(inputFeedDocumentID: document.feedDocumentID)
    }

    /// Polls `getFeed` until the feed is `DONE`: at once, then after `feedPollInterval`,
    /// doubling up to `feedPollMaxInterval`, on the client's clock (every wait cancellable).
    /// `CANCELLED` and `FATAL` throw `AmazonFeedEnded` (with the report's issues when there is
    /// one); still unfinished after `feedDeadline`, a `transient` error.
    public func waitForFeed(_ feedID: String) async throws -> AmazonFeedStatus {
        let start = clock.monotonicMilliseconds()
        var wait = max(1, configuration.feedPollInterval.milliseconds)
        while true {
            let feed = try await feed(id: feedID)
            switch feed.processingStatus {
            case "DONE":
                return feed
            case "CANCELLED", "FATAL":
                var issues: [AmazonFeedIssue] = []
                if let document = feed.resultFeedDocumentID, let report = try? await report(feedID: feedID, documentID: document) {
                    issues = report.issues
                }
                throw AmazonFeedEnded(feedID: feedID, processingStatus: feed.processingStatus, issues: issues)
            case "IN_QUEUE", "IN_PROGRESS":
                break
            default:
                throw MarketplaceError.malformed("feeds.getFeed: feed \(feedID) has unknown processingStatus \(feed.processingStatus)")
            }
            let elapsed = clock.monotonicMilliseconds() - start
            guard elapsed + wait <= configuration.feedDeadline.milliseconds else {
                throw MarketplaceError.transient("Amazon feed \(feedID) is still \(feed.processingStatus) after \(TimeSpan(milliseconds: elapsed))")
            }
            try await clock.sleep(milliseconds: wait)
            wait = min(wait * 2, max(wait, configuration.feedPollMaxInterval.milliseconds))
        }
    }

    /// Waits for the feed, then reads its processing report.
    public func listingsFeedReport(_ feedID: String) async throws -> AmazonFeedReport {
        let feed = try await waitForFeed(feedID)
        guard let document = feed.resultFeedDocumentID else {
            throw MarketplaceError.malformed("feeds.getFeed: feed \(feedID) is DONE without a resultFeedDocumentId")
        }
        return try await report(feedID: feedID, documentID: document)
    }

    func report(feedID: String, documentID: String) async throws -> AmazonFeedReport {
        let document = try await feedDocument(id: documentID)
        return try Self.parseReport(try await downloadFeedDocument(document), feedID: feedID)
    }

    /// A processing report (listings-feed-processing-report-schema-v2.json).
    static func parseReport(_ bytes: [UInt8], feedID: String) throws -> AmazonFeedReport {
        let wire: AmazonWireProcessingReport
        do {
            wire = try JSONDecoder().decode(AmazonWireProcessingReport.self, from: Data(bytes))
        } catch {
            throw MarketplaceError.malformed("feed \(feedID)'s processing report is not the documented JSON (\(StatusMapping.decodingSummary(error)))")
        }
        if let reported = wire.header?.feedId, reported != feedID {
            throw MarketplaceError.malformed("the processing report of feed \(feedID) is for feed \(reported)")
        }
        return AmazonFeedReport(
            feedID: feedID,
            issues: wire.issues.map {
                AmazonFeedIssue(messageID: $0.messageId, sku: $0.sku, code: $0.code, severity: $0.severity, message: $0.message,
                                attributeName: $0.attributeName)
            },
            messagesProcessed: wire.summary?.messagesProcessed, messagesAccepted: wire.summary?.messagesAccepted,
            messagesInvalid: wire.summary?.messagesInvalid)
    }

    /// The patches for one listing, as `patchListing` and a feed message send them: the price as
    /// `purchasable_offer` (positive, whole minor units), the quantity as `fulfillment_availability`.
    func patches(sku: String, price: Money?, quantity: Int?) throws -> [AmazonWirePatchRequest.Patch] {
        guard price != nil || quantity != nil else { throw MarketplaceError.refused("an update of SKU \(sku) changes nothing") }
        var patches: [AmazonWirePatchRequest.Patch] = []
        if let price {
            let step = Money(minorUnits: 1, currency: price.currency).micros
            guard price.micros > 0, price.micros % step == 0, let amount = Decimal(string: price.fixedDecimalString) else {
                throw MarketplaceError.refused("price \(price) for SKU \(sku) must be positive and in whole \(price.currency) minor units")
            }
            patches.append(.init(op: "replace", path: "/attributes/purchasable_offer",
                                 value: [.purchasableOffer(marketplaceID: configuration.marketplaceID,
                                                           currency: price.currency.code, ourPrice: amount)]))
        }
        if let quantity {
            guard quantity >= 0 else { throw MarketplaceError.refused("quantity for SKU \(sku) is negative") }
            patches.append(.init(op: "replace", path: "/attributes/fulfillment_availability",
                                 value: [.fulfillmentAvailability(quantity: quantity)]))
        }
        return patches
    }
}

// MARK: Wire shapes

struct AmazonWireFeedDocument: Decodable {
    var feedDocumentId: String
    var url: String
    var compressionAlgorithm: String?
}

struct AmazonWireCreateFeed: Encodable {
    var feedType: String
    var marketplaceIds: [String]
    var inputFeedDocumentId: String
}

struct AmazonWireCreateFeedResponse: Decodable {
    var feedId: String
}

struct AmazonWireFeed: Decodable {
    var feedId: String
    var feedType: String?
    var processingStatus: String
    var resultFeedDocumentId: String?
    var createdTime: String?
}

struct AmazonWireFeeds: Decodable {
    var feeds: [AmazonWireFeed]
    var nextToken: String?
}

struct AmazonWireListingsFeed: Encodable {
    struct Header: Encodable {
        var sellerId: String
        var version: String
        var issueLocale: String
    }
    struct Message: Encodable {
        var messageId: Int
        var sku: String
        var operationType: String
        var productType: String
        var patches: [AmazonWirePatchRequest.Patch]
    }
    var header: Header
    var messages: [Message]
}

struct AmazonWireProcessingReport: Decodable {
    struct Header: Decodable {
        var sellerId: String?
        var version: String?
        var feedId: String?
    }
    struct Issue: Decodable {
        var messageId: Int?
        var sku: String?
        var code: String?
        var severity: String
        var message: String
        var attributeName: String?
    }
    struct Summary: Decodable {
        var errors: Int?
        var warnings: Int?
        var messagesProcessed: Int?
        var messagesAccepted: Int?
        var messagesInvalid: Int?
    }
    var header: Header?
    var issues: [Issue]
    var summary: Summary?
}

/// Where Amazon's presigned feed-document URLs point (`createFeedDocument`'s and
/// `getFeedDocument`'s `url`): Amazon's S3 document store ("tortuga"), not the SP-API host. The
/// model's examples do not name it; these are the hosts of real North America URLs
/// (`https://tortuga-prod-na.s3-external-1.amazonaws.com/…`, `https://tortuga-prod-na.s3.amazonaws.com/…`,
/// as Amazon's feed and report documents show them). Other regions' hosts are not encoded: a
/// document URL on a host outside the allow-list is refused before anything is sent.
public enum AmazonFeedDocumentHosts {
    public static let northAmerica = ["tortuga-prod-na.s3-external-1.amazonaws.com", "tortuga-prod-na.s3.amazonaws.com"]

    /// The document-store URLs to allow for an SP-API base URL: North America's for
    /// `https://sellingpartnerapi-na.amazon.com`, none otherwise.
    public static func urls(forBaseURL baseURL: String) -> [String] {
        guard let parts = HTTPURLAuthority(baseURL), parts.scheme == "https",
              parts.host.lowercased() == "sellingpartnerapi-na.amazon.com" else { return [] }
        return northAmerica.map { "https://\($0)" }
    }
}
