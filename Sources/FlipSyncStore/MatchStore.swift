import FlipSyncCore
import GRDB

/// The LLM match cache: one judgement per (our SKU, their offer, their title's hash).
extension RunStore: MatchCache {
    static func registerMatchMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m08-matches: LLM product-match cache") { db in
            try db.execute(sql: """
                CREATE TABLE llm_matches (
                    sku TEXT NOT NULL,
                    offer_id TEXT NOT NULL,
                    title_hash TEXT NOT NULL,
                    same_product INTEGER NOT NULL,
                    confidence_per_mille INTEGER NOT NULL,
                    provider TEXT NOT NULL,
                    input_tokens INTEGER NOT NULL,
                    output_tokens INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    PRIMARY KEY (sku, offer_id, title_hash)
                ) WITHOUT ROWID;
                """)
        }
    }

    public func cachedMatch(sku: String, offerID: String, titleHash: String, now: Int64) throws -> CachedMatch? {
        try read { db in try LLMMatchRow.match(db, sku: sku, offerID: offerID, titleHash: titleHash, now: now)?.match }
    }

    public func saveMatch(_ m: CachedMatch, sku: String, offerID: String, titleHash: String) throws {
        try write { db in try LLMMatchRow(m, sku: sku, offerID: offerID, titleHash: titleHash).insert(db, onConflict: .replace) }
    }
}

/// What LLM matching cost, measured from the spend ledger, against what the same judgements
/// would have cost on the premium model with no cache (every judgement a premium call at full
/// input price, cache hits included).
public struct LLMSavings: Sendable, Hashable, Codable {
    public var modelCalls: [String: Int]
    public var cacheHits: Int
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var actualMicros: Int64
    public var premiumMicros: Int64
    public var currency: String

    public var savedMicros: Int64 { premiumMicros - actualMicros }
}

extension RunStore {
    /// Product-match spend since `since` (ms): the chat calls the matcher made and its cache
    /// hits, costed as they were, and as premium calls (`premium` per-million prices).
    public func llmSavings(since: Int64, premiumInputPerMillion: Money, premiumOutputPerMillion: Money) throws -> LLMSavings {
        try read { db in
            var savings = LLMSavings(modelCalls: [:], cacheHits: 0, inputTokens: 0, outputTokens: 0, actualMicros: 0, premiumMicros: 0,
                                     currency: premiumInputPerMillion.currency.code)
            guard try db.tableExists("spend") else { return savings }
            let rows = try Row.fetchAll(db, sql: """
                SELECT provider, served_from_cache, input_tokens, output_tokens, cost_micros FROM spend
                WHERE at_ms >= ? AND (operation = ? OR (provider IN ('ollama', 'openai') AND operation IN ('api.chat', 'chat.completions')))
                """, arguments: [since, "product-match"])
            // Premium cost in micro-units per token, kept exact: sum tokens × price, divide once.
            var premiumNumerator: Int64 = 0
            for row in rows {
                let input: Int64 = row["input_tokens"], output: Int64 = row["output_tokens"]
                savings.inputTokens += input
                savings.outputTokens += output
                savings.actualMicros += row["cost_micros"] as Int64
                if row["served_from_cache"] as Bool {
                    savings.cacheHits += 1
                } else {
                    savings.modelCalls[row["provider"], default: 0] += 1
                }
                premiumNumerator += input * premiumInputPerMillion.micros + output * premiumOutputPerMillion.micros
            }
            savings.premiumMicros = (premiumNumerator + 999_999) / 1_000_000
            return savings
        }
    }
}
