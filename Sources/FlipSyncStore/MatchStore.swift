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

extension LLMSavings {
    /// The spend rows `llmSavings` counts: product-match calls, and the local and premium models'
    /// chat calls. `at` is the placeholder of `since`.
    public static func matchCallsFilter(at placeholder: String) -> String {
        "at_ms >= \(placeholder) AND (operation = 'product-match'"
            + " OR (provider IN ('ollama', 'openai') AND operation IN ('api.chat', 'chat.completions')))"
    }

    /// One spend row `matchCallsFilter` selects.
    public struct Call: Sendable {
        public var provider: String
        public var servedFromCache: Bool
        public var inputTokens: Int64
        public var outputTokens: Int64
        public var costMicros: Int64

        public init(provider: String, servedFromCache: Bool, inputTokens: Int64, outputTokens: Int64, costMicros: Int64) {
            (self.provider, self.servedFromCache, self.inputTokens, self.outputTokens) = (provider, servedFromCache, inputTokens, outputTokens)
            self.costMicros = costMicros
        }
    }

    /// The savings over `calls`: each counted as it cost, and as a premium call at `premium`
    /// per-million prices, rounded up once over the total.
    public init(calls: [Call], premiumInputPerMillion: Money, premiumOutputPerMillion: Money) {
        self.init(modelCalls: [:], cacheHits: 0, inputTokens: 0, outputTokens: 0, actualMicros: 0, premiumMicros: 0,
                  currency: premiumInputPerMillion.currency.code)
        // Premium cost in micro-units per token, kept exact: sum tokens × price, divide once.
        var premiumNumerator: Int64 = 0
        for call in calls {
            inputTokens += call.inputTokens
            outputTokens += call.outputTokens
            actualMicros += call.costMicros
            if call.servedFromCache {
                cacheHits += 1
            } else {
                modelCalls[call.provider, default: 0] += 1
            }
            premiumNumerator += call.inputTokens * premiumInputPerMillion.micros + call.outputTokens * premiumOutputPerMillion.micros
        }
        premiumMicros = (premiumNumerator + 999_999) / 1_000_000
    }
}

extension RunStore {
    /// Product-match spend since `since` (ms): the chat calls the matcher made and its cache
    /// hits, costed as they were, and as premium calls (`premium` per-million prices).
    public func llmSavings(since: Int64, premiumInputPerMillion: Money, premiumOutputPerMillion: Money) throws -> LLMSavings {
        try read { db in
            let rows = try db.tableExists("spend") ? try Row.fetchAll(db, sql: """
                SELECT provider, served_from_cache, input_tokens, output_tokens, cost_micros FROM spend
                WHERE \(LLMSavings.matchCallsFilter(at: "?"))
                """, arguments: [since]) : []
            let calls = try rows.map {
                LLMSavings.Call(provider: try $0.decode(forColumn: "provider"), servedFromCache: try $0.decode(forColumn: "served_from_cache"),
                                inputTokens: try $0.decode(forColumn: "input_tokens"), outputTokens: try $0.decode(forColumn: "output_tokens"),
                                costMicros: try $0.decode(forColumn: "cost_micros"))
            }
            return LLMSavings(calls: calls, premiumInputPerMillion: premiumInputPerMillion, premiumOutputPerMillion: premiumOutputPerMillion)
        }
    }
}
