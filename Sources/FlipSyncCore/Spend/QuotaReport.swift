/// What `flipsyncctl quota` prints: one row per provider/API of the quota ledger's current
/// windows, as a table or as JSON.
public struct QuotaReport: Sendable, Hashable, Codable {
    public struct Row: Sendable, Hashable, Codable {
        public var provider: String
        public var api: String
        public var used: Int64
        /// nil: counted, no daily limit (Amazon's rate-limited operations, Shopify's points).
        public var limit: Int64?
        public var remaining: Int64?
        public var reserved: Int64
        /// When the window resets (ISO 8601, UTC), and in how many seconds from `now`.
        public var resets: String
        public var resetsInSeconds: Int64
        /// Set while the provider has said the quota is exhausted: calls fail fast until `resets`.
        public var exhausted: Bool
    }

    public var rows: [Row]

    public init(_ usage: [QuotaUsage], now: Int64) {
        rows = usage.map { u in
            let reset = u.exhaustedUntil ?? u.windowEnd
            return Row(provider: u.key.provider, api: u.key.api, used: u.used, limit: u.limit, remaining: u.remaining,
                       reserved: u.reserved, resets: Timestamp(milliseconds: reset).iso8601UTC,
                       resetsInSeconds: max(0, (reset - now) / 1000), exhausted: u.exhaustedUntil != nil)
        }
    }

    /// The table's lines, header first: PROVIDER, API, USED, LIMIT, REMAINING, RESETS, RESERVED.
    public var table: [[String]] {
        [["PROVIDER", "API", "USED", "LIMIT", "REMAINING", "RESETS", "RESERVED"]] + rows.map { row in
            [row.provider, row.api, "\(row.used)", row.limit.map(String.init) ?? "-",
             row.remaining.map(String.init).map { row.exhausted ? "\($0) (exhausted)" : $0 } ?? "-",
             "\(row.resets) (in \(Self.hoursMinutes(row.resetsInSeconds)))", "\(row.reserved)"]
        }
    }

    /// `7h51m`, `12m`, `0m` (rounded down to the minute).
    public static func hoursMinutes(_ seconds: Int64) -> String {
        let minutes = max(0, seconds) / 60
        return minutes >= 60 ? "\(minutes / 60)h\(minutes % 60)m" : "\(minutes)m"
    }
}
