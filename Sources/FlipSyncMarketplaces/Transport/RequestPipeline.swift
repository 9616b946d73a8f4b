import FlipSyncCore
import Foundation
import Logging

/// What a client says about one request: whose it is, which operation, which quota it counts
/// against, how it is rate limited, and how to read its errors. The pipeline does the rest.
struct PipelineCall: Sendable {
    /// The `[prices.*]` key and spend ledger provider: `ebay`, `amazon`, `shopify`, `carrier`, `openai`, `ollama`.
    var provider: String
    /// The operation recorded in the spend ledger (`browse.search`, `pricing.getItemOffers`, …).
    var operation: String
    /// The quota it counts against; nil counts it under (provider, operation) with no limit.
    var quota: QuotaKey?
    /// How many quota units it uses (Shopify: the requested cost points).
    var units: Int64 = 1
    /// The flat price of a sent call (eBay, Amazon, Shopify), or the estimate reserved before
    /// sending and recorded when the answer cannot be read (carrier, LLM).
    var price: Money
    /// The rate limiter for this operation: waits for its turn.
    var limit: @Sendable () async throws -> Void
    /// The same limit as a rate every node of a cluster shares (`provider/bucket`), waited for after
    /// `limit` when the pipeline has a ``SharedRateGate`` (`[daemon] cluster`); nil: this node only.
    var shared: SharedRate? = nil
    /// Told the response (nil when none came) once the rate limiter let the request through:
    /// Amazon adopts `x-amzn-RateLimit-Limit`, Shopify settles its cost bucket.
    var finish: (@Sendable (HTTPResponse?) -> Void)? = nil
    /// The client's error reader: does this response say the daily quota is exhausted?
    var isQuotaExhausted: @Sendable (HTTPResponse) -> Bool = { _ in false }

    var quotaKey: QuotaKey { quota ?? QuotaKey(provider: provider, api: operation) }
}

/// The one way every client's requests go out, in this order:
///
/// 1. host allow-list (`HTTPTransport.admit`): a refused host never reaches the quota;
/// 2. quota ledger: the call is counted against its API's window, or refused without being
///    sent (`MarketplaceError.quotaExhausted`, not retried) when the quota, less other jobs'
///    reserves, is used or the provider said it is exhausted;
/// 3. the operation's rate limiter (token bucket; Shopify's cost bucket too), then, on a
///    cluster, the same rate shared by every node (`SharedRateGate`, for a call that names one):
///    a turn further away than the request's timeout throws `MarketplaceError.rateLimited`
///    (retried by the task's policy) without sending;
/// 4. spend metering: an estimate is reserved before sending when the call has one, and the
///    call recorded with what it cost on every path;
/// 5. the transport.
///
/// A response the client's error reader calls "daily quota exhausted" marks the API exhausted
/// until its window resets, journals one `quota-exhausted` event, and throws
/// `MarketplaceError.quotaExhausted`.
///
/// Costs recorded: the flat price (or what `interpret` says) for an answer; for the
/// `interpret` form, zero for a non-2xx answer (the carriers and LLMs do not bill refused
/// calls) and the estimate for a 2xx answer that cannot be read; the price for a request sent
/// without an answer (timeout, connection loss, cancellation), since the provider may have
/// billed it. A request refused by the allow-list is recorded with `units` 0 by the `interpret`
/// form and not at all by the plain one.
struct RequestPipeline: Sendable {
    let transport: any HTTPTransport
    let recorder: any SpendRecorder
    let quota: (any QuotaLedger)?
    let logger: Logger
    /// The cluster's shared rates; nil on a single node.
    let gate: (any SharedRateGate)?

    init(transport: any HTTPTransport, recorder: any SpendRecorder, quota: (any QuotaLedger)?, logger: Logger,
         gate: (any SharedRateGate)? = nil) {
        self.transport = transport
        self.recorder = recorder
        self.quota = quota
        self.logger = logger
        self.gate = gate
    }

    /// A usable answer: the value and the call to record for it.
    struct Outcome<Value> {
        var value: Value
        var call: MeteredCall
    }

    /// Sends `request` and returns whatever status came back (the client checks it), recording
    /// the call at its flat price.
    func send(_ request: HTTPRequest, _ call: PipelineCall) async throws -> HTTPResponse {
        let admitted = try await admit(request, call, recordRefusal: false)
        try await limit(request, call)
        let response: HTTPResponse
        do {
            response = try await transport.send(admitted)
        } catch {
            call.finish?(nil)
            try await failed(error, call, reservation: nil)
        }
        call.finish?(response)
        await recorder.record(MeteredCall(provider: call.provider, operation: call.operation, cost: call.price, status: response.status))
        logger.debug("call", metadata: ["provider": "\(call.provider)", "operation": "\(call.operation)", "status": "\(response.status)"])
        try checkExhausted(response, call)
        return response
    }

    /// Sends `request`. `call.price` is reserved first when it is above zero, so a budget that
    /// cannot afford it throws `TaskFailure.budgetExhausted` and nothing is sent. `interpret`
    /// turns the response into a value and the call to record, or throws a `MarketplaceError`.
    func send<Value>(_ request: HTTPRequest, _ call: PipelineCall,
                     interpret: (HTTPResponse) throws -> Outcome<Value>) async throws -> Value {
        let admitted = try await admit(request, call, recordRefusal: true)
        try await limit(request, call)
        let estimate = call.price
        let reservation: SpendReservation?
        do {
            reservation = estimate.micros > 0
                ? try recorder.reserve(provider: call.provider, operation: call.operation, estimate: estimate) : nil
        } catch {
            call.finish?(nil)
            throw error
        }
        let zero = Money.zero(estimate.currency)
        let response: HTTPResponse
        do {
            response = try await transport.send(admitted)
        } catch {
            call.finish?(nil)
            try await failed(error, call, reservation: reservation)
        }
        call.finish?(response)
        logger.debug("call", metadata: ["provider": "\(call.provider)", "operation": "\(call.operation)", "status": "\(response.status)"])
        do {
            try checkExhausted(response, call)
            let outcome = try interpret(response)
            await recorder.record(outcome.call, settling: reservation)
            return outcome.value
        } catch {
            let billed = (200...299).contains(response.status) ? estimate : zero
            await recorder.record(MeteredCall(provider: call.provider, operation: call.operation, cost: billed, status: response.status),
                                  settling: reservation)
            throw error
        }
    }

    // MARK: Stages

    /// Stages 1 and 2: the allow-list, then the quota.
    private func admit(_ request: HTTPRequest, _ call: PipelineCall, recordRefusal: Bool) async throws -> AdmittedRequest {
        let admitted: AdmittedRequest
        do {
            admitted = try transport.admit(request)
        } catch {
            if recordRefusal {
                await recorder.record(MeteredCall(provider: call.provider, operation: call.operation, units: 0,
                                                  cost: .zero(call.price.currency), status: nil))
            }
            logger.debug("call refused", metadata: ["provider": "\(call.provider)", "operation": "\(call.operation)", "error": "\(error)"])
            throw MarketplaceError(error)
        }
        guard let quota else { return admitted }
        do {
            try await quota.consumeCommitted(call.quotaKey, units: call.units, job: SpendContext.current?.job)
        } catch {
            logger.debug("call refused by the quota", metadata: ["provider": "\(call.provider)", "operation": "\(call.operation)",
                                                                  "error": "\(error)"])
            throw MarketplaceError.quotaExhausted(error)
        }
        return admitted
    }

    /// Stage 3: this node's bucket, then the cluster's.
    private func limit(_ request: HTTPRequest, _ call: PipelineCall) async throws {
        try await call.limit()
        guard let gate, let shared = call.shared else { return }
        do {
            try await gate.wait(for: shared, deadline: request.timeout)
        } catch let late as SharedRateDeadline {
            call.finish?(nil)
            logger.debug("call refused by the cluster's rate", metadata: ["provider": "\(call.provider)", "operation": "\(call.operation)",
                                                                          "error": "\(late)"])
            throw MarketplaceError.rateLimited(retryAfter: late.retryAfter)
        } catch {
            call.finish?(nil)
            throw error
        }
    }

    /// A response that says the daily quota is spent: mark it, journal it once, stop.
    private func checkExhausted(_ response: HTTPResponse, _ call: PipelineCall) throws {
        guard response.status == 429, call.isQuotaExhausted(response) else { return }
        let key = call.quotaKey
        let (resetAt, first) = quota?.markExhausted(key) ?? (0, true)
        if first {
            let event = QuotaExhaustedEvent(key: key, resetAt: resetAt)
            logger.error("\(event.message)", metadata: event.metadata.mapValues { .string($0) })
        }
        throw MarketplaceError.quotaExhausted(QuotaRefusal(key: key, reason: .exhausted, resetAt: resetAt))
    }

    /// A request that got no response: recorded as sent unless it was refused before sending.
    private func failed(_ error: any Error, _ call: PipelineCall, reservation: SpendReservation?) async throws -> Never {
        let zero = Money.zero(call.price.currency)
        if let error = error as? HTTPTransportError {
            switch error {
            case .hostNotAllowed, .invalidURL:
                if reservation != nil {
                    await recorder.record(MeteredCall(provider: call.provider, operation: call.operation, units: 0, cost: zero, status: nil),
                                          settling: reservation)
                }
            case .timedOut, .connection, .responseTooLarge:
                await recorder.record(MeteredCall(provider: call.provider, operation: call.operation, cost: call.price, status: nil),
                                      settling: reservation)
            }
            logger.debug("call failed", metadata: ["provider": "\(call.provider)", "operation": "\(call.operation)", "error": "\(error)"])
            throw MarketplaceError(error)
        }
        // Cancelled while in flight: the provider may still bill it.
        await recorder.record(MeteredCall(provider: call.provider, operation: call.operation, cost: call.price, status: nil), settling: reservation)
        throw error
    }
}
