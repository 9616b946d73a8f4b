import FlipSyncCore

extension EbayMarketplace {
    // MARK: Changes

    public func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult] {
        var results = [ListingChangeResult.Outcome?](repeating: nil, count: changes.count)
        var sent: [(index: Int, update: PriceQuantityUpdate)] = []
        for (index, change) in changes.enumerated() {
            guard change.price != nil || change.quantity != nil else {
                results[index] = .failed("nothing to change: neither a price nor a quantity was given")
                continue
            }
            let update = PriceQuantityUpdate(sku: change.sku, shipToLocationQuantity: change.quantity, offers: [
                .init(offerID: change.listingID, availableQuantity: change.quantity, price: change.price),
            ])
            do {
                _ = try EbayClient.wireRequest(update)
                sent.append((index, update))
            } catch let error as MarketplaceError {
                results[index] = .failed(error.description)
            }
        }
        var listingIDs = changes.map(\.listingID)
        if !sent.isEmpty {
            // Forgotten while the call is out: if it is interrupted, the next read of these SKUs is
            // live (getOffers), so whether the change landed is judged on eBay's price, not ours.
            // Only price changes touch the memory: a quantity is never read from it (the inventory
            // item's is), so a stock push (the sync's) leaves a concurrent sweep's rows alone.
            var before = try offerMemory?.rememberedOffers(marketplace: .ebay, skus: changes.map(\.sku)) ?? [:]
            let priced = sent.filter { changes[$0.index].price != nil }.map(\.update.sku)
            try offerMemory?.forgetOffers(marketplace: .ebay, skus: priced, sentAt: clock.wallMilliseconds())
            var stale: [(index: Int, update: PriceQuantityUpdate)] = []
            for (index, update, answer) in try await send(sent) {
                if let answer, !answer.succeeded, offerMemory != nil, answer.errors.contains(where: { Self.staleOfferErrors.contains($0.errorId ?? 0) }) {
                    stale.append((index, update))
                } else {
                    results[index] = Self.outcome(answer, sku: update.sku)
                }
            }
            if !stale.isEmpty {
                // The remembered offer id is no longer the SKU's offer: forget it, read the SKU's
                // offer again (once) and send the change to that offer.
                try offerMemory?.forgetOffers(marketplace: .ebay, skus: stale.map(\.update.sku), sentAt: clock.wallMilliseconds())
                // Not remembered yet: the price read now is the one about to change. Once the
                // resend is answered, the block below remembers the offer with what was applied.
                let fresh = try await readOffers(stale.map(\.update.sku), remember: false)
                for offer in fresh.compactMap({ $0 }) { before[offer.sku] = remembering(offer, at: clock.wallMilliseconds()) }
                var resend: [(index: Int, update: PriceQuantityUpdate)] = []
                for ((index, update), offer) in zip(stale, fresh) {
                    guard let offer else {
                        results[index] = .failed("eBay no longer has a published offer for SKU \(update.sku)")
                        continue
                    }
                    var again = update
                    again.offers = update.offers.map { var o = $0; o.offerID = offer.offerID; return o }
                    listingIDs[index] = offer.offerID
                    resend.append((index, again))
                }
                for (index, update, answer) in try await send(resend) { results[index] = Self.outcome(answer, sku: update.sku) }
            }
            // Remembered again: what was applied is now the offer's price; what failed is as it
            // was. Every answered change is settled, so reads asked from now on are remembered.
            if let memory = offerMemory {
                let now = clock.wallMilliseconds()
                var again: [RememberedOffer] = []
                for (index, _) in sent {
                    let change = changes[index]
                    let stale = stale.contains { $0.index == index }
                    guard change.price != nil || stale, var offer = before[change.sku], offer.offerID == listingIDs[index] else { continue }
                    if results[index] == .applied {
                        if let price = change.price { offer.price = price }
                        if let quantity = change.quantity { offer.availableQuantity = quantity }
                        offer.updatedAt = now
                    }
                    again.append(offer)
                }
                let answered = Set(priced + stale.map(\.update.sku))
                try memory.settleOffers(marketplace: .ebay, skus: answered.sorted(), offers: again, at: now)
            }
        }
        return changes.enumerated().map { index, change in
            ListingChangeResult(sku: change.sku, listingID: listingIDs[index], outcome: results[index] ?? .failed("not sent"))
        }
    }

    /// eBay's answers for an offer id that is not (or no longer) the SKU's offer: 25713 "This
    /// Offer is not available" (Inventory API error list, https://developer.ebay.com/api-docs/sell/inventory/static/error-codes.html).
    static let staleOfferErrors: Set<Int> = [25713]

    /// Sends `updates` with bulkUpdatePriceQuantity and pairs each with its answer (nil: none).
    func send(_ sent: [(index: Int, update: PriceQuantityUpdate)]) async throws -> [(Int, PriceQuantityUpdate, PriceQuantityResult?)] {
        guard !sent.isEmpty else { return [] }
        let outcome = try await client.bulkUpdatePriceQuantity(sent.map(\.update))
        if let failure = outcome.failure { throw failure }
        // eBay answers per SKU, not necessarily in request order; a SKU sent twice is answered twice.
        var answers: [String: ArraySlice<PriceQuantityResult>] = [:]
        for result in outcome.results { answers[result.sku ?? "", default: []].append(result) }
        return sent.map { index, update in (index, update, answers[update.sku]?.popFirst()) }
    }

    static func outcome(_ answer: PriceQuantityResult?, sku: String) -> ListingChangeResult.Outcome {
        guard let answer else { return .failed("eBay returned no result for SKU \(sku)") }
        return answer.succeeded
            ? .applied
            : .failed(answer.errors.isEmpty ? "eBay answered \(answer.statusCode)" : answer.errors.map(\.description).joined(separator: "; "))
    }

    // MARK: Orders

    public func orders(since cursor: String?) async throws -> OrdersPage {
        var since: Int64?
        if let cursor {
            guard let milliseconds = EbayTimestamp.milliseconds(cursor) else {
                throw MarketplaceError.refused("the eBay orders cursor \"\(cursor)\" is not an ISO 8601 timestamp")
            }
            since = milliseconds
        }
        var lines: [OrderLine] = []
        var newest: Int64?
        var offset = 0
        while true {
            let page = try await client.orders(createdSince: since, offset: offset)
            for order in page.orders {
                newest = max(newest ?? order.creationDate, order.creationDate)
                lines += Self.lines(of: order)
            }
            guard page.hasNext, !page.orders.isEmpty else { break }
            offset = page.offset + page.orders.count
        }
        let next = newest.map { $0 - Self.cursorOverlap.milliseconds }.map { max($0, since ?? $0) } ?? since
        return OrdersPage(lines: lines, cursor: next.map { EbayTimestamp.string(milliseconds: $0) })
    }

    /// An order's lines in our terms. A line is open unless it (or, when eBay gives no line
    /// status, its order) is `FULFILLED`, or the order is `CANCELED`.
    static func lines(of order: FulfillmentOrder) -> [OrderLine] {
        let cancelled = order.cancelState == "CANCELED"
        let destination = order.shipTo.flatMap { address -> Destination? in
            guard let postalCode = address.postalCode, let country = address.countryCode else { return nil }
            return Destination(postalCode: postalCode, country: country, region: address.stateOrProvince)
        }
        return order.lineItems.map { line in
            let fulfilled = (line.fulfillmentStatus ?? order.fulfillmentStatus) == "FULFILLED"
            return OrderLine(
                marketplace: .ebay, orderID: order.orderID, lineID: line.lineItemID, sku: line.sku ?? "", quantity: line.quantity,
                placedAt: order.creationDate, itemPrice: line.lineItemCost, shippingPaid: line.shippingCost, destination: destination,
                deliverBy: line.maxEstimatedDeliveryDate ?? order.maxEstimatedDeliveryDate, open: !fulfilled && !cancelled)
        }
    }
}
