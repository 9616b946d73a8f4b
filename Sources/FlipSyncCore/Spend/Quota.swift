/// One counted API of one provider: `ebay`/`browse`, `amazon`/`getItemOffers`, `shopify`/`graphql`.
public struct QuotaKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var provider: String
    public var api: String

    public init(provider: String, api: String) {
        self.provider = provider
        self.api = api
    }

    public var description: String { "\(provider).\(api)" }

    public static func < (a: QuotaKey, b: QuotaKey) -> Bool { (a.provider, a.api) < (b.provider, b.api) }
}

/// A share of a quota kept for one job kind (`marketplace-sync`) or one job name: a percentage
/// of the limit or a number of calls.
public enum QuotaShare: Sendable, Hashable, CustomStringConvertible {
    case percent(Int)
    case calls(Int64)

    /// The calls this share keeps out of `limit`, rounded up.
    public func calls(of limit: Int64) -> Int64 {
        switch self {
        case .percent(let p): return (limit * Int64(p) + 99) / 100
        case .calls(let n): return min(n, limit)
        }
    }

    public var description: String {
        switch self {
        case .percent(let p): return "\(p)%"
        case .calls(let n): return "\(n)"
        }
    }
}

/// Which APIs have a quota, how long their windows are, and the shares kept for jobs.
///
/// Windows are local days of a zone (`America/Los_Angeles` for eBay: its quotas reset at
/// midnight Pacific time, DST included). An API with no limit is still counted (Amazon's
/// operations, whose limits are rates, not daily quotas; Shopify's cost points).
///
/// Reserves: a share kept for a job kind or a job name (a job name wins over its kind). A call
/// made for any other job — or outside a job — is refused once `used` reaches
/// `limit − (the reserves that are not its own)`, whatever the reserving job has used so far;
/// a job with a reserve may use the quota up to its limit.
public struct QuotaPolicy: Sendable {
    public var limits: [QuotaKey: Int64]
    public var zones: [String: ZoneRules]
    public var defaultZone: ZoneRules
    public var reserves: [String: QuotaShare]
    /// Job name → job kind, to find a job's reserve by kind.
    public var jobKinds: [String: String]

    public init(limits: [QuotaKey: Int64] = QuotaPolicy.documentedLimits, zones: [String: ZoneRules] = [:],
                defaultZone: ZoneRules = .utc, reserves: [String: QuotaShare] = [:], jobKinds: [String: String] = [:]) {
        self.limits = limits
        self.zones = zones
        self.defaultZone = defaultZone
        self.reserves = reserves
        self.jobKinds = jobKinds
    }

    /// eBay's default daily call limits per application (developer.ebay.com, "API call limits"):
    /// Browse 5,000 (all methods but getItems), Browse getItems 5,000, OAuth refresh-token
    /// grants 50,000, client-credentials grants 1,000.
    public static let documentedLimits: [QuotaKey: Int64] = [
        QuotaKey(provider: "ebay", api: "browse"): 5_000,
        QuotaKey(provider: "ebay", api: "browse_get_items"): 5_000,
        QuotaKey(provider: "ebay", api: "oauth_refresh_token"): 50_000,
        QuotaKey(provider: "ebay", api: "oauth_client_credentials"): 1_000,
    ]

    /// The zone eBay's daily quotas reset in.
    public static let pacificZoneName = "America/Los_Angeles"

    /// The policy with eBay's windows in Pacific time (when the zone file can be read).
    public static func standard(limits: [QuotaKey: Int64] = documentedLimits, reserves: [String: QuotaShare] = [:],
                                jobKinds: [String: String] = [:]) -> QuotaPolicy {
        var zones: [String: ZoneRules] = [:]
        if let pacific = try? ZoneRules.named(pacificZoneName) { zones["ebay"] = pacific }
        return QuotaPolicy(limits: limits, zones: zones, reserves: reserves, jobKinds: jobKinds)
    }

    public func zone(of provider: String) -> ZoneRules { zones[provider] ?? defaultZone }

    /// The window (half-open, milliseconds since the epoch) containing `now` for `key`.
    public func window(_ key: QuotaKey, at now: Int64) -> Range<Int64> {
        LocalPeriods(zone: zone(of: key.provider)).day(containing: now)
    }

    /// The share kept for `job` (by name, else by kind), if any.
    public func reserveKey(for job: String?) -> String? {
        guard let job else { return nil }
        if reserves[job] != nil { return job }
        if let kind = jobKinds[job], reserves[kind] != nil { return kind }
        return nil
    }

    /// The most `job` may bring `used` to in a window of `limit` calls: the limit minus the
    /// reserves that are not its own.
    public func ceiling(limit: Int64, for job: String?) -> Int64 {
        let own = reserveKey(for: job)
        let kept = reserves.filter { $0.key != own }.values.reduce(Int64(0)) { $0 + $1.calls(of: limit) }
        return max(0, limit - kept)
    }

    /// Calls reserved for others, as the `RESERVED` column shows: all reserves of `limit`.
    public func reserved(limit: Int64) -> Int64 {
        min(limit, reserves.values.reduce(Int64(0)) { $0 + $1.calls(of: limit) })
    }
}

/// What a quota ledger does with a call: count it, or refuse it (nothing counted) and why.
public enum QuotaVerdict: Sendable, Hashable {
    case allowed
    case refused(QuotaRefusal)
}

extension QuotaPolicy {
    /// The quota rule every ledger applies (SQLite's and PostgreSQL's), to `units` more calls
    /// to `key` for `job` when its current window (ending at `windowEnd`) holds `used` calls and
    /// the provider's exhaustion mark `exhaustedUntil`. In this order: refused `.exhausted`
    /// while that mark is later than `now` (until the mark); then, for an API with a limit,
    /// `.limitReached` when `used + units` would pass the limit, and `.reserved` when it would
    /// pass the limit less the reserves that are not `job`'s own (both until the window's end).
    /// Reaching a bound exactly is allowed. An API with no limit is refused only while exhausted.
    public func verdict(_ key: QuotaKey, used: Int64, units: Int64, exhaustedUntil: Int64?, now: Int64, windowEnd: Int64,
                        job: String?) -> QuotaVerdict {
        if let exhaustedUntil, exhaustedUntil > now {
            return .refused(QuotaRefusal(key: key, reason: .exhausted, resetAt: exhaustedUntil))
        }
        guard let limit = limits[key] else { return .allowed }
        if used + units > limit { return .refused(QuotaRefusal(key: key, reason: .limitReached, resetAt: windowEnd)) }
        if used + units > ceiling(limit: limit, for: job) {
            return .refused(QuotaRefusal(key: key, reason: .reserved, resetAt: windowEnd))
        }
        return .allowed
    }
}

/// What a quota ledger holds for one API's window: the calls counted and the exhaustion mark.
public struct QuotaRecord: Sendable, Hashable {
    public var key: QuotaKey
    public var windowStart: Int64
    public var used: Int64
    public var exhaustedUntil: Int64?

    public init(key: QuotaKey, windowStart: Int64, used: Int64, exhaustedUntil: Int64?) {
        self.key = key
        self.windowStart = windowStart
        self.used = used
        self.exhaustedUntil = exhaustedUntil
    }
}

extension QuotaPolicy {
    /// The current window of every API with a limit or a call counted, from a ledger's `records`
    /// (those of other windows are passed over), sorted by key.
    public func usage(records: [QuotaRecord], now: Int64) -> [QuotaUsage] {
        var current: [QuotaKey: QuotaRecord] = [:]
        for record in records where record.windowStart == window(record.key, at: now).lowerBound { current[record.key] = record }
        return Set(limits.keys).union(current.keys).sorted().map { key in
            let window = window(key, at: now)
            let record = current[key]
            let limit = limits[key]
            return QuotaUsage(key: key, windowStart: window.lowerBound, windowEnd: window.upperBound, used: record?.used ?? 0,
                              limit: limit, reserved: limit.map { reserved(limit: $0) } ?? 0,
                              exhaustedUntil: record?.exhaustedUntil.flatMap { $0 > now ? $0 : nil })
        }
    }
}

/// Why a call was not let through the quota.
public struct QuotaRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// The provider said the daily quota is spent (a 429): no call until the reset.
        case exhausted
        /// The counted calls reached the limit.
        case limitReached
        /// The calls left are reserved for another job.
        case reserved
    }

    public var key: QuotaKey
    public var reason: Reason
    /// When the window resets, in milliseconds since the epoch.
    public var resetAt: Int64

    public init(key: QuotaKey, reason: Reason, resetAt: Int64) {
        self.key = key
        self.reason = reason
        self.resetAt = resetAt
    }

    public var description: String {
        let reset = Timestamp(milliseconds: resetAt).iso8601UTC
        switch reason {
        case .exhausted: return "\(key) daily quota exhausted; resets at \(reset)"
        case .limitReached: return "\(key) daily quota used up; resets at \(reset)"
        case .reserved: return "\(key) calls left today are reserved for another job; resets at \(reset)"
        }
    }
}

/// One API's current window, as `flipsyncctl quota` shows it.
public struct QuotaUsage: Sendable, Hashable {
    public var key: QuotaKey
    public var windowStart: Int64
    public var windowEnd: Int64
    public var used: Int64
    public var limit: Int64?
    public var reserved: Int64
    public var exhaustedUntil: Int64?

    public init(key: QuotaKey, windowStart: Int64, windowEnd: Int64, used: Int64, limit: Int64?, reserved: Int64,
                exhaustedUntil: Int64?) {
        self.key = key
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.used = used
        self.limit = limit
        self.reserved = reserved
        self.exhaustedUntil = exhaustedUntil
    }

    /// What is left in the window (0 while exhausted), nil when the API has no limit.
    public var remaining: Int64? {
        guard let limit else { return nil }
        if exhaustedUntil != nil { return 0 }
        return max(0, limit - used)
    }
}

/// The quota ledger: every call counted per provider, API and window; calls refused before they
/// are sent once the quota (less the reserves of other jobs) is used, or once the provider said
/// it is exhausted, until the window resets.
public protocol QuotaLedger: Sendable {
    /// Counts `units` against `key`'s current window for `job` (a job name, nil outside a job),
    /// or throws why not; nothing is counted when refused.
    func consume(_ key: QuotaKey, units: Int64, job: String?) throws(QuotaRefusal)
    /// As `consume`, for a caller that may suspend (the request pipeline): a ledger whose writes
    /// are group-committed counts the call in the next group transaction instead of a write
    /// transaction of its own, and the caller's thread is free while it waits. The same check
    /// and count, in one transaction; by default, `consume` itself.
    func consumeCommitted(_ key: QuotaKey, units: Int64, job: String?) async throws(QuotaRefusal)
    /// Marks `key` exhausted until its window's end. Returns the reset time, and whether this
    /// call marked it (false when it already was), so the event is journaled once.
    func markExhausted(_ key: QuotaKey) -> (resetAt: Int64, first: Bool)
    /// Every API counted or limited, in its current window.
    func usage() -> [QuotaUsage]
}

extension QuotaLedger {
    public func consumeCommitted(_ key: QuotaKey, units: Int64, job: String?) async throws(QuotaRefusal) {
        try consume(key, units: units, job: job)
    }

    /// What `job` may still use of each limited API in the current window: the limit less what
    /// is used, less the reserves of other jobs (0 while exhausted).
    public func remaining(for job: String?, policy: QuotaPolicy) -> [QuotaKey: Int64] {
        var left: [QuotaKey: Int64] = [:]
        for row in usage() {
            guard let limit = row.limit else { continue }
            left[row.key] = row.exhaustedUntil != nil ? 0 : max(0, policy.ceiling(limit: limit, for: job) - row.used)
        }
        return left
    }
}

/// The journal's `quota-exhausted` event: fields `provider`, `api`, `reset`.
public struct QuotaExhaustedEvent: Sendable, Hashable {
    public var key: QuotaKey
    public var resetAt: Int64

    public init(key: QuotaKey, resetAt: Int64) {
        self.key = key
        self.resetAt = resetAt
    }

    public var message: String { "\(key) daily quota exhausted; calls to it stop until \(Timestamp(milliseconds: resetAt).iso8601UTC)" }
    public var metadata: [String: String] {
        ["event": "quota-exhausted", "provider": key.provider, "api": key.api, "reset": Timestamp(milliseconds: resetAt).iso8601UTC]
    }
}

extension QuotaPolicy {
    /// From the config: eBay's documented limits overridden by `[marketplaces.ebay] daily_quota`,
    /// eBay's windows in Pacific time, `[quotas] reserve`, and each job's kind.
    public init(config: FlipSyncConfig, jobs: [JobDefinition]) {
        var limits = QuotaPolicy.documentedLimits
        for (name, marketplace) in config.marketplaces {
            for (api, limit) in marketplace.dailyQuota { limits[QuotaKey(provider: name.rawValue, api: api)] = limit }
        }
        self = .standard(limits: limits, reserves: config.quotaReserves,
                         jobKinds: Dictionary(jobs.map { ($0.name, $0.kind.rawValue) }, uniquingKeysWith: { first, _ in first }))
    }
}
