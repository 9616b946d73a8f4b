import Synchronization

/// One metered call to a provider: what was called, how many units it used and what it cost.
public struct MeteredCall: Sendable, Hashable {
    /// `ebay`, `amazon`, `carrier`, `openai`, …: the key of `[prices.*]` in the config.
    public var provider: String
    /// The API operation, e.g. `browse.item_summary.search`, `identity.oauth2.token`.
    public var operation: String
    /// Units the provider counts (1 per call; tokens for LLMs).
    public var units: Int64
    /// The money it cost, exact in micro-units (zero where the provider does not charge).
    public var cost: Money
    /// True when the answer came from a local cache and no request was sent.
    public var servedFromCache: Bool
    /// The HTTP status, or nil when no response came back.
    public var status: Int?
    /// LLM usage, where the provider reports it (0 otherwise).
    public var inputTokens: Int64
    public var cachedInputTokens: Int64
    public var outputTokens: Int64

    public init(provider: String, operation: String, units: Int64 = 1, cost: Money, servedFromCache: Bool = false, status: Int?,
                inputTokens: Int64 = 0, cachedInputTokens: Int64 = 0, outputTokens: Int64 = 0) {
        self.provider = provider
        self.operation = operation
        self.units = units
        self.cost = cost
        self.servedFromCache = servedFromCache
        self.status = status
        self.inputTokens = inputTokens
        self.cachedInputTokens = cachedInputTokens
        self.outputTokens = outputTokens
    }
}

/// Money held against the budgets for one paid call until the call is recorded.
public struct SpendReservation: Sendable, Hashable {
    public let id: Int64
    public let estimate: Money

    public init(id: Int64, estimate: Money) {
        self.id = id
        self.estimate = estimate
    }
}

/// Where every call a client makes is reported, sent or not, answered or not. The spend
/// ledger (RunStore) implements it durably: `record` returns once the call's row is committed.
///
/// A paid call (one that costs money: a carrier quote or label, a metered LLM call) first
/// `reserve`s its worst-case cost, which throws `TaskFailure.budgetExhausted` when a budget
/// that applies would be exceeded, so concurrent tasks cannot overshoot together; then the
/// call is `record`ed with that reservation, which settles it at the real cost. Free calls are
/// just recorded.
public protocol SpendRecorder: Sendable {
    func reserve(provider: String, operation: String, estimate: Money) throws(TaskFailure) -> SpendReservation
    func record(_ call: MeteredCall, settling reservation: SpendReservation?) async
}

extension SpendRecorder {
    public func record(_ call: MeteredCall) async { await record(call, settling: nil) }
}

/// Keeps calls in memory, for tests and for runs with no ledger; an optional limit stands in
/// for the budgets.
public final class InMemorySpendRecorder: SpendRecorder {
    private struct State {
        var calls: [MeteredCall] = []
        var reserved: [Int64: Int64] = [:]
        var nextID: Int64 = 0
    }

    private let state = Mutex(State())
    public let limit: Money?

    public init(limit: Money? = nil) { self.limit = limit }

    public func reserve(provider: String, operation: String, estimate: Money) throws(TaskFailure) -> SpendReservation {
        let id = state.withLock { s -> Int64? in
            let committed = s.calls.reduce(0) { $0 + $1.cost.micros } + s.reserved.values.reduce(0, +)
            if let limit, committed + estimate.micros > limit.micros { return nil }
            s.nextID += 1
            s.reserved[s.nextID] = estimate.micros
            return s.nextID
        }
        guard let id else {
            throw TaskFailure.budgetExhausted("\(provider) \(operation) needs up to \(estimate); the limit of \(limit!) would be exceeded")
        }
        return SpendReservation(id: id, estimate: estimate)
    }

    public func record(_ call: MeteredCall, settling reservation: SpendReservation?) {
        state.withLock { s in
            if let reservation { s.reserved[reservation.id] = nil }
            s.calls.append(call)
        }
    }

    public var recorded: [MeteredCall] { state.withLock { $0.calls } }

    public func count(operation: String) -> Int {
        state.withLock { $0.calls.filter { $0.operation == operation && !$0.servedFromCache }.count }
    }
}
