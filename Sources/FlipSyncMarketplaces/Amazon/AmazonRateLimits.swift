import FlipSyncCore
import Foundation
import Synchronization

/// One token bucket per SP-API operation for one seller (Amazon's usage plans are per
/// operation and per selling partner), which takes the server's word for the rate.
///
/// The first bucket of an operation comes from the shared `RateLimiters` (key
/// `amazon|HOST|SELLER|OPERATION`), so clients for the same seller share it. When a response's
/// `x-amzn-RateLimit-Limit` header states a different rate, the operation switches to a new
/// bucket at that rate, with the configured burst, starting empty so the switch cannot add a
/// burst of its own. (The shared `TokenBucket` cannot change its rate in place; the adopted
/// bucket is this client's own until it can.)
final class AmazonOperationLimits: Sendable {
    private let buckets: Mutex<[AmazonOperation: TokenBucket]>
    private let rates: [AmazonOperation: AmazonRate]
    private let clock: any SchedulerClock

    init(rateLimiters: RateLimiters, key: (AmazonOperation) -> String, rates: [AmazonOperation: AmazonRate],
         clock: any SchedulerClock) {
        self.rates = rates
        self.clock = clock
        var initial: [AmazonOperation: TokenBucket] = [:]
        for operation in AmazonOperation.allCases {
            let rate = rates[operation] ?? operation.defaultRate
            let (requests, per) = Self.fraction(rate.requestsPerSecond)
            initial[operation] = rateLimiters.bucket(key(operation), requests: requests, per: per, burst: rate.burst)
        }
        buckets = Mutex(initial)
    }

    func bucket(_ operation: AmazonOperation) -> TokenBucket {
        buckets.withLock { $0[operation]! }
    }

    /// Requests per second now in force for `operation`.
    func rate(_ operation: AmazonOperation) -> Double {
        bucket(operation).ratePerSecond
    }

    /// Adopts the rate in an `x-amzn-RateLimit-Limit` value (requests per second, e.g. `0.5`),
    /// when it is a positive number that differs from the current one by more than 0.1%.
    func adopt(_ operation: AmazonOperation, header: String?) {
        guard let text = header?.trimmingCharacters(in: .whitespaces), let advertised = Double(text),
              advertised.isFinite, advertised > 0 else { return }
        buckets.withLock { b in
            let current = b[operation]!.ratePerSecond
            guard abs(advertised - current) > current * 0.001 else { return }
            let (requests, per) = Self.fraction(advertised)
            let burst = (rates[operation] ?? operation.defaultRate).burst
            let bucket = TokenBucket(requests: requests, per: per, burst: burst, clock: clock)
            bucket.drain()
            b[operation] = bucket
        }
    }

    /// A rate in requests per second as `requests` per `per`, exact to a millionth of a request
    /// per second (so 0.0167/s stays 0.0167/s, not 1 per 60 s).
    static func fraction(_ perSecond: Double) -> (requests: Int, per: TimeSpan) {
        (max(1, Int((perSecond * 1_000_000).rounded())), .seconds(1_000_000))
    }
}
