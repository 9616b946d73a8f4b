import FlipSyncCore
import Foundation
import GRDB

/// One row of `decisions`: what a sweep decided for one listing and what became of it. An
/// unknown marketplace, currency, strategy, reason code, state or exclusion code, or unreadable
/// exclusions, is an error naming the sweep, marketplace and SKU: never a decision with a
/// made-up field. Writes stay the prepared upsert in `RunStore.saveDecision` (group commit).
struct DecisionRow: Codable, LedgerRow {
    static let databaseTableName = "decisions"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["sweep_id", "marketplace", "sku"]

    var sweepId: Int64
    var marketplace: Coded<MarketplaceName>
    var sku: String
    var listingId: String
    var currency: CurrencyCode
    var oldPriceMicros: Int64
    var newPriceMicros: Int64?
    var floorMicros: Int64?
    var ceilingMicros: Int64?
    var lowestCompetitorMicros: Int64?
    var buyBoxMicros: Int64?
    var offersConsidered: Int
    var offersExcluded: ExclusionCounts
    var strategy: Coded<RepricingSweep.Strategy>
    var reasonCode: Coded<PricingDecision.Reason>
    var reason: String
    var state: Coded<PricingDecision.State>
    var apiResult: String?
    var shippingChargedMicros: Int64?

    /// The offers left out, by reason: a JSON object of counts keyed by exclusion code.
    struct ExclusionCounts: Codable, Sendable {
        var counts: [CompetitorFilter.ExclusionReason: Int]

        /// `offers_excluded` of `row`.
        init(row: Row) throws {
            let text: String = try row.decode(forColumn: "offers_excluded")
            func bad(_ what: String) -> DecodingError { DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: what)) }
            guard let codes = try? JSONDecoder().decode([String: Int].self, from: Data(text.utf8)) else {
                throw bad("offers_excluded is not an object of counts: \(text)")
            }
            var counts: [CompetitorFilter.ExclusionReason: Int] = [:]
            for (code, count) in codes {
                guard let reason = CompetitorFilter.ExclusionReason(rawValue: code) else { throw bad("unknown exclusion \"\(code)\"") }
                counts[reason] = count
            }
            self.counts = counts
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let codes = try? JSONDecoder().decode([String: Int].self, from: Data(text.utf8)) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "offers_excluded is not an object of counts: \(text)")
            }
            var counts: [CompetitorFilter.ExclusionReason: Int] = [:]
            for (code, count) in codes {
                guard let reason = CompetitorFilter.ExclusionReason(rawValue: code) else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown exclusion \"\(code)\"")
                }
                counts[reason] = count
            }
            self.counts = counts
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(CompetitorFilter.ExclusionReason.storedJSON(counts))
        }
    }

    /// A sweep's decisions, by marketplace and SKU.
    static func decisions(_ db: Database, sweep: Int64) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "sweep_id = ?", arguments: [sweep]).order(sql: "marketplace, sku"))
    }

    /// A sweep's decisions on one marketplace for `skus`, by SKU. One prepared statement (each
    /// apply task reads its SKUs' decisions).
    static func decisions(_ db: Database, sweep: Int64, marketplace: MarketplaceName, skus: [String]) throws -> [Self] {
        let list = JSONText.array(skus)
        return try fetchAllNamed(db, cachedSQL: """
            SELECT * FROM decisions WHERE sweep_id = ? AND marketplace = ? AND sku IN (SELECT value FROM json_each(?)) ORDER BY sku
            """, arguments: [sweep, marketplace.rawValue, list])
    }

    var decision: PricingDecision {
        let currency = currency.currency
        func money(_ micros: Int64?) -> Money? { micros.map { Money(micros: $0, currency: currency) } }
        return PricingDecision(
            sku: sku, marketplace: marketplace.value, listingID: listingId,
            oldPrice: Money(micros: oldPriceMicros, currency: currency), newPrice: money(newPriceMicros),
            floor: money(floorMicros), ceiling: money(ceilingMicros), lowestCompetitorLanded: money(lowestCompetitorMicros),
            buyBox: money(buyBoxMicros), offersConsidered: offersConsidered, offersExcluded: offersExcluded.counts,
            strategy: strategy.value, reason: reasonCode.value, explanation: reason,
            shippingCharged: money(shippingChargedMicros), state: state.value, apiResult: apiResult)
    }
}

extension DecisionRow {
    /// Reads go through here, column by column (see `Row.code`), never through `Codable`.
    init(row: Row) throws {
        sweepId = try row.decode(forColumn: "sweep_id")
        marketplace = try Coded(row: row, "marketplace")
        sku = try row.decode(forColumn: "sku")
        listingId = try row.decode(forColumn: "listing_id")
        currency = try CurrencyCode(row: row, "currency")
        oldPriceMicros = try row.decode(forColumn: "old_price_micros")
        newPriceMicros = try row.decode(forColumn: "new_price_micros")
        floorMicros = try row.decode(forColumn: "floor_micros")
        ceilingMicros = try row.decode(forColumn: "ceiling_micros")
        lowestCompetitorMicros = try row.decode(forColumn: "lowest_competitor_micros")
        buyBoxMicros = try row.decode(forColumn: "buy_box_micros")
        offersConsidered = try row.decode(forColumn: "offers_considered")
        offersExcluded = try ExclusionCounts(row: row)
        strategy = try Coded(row: row, "strategy")
        reasonCode = try Coded(row: row, "reason_code")
        reason = try row.decode(forColumn: "reason")
        state = try Coded(row: row, "state")
        apiResult = try row.decode(forColumn: "api_result")
        shippingChargedMicros = try row.decode(forColumn: "shipping_charged_micros")
    }
}
