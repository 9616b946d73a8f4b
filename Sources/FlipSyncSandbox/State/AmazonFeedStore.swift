import CZlib
import FlipSyncCore
import Foundation
import Synchronization

/// The sandbox's Feeds API 2021-06-30 state: feed documents (uploaded inputs and processing
/// reports) and feeds, processed on the sandbox's clock.
///
/// A feed is `IN_QUEUE` for the first half of `processingDelayMilliseconds` after `createFeed`,
/// `IN_PROGRESS` for the second, then processed once (by whichever Amazon request comes next):
/// its JSON_LISTINGS_FEED document is checked against listings-feed-schema-v2.json's shape, each
/// accepted message applied to the sandbox's prices and quantities, and a processing report
/// (listings-feed-processing-report-schema-v2.json) stored as its result document. Tests can force
/// the next feeds to end `FATAL` or `CANCELLED`, compress reports (`GZIP`), set a minimum price,
/// and name another host in document URLs (one outside a client's allow-list).
public final class SandboxAmazonFeeds: Sendable {
    struct Document {
        var id: String
        var contentType: String
        var contents: [UInt8]?
        var createdAt: Int64
        var gzip: Bool
    }

    struct Feed {
        var id: String
        var feedType: String
        var documentID: String
        var createdAtMonotonic: Int64
        var createdAtWall: Int64
        var status: String
        var claimed: Bool
        var forced: String?
        var resultDocumentID: String?
        var endedAtWall: Int64?
    }

    struct State {
        var documents: [String: Document] = [:]
        var feeds: [String: Feed] = [:]
        var feedOrder: [String] = []
        var counter = 0
        var processingDelay: Int64 = 2_000
        var forcedOutcomes: [String] = []
        var uploadsWithAccessToken = 0
        var minimumPriceMicros: Int64?
        var compressReports = false
        var documentHost: String?
    }

    let state = Mutex(State())

    /// How long a feed takes on the sandbox's clock (default 2 s; 0: done at the next request).
    public func setProcessingDelay(milliseconds: Int64) { state.withLock { $0.processingDelay = max(0, milliseconds) } }
    /// The next feeds created end with these statuses (`FATAL`, `CANCELLED`), in order.
    public func forceNextOutcomes(_ statuses: [String]) { state.withLock { $0.forcedOutcomes += statuses } }
    /// A price below this is an issue of its message (and of a `patchListingsItem`); nil: none.
    public func setMinimumPrice(micros: Int64?) { state.withLock { $0.minimumPriceMicros = micros } }
    public var minimumPriceMicros: Int64? { state.withLock { $0.minimumPriceMicros } }
    /// Reports are stored gzip-compressed and `getFeedDocument` says `compressionAlgorithm: GZIP`.
    public func setCompressReports(_ on: Bool) { state.withLock { $0.compressReports = on } }
    /// The host document URLs name (default: the one the request came to).
    public func setDocumentHost(_ host: String?) { state.withLock { $0.documentHost = host } }
    var documentHost: String? { state.withLock { $0.documentHost } }

    /// Uploads refused because they carried an SP-API access token.
    public var uploadsWithAccessToken: Int { state.withLock { $0.uploadsWithAccessToken } }
    /// Feeds created so far, oldest first: id and status.
    public var feeds: [(id: String, status: String)] {
        state.withLock { s in s.feedOrder.map { (s.feeds[$0]!.id, s.feeds[$0]!.status) } }
    }
    /// A document's contents as uploaded (or a report as stored, maybe gzipped).
    public func documentContents(_ id: String) -> [UInt8]? { state.withLock { $0.documents[id]?.contents } }
    /// The result document (processing report) of a feed, once it ended.
    public func resultDocumentID(feed id: String) -> String? { state.withLock { $0.feeds[id]?.resultDocumentID } }
    /// The input document of a feed.
    public func inputDocumentID(feed id: String) -> String? { state.withLock { $0.feeds[id]?.documentID } }

    func noteUploadWithToken() { state.withLock { $0.uploadsWithAccessToken += 1 } }

    func createDocument(contentType: String, at wall: Int64) -> String {
        // A malformed fault replaces the answer: nothing is created (`SandboxFaultMiddleware.answerDiscarded`).
        if SandboxFaultMiddleware.answerDiscarded { return "" }
        return state.withLock { s in
            s.counter += 1
            let id = "amzn1.tortuga.4.na.sandbox\(s.counter)"
            s.documents[id] = Document(id: id, contentType: contentType, contents: nil, createdAt: wall, gzip: false)
            return id
        }
    }

    func document(_ id: String) -> Document? { state.withLock { $0.documents[id] } }

    func upload(_ id: String, contents: [UInt8]) { state.withLock { $0.documents[id]?.contents = contents } }

    func createFeed(feedType: String, documentID: String, monotonic: Int64, wall: Int64) -> String {
        // A malformed fault replaces the answer: nothing is created (`SandboxFaultMiddleware.answerDiscarded`).
        if SandboxFaultMiddleware.answerDiscarded { return "" }
        return state.withLock { s in
            s.counter += 1
            let id = String(50_000 + s.counter)
            let forced = s.forcedOutcomes.isEmpty ? nil : s.forcedOutcomes.removeFirst()
            s.feeds[id] = Feed(id: id, feedType: feedType, documentID: documentID, createdAtMonotonic: monotonic, createdAtWall: wall,
                               status: "IN_QUEUE", claimed: false, forced: forced)
            s.feedOrder.append(id)
            return id
        }
    }

    func feed(_ id: String) -> Feed? { state.withLock { $0.feeds[id] } }

    /// Every feed, oldest first (`getFeeds` filters and pages them).
    func allFeeds() -> [Feed] { state.withLock { s in s.feedOrder.compactMap { s.feeds[$0] } } }

    /// Moves feeds along by `monotonic` time and claims those due for processing (each once).
    func claimDue(monotonic: Int64) -> [Feed] {
        state.withLock { s in
            var due: [Feed] = []
            for id in s.feedOrder {
                guard var feed = s.feeds[id], !feed.claimed, feed.status == "IN_QUEUE" || feed.status == "IN_PROGRESS" else { continue }
                let elapsed = monotonic - feed.createdAtMonotonic
                if elapsed >= s.processingDelay {
                    feed.claimed = true
                    feed.status = "IN_PROGRESS"
                    due.append(feed)
                } else if elapsed * 2 >= s.processingDelay {
                    feed.status = "IN_PROGRESS"
                }
                s.feeds[id] = feed
            }
            return due
        }
    }

    /// Ends a claimed feed with `status` and its report (nil: no result document).
    func finish(_ id: String, status: String, report: [String: Any]?, wall: Int64) {
        let json = report.map { (try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys])).map(Array.init) ?? [] }
        state.withLock { s in
            if let json {
                s.counter += 1
                let documentID = "amzn1.tortuga.4.na.sandbox\(s.counter)"
                let gzip = s.compressReports
                s.documents[documentID] = Document(id: documentID, contentType: "application/json", contents: gzip ? Self.gzip(json) : json,
                                                   createdAt: wall, gzip: gzip)
                s.feeds[id]?.resultDocumentID = documentID
            }
            s.feeds[id]?.status = status
            s.feeds[id]?.endedAtWall = wall
        }
    }

    /// gzip (RFC 1952) through zlib.
    static func gzip(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return input }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
        var input = input
        let produced: Int = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { buffer in
                stream.next_in = source.baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = buffer.baseAddress
                stream.avail_out = uInt(buffer.count)
                guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { return -1 }
                return buffer.count - Int(stream.avail_out)
            }
        }
        return produced < 0 ? input : Array(output.prefix(produced))
    }
}

// MARK: Processing

extension SandboxState {
    /// Processes every feed whose time has come: called at the start of every Amazon request.
    func processDueAmazonFeeds() {
        let due = amazonFeeds.claimDue(monotonic: clock.monotonicMilliseconds())
        for feed in due { processAmazonFeed(feed) }
    }

    /// The JSON_LISTINGS_FEED shapes the sandbox reads (listings-feed-schema-v2.json); unknown
    /// keys are ignored.
    private struct FeedDocument: Decodable {
        struct Header: Decodable {
            var sellerId: String?
            var version: String?
        }
        struct Message: Decodable {
            var messageId: Int?
            var sku: String?
            var operationType: String?
            var productType: String?
            var patches: [SandboxAmazonPatch]?
        }
        var header: Header?
        var messages: [Message]?
    }

    private func processAmazonFeed(_ feed: SandboxAmazonFeeds.Feed) {
        let wall = clock.wallMilliseconds()
        var issues: [[String: Any]] = []
        func report(processed: Int, accepted: Int, invalid: Int) -> [String: Any] {
            let errors = issues.filter { $0["severity"] as? String == "ERROR" }.count
            return ["header": ["sellerId": SandboxState.amazonSellerID, "version": "2.0", "feedId": feed.id],
                    "issues": issues,
                    "summary": ["errors": errors, "warnings": issues.count - errors, "messagesProcessed": processed,
                                "messagesAccepted": accepted, "messagesInvalid": invalid]]
        }
        func fatal(_ code: String, _ message: String) {
            issues.append(["code": code, "severity": "ERROR", "message": message])
            amazonFeeds.finish(feed.id, status: "FATAL", report: report(processed: 0, accepted: 0, invalid: 0), wall: wall)
        }
        switch feed.forced {
        case "CANCELLED"?:
            amazonFeeds.finish(feed.id, status: "CANCELLED", report: nil, wall: wall)
            return
        case let status?:
            fatal("SANDBOX_FATAL", "The feed could not be processed (\(status) forced by the sandbox).")
            return
        case nil:
            break
        }
        guard let contents = amazonFeeds.documentContents(feed.documentID) else {
            return fatal("SANDBOX_NO_DOCUMENT", "The feed document \(feed.documentID) was never uploaded.")
        }
        guard let document = try? JSONDecoder().decode(FeedDocument.self, from: Data(contents)) else {
            return fatal("SANDBOX_INVALID_FEED", "The feed document is not a JSON_LISTINGS_FEED (listings-feed-schema-v2).")
        }
        guard let header = document.header, header.version == "2.0", let seller = header.sellerId else {
            return fatal("SANDBOX_INVALID_FEED", "header.sellerId and header.version \"2.0\" are required.")
        }
        guard seller == SandboxState.amazonSellerID else {
            return fatal("SANDBOX_INVALID_FEED", "header.sellerId \(seller) is not the submitting selling partner.")
        }
        guard let messages = document.messages, (1...25_000).contains(messages.count) else {
            return fatal("SANDBOX_INVALID_FEED", "messages must have 1…25,000 items.")
        }
        var seen: Set<Int> = []
        var accepted = 0, invalid = 0
        for message in messages {
            guard let id = message.messageId, (1...2_147_483_647).contains(id), seen.insert(id).inserted else {
                return fatal("SANDBOX_INVALID_FEED", "Every message needs a messageId of 1…2147483647, unique in the feed.")
            }
            var messageIssues: [[String: Any]] = []
            func issue(_ code: String, _ text: String, attribute: String? = nil) {
                var entry: [String: Any] = ["messageId": id, "code": code, "severity": "ERROR", "message": text]
                if let sku = message.sku { entry["sku"] = sku }
                if let attribute { entry["attributeName"] = attribute }
                messageIssues.append(entry)
            }
            var priceMicros: Int64?
            var quantity: Int?
            if let sku = message.sku, !sku.isEmpty, channelListing(.amazon, sku: sku) == nil {
                issue("SANDBOX_SKU_NOT_FOUND", "SKU \(sku) is not listed by seller \(SandboxState.amazonSellerID).")
            } else if message.sku?.isEmpty != false {
                issue("SANDBOX_INVALID_MESSAGE", "sku is required.")
            } else if message.operationType != "PATCH" {
                issue("SANDBOX_UNSUPPORTED_OPERATION", "The sandbox processes operationType PATCH only, not \(message.operationType ?? "none").")
            } else if message.productType?.isEmpty != false || message.patches?.isEmpty != false {
                issue("SANDBOX_INVALID_MESSAGE", "A PATCH message requires productType and at least one patch.")
            } else {
                for patch in message.patches ?? [] {
                    guard let op = patch.op, ["add", "replace", "merge"].contains(op) else {
                        issue("SANDBOX_INVALID_MESSAGE", "Patch op must be add, replace or merge in the sandbox.")
                        continue
                    }
                    switch patch.path {
                    case "/attributes/purchasable_offer":
                        guard let offer = patch.value?.first, let amount = offer.our_price?.first?.schedule?.first?.value_with_tax else {
                            issue("SANDBOX_MISSING_PRICE", "'purchasable_offer' needs our_price[0].schedule[0].value_with_tax.",
                                  attribute: "purchasable_offer")
                            continue
                        }
                        if let currency = offer.currency, currency != "USD" {
                            issue("SANDBOX_INVALID_CURRENCY", "Currency \(currency) is not accepted in marketplace \(SandboxState.amazonMarketplaceID); use USD.",
                                  attribute: "purchasable_offer")
                        } else if let marketplace = offer.marketplace_id, marketplace != SandboxState.amazonMarketplaceID {
                            issue("SANDBOX_INVALID_MARKETPLACE", "marketplace_id \(marketplace) does not match the feed's marketplace.",
                                  attribute: "purchasable_offer")
                        } else if let money = try? Money(parsing: "\(amount) USD", allowNegative: true), money.micros > 0,
                                  money.micros % 10_000 == 0 {
                            if let minimum = amazonFeeds.minimumPriceMicros, money.micros < minimum {
                                issue("SANDBOX_PRICE_BELOW_MINIMUM",
                                      "The price \(amount) is below the minimum \(AmazonRoutes.decimalText(minimum)) allowed for this listing.",
                                      attribute: "purchasable_offer")
                            } else {
                                priceMicros = money.micros
                            }
                        } else {
                            issue("SANDBOX_INVALID_PRICE", "The price \(amount) is not valid: it must be greater than 0 with at most 2 decimal places.",
                                  attribute: "purchasable_offer")
                        }
                    case "/attributes/fulfillment_availability":
                        guard let availability = patch.value?.first, availability.fulfillment_channel_code == "DEFAULT",
                              let value = availability.quantity, value >= 0 else {
                            issue("SANDBOX_INVALID_QUANTITY", "fulfillment_availability needs channel DEFAULT and a quantity of 0 or more.",
                                  attribute: "fulfillment_availability")
                            continue
                        }
                        quantity = value
                    default:
                        issue("SANDBOX_UNSUPPORTED_ATTRIBUTE", "The sandbox patches /attributes/purchasable_offer and /attributes/fulfillment_availability only.")
                    }
                }
            }
            if messageIssues.isEmpty, let sku = message.sku {
                accepted += 1
                applyChannel(.amazon, sku: sku, priceMicros: priceMicros, quantity: quantity)
            } else {
                invalid += 1
                issues += messageIssues
            }
        }
        amazonFeeds.finish(feed.id, status: "DONE", report: report(processed: messages.count, accepted: accepted, invalid: invalid), wall: wall)
    }
}
