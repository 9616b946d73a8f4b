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

    public init(provider: String, operation: String, units: Int64 = 1, cost: Money, servedFromCache: Bool = false, status: Int?) {
        self.provider = provider
        self.operation = operation
        self.units = units
        self.cost = cost
        self.servedFromCache = servedFromCache
        self.status = status
    }
}

/// Where every call a client makes is reported, sent or not, answered or not. The spend
/// ledger (RunStore) implements it durably; `record` must not block on I/O for long.
public protocol SpendRecorder: Sendable {
    func record(_ call: MeteredCall)
}

/// Keeps calls in memory, for tests and for runs with no ledger.
public final class InMemorySpendRecorder: SpendRecorder {
    private let calls = Mutex<[MeteredCall]>([])

    public init() {}

    public func record(_ call: MeteredCall) {
        calls.withLock { $0.append(call) }
    }

    public var recorded: [MeteredCall] { calls.withLock { $0 } }

    public func count(operation: String) -> Int {
        calls.withLock { $0.filter { $0.operation == operation && !$0.servedFromCache }.count }
    }
}
