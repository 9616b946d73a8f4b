import FlipSyncCore
import Foundation
import Hummingbird

/// The one feed type the sandbox processes.
enum AmazonClientFeedType {
    static let listings = "JSON_LISTINGS_FEED"
}

/// The Feeds API's routes (fault injection and limit names).
extension SandboxRoute {
    public static let amazonCreateFeedDocument = SandboxRoute("amazon.create_feed_document")
    public static let amazonCreateFeed = SandboxRoute("amazon.create_feed")
    public static let amazonGetFeed = SandboxRoute("amazon.get_feed")
    public static let amazonGetFeeds = SandboxRoute("amazon.get_feeds")
    public static let amazonGetFeedDocument = SandboxRoute("amazon.get_feed_document")
    /// The presigned document URLs (Amazon's document store, not the SP-API).
    public static let amazonFeedDocumentStore = SandboxRoute("amazon.feed_document_store")
}

/// Feeds API 2021-06-30 under `/amazon/feeds/2021-06-30` (github.com/amzn/selling-partner-api-models,
/// models/feeds-api-model/feeds_2021-06-30.json), and the document store the presigned URLs
/// point at, `/amazon-documents/{feedDocumentId}` on the sandbox's own host (or
/// `SandboxAmazonFeeds.setDocumentHost`'s):
///
/// - `POST …/documents` `{"contentType"}` → 201 `{"feedDocumentId","url"}`.
/// - `PUT /amazon-documents/{id}`: the upload. No SP-API token belongs here: one carrying
///   `x-amz-access-token` is refused (400) and counted. The `Content-Type` must be the one the
///   document was created with (else 403 `SignatureDoesNotMatch`, as S3 answers a URL signed for
///   another); a URL older than 5 minutes is 403 `AccessDenied` (expired). 200 on success.
/// - `GET /amazon-documents/{id}`: a document's contents (a report gzipped when compressed).
/// - `POST …/feeds` `{"feedType":"JSON_LISTINGS_FEED","marketplaceIds":[…],"inputFeedDocumentId"}`
///   → 202 `{"feedId"}`; another feed type, no marketplace of ours or an unknown document is 400.
/// - `GET …/feeds/{feedId}` → `Feed` (`processingStatus`, `resultFeedDocumentId` once ended).
/// - `GET …/feeds` (`getFeeds`) → `GetFeedsResponse {feeds, nextToken}`: the feeds created in
///   [`createdSince` (default 90 days ago), `createdUntil` (default now)], oldest first, of the
///   `feedTypes` (1…10, required unless `nextToken`), `marketplaceIds` (1…10) and
///   `processingStatuses` (CANCELLED, DONE, FATAL, IN_PROGRESS, IN_QUEUE) given, `pageSize`
///   (1…100, default 10) a page. Lists are comma-separated. `nextToken` must be the only
///   parameter (it carries the filters). Anything else is 400 `InvalidInput`.
/// - `GET …/documents/{feedDocumentId}` → `FeedDocument` (`url`, `compressionAlgorithm`).
///
/// Processing (`SandboxAmazonFeeds`) happens on the sandbox's clock. Answers carry
/// `x-amzn-RateLimit-Limit` as the other Amazon routes do (Amazon's rate × 100, or Amazon's own
/// under `--limits production`).
extension AmazonRoutes {
    /// Amazon's documented defaults (createFeedDocument 0.5, createFeed 0.0083, getFeed 2,
    /// getFeedDocument 0.0222) × 100.
    enum FeedRate {
        static let createFeedDocument = "50"
        static let createFeed = "0.83"
        static let getFeed = "200"
        static let getFeeds = "2.22"
        static let getFeedDocument = "2.22"
    }

    static let feedsPath = "amazon/feeds/2021-06-30"
    /// A presigned URL's lifetime: "This URL expires after 5 minutes."
    static let documentURLLifetime: Int64 = 300_000

    func registerFeeds(on router: Router<BasicRequestContext>) {
        let feeds = router.group(RouterPath(Self.feedsPath))
        feeds.post("documents") { request, _ in try await self.createFeedDocument(request) }
        feeds.get("documents/:documentId") { request, context in
            await self.getFeedDocument(request, id: context.parameters.get("documentId") ?? "")
        }
        feeds.post("feeds") { request, _ in try await self.createFeed(request) }
        feeds.get("feeds") { request, _ in await self.getFeeds(request) }
        feeds.get("feeds/:feedId") { request, context in
            await self.getFeed(request, id: context.parameters.get("feedId") ?? "")
        }
        router.put("amazon-documents/:documentId") { request, context in
            try await self.upload(request, id: context.parameters.get("documentId") ?? "")
        }
        router.get("amazon-documents/:documentId") { request, context in
            await self.download(request, id: context.parameters.get("documentId") ?? "")
        }
    }

    private func documentURL(_ request: Request, id: String) -> String {
        var authority = request.head.authority ?? "127.0.0.1"
        if let host = state.amazonFeeds.documentHost {
            authority = host + (authority.split(separator: ":").last.map { ":\($0)" } ?? "")
        }
        return "http://\(authority)/amazon-documents/\(id)?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=300&X-Amz-Signature=sandbox"
    }

    func createFeedDocument(_ request: Request) async throws -> Response {
        let rate = state.limiter.rateHeader(.amazonCreateFeedDocument) ?? FeedRate.createFeedDocument
        if let denied = authorize(request) { return denied }
        struct Body: Decodable { var contentType: String? }
        guard let body = JSON.decode(Body.self, try await JSON.body(request)), let contentType = body.contentType, !contentType.isEmpty else {
            return Self.invalidInput("The body must be a CreateFeedDocumentSpecification: {\"contentType\": …}.", rate: rate)
        }
        let id = state.amazonFeeds.createDocument(contentType: contentType, at: state.clock.monotonicMilliseconds())
        return Self.answer(["feedDocumentId": id, "url": documentURL(request, id: id)], rate: rate, status: .created)
    }

    /// S3's XML error.
    static func storeError(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message>\(message)</Message></Error>"
        return Response(status: status, headers: [.contentType: "application/xml"], body: .init(byteBuffer: ByteBuffer(string: xml)))
    }

    func upload(_ request: Request, id: String) async throws -> Response {
        if request.headers[.init("x-amz-access-token")!] != nil {
            state.amazonFeeds.noteUploadWithToken()
            return Self.storeError(.badRequest, "InvalidArgument", "An SP-API access token was sent to the document store.")
        }
        guard let document = state.amazonFeeds.document(id) else {
            return Self.storeError(.notFound, "NoSuchKey", "The specified key does not exist.")
        }
        guard state.clock.monotonicMilliseconds() - document.createdAt <= Self.documentURLLifetime else {
            return Self.storeError(.forbidden, "AccessDenied", "Request has expired")
        }
        guard request.headers[.contentType] == document.contentType else {
            return Self.storeError(.forbidden, "SignatureDoesNotMatch",
                                   "The request signature we calculated does not match the signature you provided (Content-Type).")
        }
        state.amazonFeeds.upload(id, contents: try await JSON.body(request, limit: 16 << 20))
        return Response(status: .ok)
    }

    func download(_ request: Request, id: String) async -> Response {
        guard let document = state.amazonFeeds.document(id), let contents = document.contents else {
            return Self.storeError(.notFound, "NoSuchKey", "The specified key does not exist.")
        }
        return Response(status: .ok, headers: [.contentType: document.contentType],
                        body: .init(byteBuffer: ByteBuffer(bytes: contents)))
    }

    func createFeed(_ request: Request) async throws -> Response {
        let rate = state.limiter.rateHeader(.amazonCreateFeed) ?? FeedRate.createFeed
        if let denied = authorize(request) { return denied }
        struct Body: Decodable {
            var feedType: String?
            var marketplaceIds: [String]?
            var inputFeedDocumentId: String?
        }
        guard let body = JSON.decode(Body.self, try await JSON.body(request)), let feedType = body.feedType,
              let marketplaces = body.marketplaceIds, let documentID = body.inputFeedDocumentId else {
            return Self.invalidInput("The body must be a CreateFeedSpecification: feedType, marketplaceIds and inputFeedDocumentId.", rate: rate)
        }
        guard feedType == AmazonClientFeedType.listings else {
            return Self.invalidInput("The sandbox processes feedType JSON_LISTINGS_FEED only, not \(feedType).", rate: rate)
        }
        guard (1...25).contains(marketplaces.count), marketplaces.contains(SandboxState.amazonMarketplaceID) else {
            return Self.invalidInput("marketplaceIds must have 1…25 items including \(SandboxState.amazonMarketplaceID).", rate: rate)
        }
        guard state.amazonFeeds.document(documentID) != nil else {
            return Self.invalidInput("inputFeedDocumentId \(documentID) is not a feed document of this selling partner.", rate: rate)
        }
        let id = state.amazonFeeds.createFeed(feedType: feedType, documentID: documentID, monotonic: state.clock.monotonicMilliseconds(),
                                              wall: state.clock.wallMilliseconds())
        return Self.answer(["feedId": id], rate: rate, status: .accepted)
    }

    func getFeed(_ request: Request, id: String) async -> Response {
        let rate = state.limiter.rateHeader(.amazonGetFeed) ?? FeedRate.getFeed
        if let denied = authorize(request) { return denied }
        guard let feed = state.amazonFeeds.feed(id) else { return Self.notFound("Feed \(id) was not found.", rate: rate) }
        return Self.answer(Self.feedBody(feed), rate: rate)
    }

    /// A `Feed` as `getFeed` and `getFeeds` give it.
    static func feedBody(_ feed: SandboxAmazonFeeds.Feed) -> [String: Any] {
        var body: [String: Any] = ["feedId": feed.id, "feedType": feed.feedType, "marketplaceIds": [SandboxState.amazonMarketplaceID],
                                   "createdTime": Self.iso8601(feed.createdAtWall), "processingStatus": feed.status]
        if feed.status != "IN_QUEUE" { body["processingStartTime"] = Self.iso8601(feed.createdAtWall) }
        if let ended = feed.endedAtWall { body["processingEndTime"] = Self.iso8601(ended) }
        if let result = feed.resultDocumentID { body["resultFeedDocumentId"] = result }
        return body
    }

    /// `processingStatuses`' values, in the model's order (a bit each in a paging token).
    static let feedStatuses = ["CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE"]
    /// "Feeds are retained for a maximum of 90 days": `createdSince`'s default.
    static let feedRetention: Int64 = 90 * 86_400_000

    /// `getFeeds`. The paging token holds the page's offset and the filters
    /// ([offset, pageSize, since, until, status bits, type matches, marketplace matches]).
    func getFeeds(_ request: Request) async -> Response {
        let rate = state.limiter.rateHeader(.amazonGetFeeds) ?? FeedRate.getFeeds
        if let denied = authorize(request) { return denied }
        let query = request.uri.queryParameters
        func list(_ name: String) -> [String]? {
            query[Substring(name)].map { String($0).split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        }
        let names = ["feedTypes", "marketplaceIds", "pageSize", "processingStatuses", "createdSince", "createdUntil"]
        let filter: [Int64]
        if let token = query["nextToken"].map(String.init) {
            guard !names.contains(where: { query[Substring($0)] != nil }) else {
                return Self.invalidInput("nextToken must be the only parameter: specifying nextToken with any other parameters is not allowed.", rate: rate)
            }
            guard let decoded = Self.untoken(token, kind: "f"), decoded.count == 7, decoded[0] >= 0 else {
                return Self.invalidInput("Invalid nextToken.", rate: rate)
            }
            filter = decoded
        } else {
            guard let types = list("feedTypes") else {
                return Self.invalidInput("Either feedTypes or nextToken is required.", rate: rate)
            }
            guard (1...10).contains(types.count), !types.contains(where: \.isEmpty) else {
                return Self.invalidInput("feedTypes must have 1…10 items.", rate: rate)
            }
            let marketplaces = list("marketplaceIds")
            if let marketplaces, !(1...10).contains(marketplaces.count) || marketplaces.contains(where: \.isEmpty) {
                return Self.invalidInput("marketplaceIds must have 1…10 items.", rate: rate)
            }
            guard let pageSize = query["pageSize"].map({ Int(String($0)) }) ?? 10, (1...100).contains(pageSize) else {
                return Self.invalidInput("pageSize must be between 1 and 100.", rate: rate)
            }
            var statusBits: Int64 = 0
            if let statuses = list("processingStatuses") {
                for status in statuses {
                    guard let index = Self.feedStatuses.firstIndex(of: status) else {
                        return Self.invalidInput("processingStatuses has an invalid value \(status): use \(Self.feedStatuses.joined(separator: ", ")).", rate: rate)
                    }
                    statusBits |= 1 << Int64(index)
                }
            } else {
                statusBits = (1 << Int64(Self.feedStatuses.count)) - 1
            }
            let now = state.clock.wallMilliseconds()
            var bounds: [Int64] = []
            for (name, fallback) in [("createdSince", now - Self.feedRetention), ("createdUntil", now)] {
                guard let text = query[Substring(name)].map(String.init) else {
                    bounds.append(fallback)
                    continue
                }
                guard let value = Self.milliseconds(text) else {
                    return Self.invalidInput("\(name) \(text) is not a valid ISO 8601 date-time.", rate: rate)
                }
                bounds.append(value)
            }
            guard bounds[0] <= bounds[1] else {
                return Self.invalidInput("createdSince must not be after createdUntil.", rate: rate)
            }
            filter = [0, Int64(pageSize), bounds[0], bounds[1], statusBits,
                      types.contains(AmazonClientFeedType.listings) ? 1 : 0,
                      (marketplaces?.contains(SandboxState.amazonMarketplaceID) ?? true) ? 1 : 0]
        }
        let (offset, pageSize) = (Int(filter[0]), Int(filter[1]))
        let matching = filter[5] == 0 || filter[6] == 0 ? [] : state.amazonFeeds.allFeeds().filter { feed in
            guard let index = Self.feedStatuses.firstIndex(of: feed.status) else { return false }
            return feed.createdAtWall >= filter[2] && feed.createdAtWall <= filter[3] && filter[4] & (1 << Int64(index)) != 0
        }
        var body: [String: Any] = ["feeds": matching.dropFirst(offset).prefix(pageSize).map(Self.feedBody)]
        if offset + pageSize < matching.count {
            var next = filter
            next[0] = Int64(offset + pageSize)
            body["nextToken"] = Self.token(kind: "f", next)
        }
        return Self.answer(body, rate: rate)
    }

    func getFeedDocument(_ request: Request, id: String) async -> Response {
        let rate = state.limiter.rateHeader(.amazonGetFeedDocument) ?? FeedRate.getFeedDocument
        if let denied = authorize(request) { return denied }
        guard let document = state.amazonFeeds.document(id) else {
            return Self.notFound("Feed document \(id) was not found.", rate: rate)
        }
        var body: [String: Any] = ["feedDocumentId": document.id, "url": documentURL(request, id: document.id)]
        if document.gzip { body["compressionAlgorithm"] = "GZIP" }
        return Self.answer(body, rate: rate)
    }
}
