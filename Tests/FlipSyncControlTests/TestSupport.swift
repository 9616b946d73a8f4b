import Dispatch
import FlipSyncCore
import Foundation
import Glibc
import Logging
import Synchronization
import Testing
@testable import FlipSyncControl

// MARK: - Fixtures

enum Fixture {
    static let jobName = "nightly-repricing"

    /// `Scheduler.JobStatus` has no public initializer: it is made the way a client sees it.
    static let job: Scheduler.JobStatus = {
        let json = #"{"enabled":true,"kind":"repricing","last":1764000000,"name":"nightly-repricing","next":1764086400,"paused":false,"queued":false}"#
        return try! JSONDecoder().decode(Scheduler.JobStatus.self, from: Data(json.utf8))
    }()

    static let run = RunInfo(id: 42, job: jobName, kind: "repricing", trigger: .manual, requestedBy: geteuid(),
                             scheduledAt: nil, createdAt: 1_764_000_000_000, status: .queued)

    static let statusLine = "1 job, 0 running, next: nightly-repricing in 3h12m"
}

/// A handler that answers like the daemon would and records what it was asked, by whom.
final class RecordingHandler: ControlHandler {
    private let calls = Mutex<[(request: ControlRequest, peer: PeerCredentials)]>([])
    /// When false, a waited run never ends: the handler waits until its task is cancelled.
    let waitedRunsEnd: Bool
    /// Every request whose `handle` returned, and whether its task had been cancelled by then.
    let returned: AsyncStream<(request: ControlRequest, cancelled: Bool)>
    private let returnedSink: AsyncStream<(request: ControlRequest, cancelled: Bool)>.Continuation

    init(waitedRunsEnd: Bool = true) {
        self.waitedRunsEnd = waitedRunsEnd
        (returned, returnedSink) = AsyncStream.makeStream()
    }

    var requests: [ControlRequest] { calls.withLock { $0.map(\.request) } }
    var peers: [PeerCredentials] { calls.withLock { $0.map(\.peer) } }

    func handle(_ request: ControlRequest, from peer: PeerCredentials,
                progress: @Sendable (ControlResponse) -> Void) async -> ControlResponse {
        calls.withLock { $0.append((request, peer)) }
        let response = await answer(request, progress: progress)
        returnedSink.yield((request, Task.isCancelled))
        return response
    }

    private func answer(_ request: ControlRequest, progress: @Sendable (ControlResponse) -> Void) async -> ControlResponse {
        switch request {
        case .list:
            return ControlResponse(jobs: [Fixture.job])
        case .status:
            return ControlResponse(status: Fixture.statusLine)
        case .run(let job, let wait):
            guard job == Fixture.jobName else { return .failure("no job \"\(job)\"") }
            guard wait else { return ControlResponse(run: Fixture.run) }
            progress(ControlResponse(run: Fixture.run))
            if !waitedRunsEnd {
                await untilCancelled()
                return .failure("cancelled")
            }
            return ControlResponse(run: Fixture.run, finalStatus: .succeeded)
        case .pause(let job), .resume(let job):
            return job == Fixture.jobName ? ControlResponse() : .failure("no job \"\(job)\"")
        case .nodes:
            return .failure("this daemon is not in a cluster ([daemon] cluster is not set)")
        }
    }
}

/// Suspends until the calling task is cancelled.
func untilCancelled() async {
    let (stream, continuation) = AsyncStream<Never>.makeStream()
    await withTaskCancellationHandler {
        for await _ in stream {}
    } onCancel: {
        continuation.finish()
    }
}

/// Keeps every log entry, so tests can check what operators would see.
final class LogRecorder: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let storage = Mutex<[Entry]>([])

    var entries: [Entry] { storage.withLock { $0 } }

    var logger: Logger {
        Logger(label: "flipsync.control.test") { _ in Handler(recorder: self) }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var logLevel = Logger.Level.trace
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let entry = Entry(level: event.level, message: event.message.description,
                              metadata: metadata.merging(event.metadata ?? [:]) { $1 })
            recorder.storage.withLock { $0.append(entry) }
        }
    }
}

/// Tests that do not look at the log keep it out of the test output.
let quietLogger = Logger(label: "flipsync.control.test") { _ in SwiftLogNoOpLogHandler() }

// MARK: - Never blocking the pool, never hanging

struct TimedOut: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "gave up after \(limit)" }
}

/// Runs blocking socket code on a thread of its own — the cooperative pool has one thread per
/// core, and the server's handler tasks need it — and fails instead of hanging past `limit`.
func offPool<T: Sendable>(limit: Duration = .seconds(60), _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let once = ResumeOnce(continuation)
        Thread { once.resume(with: Result { try body() }) }.start()
        let milliseconds = Int(limit.components.seconds * 1000 + limit.components.attoseconds / 1_000_000_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) {
            once.resume(with: .failure(TimedOut(limit: limit)))
        }
    }
}

/// Resumes a continuation with whichever result comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>

    init(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation = Mutex(continuation)
    }

    func resume(with result: Result<T, any Error>) {
        continuation.withLock { $0.take() }?.resume(with: result)
    }
}

/// Waits for the next element of `iterator`, failing instead of hanging past `limit`.
func next<Element: Sendable>(_ stream: AsyncStream<Element>, within limit: Duration = .seconds(60)) async throws -> Element? {
    try await withThrowingTaskGroup(of: Element?.self) { group in
        group.addTask {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next()
        }
        group.addTask {
            try await Task.sleep(for: limit)  // A bound, not a wait: normally cancelled long before.
            throw TimedOut(limit: limit)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

// MARK: - A server in a short temporary directory

/// A fresh directory under /tmp with a short name: a socket path holds at most 107 bytes.
struct TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/fsc-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        path = String(cString: made)
    }

    var socketPath: String { path + "/control.sock" }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Starts a server on a socket in a temporary directory, runs `body` with it and a client, and
/// stops the server and removes the directory afterwards, whatever happens.
func withServer(access: ControlAccess = ControlAccess(allowedUIDs: [geteuid()]),
                handler: any ControlHandler = RecordingHandler(),
                logger: Logger = quietLogger,
                maxConnections: Int = ControlServer.defaultMaxConnections,
                reservedConnections: Int = ControlServer.defaultReservedConnections,
                requestTimeout: Duration = .seconds(5),
                _ body: (ControlServer, ControlClient) async throws -> Void) async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let server = ControlServer(path: directory.socketPath, access: access, handler: handler, logger: logger,
                               maxConnections: maxConnections, reservedConnections: reservedConnections,
                               requestTimeout: requestTimeout)
    try server.start()
    do {
        try await body(server, ControlClient(path: directory.socketPath))
    } catch {
        _ = try? await offPool { server.stop() }
        throw error
    }
    try await offPool { server.stop() }
}

extension ControlClient {
    /// Every response line to `request`.
    func responses(to request: ControlRequest) throws(ControlError) -> [ControlResponse] {
        var lines: [ControlResponse] = []
        try send(request) { lines.append($0) }
        return lines
    }
}

/// A connection below the client: bytes out, lines in, for what a well-behaved client never sends.
struct RawConnection: Sendable {
    let fd: Int32

    init(path: String) throws {
        fd = UnixSocket.make()
        let result = UnixSocket.connect(fd, to: path)
        guard result == 0 else {
            _ = Glibc.close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO)
        }
    }

    func write(_ text: String) {
        _ = UnixSocket.sendAll(fd, Array(text.utf8))
    }

    /// Response lines until the final one or the end of the stream; fails after `limit`.
    func responses(within limit: Duration = .seconds(60)) throws -> [ControlResponse] {
        var reader = LineReader(fd: fd)
        let deadline = ContinuousClock.now + limit
        var lines: [ControlResponse] = []
        while let line = try reader.nextLine(limit: ControlWire.maxResponseBytes, deadline: deadline) {
            lines.append(try ControlWire.response(from: line))
            if lines.last!.final { break }
        }
        return lines
    }

    func close() {
        _ = Glibc.close(fd)
    }
}
