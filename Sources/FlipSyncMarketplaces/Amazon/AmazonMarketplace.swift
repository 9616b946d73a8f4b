import FlipSyncCore

/// Amazon as a `Marketplace`, over `AmazonClient`.
///
/// - `activeListings`: every page of `searchListingsItems`; items without a price in our
///   marketplace (no offer yet) or without an ASIN are not active listings and are left out.
/// - `competition`: `getItemOffers` for the listing's ASIN in its condition; our own offer is
///   included, flagged `isOurs` (Amazon's `MyOffer`); `buyBox` is the summary's Buy Box landed
///   price for that condition.
/// - `competitions(for:)`: the same offers through `getListingOffersBatch`, 20 SKUs a request
///   (what the repricing sweep uses: 20 listings per 0.5 requests/s instead of one).
/// - `apply`: one `patchListingsItem` per change (the Listings Items API has no batch call).
///   `ACCEPTED` is applied; `INVALID`, or a refusal of that one item (a 4xx), is failed with
///   Amazon's reasons. A rate limit, a transient or an auth error is thrown: the whole call can
///   be retried, since each patch replaces values and applying it twice is harmless.
/// - `applyInBulk` (`BulkApplyingMarketplace`): the same changes as one JSON_LISTINGS_FEED, when
///   the sweep's rule says the patches cannot fit the run's time left (see the extension below).
/// - `settleSubmissions`: before a resumed sweep reads live prices of changes sent with no
///   recorded answer, `getFeeds` finds the feeds still unfinished since then and `getFeed`
///   waits for each to end (a feed accepted just before a crash, its id never recorded).
/// - `orders(since:)`: the cursor is the ISO 8601 `CreatedAfter` to ask for next: the newest
///   `PurchaseDate` seen minus `overlap` (orders can show up in the API a little after they
///   were placed), never earlier than the cursor it started from. A nil cursor starts
///   `firstLookback` ago. Lines come from `getOrderItems`; open means Pending, Unshipped or
///   PartiallyShipped.
public struct AmazonMarketplace: PagedListingsMarketplace {
    public let client: AmazonClient
    public let overlap: TimeSpan
    public let firstLookback: TimeSpan
    private let clock: any SchedulerClock

    public var name: MarketplaceName { .amazon }

    public init(client: AmazonClient, overlap: TimeSpan = .seconds(300), firstLookback: TimeSpan = .seconds(7 * 86_400),
                clock: any SchedulerClock = SystemSchedulerClock()) {
        self.client = client
        self.overlap = overlap
        self.firstLookback = firstLookback
        self.clock = clock
    }

    public func activeListings() async throws -> [MarketplaceListing] {
        var listings: [MarketplaceListing] = []
        try await activeListingPages { listings += $0 }
        return listings
    }

    /// `activeListings` a `searchListingsItems` page at a time (`PagedListingsMarketplace`).
    public func activeListingPages(_ body: ([MarketplaceListing]) async throws -> Void) async throws {
        var pageToken: String?
        repeat {
            let page = try await client.listings(pageToken: pageToken)
            var listings: [MarketplaceListing] = []
            for item in page.items {
                guard let asin = item.asin, let price = item.price else { continue }
                listings.append(MarketplaceListing(
                    marketplace: .amazon, sku: item.sku, listingID: asin, gtin: item.gtin, asin: asin, title: item.title ?? "",
                    condition: Self.condition(listingConditionType: item.conditionType), price: price,
                    quantity: item.quantity ?? 0))
            }
            guard page.nextPageToken == nil || page.nextPageToken != pageToken else {
                throw MarketplaceError.malformed("listings.searchListingsItems: pagination.nextToken did not advance")
            }
            try await body(listings)
            pageToken = page.nextPageToken
        } while pageToken != nil
    }

    public func competition(for listing: MarketplaceListing) async throws -> Competition {
        let requested = Self.itemCondition(listing.condition)
        let result = try await client.itemOffers(asin: listing.asin ?? listing.listingID, condition: requested)
        return Self.competition(listing, result, requested: requested)
    }

    /// `getListingOffersBatch`, 20 SKUs a request, each in its listing's condition. The offers
    /// are the same as `getItemOffers` gives for the listing's ASIN, so the competition (and
    /// every decision made from it) is the same; an entry Amazon answers with an error (404
    /// for a SKU it does not know) is that listing's `.failed`. Amazon matches by ASIN only, so
    /// `titleMatches` changes nothing.
    public func competitions(for listings: [MarketplaceListing], titleMatches: Bool = true) async throws -> [CompetitionLookup] {
        var results: [CompetitionLookup] = []
        for start in stride(from: 0, to: listings.count, by: AmazonClient.listingOffersBatchLimit) {
            let chunk = Array(listings[start..<min(start + AmazonClient.listingOffersBatchLimit, listings.count)])
            // A SKU twice in one batch is refused by Amazon; ask once and share the answer.
            var unique: [MarketplaceListing] = []
            for listing in chunk where !unique.contains(where: { $0.sku == listing.sku }) { unique.append(listing) }
            let entries = try await client.listingOffersBatch(unique.map {
                AmazonListingOffersRequest(sku: $0.sku, condition: Self.itemCondition($0.condition))
            })
            let bySKU = Dictionary(entries.map { ($0.sku, $0) }, uniquingKeysWith: { a, _ in a })
            for listing in chunk {
                guard let entry = bySKU[listing.sku] else {
                    results.append(.failed("getListingOffersBatch gave no answer for SKU \(listing.sku)"))
                    continue
                }
                if let offers = entry.offers {
                    results.append(.found(Self.competition(listing, offers, requested: Self.itemCondition(listing.condition))))
                } else if entry.status == 429 {
                    throw MarketplaceError.rateLimited(retryAfter: nil)
                } else if entry.status >= 500 {
                    throw MarketplaceError.transient("getListingOffersBatch: SKU \(listing.sku): HTTP \(entry.status): \(entry.error ?? "")")
                } else {
                    results.append(.failed("getListingOffersBatch: SKU \(listing.sku): HTTP \(entry.status): \(entry.error ?? "")"))
                }
            }
        }
        return results
    }

    /// 20 listings a group, in the order given (the sweep gives SKU order).
    public func competitionGrouper(options: CompetitionOptions) -> any CompetitionGrouper { AmazonBatchGrouper() }

    /// Offers on the listing's ASIN as competition: our own flagged `isOurs` (`MyOffer`), the
    /// Buy Box that of the requested condition (else the first).
    static func competition(_ listing: MarketplaceListing, _ result: AmazonItemOffers, requested: AmazonItemCondition) -> Competition {
        let asin = listing.asin ?? listing.listingID
        let offers = result.offers.map { offer in
            CompetitorOffer(
                offerID: "\(asin)|\(offer.sellerID)|\(offer.subCondition)|\(offer.isFulfilledByAmazon ? "AFN" : "MFN")",
                title: listing.title, matchedByIdentifier: true, price: offer.listingPrice, shipping: offer.shipping,
                condition: Self.condition(requested: requested, subCondition: offer.subCondition), sellerID: offer.sellerID,
                sellerFeedback: offer.positiveFeedback, isOurs: offer.isMyOffer, isBuyBoxWinner: offer.isBuyBoxWinner)
        }.sorted { ($0.landed, $0.sellerID) < ($1.landed, $1.sellerID) }
        let buyBox = result.buyBoxPrices.first { $0.condition.lowercased() == requested.rawValue.lowercased() }
            ?? result.buyBoxPrices.first
        return Competition(offers: offers, buyBox: buyBox?.landed)
    }

    public func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult] {
        var results: [ListingChangeResult] = []
        for change in changes {
            func result(_ outcome: ListingChangeResult.Outcome) -> ListingChangeResult {
                ListingChangeResult(sku: change.sku, listingID: change.listingID, outcome: outcome)
            }
            do {
                let submission = try await client.patchListing(sku: change.sku, price: change.price, quantity: change.quantity)
                switch submission.status {
                case .accepted, .valid:
                    results.append(result(.applied))
                case .invalid:
                    let errors = submission.issues.filter { $0.severity == "ERROR" }
                    let reasons = (errors.isEmpty ? submission.issues : errors).map(\.description)
                    results.append(result(.failed(reasons.isEmpty ? "Amazon found the submission INVALID" : reasons.joined(separator: "; "))))
                case .other(let status):
                    results.append(result(.failed("Amazon answered status \(status)")))
                }
            } catch let error as MarketplaceError {
                switch error {
                case .permanent, .refused: results.append(result(.failed(error.description)))
                case .auth, .rateLimited, .transient, .malformed, .quotaExhausted: throw error
                }
            }
        }
        return results
    }

    public func orders(since cursor: String?) async throws -> OrdersPage {
        let createdAfter: Int64
        if let cursor {
            createdAfter = try AmazonClient.milliseconds(cursor, field: "the Amazon orders cursor")
        } else {
            createdAfter = clock.wallMilliseconds() - firstLookback.milliseconds
        }
        var lines: [OrderLine] = []
        var newest: Int64?
        var nextToken: String?
        repeat {
            let page = try await client.orders(createdAfter: createdAfter, nextToken: nextToken)
            for order in page.orders {
                newest = max(newest ?? order.purchasedAt, order.purchasedAt)
                let destination = order.shippingAddress.flatMap { address -> Destination? in
                    guard let postalCode = address.postalCode, let country = address.countryCode else { return nil }
                    return Destination(postalCode: postalCode, country: country, region: address.stateOrRegion)
                }
                let open = ["Pending", "Unshipped", "PartiallyShipped"].contains(order.status)
                for item in try await client.orderItems(orderID: order.orderID) {
                    lines.append(OrderLine(marketplace: .amazon, orderID: order.orderID, lineID: item.orderItemID, sku: item.sku,
                                           quantity: item.quantityOrdered, placedAt: order.purchasedAt, itemPrice: item.itemPrice,
                                           shippingPaid: item.shippingPrice, destination: destination,
                                           deliverBy: order.latestDeliveryAt, open: open))
                }
            }
            guard page.nextToken == nil || page.nextToken != nextToken else {
                throw MarketplaceError.malformed("orders.getOrders: NextToken did not advance")
            }
            nextToken = page.nextToken
        } while nextToken != nil
        let next = max(createdAfter, (newest ?? createdAfter) - overlap.milliseconds)
        return OrdersPage(lines: lines, cursor: AmazonClient.iso8601(next))
    }

    // MARK: Conditions

    /// The Product Pricing condition to ask offers for. Amazon has no "for parts" condition;
    /// such items sell as used.
    static func itemCondition(_ condition: ItemCondition) -> AmazonItemCondition {
        switch condition {
        case .new, .newOther: return .new
        case .refurbished: return .refurbished
        case .used, .forParts: return .used
        }
    }

    /// An offer's condition: the requested one, refined by `SubCondition` for new items
    /// (open box and OEM are "new other").
    static func condition(requested: AmazonItemCondition, subCondition: String) -> ItemCondition {
        switch requested {
        case .new: return ["open box", "oem"].contains(subCondition.lowercased()) ? .newOther : .new
        case .refurbished: return .refurbished
        case .used, .collectible, .club: return .used
        }
    }

    /// A Listings Items `conditionType` (`new_new`, `new_open_box`, `used_good`, …).
    static func condition(listingConditionType type: String?) -> ItemCondition {
        switch type {
        case "new_new", nil: return .new
        case "new_open_box", "new_oem": return .newOther
        case "refurbished_refurbished": return .refurbished
        default: return .used
        }
    }
}

/// Price updates in bulk: one JSON_LISTINGS_FEED (Feeds API 2021-06-30) instead of one
/// `patchListingsItem` per change, when the patches cannot all be sent in the time the run has
/// left (`prefersBulk`).
extension AmazonMarketplace: BulkApplyingMarketplace {
    /// `messages.maxItems` of listings-feed-schema-v2.json.
    public var bulkLimit: Int { AmazonClient.feedMessageLimit }

    /// The share of the run's remaining time the patches may use: the rest is left for the
    /// calls after them and for retries.
    public static let patchTimeShare = 0.5

    /// How many patches `patchListingsItem` can send in `timeLeft`: ⌊rate × seconds left ×
    /// `patchTimeShare`⌋, at the rate now in force (Amazon's 5/s once a response's
    /// `x-amzn-RateLimit-Limit` said so, else the configured one).
    public static func patchCapacity(rate: Double, timeLeft: TimeSpan) -> Int {
        let seconds = Double(max(0, timeLeft.milliseconds)) / 1000
        return Int((rate * seconds * patchTimeShare).rounded(.down))
    }

    /// One feed when there are more changes than `patchCapacity`; patches otherwise, and
    /// always when the time left is unknown.
    public func prefersBulk(changes: Int, timeLeft: TimeSpan?) -> Bool {
        guard let timeLeft else { return false }
        return changes > Self.patchCapacity(rate: client.rateLimit(for: .patchListingsItem), timeLeft: timeLeft)
    }

    /// Checks each change as `patchListingsItem` would (a refused one fails here, and is not
    /// sent), submits the others as one feed (message `i + 1` is change `i`), reports the feed
    /// id, then waits for the processing report.
    public func applyInBulk(_ changes: [ListingChange],
                            submitted: @Sendable (_ submission: String, _ messageIDs: [Int]) async throws -> Void) async throws -> [ListingChangeResult] {
        guard changes.count <= bulkLimit else {
            throw MarketplaceError.refused("a feed carries at most \(bulkLimit) changes, not \(changes.count)")
        }
        var results = [ListingChangeResult?](repeating: nil, count: changes.count)
        var items: [BulkItem] = []
        for (index, change) in changes.enumerated() {
            do {
                _ = try client.patches(sku: change.sku, price: change.price, quantity: change.quantity)
                items.append(BulkItem(change: change, messageID: index + 1))
            } catch let error as MarketplaceError {
                results[index] = ListingChangeResult(sku: change.sku, listingID: change.listingID, outcome: .failed(error.description))
            }
        }
        if !items.isEmpty {
            let feedID = try await client.submitListingsFeed(items.map {
                AmazonFeedMessage(messageID: $0.messageID, sku: $0.change.sku, price: $0.change.price, quantity: $0.change.quantity)
            })
            try await submitted(feedID, items.map(\.messageID))
            for (item, result) in zip(items, try await bulkResults(submission: feedID, items: items)) {
                results[item.messageID - 1] = result
            }
        }
        return results.map { $0! }
    }

    /// How far before `createdSince` `settleSubmissions` looks: Amazon's `createdTime` is on
    /// Amazon's clock, the intent's time on ours.
    public static let feedWindowMargin: Int64 = 300_000

    /// `getFeeds` for our JSON_LISTINGS_FEEDs created since `createdSince` less
    /// `feedWindowMargin` that are `IN_QUEUE` or `IN_PROGRESS` (one call a page, at getFeeds'
    /// rate), then `getFeed` on each until it has ended (`DONE`, `FATAL` or `CANCELLED`), polled
    /// as `waitForFeed` polls, all within `within`. The Feeds API's `Feed` does not name its input
    /// document, so a feed found this way cannot be tied to the changes it carried: once all
    /// have ended, the live prices say what landed.
    public func settleSubmissions(createdSince: Int64, within: TimeSpan) async throws -> [String] {
        let start = clock.monotonicMilliseconds()
        let unfinished = try await client.feeds(createdSince: createdSince - Self.feedWindowMargin,
                                                processingStatuses: ["IN_QUEUE", "IN_PROGRESS"])
            .filter(\.isUnfinished)
        for feed in unfinished {
            let left = within.milliseconds - (clock.monotonicMilliseconds() - start)
            _ = try await client.waitUntilEnded(feed.feedID, within: TimeSpan(milliseconds: max(0, left)))
        }
        return unfinished.map(\.feedID)
    }

    /// The feed's processing report, per change: an `ERROR` issue for its `messageId` fails it
    /// with the issues as the patch path writes them (`ERROR code: message`, joined by `; `);
    /// an `ERROR` of the whole feed (no `messageId`) fails every change; otherwise it is
    /// applied (warnings do not stop a message). A feed that ended `FATAL` or `CANCELLED`
    /// throws `BulkSubmissionEnded`.
    public func bulkResults(submission: String, items: [BulkItem]) async throws -> [ListingChangeResult] {
        let report: AmazonFeedReport
        do {
            report = try await client.listingsFeedReport(submission)
        } catch let ended as AmazonFeedEnded {
            throw BulkSubmissionEnded(submission: submission, reason: ended.description)
        }
        let errors = report.issues.filter { $0.severity == "ERROR" }
        let whole = errors.filter { $0.messageID == nil }
        let byMessage = Dictionary(grouping: errors.filter { $0.messageID != nil }, by: { $0.messageID! })
        let skus = Dictionary(items.map { ($0.messageID, $0.change.sku) }, uniquingKeysWith: { a, _ in a })
        for issue in report.issues {
            if let id = issue.messageID, let sku = issue.sku, let expected = skus[id], sku != expected {
                throw MarketplaceError.malformed("feed \(submission)'s report gives message \(id) SKU \(sku), but it was \(expected)")
            }
        }
        return items.map { item in
            let issues = byMessage[item.messageID] ?? whole
            let outcome: ListingChangeResult.Outcome = issues.isEmpty
                ? .applied : .failed(issues.map(\.description).joined(separator: "; "))
            return ListingChangeResult(sku: item.change.sku, listingID: item.change.listingID, outcome: outcome)
        }
    }
}

/// One key for every listing, closed at `getListingOffersBatch`'s 20: batches in the order given.
struct AmazonBatchGrouper: CompetitionGrouper {
    func key(for listing: MarketplaceListing) -> CompetitionGroupKey? {
        CompetitionGroupKey("listing-offers-batch", limit: AmazonClient.listingOffersBatchLimit)
    }
}
