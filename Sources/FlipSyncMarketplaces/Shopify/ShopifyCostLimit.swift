import FlipSyncCore
import Synchronization

/// Our view of Shopify's GraphQL cost bucket for one app and shop, from the
/// `extensions.cost.throttleStatus` of every response (`maximumAvailable`,
/// `currentlyAvailable`, `restoreRate` points a second).
///
/// Before each query `acquire` waits, on the injected clock, until the bucket holds the
/// query's requested cost: the points last reported, plus what has been restored since, less
/// the requested cost of our queries still in flight. Until a response has reported the
/// bucket, queries are sent without waiting. A query answered `THROTTLED` anyway (another
/// process of ours drained the bucket) waits `(requestedQueryCost − currentlyAvailable) /
/// restoreRate` seconds and is sent again (`throttledWait`).
/// Reference: https://shopify.dev/docs/api/usage/limits#graphql-admin-api-rate-limits.
///
/// Invariant: every `acquire` is followed by exactly one `finish`.
final class ShopifyCostLimit: Sendable {
    struct ThrottleStatus: Sendable, Hashable, Decodable {
        var maximumAvailable: Double
        var currentlyAvailable: Double
        var restoreRate: Double
    }

    private struct State {
        var status: ThrottleStatus?
        var last: Int64
        var inFlight: Double = 0
    }

    private let state: Mutex<State>
    private let clock: any SchedulerClock

    init(clock: any SchedulerClock) {
        self.clock = clock
        state = Mutex(State(last: clock.monotonicMilliseconds()))
    }

    private static func restore(_ s: inout State, now: Int64) {
        guard var status = s.status else { return }
        status.currentlyAvailable = min(status.maximumAvailable,
                                        status.currentlyAvailable + Double(now - s.last) / 1000 * status.restoreRate)
        s.status = status
        s.last = now
    }

    /// Counts `cost` as in flight if the bucket holds it, or says how long to wait.
    func tryAcquire(cost: Double) -> TimeSpan? {
        let now = clock.monotonicMilliseconds()
        return state.withLock { s in
            Self.restore(&s, now: now)
            guard let status = s.status else {
                s.inFlight += cost
                return nil
            }
            // A query costing more than the whole bucket waits for a full one (Shopify refuses it if it is over its max cost).
            let needed = min(cost, status.maximumAvailable) + s.inFlight - status.currentlyAvailable
            if needed <= 0 {
                s.inFlight += cost
                return nil
            }
            return TimeSpan(milliseconds: max(1, Int64((needed / max(status.restoreRate, 0.001) * 1000).rounded(.up))))
        }
    }

    /// Waits until the bucket holds `cost` points, and counts them as in flight.
    func acquire(cost: Double) async throws {
        while let wait = tryAcquire(cost: cost) {
            try await clock.sleep(milliseconds: wait.milliseconds)
        }
    }

    /// The query is over: `reported` is its response's throttle status (nil without one).
    func finish(cost: Double, reported: ThrottleStatus?) {
        let now = clock.monotonicMilliseconds()
        state.withLock { s in
            s.inFlight = max(0, s.inFlight - cost)
            Self.restore(&s, now: now)
            if let reported {
                s.status = reported
                s.last = now
            }
        }
    }

    /// How long a `THROTTLED` query of `requested` points waits before it is sent again.
    static func throttledWait(requested: Double, status: ThrottleStatus) -> TimeSpan {
        let missing = max(0, min(requested, status.maximumAvailable) - status.currentlyAvailable)
        return TimeSpan(milliseconds: max(1, Int64((missing / max(status.restoreRate, 0.001) * 1000).rounded(.up))))
    }

    var status: ThrottleStatus? { state.withLock { $0.status } }
}
