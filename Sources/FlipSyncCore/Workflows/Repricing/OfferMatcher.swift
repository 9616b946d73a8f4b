/// A judgement that a competitor's title-only offer is (or is not) the same product as ours.
public struct TitleMatch: Sendable, Hashable {
    public var sameProduct: Bool
    /// Confidence in thousandths: 0…1000.
    public var confidencePerMille: Int
    /// Which model decided (`ollama`, `openai`).
    public var provider: String
    /// True when the answer came from the match cache and no model was asked.
    public var fromCache: Bool

    public init(sameProduct: Bool, confidencePerMille: Int, provider: String, fromCache: Bool) {
        self.sameProduct = sameProduct
        self.confidencePerMille = confidencePerMille
        self.provider = provider
        self.fromCache = fromCache
    }
}

/// Judges competitor offers that the channel could not match by identifier (no GTIN/ASIN,
/// only a similar title): "same product as our listing?". Implementations may ask models and
/// cache answers; errors are the models' (retryable or not) or `TaskFailure.budgetExhausted`.
public protocol OfferMatcher: Sendable {
    func judge(_ listing: MarketplaceListing, _ offer: CompetitorOffer) async throws -> TitleMatch
}

/// A cached judgement, keyed by our SKU, their offer and a hash of their title (a retitled
/// offer is judged again).
public struct CachedMatch: Sendable, Hashable {
    public var sameProduct: Bool
    public var confidencePerMille: Int
    public var provider: String
    /// The tokens of the call that decided it: what each later cache hit saves.
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var expiresAt: Int64

    public init(sameProduct: Bool, confidencePerMille: Int, provider: String, inputTokens: Int64, outputTokens: Int64, expiresAt: Int64) {
        self.sameProduct = sameProduct
        self.confidencePerMille = confidencePerMille
        self.provider = provider
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.expiresAt = expiresAt
    }
}

/// Where judgements are kept between runs (SQLite in the daemon).
public protocol MatchCache: Sendable {
    func cachedMatch(sku: String, offerID: String, titleHash: String, now: Int64) throws -> CachedMatch?
    func saveMatch(_ match: CachedMatch, sku: String, offerID: String, titleHash: String) throws
}
