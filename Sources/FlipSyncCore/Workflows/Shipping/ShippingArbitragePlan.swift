/// Shipping arbitrage as a run: two waves.
///
/// 1. `packaging` imports the job's packaging file into the ledger (the file is the table), and
///    `orders:<marketplace>` reads the order lines created since the (job, marketplace) cursor
///    and records the open ones as pending, moving the cursor in the same transaction.
/// 2. `quote:<marketplace>:<order>:<line>` for every pending line of the job (this run's and
///    any an earlier run could not finish), once the packaging was imported: the box from the
///    packaging table (one box per unit), quotes from every configured shopper of the job's
///    `rate_sources` to the line's real destination (each quote a row, saved as each source
///    answers), then the line's one recommendation: the cheapest quote that arrives by the
///    promised date, with the margin against the buyer's shipping payment and the saving
///    against the default service. A line without packaging data, destination or SKU is
///    recorded `skipped` with the reason, never guessed.
///
/// With `include_listings`, the same waves judge active listings' shipping settings:
/// `listings:<marketplace>` (wave 1) reads them and records them for the sweep (the first run of
/// a chain of resumes), and `listing:<marketplace>:<listing>` (wave 2) quotes the SKU's box to
/// every `listing_destinations` entry and records one row per destination and the listing's
/// verdict at its worst destination (`ListingShippingJudgement`). A listing with a verdict is
/// done for the sweep, so a resumed run neither quotes nor counts it again.
///
/// Quotes from an API are paid calls that reserve their cost first: a budget that cannot afford
/// one throws `TaskFailure.budgetExhausted`, which ends the run `budget_exhausted` with the rows
/// recorded so far; the lines left pending are quoted by the next run. Nothing is ever bought.
public struct ShippingArbitragePlan: WorkflowPlan {
    /// The job's `[params]`: the plan is built for one job's parameters.
    let parameters: ShippingArbitrage.Parameters
    let marketplaces: [MarketplaceName: any Marketplace]
    let shoppers: [String: any RateShopper]
    let ledger: any ShippingLedger
    let clock: any SchedulerClock
    let currency: Currency
    let unavailable: [MarketplaceName: String]

    /// `shoppers` by name (`easypost`, `rate-cards`); `currency` is the config's, the only one
    /// whose quotes and payments are compared.
    public init(parameters: ShippingArbitrage.Parameters, marketplaces: [MarketplaceName: any Marketplace],
                shoppers: [String: any RateShopper], ledger: any ShippingLedger,
                clock: any SchedulerClock, currency: Currency, unavailable: [MarketplaceName: String] = [:]) {
        self.parameters = parameters
        self.marketplaces = marketplaces
        self.shoppers = shoppers
        self.ledger = ledger
        self.clock = clock
        self.currency = currency
        self.unavailable = unavailable
    }

    /// The shoppers for the job's rate sources, by name; every source must have one.
    func shoppers(for p: ShippingArbitrage.Parameters) throws -> [any RateShopper] {
        var chosen: [any RateShopper] = []
        for source in p.rateSources {
            let matching = shoppers.values.filter { $0.kind == source }.sorted { $0.name < $1.name }
            guard !matching.isEmpty else {
                throw TaskFailure.permanent(source == .api
                    ? "rate source \"api\" has no rate-shopping API: configure [carriers.easypost] with its api_key credential"
                    : "rate source \"rate-cards\" has no rate cards configured")
            }
            chosen += matching
        }
        return chosen
    }

    public func tasks(for job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        let p = parameters
        _ = try shoppers(for: p)
        let listings = p.includeListings
            ? p.marketplaces.map {
                PlannedTask(key: "listings:\($0.value.rawValue)", agent: "listings", input: MarketplaceInput(marketplace: $0.value))
            } : []
        return [PlannedTask(key: "packaging", agent: "packaging", input: PackagingInput(path: p.packaging.value))]
            + p.marketplaces.map { PlannedTask(key: "orders:\($0.value.rawValue)", agent: "orders", input: MarketplaceInput(marketplace: $0.value)) }
            + listings
    }

    public func followUp(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        guard !tasks.contains(where: { $0.key.hasPrefix("quote:") || $0.key.hasPrefix("listing:") }) else { return [] }
        // Without the packaging table every line would be skipped for want of data it may have.
        guard tasks.contains(where: { $0.key == "packaging" && $0.status == .succeeded }) else { return [] }
        let p = parameters
        let wanted = Set(p.marketplaces.map(\.value))
        let lines = try ledger.pendingLines(job: job.name).filter { wanted.contains($0.marketplace) }.map { line in
            PlannedTask(key: "quote:\(line.marketplace.rawValue):\(line.orderID):\(line.lineID)", agent: "quote",
                        input: OrderLineInput(marketplace: line.marketplace, orderID: line.orderID, lineID: line.lineID))
        }
        guard p.includeListings else { return lines }
        let listings = try ledger.unjudgedListings(sweep: ledger.sweepID(ofRun: runID)).filter { wanted.contains($0.marketplace) }
        return lines + listings.map { listing in
            PlannedTask(key: "listing:\(listing.marketplace.rawValue):\(listing.listingID)", agent: "listing",
                        input: ListingInput(marketplace: listing.marketplace, listingID: listing.listingID))
        }
    }

    /// In a cluster on a shared ledger, every task but `packaging` runs on whichever node
    /// claims it: orders and listings are read into the shared ledger, and each line's quote
    /// and each listing's judgement reads its line or listing and the packaging sizes from
    /// there and writes its rows (upserts, so a repeat replaces them). `packaging` reads a file
    /// on the run's own node.
    public var distributedAgents: Set<String> { ["orders", "listings", "quote", "listing"] }

    public func agent(named name: String) -> (any Agent)? {
        switch name {
        case "packaging": return PackagingImporter(plan: self)
        case "orders": return OrdersReader(plan: self)
        case "quote": return LineQuoter(plan: self)
        case "listings": return ListingsReader(plan: self)
        case "listing": return ListingJudge(plan: self)
        default: return nil
        }
    }

    /// Lines decided by status, total saving against the default service (actionable ones), and
    /// the lines whose buyer-paid shipping does not cover their cheapest adequate label (at most
    /// 20 named, worst first, "N of M shown"; `ShippingRunSummary`); then, when listings were
    /// judged, the sweep's listings the same way (`ListingShippingSummary`).
    public func summarize(_ tasks: [TaskInfo]) -> String {
        let failed = tasks.filter { $0.status == .failed }.count
        var text = "\(tasks.count) task\(tasks.count == 1 ? "" : "s"), \(failed) failed, no lines decided"
        if let runID = tasks.first?.runID, let rows = try? ledger.shippingRecommendations(runID: runID), !rows.isEmpty {
            text = ShippingRunSummary(rows, currency: currency, runID: runID).text
        }
        if tasks.contains(where: { $0.key.hasPrefix("listings:") }), let runID = tasks.first?.runID,
           let verdicts = try? ledger.listingVerdicts(sweep: ledger.sweepID(ofRun: runID)) {
            text += "; " + ListingShippingSummary(verdicts, currency: currency, runID: runID).text
        }
        return text
    }

    func marketplace(_ name: String) throws -> any Marketplace {
        try MarketplaceClients(clients: marketplaces, unavailable: unavailable).client(name)
    }

    // MARK: Agents

    struct PackagingImporter: Agent {
        let plan: ShippingArbitragePlan
        var name: String { "packaging" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let p = plan.parameters
            let path = try task.input(as: PackagingInput.self).path
            let bytes: [UInt8]
            switch FileSystem.readFile(path, limit: 16 << 20) {
            case .success(let read): bytes = read
            case .failure(let error):
                throw TaskFailure.permanent("\(context.job.file):\(p.packaging.line): packaging file \(path): \(error)")
            }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw TaskFailure.permanent("\(context.job.file):\(p.packaging.line): packaging file \(path) is not UTF-8")
            }
            let items: [PackedItem]
            do {
                items = try PackagingFile.parse(text, file: path)
            } catch {
                throw TaskFailure.permanent("packaging: \(error)")
            }
            try plan.ledger.replacePackaging(items, source: path, at: plan.clock.wallMilliseconds())
            return TaskOutput(result: ["skus": items.count] as [String: Int], summary: "\(items.count) SKUs' packaging from \(path)")
        }
    }

    struct OrdersReader: Agent {
        let plan: ShippingArbitragePlan
        var name: String { "orders" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let marketplace = try plan.marketplace(try task.input(as: MarketplaceInput.self).marketplace.rawValue)
            let job = context.job.name
            let cursor = try plan.ledger.shippingCursor(job: job, marketplace: marketplace.name)
            let page = try await marketplace.orders(since: cursor).checked()
            let open = page.lines.filter(\.open)
            let new = try plan.ledger.recordOrders(open, cursor: page.cursor ?? cursor, job: job, marketplace: marketplace.name,
                                                   runID: context.runID, at: plan.clock.wallMilliseconds())
            return TaskOutput(result: ["lines": page.lines.count, "open": open.count, "new": new] as [String: Int],
                              summary: "\(page.lines.count) order lines, \(open.count) open, \(new) new")
        }
    }

    struct ListingsReader: Agent {
        let plan: ShippingArbitragePlan
        var name: String { "listings" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let marketplace = try plan.marketplace(try task.input(as: MarketplaceInput.self).marketplace.rawValue)
            let listings = try await marketplace.listingShipping()
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            try plan.ledger.recordListings(listings, sweep: sweep, runID: context.runID, at: plan.clock.wallMilliseconds())
            let free = listings.filter { $0.charge?.micros == 0 }.count
            return TaskOutput(result: ["listings": listings.count, "free_shipping": free] as [String: Int],
                              summary: "\(listings.count) listings' shipping settings, \(free) with free shipping")
        }
    }

    struct ListingJudge: Agent {
        let plan: ShippingArbitragePlan
        var name: String { "listing" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let input = try task.input(as: ListingInput.self)
            let marketplace = input.marketplace
            let p = plan.parameters
            let sweep = try plan.ledger.sweepID(ofRun: context.runID)
            guard let listing = try plan.ledger.recordedListing(sweep: sweep, marketplace: marketplace, listingID: input.listingID) else {
                throw TaskFailure.permanent("listing \(input.listingID) on \(marketplace.rawValue) was not recorded by this sweep")
            }
            let handling = listing.handlingDays ?? p.handlingDays
            let reference = listing.serviceKey ?? p.defaultService
            var rows: [ListingShippingVerdict] = []
            if listing.sku.isEmpty {
                rows = [ListingShippingJudgement.skipped(listing, destination: nil, reason: "no SKU on the listing", handlingDays: handling,
                                                         currency: plan.currency)]
            } else if let size = try plan.ledger.packaging(sku: listing.sku) {
                for destination in p.listingDestinations {
                    let request = ParcelRequest(originPostalCode: p.originPostalCode,
                                                destination: Destination(postalCode: destination, country: "US"), size: size)
                    var quotes: [RateQuote] = []
                    for shopper in try plan.shoppers(for: p) { quotes += try await shopper.quotes(for: request) }
                    let promise = ListingShippingJudgement.promiseDays(fixed: p.listingPromiseDays, handlingDays: handling,
                                                                       reference: reference, quotes: quotes, currency: plan.currency)
                    try plan.ledger.saveListingQuotes(quotes.map {
                        ListingShippingJudgement.record($0, listing: listing, destination: destination, handlingDays: handling, promiseDays: promise)
                    }, sweep: sweep, runID: context.runID, at: plan.clock.wallMilliseconds())
                    guard let promise else {
                        let why = reference.map { "\($0) was not quoted there with transit days" } ?? "the listing names no carrier service"
                        rows.append(ListingShippingJudgement.skipped(
                            listing, destination: destination,
                            reason: "to \(destination): no delivery promise: \(why); set params.listing_promise_days or params.default_service",
                            handlingDays: handling, currency: plan.currency))
                        continue
                    }
                    rows.append(ListingShippingJudgement.judge(listing, destination: destination, quotes: quotes, handlingDays: handling,
                                                               promiseDays: promise, defaultService: reference,
                                                               minSaving: p.minSaving?.value, currency: plan.currency))
                }
            } else {
                rows = [ListingShippingJudgement.skipped(listing, destination: nil, reason: "no packaging data for \(listing.sku)",
                                                         handlingDays: handling, currency: plan.currency)]
            }
            guard let verdict = ListingShippingJudgement.verdict(rows) else {
                throw TaskFailure.permanent("listing \(listing.listingID): no destinations to judge")
            }
            try plan.ledger.saveListingVerdict(verdict, destinations: rows, sweep: sweep, runID: context.runID,
                                               at: plan.clock.wallMilliseconds())
            return TaskOutput(result: ShippingOutcome(status: verdict.status.rawValue, labelMicros: verdict.labelMicros,
                                                      marginMicros: verdict.marginMicros),
                              summary: verdict.reason)
        }
    }

    struct LineQuoter: Agent {
        let plan: ShippingArbitragePlan
        var name: String { "quote" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let input = try task.input(as: OrderLineInput.self)
            let marketplace = input.marketplace
            let p = plan.parameters
            let job = context.job.name
            guard let line = try plan.ledger.pendingLine(job: job, marketplace: marketplace, orderID: input.orderID, lineID: input.lineID) else {
                return TaskOutput(result: ShippingOutcome(status: "already-decided"), summary: "already decided")
            }
            let now = plan.clock.wallMilliseconds()
            // The channel's promise, or the job's default where the channel gives none.
            let deliverBy = ShippingChoice.promise(of: line, defaultPromiseDays: p.defaultPromiseDays)
            let promiseNote = line.deliverBy == nil
                ? "\(line.marketplace.rawValue) gives no delivery date: default_promise_days = \(p.defaultPromiseDays) business days from the order"
                : nil
            let recommendation: ShippingRecommendation
            switch try readiness(line, deliverBy: deliverBy, now: now) {
            case .skip(let reason):
                recommendation = ShippingChoice.skipped(line, reason: reason, currency: plan.currency, deliverBy: deliverBy)
            case .ready(let destination, let size):
                let request = ParcelRequest(originPostalCode: p.originPostalCode, destination: destination, size: size)
                let shipAt = ShippingChoice.shipAt(placedAt: line.placedAt, handlingDays: p.handlingDays, now: now)
                var quotes: [RateQuote] = []
                for shopper in try plan.shoppers(for: p) {
                    let answer = try await shopper.quotes(for: request)
                    // Saved as each source answers: a budget exhausted by the next one keeps these.
                    try plan.ledger.saveQuotes(answer.map { ShippingChoice.record($0, line: line, shipAt: shipAt, deliverBy: deliverBy) },
                                               job: job, runID: context.runID, at: plan.clock.wallMilliseconds())
                    quotes += answer
                }
                recommendation = ShippingChoice.recommend(line: line, quotes: quotes, shipAt: shipAt, deliverBy: deliverBy,
                                                          defaultService: p.defaultService, minSaving: p.minSaving?.value,
                                                          currency: plan.currency, promiseNote: promiseNote)
            }
            try plan.ledger.saveRecommendation(recommendation, job: job, runID: context.runID, at: plan.clock.wallMilliseconds())
            return TaskOutput(result: ShippingOutcome(status: recommendation.status.rawValue, labelMicros: recommendation.labelMicros,
                                                      marginMicros: recommendation.marginMicros, savingMicros: recommendation.savingMicros),
                              summary: recommendation.status == .skipped ? "skipped: \(recommendation.reason)" : recommendation.reason)
        }

        enum Readiness {
            case skip(String)
            case ready(Destination, ParcelSize)
        }

        /// What quoting needs, or why the line cannot be quoted honestly.
        func readiness(_ line: OrderLine, deliverBy: Int64, now: Int64) throws -> Readiness {
            if line.sku.isEmpty { return .skip("no SKU on the order line") }
            if line.quantity < 1 { return .skip("quantity \(line.quantity)") }
            if BusinessDays.date(deliverBy) < BusinessDays.date(now) {
                return .skip("the promised delivery date passed before it was quoted (\(ShippingChoice.dateText(deliverBy)))")
            }
            guard let destination = line.destination, !destination.postalCode.isEmpty else { return .skip("no destination postal code") }
            guard let size = try plan.ledger.packaging(sku: line.sku) else { return .skip("no packaging data for \(line.sku)") }
            return .ready(destination, size)
        }
    }
}

/// A run's recommendations summed up: lines by status, the saving against the default service
/// (actionable lines only) and the lines that lose money on shipping. Exact sums.
///
/// The text names at most `shownLimit` losing lines, the worst first (largest shortfall, then
/// marketplace, order, line), says "N of M shown", and, when some are left out, where the full
/// list is: `flipsyncctl show RUN --json`, field `shipping.losing_lines`.
public struct ShippingRunSummary: Sendable, Hashable {
    /// Losing rows a summary's text names at most (both summaries).
    public static let shownLimit = 20

    /// The lines in `currency` counted (`ShippingTally`): every losing line in `tally.losing`.
    public var tally: ShippingTally<ShippingRecommendation>
    public var currency: Currency
    public var runID: Int64?

    public init(_ rows: [ShippingRecommendation], currency: Currency, runID: Int64? = nil) {
        tally = ShippingTally(rows, currency: currency)
        self.currency = currency
        self.runID = runID
    }

    public var text: String {
        var parts = ["\(tally.total) lines: \(tally.count(.recommended)) recommended"]
        parts += tally.otherStatuses(defaultInadequate: "recommended with the default service inadequate")
        var text = parts.joined(separator: ", ")
        text += "; saving \(tally.totalSaving) on \(tally.actionable) line\(tally.actionable == 1 ? "" : "s")"
        if tally.losing.isEmpty {
            text += "; no line loses money on shipping"
        } else {
            text += "; \(tally.losing.count) losing money, \(tally.totalShortfall) short in all "
                + tally.namedLosing(runID: runID, field: "losing_lines") { r in
                    "\(r.marketplace.rawValue) \(r.orderID)/\(r.lineID) \(r.sku) short \(Money(micros: -(r.marginMicros ?? 0), currency: currency))"
                }
        }
        return text
    }
}
