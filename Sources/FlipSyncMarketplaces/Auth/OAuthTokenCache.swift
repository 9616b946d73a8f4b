import FlipSyncCore

/// An OAuth access token as issued: the value (redacted in descriptions) and its lifetime.
public struct IssuedToken: Sendable, Hashable {
    public var accessToken: SecretText
    public var expiresIn: TimeSpan
    public var tokenType: String

    public init(accessToken: SecretText, expiresIn: TimeSpan, tokenType: String) {
        self.accessToken = accessToken
        self.expiresIn = expiresIn
        self.tokenType = tokenType
    }
}

/// One OAuth access token, shared by every request made with one credential.
///
/// Invariants:
/// - A token is reused until `refreshEarly` before it expires (on `clock`'s monotonic time;
///   half its lifetime before, for tokens shorter than twice that).
/// - At most one token request is in flight: concurrent callers that find no usable token all
///   await the same request.
/// - `invalidate(_:)` drops a token the server rejected (HTTP 401), but only if it is still the
///   cached one, so many requests failing with the same stale token cause a single refresh.
/// - A failed token request is not cached: the next caller tries again.
public actor OAuthTokenCache {
    private struct Cached {
        var token: IssuedToken
        var usableUntil: Int64
    }

    private let fetch: @Sendable () async throws -> IssuedToken
    private let clock: any SchedulerClock
    private let refreshEarly: TimeSpan
    private var cached: Cached?
    private var inFlight: Task<IssuedToken, any Error>?

    public init(refreshEarly: TimeSpan = .seconds(60), clock: any SchedulerClock,
                fetch: @escaping @Sendable () async throws -> IssuedToken) {
        self.fetch = fetch
        self.clock = clock
        self.refreshEarly = refreshEarly
    }

    /// A usable token: the cached one, or a fresh one from the single in-flight request.
    public func token() async throws -> IssuedToken {
        if let cached, clock.monotonicMilliseconds() < cached.usableUntil { return cached.token }
        if let inFlight { return try await inFlight.value }
        let task = Task { try await self.fetchAndStore() }
        inFlight = task
        return try await task.value
    }

    /// Forgets `token` if it is the cached one; a newer token is kept.
    public func invalidate(_ token: IssuedToken) {
        if cached?.token == token { cached = nil }
    }

    private func fetchAndStore() async throws -> IssuedToken {
        defer { inFlight = nil }
        let started = clock.monotonicMilliseconds()
        let token = try await fetch()
        // Measured from when we asked, so a slow token endpoint cannot make us overstay.
        // A token shorter-lived than twice the margin is used for half its life instead.
        let early = min(refreshEarly.milliseconds, token.expiresIn.milliseconds / 2)
        cached = Cached(token: token, usableUntil: started + token.expiresIn.milliseconds - early)
        return token
    }
}
