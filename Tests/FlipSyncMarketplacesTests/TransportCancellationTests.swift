import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Cancellation landing at every moment of an HTTP exchange ends it (issue 14, item 9: a run
/// cancelled while a sibling request was starting hung forever: the cancelled URLSession task's
/// completion arrived before the exchange had registered its continuation and was dropped).
@Suite("HTTP transport: cancellation at any moment", .timeLimit(.minutes(1)))
struct TransportCancellationTests {
    /// The first of `body`'s value and `limit` passing; nil if the limit came first. `body` is not
    /// awaited past the limit (a hung exchange must fail the test, not hang it).
    static func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async -> T) async -> T? {
        let (stream, continuation) = AsyncStream<T?>.makeStream()
        let work = Task { continuation.yield(await body()) }
        let timer = Task {
            try? await Task.sleep(for: limit)
            continuation.yield(nil)
        }
        var iterator = stream.makeAsyncIterator()
        let first = await iterator.next() ?? nil
        timer.cancel()
        _ = work
        return first
    }

    static func isCancelled(_ outcome: Result<HTTPResponse, any Error>?) -> Bool {
        guard case .failure(let error as URLError)? = outcome else { return false }
        return error.code == .cancelled
    }

    /// A session with its own delegate, and a data task to a port nothing listens on (it is
    /// never meant to be sent).
    static func session() -> (SessionDelegate, URLSession, URLSessionDataTask) {
        let delegate = SessionDelegate(maxBodyBytes: 1 << 20)
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        return (delegate, session, session.dataTask(with: URL(string: "http://127.0.0.1:9/never")!))
    }

    @Test("a cancel that lands before the exchange registers, its completion delivered first, ends the exchange at once")
    func cancelBeforeRegistering() async throws {
        let (delegate, session, task) = Self.session()
        defer { session.invalidateAndCancel() }
        // The exact order that hung: the cancellation handler runs (the Swift task was already
        // cancelled when the exchange began) and URLSession delivers the cancelled task's
        // completion, all before the continuation is registered.
        delegate.cancel(task)
        let delivered = await Self.within(.seconds(10)) {
            while task.state != .completed { await Task.yield() }
            return true
        }
        #expect(delivered == true, "URLSession delivered the cancelled task's completion")
        let started = ContinuousClock.now
        let outcome = await Self.within(.seconds(10)) { await delegate.exchange(task) }
        #expect(outcome != nil, "the exchange returned (it used to wait forever)")
        #expect(Self.isCancelled(outcome))
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test("a cancel that lands between registering and starting the task ends the exchange")
    func cancelBetweenRegisteringAndStarting() async throws {
        let (delegate, session, task) = Self.session()
        defer { session.invalidateAndCancel() }
        let outcome = await Self.within(.seconds(10)) {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPResponse, any Error>, Never>) in
                if delegate.register(task, continuation: continuation) {
                    delegate.cancel(task)
                    task.resume()
                }
            }
        }
        #expect(outcome != nil, "the exchange returned")
        #expect(Self.isCancelled(outcome))
    }

    @Test("requests cancelled at every moment from before sending to mid-flight all end promptly", arguments: TestTransport.allCases)
    func cancelAtEveryMoment(_ kind: TestTransport) async throws {
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 3, listings: 4), logger: Harness.quietLogger)
        let transport = kind.make(HostAllowList(["127.0.0.1:\(sandbox.port)"]))
        let url = sandbox.baseURL + "/_admin/updates"
        let outcome = await Self.within(.seconds(40)) { () -> (cancelled: Int, answered: Int, other: [String]) in
            var tally = (cancelled: 0, answered: 0, other: [String]())
            for round in 0..<300 {
                let request = Task { try await transport.send(HTTPRequest(method: .get, url: url, timeout: .seconds(10))) }
                // Cancel immediately, after a few scheduler turns, or after up to ~1 ms: the
                // cancel lands before `send`, during the task's set-up, or mid-flight.
                switch round % 3 {
                case 0: break
                case 1: for _ in 0..<(round % 7) { await Task.yield() }
                default: try? await Task.sleep(for: .microseconds((round * 37) % 1_000))
                }
                request.cancel()
                switch await request.result {
                case .success: tally.answered += 1
                case .failure(is CancellationError): tally.cancelled += 1
                case .failure(let error): tally.other.append("\(error)")
                }
            }
            return tally
        }
        await sandbox.stop()
        let tally = try #require(outcome, "300 cancelled requests ended within 40 s (a lost continuation never ends)")
        #expect(tally.other.isEmpty, "every request ended answered or cancelled: \(tally.other.prefix(3))")
        #expect(tally.cancelled + tally.answered == 300)
        #expect(tally.cancelled > 0)
    }
}
