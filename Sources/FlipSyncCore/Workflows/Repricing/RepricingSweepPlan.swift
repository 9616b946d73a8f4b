import Logging

/// A channel that knows what our items cost us (Shopify's inventory items carry `cost`).
public protocol UnitCostSource: Sendable {
    /// Unit cost by SKU, for every item the channel knows a cost of.
    func unitCosts() async throws -> [String: Money]
}

/// The repricing sweep as a run: three waves, so nothing is applied before everything is decided.
///
/// 1. `listings:<marketplace>` reads our active listings into the ledger (the sweep's snapshot),
///    and `costs` refreshes unit costs from the job's `cost_source`.
/// 2. `decide:<marketplace>:<sku>` (one listing) or `decide:<marketplace>:group-<n>` (the
///    listings the marketplace's `competitionGroups` reads together: 20 Amazon SKUs per
///    `getListingOffersBatch`) gathers the competition, decides each listing with `Repricer`
///    and records each decision (a row whatever the outcome: hold, planned, dry run). Only when
///    every task of wave 1 succeeded; a listing whose decision fails is left as it is.
/// 3. Unless the `CircuitBreaker` trips (then nothing is applied, every planned decision is
///    `blocked` and the run fails with the reason), `apply:<marketplace>:<n>` sends the planned
///    changes in batches of `batchSize`. Each decision is marked `sending` before its call and
///    `applied`/`failed` after; after a crash, a `sending` decision is checked against the live
///    price before anything is sent again, so no change is applied twice.
///
/// A resumed run continues the same sweep (its first run's id): tasks that succeeded are not
/// repeated, and the batches keep their keys because they are cut from the stored decisions.
public struct RepricingSweepPlan: WorkflowPlan {
    let marketplaces: [MarketplaceName: any Marketplace]
    let fees: [MarketplaceName: MarketplaceFees]
    let costSources: [MarketplaceName: any UnitCostSource]
    let ledger: any RepricingLedger
    let clock: any SchedulerClock
    let matcher: (any OfferMatcher)?
    let unavailable: [MarketplaceName: String]
    let batchSize: Int

    public init(marketplaces: [MarketplaceName: any Marketplace], fees: [MarketplaceName: MarketplaceFees],
                costSources: [MarketplaceName: any UnitCostSource], ledger: any RepricingLedger, clock: any SchedulerClock,
                matcher: (any OfferMatcher)? = nil, unavailable: [MarketplaceName: String] = [:], batchSize: Int = 25) {
        self.matcher = matcher
        self.unavailable = unavailable
        self.marketplaces = marketplaces
        self.fees = fees
        self.costSources = costSources
        self.ledger = ledger
        self.clock = clock
        self.batchSize = max(1, batchSize)
    }

    static func parameters(_ job: JobDefinition) throws -> RepricingSweep.Parameters {
        guard case .repricingSweep(let p) = job.parameters else {
            throw TaskFailure.permanent("job \(job.name) is not a repricing sweep")
        }
        return p
    }

    public func tasks(for job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        let p = try Self.parameters(job)
        var tasks = p.marketplaces.map { PlannedTask(key: "listings:\($0.value.rawValue)", agent: "listings", input: $0.value.rawValue) }
        if let source = p.costSource { tasks.insert(PlannedTask(key: "costs", agent: "costs", input: source.rawValue), at: 0) }
        return tasks
    }

    public func followUp(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        let p = try Self.parameters(job)
        let sweep = try ledger.sweepID(ofRun: runID)
        if !tasks.contains(where: { $0.key.hasPrefix("decide:") }) {
            // Without every listing and the costs, deciding on half the inputs is worse than not deciding.
            guard !tasks.contains(where: { $0.status != .succeeded }) else { return [] }
            var next: [PlannedTask] = []
            for marketplace in p.marketplaces.map(\.value) {
                let listings = try Self.selected(try ledger.sweepListings(sweep: sweep, marketplace: marketplace),
                                                 coverage: try ledger.coverage(marketplace: marketplace), sweep: sweep,
                                                 max: p.maxListingsPerRun)
                // Listings whose competition is read together are decided by one task; alone,
                // a listing's task is keyed by its SKU. Groups are cut from the stored snapshot
                // (SKU order), so a resumed sweep cuts the same ones.
                let groups = (try? self.marketplace(marketplace.rawValue))?.competitionGroups(listings) ?? listings.map { [$0] }
                for (index, group) in groups.enumerated() where !group.isEmpty {
                    let key = group.count == 1 ? "decide:\(marketplace.rawValue):\(group[0].sku)"
                                               : "decide:\(marketplace.rawValue):group-\(index + 1)"
                    next.append(PlannedTask(key: key, agent: "decide",
                                            input: ([marketplace.rawValue] + group.map(\.sku)).joined(separator: "\n")))
                }
            }
            return next
        }
        guard !tasks.contains(where: { $0.key.hasPrefix("apply:") }), !p.dryRun else { return [] }
        let decisions = try ledger.decisions(sweep: sweep)
        if let trip = CircuitBreaker.evaluate(records: decisions, share: p.breakerShare, drop: p.breakerDrop) {
            for (marketplace, group) in Dictionary(grouping: decisions.filter { $0.state == .planned }, by: \.marketplace) {
                try await ledger.markDecisions(sweep: sweep, marketplace: marketplace, skus: group.map(\.sku), state: .blocked, results: [:])
            }
            throw TaskFailure.permanent("\(trip); nothing was applied")
        }
        return Self.batches(of: decisions, size: batchSize)
    }

    /// The listings this sweep checks, in SKU order: all of them, or with `max` the `max` that
    /// were never checked first, then those checked longest ago, then by SKU. Listings this
    /// sweep already checked (before a resume) come first, so a resumed sweep selects what it
    /// selected before. The rest are carried to the next run, where they are older than any
    /// listing checked now: every listing is checked within ⌈listings / max⌉ runs.
    static func selected(_ listings: [MarketplaceListing], coverage: [String: ListingCoverage], sweep: Int64,
                         max: Int?) -> [MarketplaceListing] {
        guard let max, listings.count > max else { return listings }
        let ordered = listings.sorted { a, b in
            func rank(_ l: MarketplaceListing) -> (Int, Int64, String) {
                guard let c = coverage[l.sku] else { return (1, 0, l.sku) }
                return c.sweep == sweep ? (0, 0, l.sku) : (2, c.lastChecked, l.sku)
            }
            return rank(a) < rank(b)
        }
        return ordered.prefix(max).sorted { $0.sku < $1.sku }
    }

    /// "checked N of M listings; K carried to the next run; oldest unchecked: D nights" over the
    /// sweep's snapshot and decisions (a listing is checked when it has a decision).
    func coverageSummary(sweep: Int64, marketplaces: [MarketplaceName], decisions: [DecisionRecord]) -> String? {
        let decided = Set(decisions.map { "\($0.marketplace.rawValue)/\($0.sku)" })
        var total = 0, checked = 0, never = 0
        var oldest: Int64?
        for marketplace in marketplaces {
            guard let listings = try? ledger.sweepListings(sweep: sweep, marketplace: marketplace),
                  let coverage = try? ledger.coverage(marketplace: marketplace) else { return nil }
            total += listings.count
            for listing in listings {
                if decided.contains("\(marketplace.rawValue)/\(listing.sku)") { checked += 1; continue }
                if let c = coverage[listing.sku] { oldest = Swift.min(oldest ?? c.lastChecked, c.lastChecked) } else { never += 1 }
            }
        }
        let carried = total - checked
        var text = "checked \(checked) of \(total) listings; \(carried) carried to the next run"
        if never > 0 {
            text += "; oldest unchecked: never checked (\(never))"
        } else if let oldest {
            let nights = Swift.max(0, (clock.wallMilliseconds() - oldest) / 86_400_000)
            text += "; oldest unchecked: \(nights) night\(nights == 1 ? "" : "s")"
        }
        return text
    }

    /// The apply tasks: every decision with a new price, by marketplace and SKU, cut into batches.
    /// Decisions already applied stay in their batch, so a resumed sweep cuts the same batches.
    static func batches(of decisions: [DecisionRecord], size: Int) -> [PlannedTask] {
        let changing = decisions.filter { [.planned, .sending, .applied, .failed].contains($0.state) }
        var tasks: [PlannedTask] = []
        for (marketplace, group) in Dictionary(grouping: changing, by: \.marketplace).sorted(by: { $0.key < $1.key }) {
            let skus = group.map(\.sku).sorted()
            for (index, start) in stride(from: 0, to: skus.count, by: size).enumerated() {
                let batch = skus[start..<min(start + size, skus.count)]
                tasks.append(PlannedTask(key: "apply:\(marketplace.rawValue):\(index + 1)", agent: "apply",
                                         input: ([marketplace.rawValue] + batch).joined(separator: "\n")))
            }
        }
        return tasks
    }

    public func agent(named name: String) -> (any Agent)? {
        switch name {
        case "listings": return ListingsReader(plan: self)
        case "costs": return CostReader(plan: self)
        case "decide": return PriceDecider(plan: self)
        case "apply": return PriceApplier(plan: self)
        default: return nil
        }
    }

    public func summarize(_ tasks: [TaskInfo]) -> String {
        guard let runID = tasks.first?.runID, let sweep = try? ledger.sweepID(ofRun: runID),
              let decisions = try? ledger.decisions(sweep: sweep), !decisions.isEmpty else {
            let failed = tasks.filter { $0.status == .failed }.count
            return "\(tasks.count) task\(tasks.count == 1 ? "" : "s"), \(failed) failed, no decisions"
        }
        let byState = Dictionary(grouping: decisions, by: \.state).mapValues(\.count)
        let order: [DecisionRecord.State] = [.applied, .failed, .sending, .planned, .dryRun, .blocked, .hold]
        let parts = order.compactMap { state in byState[state].map { "\($0) \(state.rawValue)" } }
        let marketplaces = tasks.compactMap { $0.key.hasPrefix("listings:") ? MarketplaceName(rawValue: String($0.key.dropFirst(9))) : nil }
        let coverage = coverageSummary(sweep: sweep, marketplaces: marketplaces, decisions: decisions)
        return "\(decisions.count) listings decided: " + parts.joined(separator: ", ") + (coverage.map { "; " + $0 } ?? "")
    }

    func marketplace(_ name: String) throws -> any Marketplace {
        try MarketplaceClients(clients: marketplaces, unavailable: unavailable).client(name)
    }

    // MARK: Agents

    struct ListingsReader: Agent {
        let plan: RepricingSweepPlan
        var name: String { "listings" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let marketplace = try plan.marketplace(task.input)
            let listings = try await marketplace.activeListings()
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            try plan.ledger.saveSweepListings(listings, sweep: sweep, marketplace: marketplace.name)
            return TaskOutput(result: "{\"listings\":\(listings.count)}", summary: "\(listings.count) active listings")
        }
    }

    struct CostReader: Agent {
        let plan: RepricingSweepPlan
        var name: String { "costs" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            guard let name = MarketplaceName(rawValue: task.input), let source = plan.costSources[name] else {
                throw TaskFailure.permanent("cost_source \(task.input) cannot give unit costs (only a configured Shopify store can)")
            }
            let costs = try await source.unitCosts()
            try plan.ledger.saveUnitCosts(costs, source: name.rawValue, at: plan.clock.wallMilliseconds())
            return TaskOutput(result: "{\"costs\":\(costs.count)}", summary: "\(costs.count) unit costs from \(name.rawValue)")
        }
    }

    struct PriceDecider: Agent {
        let plan: RepricingSweepPlan
        var name: String { "decide" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let lines = task.input.split(separator: "\n").map(String.init)
            guard lines.count >= 2 else { throw TaskFailure.permanent("malformed decide task input") }
            let marketplace = try plan.marketplace(lines[0])
            let p = try RepricingSweepPlan.parameters(context.job)
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            var listings: [MarketplaceListing] = [], costs: [String: Money] = [:]
            for sku in lines.dropFirst() {
                guard let listing = try plan.ledger.sweepListing(sweep: sweep, marketplace: marketplace.name, sku: sku) else {
                    throw TaskFailure.permanent("listing \(sku) is not in the sweep's snapshot")
                }
                listings.append(listing)
                if let cost = try plan.ledger.unitCost(sku: sku) { costs[sku] = cost }
            }
            // Competition is read (in one batch where the channel has one) only for listings that
            // can be repriced: an out-of-stock listing holds whatever the competition, and one
            // without a cost has no floor, so no call is spent on either.
            let toRead = listings.filter { costs[$0.sku] != nil && $0.quantity > 0 }
            // Title-only offers count only when the matcher accepts them: without one, the searches
            // that find nothing else are not made.
            let lookups = toRead.isEmpty ? [] : try await marketplace.competitions(for: toRead, titleMatches: p.llmMatching && plan.matcher != nil)
            guard lookups.count == toRead.count else {
                throw TaskFailure.permanent("\(marketplace.name.rawValue) gave \(lookups.count) competition results for \(toRead.count) listings")
            }
            let found = Dictionary(zip(toRead.map(\.sku), lookups), uniquingKeysWith: { a, _ in a })
            var records: [DecisionRecord] = [], failures: [String] = []
            for listing in listings {
                let record: DecisionRecord
                if let cost = costs[listing.sku] {
                    let competition: Competition
                    switch found[listing.sku] {
                    case .found(let read): competition = read
                    case .failed(let reason):
                        // That listing's part of the batch failed: it is left as it is, undecided.
                        failures.append("\(listing.sku): \(reason)")
                        continue
                    case nil: competition = Competition(offers: [])
                    }
                    let fees = plan.fees[marketplace.name] ?? MarketplaceFees(percent: Percent(partsPerMillion: 0), fixed: .zero(listing.price.currency))
                    let accepted = try await acceptedTitleMatches(listing, competition, p)
                    let decision = Repricer.decide(listing: listing, cost: cost, shippingCost: p.shippingCost ?? .zero(listing.price.currency),
                                                   fees: fees, parameters: p, competition: competition, acceptedTitleMatches: accepted)
                    record = DecisionRecord(decision, dryRun: p.dryRun)
                } else {
                    // Never reprice without a floor, and the floor needs the cost.
                    record = DecisionRecord(
                        marketplace: marketplace.name, sku: listing.sku, listingID: listing.listingID, currency: listing.price.currency.code,
                        oldPriceMicros: listing.price.micros, newPriceMicros: nil, floorMicros: nil, ceilingMicros: nil,
                        lowestCompetitorMicros: nil, buyBoxMicros: nil, offersConsidered: 0, offersExcluded: [:],
                        strategy: p.strategy.rawValue, reasonCode: "no-cost",
                        reason: "no unit cost is known for \(listing.sku), so there is no floor; set cost_source or import costs", state: .hold)
                }
                try await plan.ledger.saveDecision(record, sweep: sweep)
                records.append(record)
            }
            try plan.ledger.markChecked(marketplace: marketplace.name, skus: records.map(\.sku), sweep: sweep,
                                        at: plan.clock.wallMilliseconds())
            if !failures.isEmpty {
                context.logger.warning("\(failures.count) of \(listings.count) listings' competition could not be read",
                                       metadata: ["event": "competition-unreadable", "marketplace": "\(marketplace.name.rawValue)"])
            }
            if records.isEmpty && !failures.isEmpty {
                throw TaskFailure.permanent("no competition could be read: " + failures.joined(separator: "; "))
            }
            if listings.count == 1, let record = records.first {
                let new = record.newPriceMicros.map { String($0) } ?? "null"
                return TaskOutput(result: "{\"state\":\(JSON.string(record.state.rawValue)),\"reason\":\(JSON.string(record.reasonCode)),"
                                    + "\"old_micros\":\(record.oldPriceMicros),\"new_micros\":\(new)}",
                                  summary: record.reason)
            }
            let changing = records.filter { $0.newPriceMicros != nil }.count
            let unread = failures.isEmpty ? "" : "; not decided: " + failures.joined(separator: "; ")
            return TaskOutput(result: "{\"decided\":\(records.count),\"changing\":\(changing),\"unread\":\(failures.count),"
                                + "\"competition_reads\":\(toRead.count)}",
                              summary: "\(records.count) of \(listings.count) listings decided, \(changing) changing\(unread)")
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

    struct PriceApplier: Agent {
        let plan: RepricingSweepPlan
        var name: String { "apply" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let lines = task.input.split(separator: "\n").map(String.init)
            guard let first = lines.first else { throw TaskFailure.permanent("malformed apply task input") }
            let marketplace = try plan.marketplace(first)
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            let decisions = try plan.ledger.decisions(sweep: sweep, marketplace: marketplace.name, skus: Array(lines.dropFirst()))
            var toSend = decisions.filter { $0.state == .planned }
            var reconciled = 0
            let unsure = decisions.filter { $0.state == .sending }
            if !unsure.isEmpty {
                // A call may have landed before a crash: the live price says whether it did.
                let live = Dictionary(try await marketplace.activeListings().map { ($0.sku, $0.price.micros) }, uniquingKeysWith: { a, _ in a })
                for decision in unsure {
                    if let price = live[decision.sku], price == decision.newPriceMicros {
                        try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace.name, skus: [decision.sku], state: .applied,
                                                      results: [decision.sku: "already live (checked after an interrupted call)"])
                        reconciled += 1
                    } else {
                        toSend.append(decision)
                    }
                }
            }
            guard !toSend.isEmpty else {
                return TaskOutput(result: "{\"sent\":0,\"reconciled\":\(reconciled)}", summary: "nothing left to send")
            }
            let changes = toSend.map { d in
                ListingChange(sku: d.sku, listingID: d.listingID,
                              price: Money(micros: d.newPriceMicros ?? d.oldPriceMicros, currency: Currency(code: d.currency) ?? .usd))
            }
            // The intent first: after a crash from here on, the live price is checked before resending.
            try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace.name, skus: toSend.map(\.sku), state: .sending, results: [:])
            let results = try await marketplace.apply(changes)
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
            try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace.name, skus: applied, state: .applied, results: messages)
            try await plan.ledger.markDecisions(sweep: sweep, marketplace: marketplace.name, skus: failed, state: .failed, results: messages)
            if !failed.isEmpty {
                context.logger.warning("\(failed.count) of \(changes.count) price changes refused by \(marketplace.name.rawValue)",
                                       metadata: ["event": "price-update-refused", "marketplace": "\(marketplace.name.rawValue)"])
            }
            return TaskOutput(result: "{\"sent\":\(changes.count),\"applied\":\(applied.count),\"failed\":\(failed.count),\"reconciled\":\(reconciled)}",
                              summary: "\(applied.count) of \(changes.count) applied")
        }
    }
}

extension DecisionRecord {
    /// The row for a decision: planned when it changes the price (or dry-run), hold otherwise.
    init(_ d: PricingDecision, dryRun: Bool) {
        self.init(marketplace: d.marketplace, sku: d.sku, listingID: d.listingID, currency: d.oldPrice.currency.code,
                  oldPriceMicros: d.oldPrice.micros, newPriceMicros: d.newPrice?.micros, floorMicros: d.floor?.price.micros,
                  ceilingMicros: d.ceiling?.price.micros, lowestCompetitorMicros: d.lowestCompetitorLanded?.micros,
                  buyBoxMicros: d.buyBox?.micros, offersConsidered: d.offersConsidered,
                  offersExcluded: Dictionary(uniqueKeysWithValues: d.offersExcluded.map { ($0.key.rawValue, $0.value) }),
                  strategy: d.strategy.rawValue, reasonCode: d.reason.rawValue, reason: d.explanation,
                  state: d.newPrice == nil ? .hold : (dryRun ? .dryRun : .planned),
                  shippingChargedMicros: d.shippingCharged?.micros)
    }
}

extension CircuitBreaker {
    /// The breaker over recorded decisions (a resumed sweep has no decisions in memory).
    static func evaluate(records: [DecisionRecord], share: Percent, drop: Percent) -> Trip? {
        let decisions = records.map { r in
            let currency = Currency(code: r.currency) ?? .usd
            return PricingDecision(
                sku: r.sku, marketplace: r.marketplace, listingID: r.listingID, oldPrice: Money(micros: r.oldPriceMicros, currency: currency),
                newPrice: r.newPriceMicros.map { Money(micros: $0, currency: currency) }, floor: nil, ceiling: nil,
                lowestCompetitorLanded: nil, buyBox: nil, offersConsidered: r.offersConsidered, offersExcluded: [:],
                strategy: RepricingSweep.Strategy(rawValue: r.strategy) ?? .beatLowest,
                reason: PricingDecision.Reason(rawValue: r.reasonCode) ?? .unchanged, explanation: r.reason)
        }
        return evaluate(decisions: decisions, share: share, drop: drop)
    }
}
