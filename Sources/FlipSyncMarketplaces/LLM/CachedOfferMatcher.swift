import FlipSyncCore

/// Judges title-only competitor offers with the `ProductMatcher` (the local model first, the
/// paid one only when the local one is unsure), remembering each answer in a `MatchCache` for
/// `ttl`. A cache hit is recorded in the spend ledger as a call served from cache, with the
/// tokens the original call used, so the savings are measured from the ledger.
public struct CachedOfferMatcher: OfferMatcher {
    let matcher: ProductMatcher
    let cache: any MatchCache
    let recorder: any SpendRecorder
    let clock: any SchedulerClock
    let ttl: TimeSpan

    public static let operation = "product-match"

    public init(matcher: ProductMatcher, cache: any MatchCache, recorder: any SpendRecorder, clock: any SchedulerClock,
                ttl: TimeSpan = .seconds(30 * 86_400)) {
        self.matcher = matcher
        self.cache = cache
        self.recorder = recorder
        self.clock = clock
        self.ttl = ttl
    }

    public func judge(_ listing: MarketplaceListing, _ offer: CompetitorOffer) async throws -> TitleMatch {
        let hash = Self.titleHash(offer.title)
        let now = clock.wallMilliseconds()
        if let hit = try cache.cachedMatch(sku: listing.sku, offerID: offer.offerID, titleHash: hash, now: now) {
            await recorder.record(MeteredCall(provider: hit.provider, operation: Self.operation, units: hit.inputTokens + hit.outputTokens,
                                        cost: .zero(listing.price.currency), servedFromCache: true, status: nil,
                                        inputTokens: hit.inputTokens, outputTokens: hit.outputTokens))
            return TitleMatch(sameProduct: hit.sameProduct, confidencePerMille: hit.confidencePerMille, provider: hit.provider, fromCache: true)
        }
        let verdict = try await matcher.judge(ours: listing.title, theirs: offer.title)
        try cache.saveMatch(CachedMatch(sameProduct: verdict.sameProduct, confidencePerMille: verdict.confidencePerMille,
                                        provider: verdict.provider, inputTokens: verdict.usage.inputTokens,
                                        outputTokens: verdict.usage.outputTokens, expiresAt: now + ttl.milliseconds),
                            sku: listing.sku, offerID: offer.offerID, titleHash: hash)
        return TitleMatch(sameProduct: verdict.sameProduct, confidencePerMille: verdict.confidencePerMille,
                          provider: verdict.provider, fromCache: false)
    }

    /// FNV-1a (64-bit) of the title's UTF-8, in hex: stable across runs and platforms.
    static func titleHash(_ title: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in title.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return String(hash, radix: 16)
    }
}
