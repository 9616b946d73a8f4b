extension RepricingSweep.Parameters {
    /// Parameters given directly rather than read from a job file; each default is the job
    /// file's default. Keys that set nothing in a job file are recorded at line 0.
    init(marketplaces: [MarketplaceName] = [.ebay], strategy: RepricingSweep.Strategy = .beatLowest,
         undercut: RepricingSweep.Adjustment = .percent(Percent(partsPerMillion: 10_000)),
         minMargin: Percent = Percent(partsPerMillion: 100_000), maxChange: Percent = Percent(partsPerMillion: 100_000),
         ceilingMarkup: Percent? = nil, whenAlone: RepricingSweep.WhenAlone = .ceiling,
         minSellerFeedback: Percent = Percent(partsPerMillion: 950_000),
         changeThreshold: Money = Money(micros: 10_000, currency: .usd), rounding: RepricingSweep.Rounding = .none,
         breakerShare: Percent = Percent(partsPerMillion: 200_000), breakerDrop: Percent = Percent(partsPerMillion: 250_000),
         llmMatching: Bool = false, dryRun: Bool = false) {
        self.marketplaces = marketplaces.map { Located(value: $0, line: 0) }
        self.strategy = strategy
        self.undercut = Located(value: undercut, line: 0)
        self.minMargin = minMargin
        self.maxChange = maxChange
        self.ceilingMarkup = ceilingMarkup
        self.whenAlone = whenAlone
        self.minSellerFeedback = minSellerFeedback
        self.changeThreshold = Located(value: changeThreshold, line: 0)
        self.rounding = rounding
        self.breakerShare = breakerShare
        self.breakerDrop = breakerDrop
        self.llmMatching = llmMatching
        self.dryRun = dryRun
    }
}
