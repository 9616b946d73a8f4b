import FlipSyncCore
import Foundation

/// A JSON API's response read the same way for every client: statuses as `MarketplaceError`s
/// (401/403 are auth, 429 is rate limited with `Retry-After` seconds, 5xx transient, 3xx (never
/// followed) and other 4xx permanent; `apiMessage` extracts the API's own error text from the
/// body), and the body decoded as the documented JSON or `.malformed` saying where it is not.
enum StatusMapping {
    /// `retryAfter` reads a 429's wait (whole seconds by default; Shopify sends fractions).
    static func check(_ response: HTTPResponse, api: String, operation: String,
                      apiMessage: (HTTPResponse) -> String?,
                      retryAfter: (HTTPResponse) -> TimeSpan? = StatusMapping.retryAfter) throws(MarketplaceError) {
        func message() -> String { apiMessage(response) ?? "HTTP \(response.status) without a \(api) error body" }
        switch response.status {
        case 200...299: return
        case 401, 403: throw .auth("\(api) refused \(operation) (HTTP \(response.status)): \(message())")
        case 429: throw .rateLimited(retryAfter: retryAfter(response))
        case 300...399: throw .permanent(status: response.status, message: "\(operation) answered with a redirect, which is not followed")
        case 500...599: throw .transient("\(api) \(operation) answered HTTP \(response.status): \(message())")
        default: throw .permanent(status: response.status, message: message())
        }
    }

    /// The documented JSON, or `.malformed` saying where decoding failed (never echoing the body).
    static func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse, operation: String) throws(MarketplaceError) -> T {
        try decodeWithJSONDecoder(type, response, operation: operation)
    }

    /// The same for the wire types the fast path reads (`JSONFastPath`): its answer when it has
    /// one, `JSONDecoder`'s (value or error) when it gives up.
    static func decode<T: FastJSONDecodable>(_ type: T.Type, _ response: HTTPResponse, operation: String) throws(MarketplaceError) -> T {
        if let value = T.fast(response.body) { return value }
        return try decodeWithJSONDecoder(type, response, operation: operation)
    }

    static func decodeWithJSONDecoder<T: Decodable>(_ type: T.Type, _ response: HTTPResponse, operation: String) throws(MarketplaceError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(response.body))
        } catch {
            throw .malformed("\(operation): the body is not the documented JSON (\(decodingSummary(error)))")
        }
    }

    /// `Retry-After` in whole seconds. (The HTTP-date form is not used by eBay or Amazon and is
    /// ignored; Shopify sends fractions and reads its own.)
    static func retryAfter(_ response: HTTPResponse) -> TimeSpan? {
        guard let text = response.header("Retry-After"), let seconds = Int64(text.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return .seconds(seconds)
    }

    /// Where decoding failed, without echoing any of the body.
    static func decodingSummary(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "not JSON" }
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "top level" : p
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing \"\(key.stringValue)\" at \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "wrong type at \(path(context))"
        case .dataCorrupted(let context): return "not valid JSON at \(path(context))"
        @unknown default: return "undecodable"
        }
    }
}
