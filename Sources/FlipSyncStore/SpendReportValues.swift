import FlipSyncCore

// Public initialisers for the spend history's values, so another store's history (PostgreSQL's
// `PostgresSpendHistory`) can build the same values `SpendHistory` returns (their memberwise
// initialisers are internal; these are labelled apart from them).

extension SpendTotal {
    public init(group key: String?, calls: Int64, cachedCalls: Int64, units: Int64, inputTokens: Int64, cachedInputTokens: Int64,
                outputTokens: Int64, cost: Money) {
        self.key = key
        self.calls = calls
        self.cachedCalls = cachedCalls
        self.units = units
        self.inputTokens = inputTokens
        self.cachedInputTokens = cachedInputTokens
        self.outputTokens = outputTokens
        self.cost = cost
    }
}

extension SpendEntry {
    public init(recordedAt at: Int64, job: String?, runID: Int64?, taskKey: String?, call: MeteredCall) {
        self.at = at
        self.job = job
        self.runID = runID
        self.taskKey = taskKey
        self.call = call
    }
}
