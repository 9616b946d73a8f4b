import FlipSyncCore
import Synchronization
import Testing

/// A gate the first batch's write waits at, opened by the test: what arrives meanwhile queues.
private final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiter: CheckedContinuation<Void, Never>?, arrived: CheckedContinuation<Void, Never>?, hasArrived: Bool)>(
        (false, nil, nil, false))

    func pass() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (now, arrived) = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
                s.hasArrived = true
                defer { s.arrived = nil }
                if s.open { return (true, s.arrived) }
                s.waiter = continuation
                return (false, s.arrived)
            }
            arrived?.resume()
            if now { continuation.resume() }
        }
    }

    /// Returns once a write waits at the gate.
    func arrival() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.hasArrived { return true }
                s.arrived = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    func open() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.open = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }
}

@Suite("WriteCoalescerTests: writes that arrive while one is on its way go together in the next", .timeLimit(.minutes(1)))
struct WriteCoalescerTests {
    @Test("a lone write goes at once; the 25 that arrive while it is on its way go in batches of at most 10, in arrival order; each caller gets its own result")
    func batches() async throws {
        let gate = Gate()
        let seen = Mutex<[[Int]]>([])
        let coalescer = WriteCoalescer<Int, Int>(maxBatch: 10) { batch in
            seen.withLock { $0.append(batch) }
            await gate.pass()
            return batch.map { .success($0 * 2) }
        }
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            group.addTask { (0, try await coalescer.submit(0)) }
            await gate.arrival()
            // The first batch ([0]) is on its way; these queue behind it, in this order.
            for i in 1...25 {
                group.addTask { (i, try await coalescer.submit(i)) }
            }
            while seen.withLock({ $0.count }) == 1, coalescer.waiting < 25 { await Task.yield() }
            gate.open()
            var results: [Int: Int] = [:]
            for try await (input, output) in group { results[input] = output }
            #expect(results == Dictionary(uniqueKeysWithValues: (0...25).map { ($0, $0 * 2) }))
        }
        let batches = seen.withLock { $0 }
        #expect(batches.first == [0])
        #expect(batches.dropFirst().map(\.count) == [10, 10, 5])
        #expect(Set(batches.dropFirst().flatMap { $0 }) == Set(1...25))
        #expect(coalescer.batchesWritten == 4)
    }

    @Test("allOrEach: the whole batch at once; when it fails, each item alone, so the bad one fails and the others succeed; a lone item that fails is not tried again")
    func allOrEach() async {
        struct Bad: Error {}
        let tries = Mutex(0)
        let results = await WriteCoalescer<Int, Int>.allOrEach([1, 2, 3, 4], all: { items in
            tries.withLock { $0 += 1 }
            if items.contains(3) { throw Bad() }
            return items
        }, one: { item in
            if item == 3 { throw Bad() }
            return item * 10
        })
        #expect(results.map { try? $0.get() } == [10, 20, nil, 40])
        #expect(tries.withLock { $0 } == 1)
        let alone = await WriteCoalescer<Int, Int>.allOrEach([3], all: { _ in throw Bad() }, one: { _ in
            Issue.record("a lone item is not tried again")
            return 0
        })
        #expect(alone.count == 1 && (try? alone[0].get()) == nil)
        let fine = await WriteCoalescer<Int, Int>.allOrEach([5, 6], all: { $0.map { $0 + 1 } }, one: { _ in
            Issue.record("no retry when the batch succeeds")
            return 0
        })
        #expect(fine.map { try? $0.get() } == [6, 7])
    }
}
