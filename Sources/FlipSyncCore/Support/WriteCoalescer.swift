import Synchronization

/// Writes that arrive while one is on its way go together in the next: the pattern of the SQLite
/// ledger's group commit, for async writers of a remote database (PostgreSQL), where each
/// statement costs a round trip and the rows in it cost little. A lone write goes at once;
/// under load the batches grow by themselves, up to `maxBatch`. Nothing waits for a timer.
///
/// `write` gets a batch (in arrival order) and returns one result per item, in order; it must
/// end by itself in bounded time (its statements have deadlines). A caller returns its item's
/// result once the batch holding it is written. A caller cancelled while waiting still gets its
/// result: the batch may already be on its way, as a statement of its own would be.
///
/// The writer is a task of its own, started by the first write into an idle coalescer and
/// ending when nothing is left; `write` is never called for an empty batch.
public final class WriteCoalescer<Input: Sendable, Output: Sendable>: Sendable {
    public typealias Write = @Sendable ([Input]) async -> [Result<Output, any Error>]

    private struct Waiting {
        var input: Input
        var continuation: CheckedContinuation<Output, any Error>
    }
    private struct State {
        var queue: [Waiting] = []
        var writing = false
    }

    private let state = Mutex(State())
    private let write: Write
    public let maxBatch: Int
    private let batches = Atomic(0)

    public init(maxBatch: Int, write: @escaping Write) {
        self.maxBatch = max(1, maxBatch)
        self.write = write
    }

    /// Batches written so far (for tests and the bench).
    public var batchesWritten: Int { batches.load(ordering: .relaxed) }

    /// Items queued for the next batch (for tests).
    public var waiting: Int { state.withLock { $0.queue.count } }

    /// Writes `input` in the next batch and returns its result.
    public func submit(_ input: Input) async throws -> Output {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Output, any Error>) in
            let start = state.withLock { s -> Bool in
                s.queue.append(Waiting(input: input, continuation: continuation))
                guard !s.writing else { return false }
                s.writing = true
                return true
            }
            if start { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { s -> [Waiting] in
                let count = min(s.queue.count, maxBatch)
                if count == 0 { s.writing = false }
                defer { s.queue.removeFirst(count) }
                return Array(s.queue.prefix(count))
            }
            guard !batch.isEmpty else { return }
            batches.add(1, ordering: .relaxed)
            let results = await write(batch.map(\.input))
            precondition(results.count == batch.count, "a coalesced write returned \(results.count) results for \(batch.count) items")
            for (waiting, result) in zip(batch, results) { waiting.continuation.resume(with: result) }
        }
    }

    /// A `write` helper: `all` for the whole batch; if it throws and the batch has more than one
    /// item, `one` for each item at once (concurrently), so a bad item fails alone.
    public static func allOrEach(_ inputs: [Input], all: ([Input]) async throws -> [Output],
                                 one: @escaping @Sendable (Input) async throws -> Output) async -> [Result<Output, any Error>] {
        do {
            let outputs = try await all(inputs)
            return outputs.map { .success($0) }
        } catch {
            guard inputs.count > 1 else { return [.failure(error)] }
        }
        return await withTaskGroup(of: (Int, Result<Output, any Error>).self) { group in
            for (index, input) in inputs.enumerated() {
                group.addTask {
                    do { return (index, .success(try await one(input))) } catch { return (index, .failure(error)) }
                }
            }
            var results = [Result<Output, any Error>?](repeating: nil, count: inputs.count)
            for await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
    }
}
