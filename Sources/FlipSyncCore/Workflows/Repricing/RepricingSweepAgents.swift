import Logging

extension RepricingSweepPlan {
    // MARK: Agents

    struct ListingsReader: Agent {
        let plan: RepricingSweepPlan
        var name: String { "listings" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let marketplace = try plan.marketplace(try task.input(as: MarketplaceInput.self).marketplace.rawValue)
            // A channel reading offers one SKU a call (eBay) reads only those it remembers here;
            // the rest are pending until a decide task reads them (`OfferDeferringMarketplace`).
            let deferring = marketplace as? any OfferDeferringMarketplace
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            var count = 0, pending = 0
            if let deferring {
                // Written page by page as read, never held whole: the snapshot emptied first,
                // so a retried read starts it over.
                try plan.ledger.saveSweepListings([], sweep: sweep, marketplace: marketplace.name)
                try await deferring.sweepListingPages { page in
                    try plan.ledger.appendSweepListings(page, sweep: sweep, marketplace: marketplace.name)
                    count += page.count
                    pending += page.filter(\.offerPending).count
                }
            } else if let paged = marketplace as? any PagedListingsMarketplace {
                // Amazon: the same, a page of its listings read at a time.
                try plan.ledger.saveSweepListings([], sweep: sweep, marketplace: marketplace.name)
                try await paged.activeListingPages { page in
                    try plan.ledger.appendSweepListings(page, sweep: sweep, marketplace: marketplace.name)
                    count += page.count
                }
            } else {
                let listings = try await marketplace.activeListings()
                try plan.ledger.saveSweepListings(listings, sweep: sweep, marketplace: marketplace.name)
                count = listings.count
            }
            return TaskOutput(result: ["listings": count] as [String: Int],
                              summary: "\(count) active listings" + (pending == 0 ? "" : " (\(pending) with their offer still to read)"))
        }
    }

    struct CostReader: Agent {
        let plan: RepricingSweepPlan
        var name: String { "costs" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let name = try task.input(as: MarketplaceInput.self).marketplace
            guard let source = plan.costSources[name] else {
                throw TaskFailure.permanent("cost_source \(name.rawValue) cannot give unit costs (only a configured Shopify store can)")
            }
            let costs = try await source.unitCosts()
            try plan.ledger.saveUnitCosts(costs, source: name.rawValue, at: plan.clock.wallMilliseconds())
            return TaskOutput(result: ["costs": costs.count] as [String: Int], summary: "\(costs.count) unit costs from \(name.rawValue)")
        }
    }

    /// Records and journals (event `sweep-plan`) how one marketplace's part of the run was
    /// sized: listings taken of the snapshot, the bound that stopped it, the quota calls planned
    /// and left, the timeout's room. Its result keeps `limited_by` for the run's summary.
    struct PlanRecorder: Agent {
        var name: String { "plan" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let record = try task.input(as: SweepPlanRecord.self)
            var message = "\(record.marketplace.rawValue): checking \(record.selected) of \(record.listings) listings"
            if !record.limitedBy.isEmpty { message += "; limited by \(record.limitedBy)" }
            let calls = record.quotaCalls.map { "\($0.quota) \($0.planned)" + ($0.left.map { " of \($0) left" } ?? "") }
            if !calls.isEmpty { message += "; quota calls planned: " + calls.joined(separator: ", ") }
            if let t = record.timeout {
                message += "; timeout left \(t.timeout): \(t.requests) \(t.operation) requests "
                    + "(\(t.listings) listings) in \(RepricingSweepPlan.competitionShareOfTimeout)%"
            }
            if let o = record.offerReads {
                message += "; offers to read first: \(o.planned) \(o.operation)" + (o.room.map { " of \($0) that fit" } ?? "")
            }
            var metadata: Logger.Metadata = ["event": "sweep-plan"]
            for (key, value) in record.journalFields { metadata[key] = "\(value)" }
            context.logger.info("\(message)", metadata: metadata)
            return TaskOutput(result: SweepPlanResult(limitedBy: record.limitedBy, selected: record.selected, listings: record.listings),
                              summary: message)
        }
    }

    struct PriceDecider: Agent {
        let plan: RepricingSweepPlan
        var name: String { "decide" }

        /// A task's writes go behind it (`WriteBehind`): its decisions, the offers, searches and
        /// snapshot updates it remembers on the way, and its calls' spend rows are queued in the
        /// ledger's group commit as they come, and the task waits once, at its end, for all of
        /// them (a failed one fails the task). So its next call is never held by a commit, and
        /// a retried task still finds every group its failed attempt decided.
        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            try await WriteBehind.run { try await decideTask(task, context: context) }
        }

        func decideTask(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let input = try task.input(as: ListingsInput.self)
            let marketplace = try plan.marketplace(input.marketplace.rawValue)
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            // A task of several listings leaves out those its sweep has decided (in the same read):
            // a retried task decides only what its earlier attempts did not (each group is saved
            // as it is decided).
            let reads = input.skus.count > 1
                ? try await plan.ledger.undecidedInputs(sweep: sweep, marketplace: marketplace.name, skus: input.skus)
                : try await plan.ledger.decideInputs(sweep: sweep, marketplace: marketplace.name, skus: input.skus)
            var listings: [MarketplaceListing] = [], costs: [String: Money] = [:]
            for read in reads {
                guard let listing = read.listing else { throw TaskFailure.permanent("listing \(read.sku) is not in the sweep's snapshot") }
                listings.append(listing)
                if let cost = read.cost { costs[read.sku] = cost }
            }
            let refresh = input.refresh ?? false
            // Several competition groups (a channel packing them, eBay's `search_task_gtins`): one
            // after the other, each read, decided and saved before the next. A refresh task is one
            // group (its getItems calls are pooled across its listings), and so is every task of a
            // channel that does not pack (Amazon's 20 SKUs are one batch request).
            let groups = refresh || listings.count < 2 || marketplace.decideTaskGroups < 2
                ? [listings] : try marketplace.competitionGroups(listings, options: CompetitionOptions(titleMatches: false)).map(\.listings)
            var decided = GroupOutcome()
            for group in groups where !group.isEmpty {
                decided.add(try await decide(group, costs: costs, refresh: refresh, marketplace: marketplace, sweep: sweep))
            }
            let failures = decided.failures
            if !failures.isEmpty {
                context.logger.warning("\(failures.count) of \(listings.count) listings' competition could not be read",
                                       metadata: ["event": "competition-unreadable", "marketplace": "\(marketplace.name.rawValue)"])
            }
            if decided.records.isEmpty && !failures.isEmpty {
                throw TaskFailure.permanent("no competition could be read: " + failures.joined(separator: "; "))
            }
            if input.skus.count == 1, let record = decided.records.first {
                return TaskOutput(result: ListingDecided(state: record.state, reason: record.reason, oldMicros: record.oldPrice.micros,
                                                         newMicros: record.newPrice?.micros),
                                  summary: record.explanation)
            }
            let changing = decided.records.filter { $0.newPrice != nil }.count
            let unread = failures.isEmpty ? "" : "; not decided: " + failures.joined(separator: "; ")
            let earlier = input.skus.count - reads.count
            return TaskOutput(result: GroupDecided(decided: decided.records.count, changing: changing, unread: failures.count,
                                                   competitionReads: decided.reads),
                              summary: "\(decided.records.count) of \(listings.count) listings decided, \(changing) changing\(unread)"
                                + (earlier == 0 ? "" : " (\(earlier) decided by an earlier attempt)"))
        }

        /// What the groups of one task came to.
        struct GroupOutcome {
            var records: [PricingDecision] = []
            var failures: [String] = []
            var reads = 0

            mutating func add(_ other: GroupOutcome) {
                records += other.records
                failures += other.failures
                reads += other.reads
            }
        }

        /// One competition group: its competition read, its listings decided, and their
        /// decisions and coverage saved in one write.
        func decide(_ group: [MarketplaceListing], costs: [String: Money], refresh: Bool, marketplace: any Marketplace,
                    sweep: Int64) async throws -> GroupOutcome {
            let p = plan.parameters
            var listings = group
            // Competition is read (in one batch where the channel has one) only for listings that
            // can be repriced: an out-of-stock listing holds whatever the competition, and one
            // without a cost has no floor, so no call is spent on either. A pending listing's
            // quantity is its inventory item's, so this is known before its offer is.
            let toRead = listings.filter { costs[$0.sku] != nil && $0.quantity > 0 }
            // Title-only offers count only when the matcher accepts them: without one, the searches
            // that find nothing else are not made.
            let options = CompetitionOptions(titleMatches: p.llmMatching && plan.matcher != nil, memory: plan.competitors,
                                             refresh: refresh, now: plan.clock.wallMilliseconds())
            // Pending listings (their offer not known when the listings were read): their offers
            // are read at the same time as the competition (the channel's competition read needs
            // no offer: `OfferDeferringMarketplace`), so a task's calls overlap instead of
            // following each other; the completed listings are written into the snapshot. A SKU
            // without a published offer is not an active listing: it leaves the snapshot
            // undecided (its competition, read all the same, is not used), and its coverage is
            // stamped so it waits its turn like a checked listing instead of leading every run.
            let pending = listings.filter(\.offerPending)
            async let competitionReads = toRead.isEmpty ? [] : marketplace.competitions(for: toRead, options: options)
            var dropped: Set<String> = []
            if !pending.isEmpty {
                guard let deferring = marketplace as? any OfferDeferringMarketplace else {
                    throw TaskFailure.permanent("\(marketplace.name.rawValue) has listings without an offer id but cannot read offers")
                }
                let completed = try await deferring.completeListings(pending)
                guard completed.count == pending.count else {
                    throw TaskFailure.permanent("\(marketplace.name.rawValue) completed \(completed.count) of \(pending.count) listings")
                }
                var bySKU: [String: MarketplaceListing] = [:], withoutOffer: [String] = []
                for (listing, complete) in zip(pending, completed) {
                    if let complete { bySKU[listing.sku] = complete } else { withoutOffer.append(listing.sku) }
                }
                // Written before the competition is waited for: a task retried after its
                // competition read failed does not read these offers again.
                try await plan.ledger.updateSweepListings(Array(bySKU.values), removing: withoutOffer, sweep: sweep, marketplace: marketplace.name)
                if !withoutOffer.isEmpty {
                    try plan.ledger.markChecked(marketplace: marketplace.name, skus: withoutOffer, sweep: sweep,
                                                at: plan.clock.wallMilliseconds())
                    dropped = Set(withoutOffer)
                }
                listings = listings.compactMap { $0.offerPending ? bySKU[$0.sku] : $0 }
            }
            let lookups = try await competitionReads
            guard lookups.count == toRead.count else {
                throw TaskFailure.permanent("\(marketplace.name.rawValue) gave \(lookups.count) competition results for \(toRead.count) listings")
            }
            // A SKU found to have no published offer is not decided: its competition is dropped.
            let read = zip(toRead.map(\.sku), lookups).filter { !dropped.contains($0.0) }
            let found = Dictionary(read, uniquingKeysWith: { a, _ in a })
            var outcome = GroupOutcome()
            outcome.reads = read.count
            for listing in listings {
                var record: PricingDecision
                if let cost = costs[listing.sku] {
                    let competition: Competition
                    switch found[listing.sku] {
                    case .found(let read): competition = read
                    case .failed(let reason):
                        // That listing's part of the batch failed: it is left as it is, undecided.
                        outcome.failures.append("\(listing.sku): \(reason)")
                        continue
                    case nil: competition = Competition(offers: [])
                    }
                    let fees = plan.fees[marketplace.name] ?? MarketplaceFees(percent: Percent(partsPerMillion: 0), fixed: .zero(listing.price.currency))
                    let accepted = try await acceptedTitleMatches(listing, competition, p)
                    record = Repricer.decide(listing: listing, cost: cost, shippingCost: p.shippingCost ?? .zero(listing.price.currency),
                                                   fees: fees, parameters: p, competition: competition, acceptedTitleMatches: accepted)
                    if p.dryRun, record.state == .planned { record.state = .dryRun }
                } else {
                    // Never reprice without a floor, and the floor needs the cost.
                    record = PricingDecision(
                        sku: listing.sku, marketplace: marketplace.name, listingID: listing.listingID, oldPrice: listing.price, newPrice: nil,
                        floor: nil, ceiling: nil, lowestCompetitorLanded: nil, buyBox: nil, offersConsidered: 0, offersExcluded: [:],
                        strategy: p.strategy, reason: .noCost,
                        explanation: "no unit cost is known for \(listing.sku), so there is no floor; set cost_source or import costs")
                }
                outcome.records.append(record)
            }
            // The decisions and their coverage in one write.
            try await plan.ledger.saveDecisions(outcome.records, sweep: sweep, checkedAt: plan.clock.wallMilliseconds())
            return outcome
        }

        /// The title-only offers the matcher judges the same product, with confidence: only
        /// those that could count otherwise (not ours, same condition, enough feedback) are
        /// asked about, so no model is paid for an offer the filter would drop anyway.
        func acceptedTitleMatches(_ listing: MarketplaceListing, _ competition: Competition,
                                  _ p: RepricingSweep.Parameters) async throws -> Set<String> {
            guard p.llmMatching, let matcher = plan.matcher else { return [] }
            var accepted: Set<String> = []
            for offer in competition.offers where !offer.matchedByIdentifier && !offer.isOurs && offer.condition == listing.condition {
                guard let feedback = offer.sellerFeedback, feedback >= p.minSellerFeedback else { continue }
                let match = try await matcher.judge(listing, offer)
                if match.sameProduct && match.confidencePerMille >= RepricingSweepPlan.minimumMatchConfidence { accepted.insert(offer.offerID) }
            }
            return accepted
        }
    }

    /// A confident "same product" from the matcher is needed before a title-only offer counts.
    static let minimumMatchConfidence = 800

    /// Sends one batch of planned changes. With `bulk` (agent `apply-bulk`), the batch goes as
    /// one bulk submission of a `BulkApplyingMarketplace` (Amazon: one JSON_LISTINGS_FEED);
    /// its id is written on every decision in it (`BulkMarker`, still `sending`) before the
    /// outcome is waited for, so a resumed run waits for that submission instead of sending
    /// again. Decisions already in a pending submission are resolved from it, whatever the
    /// batch's agent.
    struct PriceApplier: Agent {
        let plan: RepricingSweepPlan
        var bulk = false
        var name: String { bulk ? "apply-bulk" : "apply" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let input = try task.input(as: ListingsInput.self)
            let marketplace = try plan.marketplace(input.marketplace.rawValue)
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            let decisions = try plan.ledger.decisions(sweep: sweep, marketplace: marketplace.name, skus: input.skus)
            var toSend = decisions.filter { $0.state == .planned }
            var reconciled = 0
            var tally = Tally()
            // Changes in a bulk submission made before an interruption: its outcome, never a resend.
            let pending = decisions.filter { $0.state == .sending && BulkMarker.parse($0.apiResult) != nil }
            if !pending.isEmpty {
                guard let channel = marketplace as? any BulkApplyingMarketplace else {
                    throw TaskFailure.permanent("\(marketplace.name.rawValue) has decisions in a bulk submission but cannot read one")
                }
                let bySubmission = Dictionary(grouping: pending, by: { BulkMarker.parse($0.apiResult)!.submission })
                for (submission, group) in bySubmission.sorted(by: { $0.key < $1.key }) {
                    let items = group.map { BulkItem(change: Self.change($0), messageID: BulkMarker.parse($0.apiResult)!.messageID) }
                    let results = try await ended(group.map(\.sku), marketplace.name, sweep) {
                        try await channel.bulkResults(submission: submission, items: items)
                    }
                    try await record(results, marketplace.name, sweep, &tally)
                }
            }
            let unsure = decisions.filter { $0.state == .sending && BulkMarker.parse($0.apiResult) == nil }
            if !unsure.isEmpty {
                // A submission the channel accepted just before a crash, its id never recorded,
                // may not be live yet: wait (within the run's time left) for every submission
                // made since the sweep began to end before the live prices are read.
                if let channel = marketplace as? any BulkApplyingMarketplace {
                    let now = plan.clock.wallMilliseconds()
                    let since = try plan.ledger.runStartedAt(runID: sweep) ?? plan.ledger.runStartedAt(runID: context.runID) ?? now
                    let started = try plan.ledger.runStartedAt(runID: context.runID) ?? now
                    let left = context.job.timeout.milliseconds - max(0, now - started)
                    let waited = try await channel.settleSubmissions(createdSince: since, within: TimeSpan(milliseconds: max(0, left)))
                    if !waited.isEmpty {
                        context.logger.notice("waited for \(marketplace.name.rawValue) submissions \(waited.joined(separator: ", ")) to end before checking live prices",
                                              metadata: ["event": "bulk-settled", "marketplace": "\(marketplace.name.rawValue)"])
                    }
                }
                // A call may have landed before a crash: the live price says whether it did. Read
                // from the channel, never from a remembered offer (which another reader may have
                // remembered from before the call landed).
                let live = try await marketplace.livePrices(skus: unsure.map(\.sku))
                for decision in unsure {
                    if let price = live[decision.sku]?.micros, price == decision.newPrice?.micros {
                        try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace.name, skus: [decision.sku], state: .applied,
                                                      results: [decision.sku: "already live (checked after an interrupted call)"])
                        reconciled += 1
                    } else {
                        toSend.append(decision)
                    }
                }
            }
            guard !toSend.isEmpty else {
                return output(sent: tally.sent, applied: tally.applied, failed: tally.failed, reconciled: reconciled,
                              summary: tally.sent == 0 ? "nothing left to send" : nil)
            }
            let changes = toSend.map(Self.change)
            // The intent first: after a crash from here on, the live price is checked before resending.
            try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace.name, skus: toSend.map(\.sku), state: .sending, results: [:])
            let results: [ListingChangeResult]
            if bulk, let channel = marketplace as? any BulkApplyingMarketplace {
                let ledger = plan.ledger, name = marketplace.name, skus = changes.map(\.sku)
                results = try await ended(skus, name, sweep) {
                    try await channel.applyInBulk(changes) { submission, messageIDs in
                        // Before waiting for the outcome: a resumed run asks for this submission's.
                        let inIt = messageIDs.filter { (1...skus.count).contains($0) }
                        let markers = Dictionary(inIt.map { (skus[$0 - 1], BulkMarker.text(submission: submission, messageID: $0)) },
                                                 uniquingKeysWith: { a, _ in a })
                        try await ledger.markDecisions(sweep: sweep, marketplace: name, skus: inIt.map { skus[$0 - 1] }, state: .sending,
                                                       results: markers)
                    }
                }
            } else {
                results = try await marketplace.apply(changes)
            }
            try await record(results, marketplace.name, sweep, &tally)
            if tally.failed > 0 {
                context.logger.warning("\(tally.failed) of \(tally.sent) price changes refused by \(marketplace.name.rawValue)",
                                       metadata: ["event": "price-update-refused", "marketplace": "\(marketplace.name.rawValue)"])
            }
            return output(sent: tally.sent, applied: tally.applied, failed: tally.failed, reconciled: reconciled, summary: nil)
        }

        struct Tally {
            var sent = 0, applied = 0, failed = 0
        }

        static func change(_ d: PricingDecision) -> ListingChange {
            ListingChange(sku: d.sku, listingID: d.listingID,
                          price: d.resultingPrice)
        }

        /// Runs a bulk call; when its submission ended without results, its decisions stay
        /// `sending` with the reason (no longer naming the submission, so a resumed run checks
        /// their live prices), and the error is rethrown.
        func ended(_ skus: [String], _ marketplace: MarketplaceName, _ sweep: Int64,
                   _ body: () async throws -> [ListingChangeResult]) async throws -> [ListingChangeResult] {
            do {
                return try await body()
            } catch let error as BulkSubmissionEnded {
                let text = "\(error.reason); nothing counted as applied, the live price is checked before sending again"
                try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace, skus: skus, state: .sending,
                                                    results: Dictionary(uniqueKeysWithValues: skus.map { ($0, text) }))
                throw error
            }
        }

        /// Marks each result's decision applied or failed, with the API's result.
        func record(_ results: [ListingChangeResult], _ marketplace: MarketplaceName, _ sweep: Int64, _ tally: inout Tally) async throws {
            var applied: [String] = [], failed: [String] = [], messages: [String: String] = [:]
            for result in results {
                switch result.outcome {
                case .applied:
                    applied.append(result.sku)
                    messages[result.sku] = "applied"
                case .failed(let message):
                    failed.append(result.sku)
                    messages[result.sku] = message
                }
            }
            try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace, skus: applied, state: .applied, results: messages)
            try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace, skus: failed, state: .failed, results: messages)
            tally.sent += results.count
            tally.applied += applied.count
            tally.failed += failed.count
        }

        func output(sent: Int, applied: Int, failed: Int, reconciled: Int, summary: String?) -> TaskOutput {
            TaskOutput(result: ApplyTally(sent: sent, applied: applied, failed: failed, reconciled: reconciled, bulk: bulk ? true : nil),
                       summary: summary ?? "\(applied) of \(sent) applied")
        }
    }
}
