/// The repricing sweep's task inputs and results: what the ledger keeps as each task's JSON
/// (`TaskPayload`). Result keys are the ones `flipsyncctl show --json` has always shown.

/// `decide:` and `apply:` tasks: listings of one marketplace, by SKU.
struct ListingsInput: Codable, Hashable, Sendable {
    var marketplace: MarketplaceName
    var skus: [String]
    /// True for the task that reads remembered competitor ids (eBay getItems) instead of searching.
    var refresh: Bool? = nil
}

/// The `plan:<marketplace>` task's input: how one marketplace's part of the run was sized.
struct SweepPlanRecord: Codable, Hashable, Sendable {
    /// Quota calls the selection is planned to take of one quota, and what was left before it.
    struct QuotaCalls: Codable, Hashable, Sendable {
        /// `provider/api`.
        var quota: String
        var planned: Int64
        var left: Int64?
    }

    /// The room the timeout leaves, when the channel's reads are rate-limited.
    struct TimeoutRoom: Codable, Hashable, Sendable {
        var listings: Int
        var requests: Int64
        var operation: String
        /// What was left of the job's timeout when the decide wave was planned, as written in
        /// messages (`1h`, `43m20s`).
        var timeout: String
    }

    var marketplace: MarketplaceName
    var selected: Int
    var listings: Int
    /// The bound that stopped the walk; empty when every listing was taken.
    var limitedBy: String
    var quotaCalls: [QuotaCalls] = []
    var timeout: TimeoutRoom?
    /// Offers the selection reads before deciding (eBay's getOffers for pending listings), and
    /// the reads that fit in the timeout's share on their own bucket.
    var offerReads: OfferReads?

    struct OfferReads: Codable, Hashable, Sendable {
        var planned: Int64
        var room: Int64?
        var operation: String
    }

    /// The `sweep-plan` journal event's fields (README "Journal fields").
    var journalFields: [(String, String)] {
        var fields: [(String, String)] = [("marketplace", marketplace.rawValue), ("selected", String(selected)),
                                          ("listings", String(listings)), ("limited_by", limitedBy)]
        for calls in quotaCalls {
            fields.append(("calls_planned.\(calls.quota)", String(calls.planned)))
            if let left = calls.left { fields.append(("calls_left.\(calls.quota)", String(left))) }
        }
        if let timeout {
            fields += [("timeout_listings", String(timeout.listings)), ("timeout_requests", String(timeout.requests)),
                       ("timeout_operation", timeout.operation), ("timeout", timeout.timeout)]
        }
        if let offerReads {
            fields.append(("offer_reads_planned", String(offerReads.planned)))
            if let room = offerReads.room { fields.append(("offer_reads_room", String(room))) }
        }
        return fields
    }
}

/// The `plan:` task's result: what bounded the marketplace's part, for the run's summary.
struct SweepPlanResult: Codable, Hashable, Sendable {
    var limitedBy: String
    var selected: Int
    var listings: Int

    enum CodingKeys: String, CodingKey {
        case limitedBy = "limited_by", selected, listings
    }
}

/// A `decide:` task's result for one listing.
struct ListingDecided: Codable, Hashable, Sendable {
    var state: PricingDecision.State
    var reason: PricingDecision.Reason
    var oldMicros: Int64
    var newMicros: Int64?

    enum CodingKeys: String, CodingKey {
        case state, reason, oldMicros = "old_micros", newMicros = "new_micros"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(state, forKey: .state)
        try c.encode(reason, forKey: .reason)
        try c.encode(oldMicros, forKey: .oldMicros)
        try c.encode(newMicros, forKey: .newMicros)  // null on a hold, as before
    }
}

/// A `decide:` task's result for a group of listings.
struct GroupDecided: Codable, Hashable, Sendable {
    var decided: Int
    var changing: Int
    var unread: Int
    var competitionReads: Int

    enum CodingKeys: String, CodingKey {
        case decided, changing, unread, competitionReads = "competition_reads"
    }
}

/// An `apply:` task's result.
struct ApplyTally: Codable, Hashable, Sendable {
    var sent: Int
    var applied: Int
    var failed: Int
    var reconciled: Int
    /// True for a bulk submission (`apply-bulk`); absent otherwise.
    var bulk: Bool?
}
