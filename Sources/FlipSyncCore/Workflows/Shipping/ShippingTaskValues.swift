/// Shipping arbitrage's task inputs and results: what the ledger keeps as each task's JSON
/// (`TaskPayload`).

/// The `packaging` task's input: the job's packaging file.
struct PackagingInput: Codable, Hashable, Sendable {
    var path: String
}

/// A `quote:` task's input: one order line.
struct OrderLineInput: Codable, Hashable, Sendable {
    var marketplace: MarketplaceName
    var orderID: String
    var lineID: String
}

/// A `listing:` task's input: one recorded listing of the sweep.
struct ListingInput: Codable, Hashable, Sendable {
    var marketplace: MarketplaceName
    var listingID: String
}

/// A `quote:` or `listing:` task's result: the recommendation's or verdict's status and figures
/// (null when unknown; `saving_micros` only for a quote).
struct ShippingOutcome: Codable, Hashable, Sendable {
    var status: String
    var labelMicros: Int64?
    var marginMicros: Int64?
    var savingMicros: Int64?

    enum CodingKeys: String, CodingKey {
        case status, labelMicros = "label_micros", marginMicros = "margin_micros", savingMicros = "saving_micros"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(labelMicros, forKey: .labelMicros)
        try c.encode(marginMicros, forKey: .marginMicros)
        try c.encode(savingMicros, forKey: .savingMicros)
    }
}
