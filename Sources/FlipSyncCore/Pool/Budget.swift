import Synchronization

/// A spend cap checked before every paid call. A call first reserves its worst-case cost, so
/// concurrent tasks cannot overshoot together; when it finishes it settles at the real cost.
public final class Budget: Sendable {
    public struct Exceeded: Error, Sendable, CustomStringConvertible {
        public var limit: Money
        public var spent: Money
        public var requested: Money
        public var description: String {
            "budget of \(limit) exhausted: \(spent) spent or reserved, \(requested) more needed"
        }
    }

    /// A reserved amount, settled once.
    public struct Reservation: Sendable {
        public let amount: Money
        let id: Int
    }

    private struct State {
        var spent: Int64 = 0
        var reserved: [Int: Int64] = [:]
        var nextID = 0
        var warned = false
    }

    public let limit: Money?
    private let state = Mutex(State())
    private let onWarning: @Sendable (Money, Money) -> Void

    /// `onWarning(spent, limit)` is called once, when spending first reaches 80%.
    public init(limit: Money?, onWarning: @escaping @Sendable (Money, Money) -> Void = { _, _ in }) {
        self.limit = limit
        self.onWarning = onWarning
    }

    public var spentMicros: Int64 { state.withLock { $0.spent } }

    public func reserve(_ amount: Money) throws(Exceeded) -> Reservation {
        let result = state.withLock { s -> Result<Reservation, Exceeded> in
            let committed = s.spent + s.reserved.values.reduce(0, +)
            if let limit, committed + amount.micros > limit.micros {
                return .failure(Exceeded(limit: limit, spent: Money(micros: committed, currency: limit.currency), requested: amount))
            }
            s.nextID += 1
            s.reserved[s.nextID] = amount.micros
            return .success(Reservation(amount: amount, id: s.nextID))
        }
        return try result.get()
    }

    /// Settles a reservation at what the call really cost (0 if it was not made).
    public func settle(_ reservation: Reservation, actual: Money) {
        let warning = state.withLock { s -> (Int64, Int64)? in
            guard s.reserved.removeValue(forKey: reservation.id) != nil else { return nil }
            s.spent += actual.micros
            if let limit, !s.warned, s.spent * 10 >= limit.micros * 8 {
                s.warned = true
                return (s.spent, limit.micros)
            }
            return nil
        }
        if let (spent, limitMicros) = warning, let limit {
            onWarning(Money(micros: spent, currency: limit.currency), Money(micros: limitMicros, currency: limit.currency))
        }
    }
}
