import FlipSyncCore

extension AmazonMarketplace {
    /// The sweep reads competition with `getListingOffersBatch` (20 SKUs a request): its
    /// documented usage plan (0.5 requests/s, burst 1), or the client's rate for it when lower
    /// (the configured one, or what a response's `x-amzn-RateLimit-Limit` said).
    public var competitionReadRate: CompetitionReadRate? {
        let documented = AmazonOperation.getListingOffersBatch.defaultRate
        return CompetitionReadRate(operation: "getListingOffersBatch",
                                   requestsPerSecond: min(documented.requestsPerSecond, client.rateLimit(for: .getListingOffersBatch)),
                                   burst: documented.burst, listingsPerRequest: AmazonClient.listingOffersBatchLimit)
    }
}
