import FlipSyncCore
import Foundation
import Synchronization

/// Our view of Shopify's leaky bucket for one app and shop, from the
/// `X-Shopify-Shop-Api-Call-Limit: used/capacity` header of every response.
///
/// The bucket leaks `leakPerSecond` calls a second (2 on standard plans, 4 on Advanced, 20 on
/// Plus); a call that arrives when it is full is answered 429. Before each call `acquire` waits,
/// on the injected clock, until the bucket has room for it: the level last reported, less
/// what has leaked since, plus our calls still in flight (their effect is not in any header
/// yet). Other apps of the same shop do not share this bucket; another process of ours with
/// the same token does, and shows up in the reported level.
///
/// Invariant: every `acquire` is followed by exactly one `finish`.
final class ShopifyCallLimit: Sendable {
    private struct State {
        /// The level Shopify last reported (or our estimate after a call without a header).
        var level: Double = 0
        /// The bucket's size; 40 (standard plans) until a header says otherwise.
        var capacity: Double = 40
        var inFlight = 0
        var last: Int64
    }

    private let state: Mutex<State>
    private let clock: any SchedulerClock
    let leakPerSecond: Double

    init(leakPerSecond: Int, clock: any SchedulerClock) {
        self.clock = clock
        self.leakPerSecond = Double(max(leakPerSecond, 1))
        state = Mutex(State(last: clock.monotonicMilliseconds()))
    }

    /// Counts a call as in flight if the bucket has room for it, or says how long to wait.
    func tryAcquire() -> TimeSpan? {
        let now = clock.monotonicMilliseconds()
        return state.withLock { s in
            s.level = max(0, s.level - Double(now - s.last) / 1000 * leakPerSecond)
            s.last = now
            let needed = s.level + Double(s.inFlight) + 1 - s.capacity
            if needed <= 0 {
                s.inFlight += 1
                return nil
            }
            return TimeSpan(milliseconds: max(1, Int64((needed / leakPerSecond * 1000).rounded(.up))))
        }
    }

    /// Waits until the bucket has room for one more call, and counts it as in flight.
    func acquire() async throws {
        while let wait = tryAcquire() {
            try await clock.sleep(milliseconds: wait.milliseconds)
        }
    }

    /// The call is over: `header` is the response's call-limit header, nil when there was no
    /// response or no header (then the call is assumed to have counted).
    func finish(header: String?) {
        let reported = header.flatMap(Self.parse)
        let now = clock.monotonicMilliseconds()
        state.withLock { s in
            s.inFlight = max(0, s.inFlight - 1)
            s.level = max(0, s.level - Double(now - s.last) / 1000 * leakPerSecond)
            s.last = now
            if let reported {
                s.level = Double(reported.used)
                s.capacity = Double(reported.capacity)
            } else {
                s.level += 1
            }
        }
    }

    /// `"32/40"` → (32, 40); nil unless both are whole numbers and the capacity is positive.
    static func parse(_ header: String) -> (used: Int, capacity: Int)? {
        let parts = header.split(separator: "/")
        guard parts.count == 2, let used = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let capacity = Int(parts[1].trimmingCharacters(in: .whitespaces)), used >= 0, capacity > 0 else { return nil }
        return (used, capacity)
    }
}
