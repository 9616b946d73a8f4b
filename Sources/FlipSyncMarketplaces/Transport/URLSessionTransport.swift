import FlipSyncCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// The production transport: `URLSession` (libcurl underneath on Linux).
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

    public func admit(_ request: HTTPRequest) throws(HTTPTransportError) {
        guard let parts = URLParts(request.url), URL(string: request.url) != nil else { throw .invalidURL(request.url) }
        guard allowList.allows(scheme: parts.scheme, host: parts.host, port: parts.port) else { throw .hostNotAllowed(parts.host) }
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        guard let parts = URLParts(request.url), let url = URL(string: request.url) else {
            throw HTTPTransportError.invalidURL(request.url)
        }
        guard allowList.allows(scheme: parts.scheme, host: parts.host, port: parts.port) else {
            throw HTTPTransportError.hostNotAllowed(parts.host)
        }
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
        let outcome: Result<HTTPResponse, any Error> = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPResponse, any Error>, Never>) in
                delegate.register(task, continuation: continuation)
                task.resume()
                // A cancel that arrived before the task existed would otherwise be lost.
                if Task.isCancelled { task.cancel() }
            }
        } onCancel: {
            task.cancel()
        }
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
private enum Abandoned: Error, Equatable {
    case deadline, tooLarge
}

/// Collects each task's body (at most `maxBodyBytes`) and completes its continuation; refuses
/// every redirect.
private final class SessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private struct Pending {
        var continuation: CheckedContinuation<Result<HTTPResponse, any Error>, Never>
        var body: [UInt8] = []
        var abandoned: Abandoned?
    }

    private let pending = Mutex<[Int: Pending]>([:])
    private let maxBodyBytes: Int

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    func register(_ task: URLSessionTask, continuation: CheckedContinuation<Result<HTTPResponse, any Error>, Never>) {
        pending.withLock { $0[task.taskIdentifier] = Pending(continuation: continuation) }
    }

    /// Cancels `task`, which then completes with `reason` rather than as cancelled.
    func abandon(_ task: URLSessionTask, because reason: Abandoned) {
        let found = pending.withLock { pending -> Bool in
            guard pending[task.taskIdentifier] != nil else { return false }
            if pending[task.taskIdentifier]?.abandoned == nil { pending[task.taskIdentifier]?.abandoned = reason }
            return true
        }
        if found { task.cancel() }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let overflow = pending.withLock { pending -> Bool in
            let id = dataTask.taskIdentifier
            guard let held = pending[id]?.body.count, pending[id]?.abandoned == nil else { return false }
            guard held + data.count <= maxBodyBytes else {
                pending[id]?.abandoned = .tooLarge
                pending[id]?.body = []
                return true
            }
            pending[id]?.body.append(contentsOf: data)
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
        guard let entry = pending.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
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
