import FlipSyncCore
import Synchronization

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
    private struct Cached: Sendable {
        var token: IssuedToken
        var usableUntil: Int64
    }

    private let fetch: @Sendable () async throws -> IssuedToken
    private let clock: any SchedulerClock
    private let refreshEarly: TimeSpan
    /// The usable token, behind a lock rather than the actor, so that a request finding it there
    /// (nearly every request) takes it without hopping onto the actor and back.
    private let cached = Mutex<Cached?>(nil)
    private var inFlight: Task<IssuedToken, any Error>?

    public init(refreshEarly: TimeSpan = .seconds(60), clock: any SchedulerClock,
                fetch: @escaping @Sendable () async throws -> IssuedToken) {
        self.fetch = fetch
        self.clock = clock
        self.refreshEarly = refreshEarly
    }

    /// A usable token: the cached one, or a fresh one from the single in-flight request.
    public nonisolated func token() async throws -> IssuedToken {
        if let token = usable() { return token }
        return try await fetched()
    }

    /// The cached token while it is usable.
    private nonisolated func usable() -> IssuedToken? {
        let now = clock.monotonicMilliseconds()
        return cached.withLock { c in c.flatMap { now < $0.usableUntil ? $0.token : nil } }
    }

    /// On the actor: the cached token if another caller stored one meanwhile, else the one
    /// request in flight, started here if there is none.
    private func fetched() async throws -> IssuedToken {
        if let token = usable() { return token }
        if let inFlight { return try await inFlight.value }
        let task = Task { try await self.fetchAndStore() }
        inFlight = task
        return try await task.value
    }

    /// Forgets `token` if it is the cached one; a newer token is kept.
    public func invalidate(_ token: IssuedToken) {
        cached.withLock { c in
            if c?.token == token { c = nil }
        }
    }

    private func fetchAndStore() async throws -> IssuedToken {
        defer { inFlight = nil }
        let started = clock.monotonicMilliseconds()
        let token = try await fetch()
        // Measured from when we asked, so a slow token endpoint cannot make us overstay.
        // A token shorter-lived than twice the margin is used for half its life instead.
        let early = min(refreshEarly.milliseconds, token.expiresIn.milliseconds / 2)
        let entry = Cached(token: token, usableUntil: started + token.expiresIn.milliseconds - early)
        cached.withLock { $0 = entry }
        return token
    }
}
