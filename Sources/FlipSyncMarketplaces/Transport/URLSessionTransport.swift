import FlipSyncCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// The other transport: `URLSession` (libcurl underneath on Linux), with the same rules as the
/// default, `AsyncHTTPClientTransport`, and the same transport tests. The test harnesses and the
/// benchmark's sandbox admin client use it; the daemon does not (it took about 1.5× the default's
/// time and CPU for the same sweep: BENCHMARKS.md, issue 15, item 6).
///
/// - Only hosts in `allowList` are called; any other URL is refused before anything is sent.
/// - Redirects are never followed: the 3xx response itself is returned.
/// - Each request has its own timeout (`HTTPRequest.timeout`), a deadline for the whole
///   exchange — connecting, sending, and every byte of the response: a server that trickles
///   bytes cannot stretch it. Past it the request is cancelled and `.timedOut` thrown.
/// - A response body larger than `maxResponseBytes` (default 16 MiB) is abandoned as soon as it
///   passes the limit, with `.responseTooLarge` (a permanent failure, never retried).
/// - TLS certificates are always verified (no authentication-challenge override exists here).
/// - No cookies, no cache: every call reaches the server.
/// - Cancelling the calling Swift task cancels the URLSession task.
public final class URLSessionTransport: HTTPTransport, Sendable {
    public let allowList: HostAllowList
    private let session: URLSession
    private let delegate: SessionDelegate

    /// `connectionsPerHost`: connections kept open to one host at once (Foundation's default is
    /// 6, which would cap a sweep at 6 requests in flight whatever its concurrency); the daemon
    /// passes its pool size.
    /// The largest response body accepted, in bytes.
    public let maxResponseBytes: Int
    public static let defaultMaxResponseBytes = 16 << 20

    public init(allowList: HostAllowList, connectionsPerHost: Int = 64, maxResponseBytes: Int = URLSessionTransport.defaultMaxResponseBytes) {
        self.allowList = allowList
        self.maxResponseBytes = max(1, maxResponseBytes)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = max(1, connectionsPerHost)
        configuration.httpCookieAcceptPolicy = .never
        configuration.httpShouldSetCookies = false
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        delegate = SessionDelegate(maxBodyBytes: self.maxResponseBytes)
        session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
    }

    deinit {
        session.invalidateAndCancel()
    }

    public func admit(_ request: HTTPRequest) throws(HTTPTransportError) -> AdmittedRequest {
        _ = try allowList.admittedURL(request.url)
        return AdmittedRequest(request, prepared: nil)
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let url = try allowList.admittedURL(request.url)
        try Task.checkCancellation()
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method.rawValue
        urlRequest.timeoutInterval = Double(max(request.timeout.milliseconds, 1)) / 1000
        for header in request.headers {
            urlRequest.addValue(header.value, forHTTPHeaderField: header.name)
        }
        if !request.body.isEmpty { urlRequest.httpBody = Data(request.body) }

        let task = session.dataTask(with: urlRequest)
        // The deadline of the whole exchange: URLSession's timeoutInterval only bounds each wait
        // for data.
        let delegate = self.delegate
        let timeout = request.timeout
        let deadline = Task {
            try await Task.sleep(for: .milliseconds(max(timeout.milliseconds, 1)))
            delegate.abandon(task, because: .deadline)
        }
        defer { deadline.cancel() }
        let outcome = await delegate.exchange(task)
        switch outcome {
        case .success(let response):
            return response
        case .failure(let error as Abandoned) where error == .deadline:
            throw HTTPTransportError.timedOut(url: request.url, after: request.timeout)
        case .failure(let error as Abandoned) where error == .tooLarge:
            throw HTTPTransportError.responseTooLarge(url: request.url, limit: maxResponseBytes)
        case .failure(let error as URLError) where error.code == .cancelled:
            throw CancellationError()
        case .failure(let error as URLError) where error.code == .timedOut:
            throw HTTPTransportError.timedOut(url: request.url, after: request.timeout)
        case .failure(let error as URLError):
            throw HTTPTransportError.connection(url: request.url, reason: "\(error.code.rawValue) \(error.localizedDescription)")
        case .failure(let error):
            throw HTTPTransportError.connection(url: request.url, reason: "\(error)")
        }
    }
}

/// Why the transport gave up on a task itself.
enum Abandoned: Error, Equatable {
    case deadline, tooLarge
}

/// Collects each task's body (at most `maxBodyBytes`) and completes its continuation; refuses
/// every redirect.
///
/// Cancellation can land at any moment relative to the exchange: before the continuation is
/// registered, between registering and `resume()`, or while the request is on the wire. A
/// cancel that lands before registration is remembered (`cancelledEarly`) and the exchange ends
/// at once without starting the task; a cancelled URLSession task's completion that arrives
/// before registration can therefore never be dropped with its continuation left waiting (the
/// hang of issue 14, item 9: the completion of a task cancelled before `register` was discarded
/// and the run awaited it forever).
final class SessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private struct Pending {
        var continuation: CheckedContinuation<Result<HTTPResponse, any Error>, Never>
        var body: [UInt8] = []
        var abandoned: Abandoned?
    }

    private enum Slot {
        /// Registered and started: its completion resumes the continuation.
        case waiting(Pending)
        /// Cancelled before it was registered: registering ends it at once.
        case cancelledEarly
    }

    private let slots = Mutex<[Int: Slot]>([:])
    private let maxBodyBytes: Int

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    /// Runs `task` to its end; a cancel of the calling Swift task at any point ends it with
    /// `URLError(.cancelled)`.
    func exchange(_ task: URLSessionDataTask) async -> Result<HTTPResponse, any Error> {
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPResponse, any Error>, Never>) in
                if register(task, continuation: continuation) { task.resume() }
            }
        } onCancel: {
            cancel(task)
        }
        // A cancel that arrived after the completion left a marker: nothing will read it.
        slots.withLock { _ = $0.removeValue(forKey: task.taskIdentifier) }
        return outcome
    }

    /// Registers `continuation` for `task`; false (and the continuation resumed, cancelled) if
    /// the task was cancelled before, in which case it must not be started.
    func register(_ task: URLSessionTask, continuation: CheckedContinuation<Result<HTTPResponse, any Error>, Never>) -> Bool {
        let start = slots.withLock { s -> Bool in
            if case .cancelledEarly? = s[task.taskIdentifier] {
                s[task.taskIdentifier] = nil
                return false
            }
            s[task.taskIdentifier] = .waiting(Pending(continuation: continuation))
            return true
        }
        if !start { continuation.resume(returning: .failure(URLError(.cancelled))) }
        return start
    }

    /// The calling Swift task was cancelled: cancel `task`, and remember it if not registered yet.
    func cancel(_ task: URLSessionTask) {
        slots.withLock { s in
            if s[task.taskIdentifier] == nil { s[task.taskIdentifier] = .cancelledEarly }
        }
        // A registered task completes with URLError(.cancelled) through the delegate; an
        // unregistered one's completion finds no continuation and is dropped, harmlessly.
        task.cancel()
    }

    /// Cancels `task`, which then completes with `reason` rather than as cancelled. A task not
    /// registered (yet, or any more) is left alone: the deadline is armed only after `send` made
    /// the task, and an exchange that already ended has nothing to abandon.
    func abandon(_ task: URLSessionTask, because reason: Abandoned) {
        let found = slots.withLock { s -> Bool in
            guard case .waiting(var entry)? = s[task.taskIdentifier] else { return false }
            if entry.abandoned == nil { entry.abandoned = reason }
            s[task.taskIdentifier] = .waiting(entry)
            return true
        }
        if found { task.cancel() }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let overflow = slots.withLock { s -> Bool in
            let id = dataTask.taskIdentifier
            guard case .waiting(var entry)? = s[id], entry.abandoned == nil else { return false }
            s[id] = nil  // the dictionary's copy goes, so the append does not copy the body
            defer { s[id] = .waiting(entry) }
            guard entry.body.count + data.count <= maxBodyBytes else {
                entry.abandoned = .tooLarge
                entry.body = []
                return true
            }
            entry.body.append(contentsOf: data)
            return false
        }
        if overflow { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        // Never follow: the caller sees the 3xx and decides (our clients treat it as an error).
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let entry = slots.withLock { s -> Pending? in
            guard case .waiting(let entry)? = s[task.taskIdentifier] else { return nil }
            s[task.taskIdentifier] = nil
            return entry
        }
        guard let entry else { return }
        if let reason = entry.abandoned {
            entry.continuation.resume(returning: .failure(reason))
            return
        }
        if let error {
            entry.continuation.resume(returning: .failure(error))
            return
        }
        guard let http = task.response as? HTTPURLResponse else {
            entry.continuation.resume(returning: .failure(URLError(.badServerResponse)))
            return
        }
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { headers[key.lowercased()] = value }
        }
        entry.continuation.resume(returning: .success(HTTPResponse(status: http.statusCode, headers: headers, body: entry.body)))
    }
}
