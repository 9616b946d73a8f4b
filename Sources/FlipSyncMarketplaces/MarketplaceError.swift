import FlipSyncCore

/// Why a marketplace call failed, typed so callers decide on retrying without parsing text.
///
/// Messages never contain secrets (client secrets, refresh tokens, access tokens): they are
/// built from statuses, operation names and the API's own error text only.
public enum MarketplaceError: RetryClassified, Sendable, Hashable, CustomStringConvertible {
    /// Credentials were refused (a token request failed, or a fresh token was still rejected).
    case auth(String)
    /// HTTP 429; wait at least `retryAfter` (from `Retry-After`) when the server said so.
    case rateLimited(retryAfter: TimeSpan?)
    /// Worth retrying: a 5xx, a timeout, a connection failure.
    case transient(String)
    /// The API refused the request (a 4xx other than 401/403/429), with the API's own message,
    /// e.g. eBay's `errors[].errorId` and `message`.
    case permanent(status: Int, message: String)
    /// A response that does not have the documented shape (bad JSON, missing fields, bad money).
    case malformed(String)
    /// The request was not sent: its host is not allowed, its URL or a value in it is invalid.
    case refused(String)
    /// Not sent: the API's daily quota is used (or reserved for another job), or the provider
    /// said it is exhausted. Not retried: it would be refused again until `resetAt`.
    case quotaExhausted(QuotaRefusal)

    /// When the quota that refused the call resets (milliseconds since the epoch).
    public var quotaResetAt: Int64? {
        if case .quotaExhausted(let refusal) = self { return refusal.resetAt }
        return nil
    }

    public var description: String {
        switch self {
        case .auth(let message): return "authentication failed: \(message)"
        case .rateLimited(let retryAfter):
            return retryAfter.map { "rate limited; retry after \($0)" } ?? "rate limited"
        case .transient(let message): return "transient failure: \(message)"
        case .permanent(let status, let message): return "HTTP \(status): \(message)"
        case .malformed(let message): return "malformed response: \(message)"
        case .refused(let message): return "request refused: \(message)"
        case .quotaExhausted(let refusal): return "quota: \(refusal)"
        }
    }

    /// The run coordinator's view: rate limits and transient failures are retried (after
    /// `Retry-After` if given); everything else would fail the same way again.
    public var taskFailure: TaskFailure {
        switch self {
        case .rateLimited(let retryAfter): return .transient(description, retryAfter: retryAfter)
        case .transient: return .transient(description, retryAfter: nil)
        case .auth, .permanent, .malformed, .refused, .quotaExhausted: return .permanent(description)
        }
    }

    /// A transport failure in these terms: no response is transient, a refused request is not.
    init(_ error: HTTPTransportError) {
        switch error {
        case .hostNotAllowed, .invalidURL: self = .refused(error.description)
        case .timedOut, .connection: self = .transient(error.description)
        case .responseTooLarge: self = .malformed(error.description)
        }
    }
}

/// A credential value (client secret, refresh token, access token) that never shows itself in
/// `description`, `debugDescription`, string interpolation or `dump`.
public struct SecretText: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The value itself, for the one place that puts it on the wire.
    public func reveal() -> String { value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
