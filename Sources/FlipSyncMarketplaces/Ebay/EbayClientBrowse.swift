import FlipSyncCore
import Foundation
import Logging

extension EbayClient {
    // MARK: Browse

    /// One page of competitor listings, cheapest first (price plus shipping).
    ///
    /// `GET /buy/browse/v1/item_summary/search` with `gtin` or `q`, `filter=conditionIds:{…}`,
    /// `sort=price`, `limit`, `offset` (a record offset); application token.
    /// References: eBay Browse API overview (https://developer.ebay.com/api-docs/buy/browse/overview.html),
    /// type `ItemSummary` (https://developer.ebay.com/api-docs/buy/browse/types/gct:ItemSummary),
    /// type `Seller` (https://developer.ebay.com/api-docs/buy/browse/types/gct:Seller; `feedbackPercentage`
    /// is a string), and `SearchPagedCollection` (`itemSummaries`, `total`, `offset`, `limit`, `next`).
    public func searchPage(_ query: BrowseQuery, offset: Int = 0) async throws -> BrowsePage {
        guard (1...200).contains(query.pageSize) else { throw MarketplaceError.refused("Browse page size must be 1…200, not \(query.pageSize)") }
        var parameters: [(String, String)] = []
        switch query.key {
        case .gtin(let gtin): parameters.append(("gtin", gtin))
        case .keywords(let words): parameters.append(("q", words))
        }
        if !query.conditionIDs.isEmpty {
            parameters.append(("filter", "conditionIds:{\(query.conditionIDs.map(String.init).joined(separator: "|"))}"))
        }
        parameters += [("sort", "price"), ("limit", String(query.pageSize)), ("offset", String(offset))]
        let url = configuration.baseURL + "/buy/browse/v1/item_summary/search?" + FormEncoding.encode(parameters)
        let response = try await authorized("browse.item_summary.search", tokens: applicationTokens) { token in
            self.request(.get, url, token: token)
        }
        let wire = try StatusMapping.decode(WireSearchResponse.self, response, operation: "browse.item_summary.search")
        let items = try (wire.itemSummaries ?? []).map { try competitor($0) }
        return BrowsePage(items: items, total: wire.total ?? items.count, offset: wire.offset ?? offset,
                          limit: wire.limit ?? query.pageSize, hasNext: wire.next != nil)
    }

    /// The most item ids one getItems call takes.
    public static let getItemsLimit = 20

    /// The current state of up to 20 items by id: the items eBay still returns (an ended or
    /// unknown item is left out), in eBay's order.
    ///
    /// `GET /buy/browse/v1/item/?item_ids=ID1,ID2,…`; application token; its own daily quota
    /// (`ebay/browse_get_items`). Reference: Browse API `getItems`
    /// (https://developer.ebay.com/api-docs/buy/browse/resources/item/methods/getItems), response
    /// type `Items` (`items`: array of `CoreItem` with `itemId`, `title`, `price`, `condition`,
    /// `conditionId`, `gtin`, `seller`, `shippingOptions`; `total`; `warnings`).
    public func items(ids: [String]) async throws -> [CompetitorListing] {
        guard (1...Self.getItemsLimit).contains(ids.count) else {
            throw MarketplaceError.refused("getItems takes 1…\(Self.getItemsLimit) item ids, not \(ids.count)")
        }
        let url = configuration.baseURL + "/buy/browse/v1/item/?" + FormEncoding.encode([("item_ids", ids.joined(separator: ","))])
        let response = try await authorized("browse.item.get_items", tokens: applicationTokens) { token in
            self.request(.get, url, token: token)
        }
        let wire = try StatusMapping.decode(WireItemsResponse.self, response, operation: "browse.item.get_items")
        return try (wire.items ?? []).map { try competitor($0) }
    }

    func competitor(_ item: WireSearchResponse.Item) throws -> CompetitorListing {
            guard let price = item.price else { throw MarketplaceError.malformed("item \(item.itemId) has no price") }
            let seller = try item.seller.map { s in
                let percentage = try s.feedbackPercentage.map { text in
                    do { return try Percent(parsingNumber: text) } catch {
                        throw MarketplaceError.malformed("item \(item.itemId): seller feedbackPercentage is not a number")
                    }
                }
                return CompetitorListing.Seller(username: s.username ?? "", feedbackPercentage: percentage, feedbackScore: s.feedbackScore)
            }
            return CompetitorListing(
                itemID: item.itemId, title: item.title ?? "", price: try money(price, field: "price of \(item.itemId)"),
                shippingCost: try item.shippingOptions?.first?.shippingCost.map { try money($0, field: "shipping of \(item.itemId)") },
                condition: item.condition, conditionID: item.conditionId.flatMap { Int($0) }, gtin: item.gtin, seller: seller)
    }

    /// Every listing matching `query`, paging with `offset` until eBay has no `next` page or
    /// `maxItems` were read (eBay serves at most 10,000 results of one search).
    public func searchAll(_ query: BrowseQuery, maxItems: Int = 10_000) async throws -> [CompetitorListing] {
        var all: [CompetitorListing] = []
        var offset = 0
        while all.count < maxItems {
            let page = try await searchPage(query, offset: offset)
            all += page.items
            guard page.hasNext, !page.items.isEmpty else { break }
            offset = page.offset + page.items.count
            // eBay refuses offsets past its 10,000-result window rather than serving them.
            guard offset < 10_000 else { break }
        }
        return Array(all.prefix(maxItems))
    }
}
