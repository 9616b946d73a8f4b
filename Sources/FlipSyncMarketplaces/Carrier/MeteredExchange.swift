import FlipSyncCore
import Foundation
import Logging

/// One metered HTTP exchange for the carrier and LLM clients: take a token from the bucket,
/// reserve the call's worst-case cost when it has one, send, and record the call with what it
/// really cost, settling the reservation on every path.
///
/// Costs recorded: what `interpret` says for a usable answer; zero for a non-2xx answer (the
/// providers do not bill refused calls); the estimate for a 2xx answer that cannot be read and
/// for a request sent without an answer (timeout, connection loss, cancellation), since the
/// provider may have billed it; zero with `units` 0 for a request refused before sending.
///
/// Generic on purpose: `EbayClient`'s `Metered.send` could move onto it (it records eBay's
/// flat price and has no reservation today).
struct MeteredExchange: Sendable {
    /// The `[prices.*]` key: `carrier`, `openai`, `ollama`.
    let provider: String
    let transport: any HTTPTransport
    let recorder: any SpendRecorder
    let bucket: TokenBucket
    let logger: Logger

    /// A usable answer: the value and the call to record for it.
    struct Outcome<Value> {
        var value: Value
        var call: MeteredCall
    }

    /// Sends `request`. `estimate` is reserved first when it is above zero, so a budget that
    /// cannot afford it throws `TaskFailure.budgetExhausted` and nothing is sent. `interpret`
    /// turns the response into a value and the call to record, or throws a `MarketplaceError`.
    func send<Value>(_ request: HTTPRequest, operation: String, estimate: Money,
                     interpret: (HTTPResponse) throws -> Outcome<Value>) async throws -> Value {
        try await bucket.acquire()
        let reservation = estimate.micros > 0
            ? try recorder.reserve(provider: provider, operation: operation, estimate: estimate) : nil
        let zero = Money.zero(estimate.currency)
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch let error as HTTPTransportError {
            switch error {
            case .hostNotAllowed, .invalidURL:
                await recorder.record(MeteredCall(provider: provider, operation: operation, units: 0, cost: zero, status: nil),
                                settling: reservation)
            case .timedOut, .connection, .responseTooLarge:
                await recorder.record(MeteredCall(provider: provider, operation: operation, cost: estimate, status: nil),
                                settling: reservation)
            }
            logger.debug("call failed", metadata: ["provider": "\(provider)", "operation": "\(operation)", "error": "\(error)"])
            throw MarketplaceError(error)
        } catch {
            // Cancelled while in flight: the provider may still bill it.
            await recorder.record(MeteredCall(provider: provider, operation: operation, cost: estimate, status: nil), settling: reservation)
            throw error
        }
        logger.debug("call", metadata: ["provider": "\(provider)", "operation": "\(operation)", "status": "\(response.status)"])
        do {
            let outcome = try interpret(response)
            await recorder.record(outcome.call, settling: reservation)
            return outcome.value
        } catch {
            let billed = (200...299).contains(response.status) ? estimate : zero
            await recorder.record(MeteredCall(provider: provider, operation: operation, cost: billed, status: response.status),
                            settling: reservation)
            throw error
        }
    }
}

/// HTTP statuses as `MarketplaceError`s, the same way for every JSON API: 401/403 are auth,
/// 429 is rate limited (with `Retry-After` seconds), 5xx transient, 3xx (never followed) and
/// other 4xx permanent. `apiMessage` extracts the API's own error text from the body.
enum StatusMapping {
    /// `retryAfter` reads a 429's wait (whole seconds by default; Shopify sends fractions).
    static func check(_ response: HTTPResponse, api: String, operation: String,
                      apiMessage: (HTTPResponse) -> String?,
                      retryAfter: (HTTPResponse) -> TimeSpan? = EbayClient.retryAfter) throws(MarketplaceError) {
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
        do {
            return try JSONDecoder().decode(type, from: Data(response.body))
        } catch {
            throw .malformed("\(operation): the body is not the documented JSON (\(EbayClient.decodingSummary(error)))")
        }
    }
}
