import Logging

/// Pulls one channel's order lines since its cursor and applies them (`orders:<mp>`,
/// `recheck:<mp>`); on the stock source it first seeds SKUs that have no on-hand yet.
/// Input: the marketplace's name. Safe to repeat: lines already applied are ignored.
struct OrderPull: Agent {
    static let name = "sync-orders"
    let parameters: MarketplaceSync.Parameters
    let channels: MarketplaceClients
    let ledger: any SyncLedger
    var name: String { Self.name }

    func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
        let client = try channels.client(try task.input(as: MarketplaceInput.self).marketplace.rawValue)
        var counts = SyncCounts()
        if client.name == parameters.stockSource {
            let live = try await client.activeListings()
            counts.seeded = try SyncSteps.seed(live, ledger: ledger, source: client.name, context: context)
        }
        counts.add(try await SyncSteps.pullOrders(client, ledger: ledger, context: context))
        return TaskOutput(result: counts, summary: "\(client.name.rawValue): \(counts.applied) new order lines, "
                          + "\(counts.duplicates) already applied, \(counts.oversells) oversold")
    }
}

/// Brings one channel's listings to what on-hand stock allows (`push:<mp>`, `repush:<mp>`).
/// Input: `PushInput`. Safe to repeat: it compares with live quantities first and sends only
/// what differs, so a change that landed before a crash is not sent again.
struct Push: Agent {
    static let name = "sync-push"
    let parameters: MarketplaceSync.Parameters
    let channels: MarketplaceClients
    let ledger: any SyncLedger
    /// Changes per `apply`; nil: the channel's `pushBatchSize`.
    let batchSize: Int?
    var name: String { Self.name }

    func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
        let input = try task.input(as: PushInput.self)
        let client = try channels.client(input.marketplace.rawValue)
        var counts = SyncCounts()
        // Live first, then this channel's orders: every sale the live quantities already show is
        // then in on-hand, so a target above live is never a unit this channel has sold.
        let live = try await client.activeListings()
        if client.name == parameters.stockSource {
            counts.seeded = try SyncSteps.seed(live, ledger: ledger, source: client.name, context: context)
        }
        counts.add(try await SyncSteps.pullOrders(client, ledger: ledger, context: context))

        var sourcePrices: [String: Money] = [:]
        if parameters.pushPrice, let source = parameters.priceSource, source != client.name {
            let sourceClient = try channels.client(source.rawValue)
            for listing in try await sourceClient.activeListings() { sourcePrices[listing.sku] = listing.price }
        }
        let onHand = try ledger.onHand()
        let expected = try ledger.expectedQuantities(marketplace: client.name)
        let raiseAllowed = parameters.correctDrift && !input.lowerOnly
        var plan = PushPlan(marketplace: client.name, observed: [:], drift: [], intents: [], dryRun: parameters.dryRun)
        for listing in live.sorted(by: { $0.sku < $1.sku }) {
            counts.seen += 1
            plan.observed[listing.sku] = listing.quantity
            guard let stock = onHand[listing.sku] else {
                counts.unknown += 1
                continue
            }
            let target = max(0, stock - parameters.safetyStock)
            if let expectedQuantity = expected[listing.sku], listing.quantity != expectedQuantity, listing.quantity != target {
                plan.drift.append(Drift(sku: listing.sku, live: listing.quantity, expected: expectedQuantity, target: target))
            }
            var change = ListingChange(sku: listing.sku, listingID: listing.listingID)
            if listing.quantity > target || (listing.quantity < target && raiseAllowed) { change.quantity = target }
            if let price = sourcePrices[listing.sku], price.currency == listing.price.currency, price != listing.price {
                change.price = price
            }
            if change.quantity != nil || change.price != nil {
                plan.intents.append(PushIntent(change: change, liveQuantity: listing.quantity, livePrice: listing.price))
            }
        }
        counts.drift = plan.drift.count
        counts.planned = plan.intents.count
        for drift in plan.drift {
            context.logger.warning("\(client.name.rawValue) lists \(drift.live) of \(drift.sku), expected \(drift.expected), target \(drift.target)",
                                   metadata: ["event": "drift", "marketplace": "\(client.name.rawValue)", "sku": "\(drift.sku)",
                                              "live": "\(drift.live)", "expected": "\(drift.expected)", "target": "\(drift.target)"])
        }
        try ledger.recordPlan(plan, job: context.job.name, runID: context.runID, at: context.clock.wallMilliseconds())

        if parameters.dryRun {
            let results = plan.intents.map { PushResult(sku: $0.change.sku, quantity: $0.change.quantity, outcome: .notSent) }
            try ledger.recordResults(results, marketplace: client.name, runID: context.runID, at: context.clock.wallMilliseconds())
        } else {
            var start = 0
            let batchSize = max(1, self.batchSize ?? client.pushBatchSize)
            while start < plan.intents.count {
                try Task.checkCancellation()
                let batch = Array(plan.intents[start..<min(start + batchSize, plan.intents.count)].map(\.change))
                start += batch.count
                let answers = try await client.apply(batch)
                let results = zip(batch, answers).map { change, answer -> PushResult in
                    switch answer.outcome {
                    case .applied: return PushResult(sku: change.sku, quantity: change.quantity, outcome: .applied)
                    case .failed(let reason): return PushResult(sku: change.sku, quantity: change.quantity, outcome: .failed(reason))
                    }
                }
                try ledger.recordResults(results, marketplace: client.name, runID: context.runID, at: context.clock.wallMilliseconds())
                for result in results {
                    if case .failed(let reason) = result.outcome {
                        counts.failed += 1
                        context.logger.warning("\(client.name.rawValue) refused the change to \(result.sku): \(reason)",
                                               metadata: ["event": "push-failed", "marketplace": "\(client.name.rawValue)",
                                                          "sku": "\(result.sku)"])
                    } else {
                        counts.pushed += 1
                    }
                }
            }
        }
        var summary = "\(client.name.rawValue): \(counts.seen) listings, \(counts.drift) drifted, "
        summary += parameters.dryRun ? "\(counts.planned) changes not sent (dry run)" : "\(counts.pushed) pushed, \(counts.failed) refused"
        return TaskOutput(result: counts, summary: summary)
    }
}

/// Steps the sync's agents share.
enum SyncSteps {
    /// Seeds on-hand from the stock source's live listings for SKUs seen for the first time.
    static func seed(_ live: [MarketplaceListing], ledger: any SyncLedger, source: MarketplaceName, context: AgentContext) throws -> Int {
        var quantities: [String: Int] = [:]
        for listing in live { quantities[listing.sku] = listing.quantity }
        let seeded = try ledger.seed(quantities, from: source, at: context.clock.wallMilliseconds())
        if !seeded.isEmpty {
            context.logger.notice("on-hand seeded for \(seeded.count) SKUs from \(source.rawValue)",
                                  metadata: ["event": "stock-seeded", "marketplace": "\(source.rawValue)"])
        }
        return seeded.count
    }

    /// One channel's order lines since its cursor, applied with the new cursor in one step.
    static func pullOrders(_ client: any Marketplace, ledger: any SyncLedger, context: AgentContext) async throws -> SyncCounts {
        let job = context.job.name
        let page = try await client.orders(since: try ledger.cursor(job: job, marketplace: client.name)).checked()
        let applied = try ledger.applyOrders(page, job: job, marketplace: client.name, runID: context.runID,
                                             at: context.clock.wallMilliseconds())
        for oversell in applied.oversells {
            context.logger.error(
                "\(oversell.marketplace.rawValue) order \(oversell.orderID) sold \(oversell.ordered) of \(oversell.sku) with \(oversell.onHand) on hand",
                metadata: ["event": "oversell", "marketplace": "\(oversell.marketplace.rawValue)", "order": "\(oversell.orderID)",
                           "line": "\(oversell.lineID)", "sku": "\(oversell.sku)", "ordered": "\(oversell.ordered)",
                           "on_hand": "\(oversell.onHand)"])
        }
        var counts = SyncCounts()
        counts.applied = applied.applied
        counts.duplicates = applied.duplicates
        counts.oversells = applied.oversells.count
        return counts
    }
}
