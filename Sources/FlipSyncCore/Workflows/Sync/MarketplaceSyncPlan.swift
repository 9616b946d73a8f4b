/// The `marketplace-sync` workflow: one on-hand figure per SKU, every order line applied
/// exactly once, and every channel brought to what that stock allows.
///
/// A run is four waves at most (the run coordinator's limit):
/// 1. `orders:<mp>` — pull every order line since that channel's cursor and apply the page
///    (lines + cursor in one transaction). The stock source's task first seeds SKUs it lists
///    that have no on-hand yet.
/// 2. `push:<mp>` — read the channel's live listings, then pull that channel's orders again (so
///    every sale its live quantities show is in on-hand), compute each SKU's target
///    `max(0, onHand − safety_stock)`, record drift and the intended changes, then push only
///    the differences, in batches, recording each result. If any wave-1 pull failed, on-hand may
///    be too high, so this wave only lowers quantities.
/// 3. `recheck:<mp>` — pull orders again.
/// 4. `repush:<mp>` — only if lines were applied after the push wave began (by the push tasks'
///    own pulls or the recheck): push again, once.
///
/// Guarantees: no line counts twice (unique key), a pushed quantity is never above
/// `onHand − safety_stock`, and a re-run (after a crash, a cancel, or just the next run) sends
/// only what still differs from live, so no change is applied twice. What it cannot promise:
/// channels sell on their own between our pushes, so units sold on two or more channels
/// between one push and the next can exceed on-hand; `safety_stock` is the buffer for that.
public struct MarketplaceSyncPlan: WorkflowPlan {
    /// The job's `[params]`: the plan is built for one job's parameters.
    let parameters: MarketplaceSync.Parameters
    let marketplaces: [MarketplaceName: any Marketplace]
    let ledger: any SyncLedger
    let batchSize: Int?
    let unavailable: [MarketplaceName: String]

    /// `marketplaces`: a client per channel the jobs may name; `unavailable`: why a configured
    /// channel has none (its tasks fail with that reason). `batchSize`: changes per
    /// `Marketplace.apply` call (the client splits further as its API requires); nil: each
    /// channel's `pushBatchSize`.
    public init(parameters: MarketplaceSync.Parameters, marketplaces: [MarketplaceName: any Marketplace], ledger: any SyncLedger,
                batchSize: Int? = nil, unavailable: [MarketplaceName: String] = [:]) {
        self.parameters = parameters
        self.marketplaces = marketplaces
        self.ledger = ledger
        self.batchSize = batchSize.map { max(1, $0) }
        self.unavailable = unavailable
    }

    public func tasks(for job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        parameters.marketplaces.map {
            PlannedTask(key: "orders:\($0.value.rawValue)", agent: OrderPull.name, input: MarketplaceInput(marketplace: $0.value))
        }
    }

    public func followUp(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        let names = parameters.marketplaces.map(\.value)
        func wave(_ prefix: String) -> [TaskInfo] { tasks.filter { $0.key.hasPrefix(prefix + ":") } }
        func allSucceeded(_ prefix: String) -> Bool { wave(prefix).allSatisfy { $0.status == .succeeded } }
        func push(_ prefix: String, lowerOnly: Bool) -> [PlannedTask] {
            names.map { PlannedTask(key: "\(prefix):\($0.rawValue)", agent: Push.name, input: PushInput(marketplace: $0, lowerOnly: lowerOnly)) }
        }
        if wave("push").isEmpty { return push("push", lowerOnly: !allSucceeded("orders")) }
        if wave("recheck").isEmpty {
            return names.map { PlannedTask(key: "recheck:\($0.rawValue)", agent: OrderPull.name, input: MarketplaceInput(marketplace: $0)) }
        }
        // Lines applied after the push wave began (by a push task's own pull, or the recheck) may
        // be missing from targets other push tasks had already computed.
        let newLines = try (wave("push") + wave("recheck")).reduce(0) { $0 + (try $1.result(as: SyncCounts.self)?.applied ?? 0) }
        if wave("repush").isEmpty, newLines > 0 { return push("repush", lowerOnly: !allSucceeded("recheck")) }
        return []
    }

    public func agent(named name: String) -> (any Agent)? {
        switch name {
        case OrderPull.name:
            return OrderPull(parameters: parameters, channels: MarketplaceClients(clients: marketplaces, unavailable: unavailable), ledger: ledger)
        case Push.name:
            return Push(parameters: parameters, channels: MarketplaceClients(clients: marketplaces, unavailable: unavailable), ledger: ledger,
                        batchSize: batchSize)
        default: return nil
        }
    }

    /// In a cluster on a shared ledger, every task runs on whichever node claims it: each works
    /// from its input and the shared sync ledger alone, and both are safe to repeat (a line
    /// applied twice counts once; a push sends only what differs from live).
    public var distributedAgents: Set<String> { [OrderPull.name, Push.name] }

    /// "orders: 3 lines applied, 1 duplicate, 0 oversold; drift 2; pushed 5 ok, 0 failed" (+ " (dry run)").
    public func summarize(_ tasks: [TaskInfo]) -> String {
        var total = SyncCounts()
        // Summing up is best-effort: an unreadable result counts nothing (the run's tasks say why).
        for task in tasks where task.status == .succeeded { if let counts = (try? task.result(as: SyncCounts.self)) ?? nil { total.add(counts) } }
        let failedTasks = tasks.filter { $0.status != .succeeded }.count
        var line = "orders: \(total.applied) line\(total.applied == 1 ? "" : "s") applied, \(total.duplicates) duplicate"
            + "\(total.duplicates == 1 ? "" : "s"), \(total.oversells) oversold; drift \(total.drift); "
            + "pushed \(total.pushed) ok, \(total.failed) failed"
        if total.planned > 0, total.pushed == 0, total.failed == 0 { line += ", \(total.planned) not sent (dry run)" }
        if failedTasks > 0 { line += "; \(failedTasks) task\(failedTasks == 1 ? "" : "s") not succeeded" }
        return line
    }

}

/// A push task's input: the channel, and whether quantities may only go down (on-hand may be
/// too high: a pull failed).
struct PushInput: Codable, Hashable, Sendable {
    var marketplace: MarketplaceName
    var lowerOnly: Bool
}

/// The counts every sync task reports, as its result.
struct SyncCounts: Codable, Hashable, Sendable {
    var applied = 0, duplicates = 0, oversells = 0, seeded = 0
    var seen = 0, unknown = 0, drift = 0, planned = 0, pushed = 0, failed = 0

    mutating func add(_ other: SyncCounts) {
        applied += other.applied; duplicates += other.duplicates; oversells += other.oversells; seeded += other.seeded
        seen += other.seen; unknown += other.unknown; drift += other.drift; planned += other.planned
        pushed += other.pushed; failed += other.failed
    }
}
