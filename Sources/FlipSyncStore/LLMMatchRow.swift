import FlipSyncCore
import GRDB

/// One row of `llm_matches`: one cached judgement of whether their offer is our product. A row
/// that does not decode is an error naming the SKU, offer and title hash, never a cache miss or
/// a made-up judgement. `RunStore.saveMatch` writes one at a time through it (`INSERT OR REPLACE`).
struct LLMMatchRow: Codable, LedgerRow, PersistableRecord {
    static let databaseTableName = "llm_matches"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["sku", "offer_id", "title_hash"]

    var sku: String
    var offerId: String
    var titleHash: String
    var sameProduct: Bool
    var confidencePerMille: Int
    var provider: String
    var inputTokens: Int64
    var outputTokens: Int64
    var expiresAt: Int64

    init(_ m: CachedMatch, sku: String, offerID: String, titleHash: String) {
        self.sku = sku
        offerId = offerID
        self.titleHash = titleHash
        sameProduct = m.sameProduct
        confidencePerMille = m.confidencePerMille
        provider = m.provider
        inputTokens = m.inputTokens
        outputTokens = m.outputTokens
        expiresAt = m.expiresAt
    }

    /// The judgement cached for this SKU, offer and title, unless it expired by `now`.
    static func match(_ db: Database, sku: String, offerID: String, titleHash: String, now: Int64) throws -> Self? {
        try fetchOneNamed(db, filter(sql: "sku = ? AND offer_id = ? AND title_hash = ? AND expires_at > ?",
                                     arguments: [sku, offerID, titleHash, now]))
    }

    var match: CachedMatch {
        CachedMatch(sameProduct: sameProduct, confidencePerMille: confidencePerMille, provider: provider, inputTokens: inputTokens,
                    outputTokens: outputTokens, expiresAt: expiresAt)
    }
}
