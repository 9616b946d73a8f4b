/// A rate every node of a cluster takes its turns from: one token bucket per `key`
/// (`provider/bucket`, e.g. `ebay/sell`, `amazon/pricing.getItemOffers`), `ratePerSecond`
/// refilled, holding at most `burst`. A client names one on a call when its local
/// ``TokenBucket`` stands for a limit the provider enforces per account, not per machine.
public struct SharedRate: Sendable, Hashable {
    public var key: String
    public var ratePerSecond: Double
    public var burst: Int

    public init(key: String, ratePerSecond: Double, burst: Int) {
        self.key = key
        self.ratePerSecond = ratePerSecond
        self.burst = burst
    }
}

extension TokenBucket {
    /// The same rate and burst as this bucket, shared cluster-wide under `key`.
    public func shared(_ key: String) -> SharedRate {
        SharedRate(key: key, ratePerSecond: ratePerSecond, burst: Int(burst))
    }
}

/// Where the request pipeline waits, after its node's own token bucket, for a turn of a rate
/// shared by every node (`[daemon] cluster`: a bucket row in PostgreSQL). Without a cluster
/// there is none and nothing waits.
public protocol SharedRateGate: Sendable {
    /// Waits for a token of `rate`'s shared bucket. Throws `CancellationError` when cancelled, and
    /// ``SharedRateDeadline`` when the bucket says the token is further away than `deadline`
    /// (the request's own timeout). What it does when its store fails is the implementation's to
    /// document; it must return or throw within about `deadline`.
    func wait(for rate: SharedRate, deadline: TimeSpan) async throws
}

/// The shared bucket would not have a token for this call within its deadline.
public struct SharedRateDeadline: Error, Sendable, CustomStringConvertible {
    public var key: String
    /// How long the bucket said to wait when the deadline ran out.
    public var retryAfter: TimeSpan

    public init(key: String, retryAfter: TimeSpan) {
        self.key = key
        self.retryAfter = retryAfter
    }

    public var description: String {
        "the cluster-wide rate \(key) has no turn within the request's timeout (next in \(retryAfter.milliseconds) ms)"
    }
}
