import FlipSyncCore
import Foundation
import Synchronization

/// The routes faults can be injected into, by name (`"token"`, `"amazon.offers"`, …). Each
/// API's routes file declares its own in an extension; `SandboxRoute.all` lists them for the
/// admin endpoint's validation.
public struct SandboxRoute: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// eBay's routes.
extension SandboxRoute {
    public static let token = SandboxRoute("token")
    public static let search = SandboxRoute("search")
    /// Browse `getItems` (`GET /buy/browse/v1/item/?item_ids=…`).
    public static let getItems = SandboxRoute("get_items")
    public static let offers = SandboxRoute("offers")
    public static let inventoryItems = SandboxRoute("inventory_items")
    public static let bulkUpdate = SandboxRoute("bulk_update")
}

/// A fault applied to the next `remaining` requests of one route (all of them if nil). With
/// `percent`, each request of the route draws whether the fault applies to it, with that
/// probability, from the sandbox's seeded generator (a run with the same seed and the same
/// requests draws the same); a request it misses is not faulted by it and does not use up
/// `remaining`. The first of a route's faults that applies is the one used. `kind` is a free
/// label: the sandbox counts the faults it applied by route and by kind (`faultsApplied`).
///
/// Applied by `SandboxFaultMiddleware`, in this order: `latencyMilliseconds`, then `expireTokens`
/// (eBay's and Amazon's issued tokens expire, so the request fails authentication; Shopify answers
/// 401), then `status` (in the provider's error shape; 429 carries `Retry-After: retryAfterSeconds`;
/// `errorId` is eBay's), then `redirectTo` (a 302 to that URL), then `malformed` (a 2xx answer's
/// body cut off).
public struct SandboxFault: Sendable, Hashable, Codable {
    public var route: SandboxRoute
    public var remaining: Int?
    public var latencyMilliseconds: Int?
    public var expireTokens: Bool?
    public var status: Int?
    public var retryAfterSeconds: Int?
    public var errorId: Int?
    public var message: String?
    public var redirectTo: String?
    public var malformed: Bool?
    public var percent: Int?
    public var kind: String?
    /// Amazon's routes: `x-amzn-RateLimit-Limit` on the error (the production limiter sets it).
    public var rateLimitLimit: String?

    public init(route: SandboxRoute, remaining: Int? = nil, latencyMilliseconds: Int? = nil, expireTokens: Bool? = nil,
                status: Int? = nil, retryAfterSeconds: Int? = nil, errorId: Int? = nil, message: String? = nil,
                redirectTo: String? = nil, malformed: Bool? = nil, percent: Int? = nil, kind: String? = nil,
                rateLimitLimit: String? = nil) {
        self.percent = percent
        self.kind = kind
        self.rateLimitLimit = rateLimitLimit
        self.redirectTo = redirectTo
        self.route = route
        self.remaining = remaining
        self.latencyMilliseconds = latencyMilliseconds
        self.expireTokens = expireTokens
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.errorId = errorId
        self.message = message
        self.malformed = malformed
    }
}

/// Faults: injected, drawn and applied per request, and the limits checked before them.
extension SandboxState {
    public func inject(_ fault: SandboxFault) { inner.withLock { $0.faults.append(fault) } }
    public func clearFaults() { inner.withLock { $0.faults.removeAll() } }

    /// Counts the request, then applies the limits (`SandboxLimiter`): a refused request is
    /// answered as a 429 fault would be (eBay: errorId 2001; Amazon: `QuotaExceeded` with
    /// `x-amzn-RateLimit-Limit`), and uses up no injected fault. Otherwise takes the first fault
    /// for `route` that applies to it (a `percent` fault draws whether it does), using up one of
    /// its `remaining`, and counts the fault applied. `SandboxFaultMiddleware` calls this for
    /// every faultable request, so it is the one place limits and faults apply. `limitAs` is the table row that counts the
    /// call when it is not `route`'s own (eBay's token endpoint: `token.client_credentials`,
    /// `token.refresh_token`).
    func begin(_ route: SandboxRoute, limitAs: SandboxRoute? = nil) -> SandboxFault? {
        inner.withLock { $0.requests[route.rawValue, default: 0] += 1 }
        if let refusal = limiter.admit(limitAs ?? route) {
            switch refusal {
            case .rate(let limit, _):
                return SandboxFault(route: route, status: 429, errorId: 2001, rateLimitLimit: limit)
            case .daily:
                return SandboxFault(route: route, status: 429, errorId: 2001, rateLimitLimit: limiter.rateHeader(route))
            }
        }
        return inner.withLock { s in
            for index in s.faults.indices where s.faults[index].route == route {
                let fault = s.faults[index]
                if let percent = fault.percent, Int.random(in: 0..<100, using: &s.faultRandom) >= percent { continue }
                if let remaining = fault.remaining {
                    if remaining <= 1 { s.faults.remove(at: index) } else { s.faults[index].remaining = remaining - 1 }
                }
                s.faultsByRoute[route.rawValue, default: 0] += 1
                s.faultsByKind[fault.kind ?? "", default: 0] += 1
                return fault
            }
            return nil
        }
    }

    /// Holds a request for `milliseconds`, counted as in flight; returns early when the server stops.
    func hold(_ route: SandboxRoute, milliseconds: Int) async {
        let waiters = inner.withLock { s in
            s.inFlight[route, default: 0] += 1
            let ready = s.inFlightWaiters.filter { $0.route == route }
            s.inFlightWaiters.removeAll { $0.route == route }
            return ready
        }
        for waiter in waiters { waiter.continuation.resume() }
        defer { inner.withLock { $0.inFlight[route, default: 1] -= 1 } }
        // Short slices so a stopping server is not held up by an injected delay.
        let deadline = clock.monotonicMilliseconds() + Int64(milliseconds)
        while clock.monotonicMilliseconds() < deadline, !inner.withLock({ $0.stopping }), !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(min(20, max(1, deadline - clock.monotonicMilliseconds()))))
        }
    }

    /// Requests to `route` being held by an injected latency right now (for tests that check
    /// which calls are in flight together).
    public func heldCount(_ route: SandboxRoute) -> Int { inner.withLock { $0.inFlight[route, default: 0] } }

    /// Returns once a request to `route` is being held by an injected latency (for tests that
    /// must act while a request is in flight, without sleeping).
    public func waitUntilHeld(_ route: SandboxRoute) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let already = inner.withLock { s in
                if s.inFlight[route, default: 0] > 0 { return true }
                s.inFlightWaiters.append((route, continuation))
                return false
            }
            if already { continuation.resume() }
        }
    }

    func markStopping() {
        let waiters = inner.withLock { s in
            s.stopping = true
            defer { s.inFlightWaiters.removeAll() }
            return s.inFlightWaiters
        }
        for waiter in waiters { waiter.continuation.resume() }
        releaseUpdateWaiters()
    }
}
