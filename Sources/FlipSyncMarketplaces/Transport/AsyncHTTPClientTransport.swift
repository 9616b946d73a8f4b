import AsyncHTTPClient
import FlipSyncCore
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The production transport: AsyncHTTPClient on SwiftNIO's process-wide event loops
/// (`MultiThreadedEventLoopGroup.singleton`, the ones the system clock sleeps on).
///
/// - Only hosts in `allowList` are called; any other URL is refused before anything is sent.
/// - Redirects are never followed (`.disallow`): the 3xx response itself is returned, so
///   credentials never go to another host (or anywhere) on a server's say-so.
/// - Each request has its own timeout (`HTTPRequest.timeout`), a deadline for the whole
///   exchange — waiting for a connection, connecting, sending, and every byte of the response:
///   a server that trickles bytes cannot stretch it. Past it the request is cancelled and
///   `.timedOut` thrown.
/// - A response body larger than `maxResponseBytes` (default 16 MiB) is abandoned as soon as it
///   passes the limit while it streams in (or at once when its `Content-Length` says so), with
///   `.responseTooLarge` (a permanent failure, never retried).
/// - TLS certificates are always verified (NIOSSL's client defaults, the system's trust roots).
/// - No cookies, no cache, no decompression, no proxy: every call reaches the server as sent.
/// - Cancelling the calling Swift task cancels the request (its connection is closed).
///
/// One `HTTPClient` per transport, its connection pool holding up to `connectionsPerHost`
/// HTTP/1.1 connections to one host (HTTP/2 where the server offers it over TLS). ``shutdown()``
/// closes it; the daemon calls it when it stops. A transport dropped without it shuts its client
/// down in `deinit`.
public final class AsyncHTTPClientTransport: HTTPTransport, Sendable {
    public let allowList: HostAllowList
    /// The largest response body accepted, in bytes.
    public let maxResponseBytes: Int
    public static let defaultMaxResponseBytes = 16 << 20

    private let client: HTTPClient
    private let isShutDown = Mutex(false)

    /// `connectionsPerHost`: connections kept open to one host at once; the daemon passes its
    /// pool size, so a sweep's concurrency is not capped by the client.
    public init(allowList: HostAllowList, connectionsPerHost: Int = 64,
                maxResponseBytes: Int = AsyncHTTPClientTransport.defaultMaxResponseBytes) {
        self.allowList = allowList
        self.maxResponseBytes = max(1, maxResponseBytes)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            // Each request's own deadline bounds everything; these only keep a stuck connect or
            // an idle pooled connection from living on.
            timeout: .init(connect: .seconds(30)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, connectionsPerHost)),
            proxy: nil,
            decompression: .disabled)
        configuration.httpVersion = .automatic
        // No request spans: FlipSync bootstraps no tracer, and the default (the global no-op
        // tracer) still starts and ends a span, with its attributes, for every request.
        configuration.tracing.tracer = nil
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    deinit {
        if !isShutDown.withLock({ $0 }) {
            client.shutdown { _ in }
        }
    }

    /// Closes every connection and stops the client; later requests fail. Safe to call twice.
    public func shutdown() async {
        let first = isShutDown.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        try? await client.shutdown()
    }

    /// The allow-list, then AsyncHTTPClient's own request: its URL is parsed here once, and
    /// `send(_: AdmittedRequest)` sends it as it is.
    public func admit(_ request: HTTPRequest) throws(HTTPTransportError) -> AdmittedRequest {
        AdmittedRequest(request, prepared: Prepared(owner: ObjectIdentifier(self), request: try prepared(request)))
    }

    /// What `admit` keeps: AsyncHTTPClient's request, and the transport whose allow-list let it through.
    private struct Prepared: Sendable {
        let owner: ObjectIdentifier
        let request: HTTPClient.Request
    }

    /// AsyncHTTPClient's request for `request`, if the allow-list lets it through.
    private func prepared(_ request: HTTPRequest) throws(HTTPTransportError) -> HTTPClient.Request {
        let url = try allowList.admittedURL(request.url)
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headers.count)
        for header in request.headers {
            headers.add(name: header.name, value: header.value)
        }
        do {
            return try HTTPClient.Request(url: url, method: HTTPMethod(rawValue: request.method.rawValue), headers: headers,
                                          body: request.body.isEmpty ? nil : .bytes(request.body))
        } catch {
            throw .invalidURL(request.url)
        }
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await send(request, prepared: prepared(request))
    }

    public func send(_ admitted: AdmittedRequest) async throws -> HTTPResponse {
        // Made by this transport's `admit`; another transport's admission is checked again here.
        guard let prepared = admitted.prepared as? Prepared, prepared.owner == ObjectIdentifier(self) else {
            return try await send(admitted.request)
        }
        return try await send(admitted.request, prepared: prepared.request)
    }

    /// One exchange, with no task of its own: AsyncHTTPClient's delegate API runs it on an event
    /// loop and collects the body there (`BodyCollector`), and the caller waits once, for the whole
    /// response. Its `deadline` covers the whole exchange — queueing for a connection, connecting,
    /// sending and every byte of the body — and cancels the request when it passes.
    private func send(_ request: HTTPRequest, prepared outgoing: HTTPClient.Request) async throws -> HTTPResponse {
        try Task.checkCancellation()
        let deadline = NIODeadline.now() + .milliseconds(max(request.timeout.milliseconds, 1))
        let collector = BodyCollector(url: request.url, limit: maxResponseBytes)
        let task = client.execute(request: outgoing, delegate: collector, eventLoop: .indifferent, deadline: deadline)
        do {
            return try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
        } catch {
            throw Self.failure(error, request: request, expired: NIODeadline.now() >= deadline)
        }
    }

    /// The URLSession transport's errors for AsyncHTTPClient's failures.
    private static func failure(_ error: any Error, request: HTTPRequest, expired: Bool) -> any Error {
        if let error = error as? HTTPTransportError { return error }
        if expired { return HTTPTransportError.timedOut(url: request.url, after: request.timeout) }
        if error is CancellationError || Task.isCancelled { return CancellationError() }
        if let error = error as? HTTPClientError {
            switch error {
            case .cancelled: return CancellationError()
            case .deadlineExceeded, .connectTimeout, .readTimeout, .writeTimeout, .getConnectionFromPoolTimeout:
                return HTTPTransportError.timedOut(url: request.url, after: request.timeout)
            case .invalidURL, .emptyHost, .emptyScheme:
                return HTTPTransportError.invalidURL(request.url)
            default:
                return HTTPTransportError.connection(url: request.url, reason: "\(error)")
            }
        }
        if let error = error as? ChannelError, case .connectTimeout = error {
            return HTTPTransportError.timedOut(url: request.url, after: request.timeout)
        }
        return HTTPTransportError.connection(url: request.url, reason: "\(error)")
    }
}

/// Collects one response on its event loop: the status, the headers (names lower-cased, repeated
/// ones joined with ", ") and the body, abandoning the exchange as soon as the body passes
/// `limit` bytes (or at once when its `Content-Length` says it will). A failed future from a
/// callback makes AsyncHTTPClient fail the request with that error and close its connection.
///
/// AsyncHTTPClient calls a delegate's methods one after the other, all on the request's event
/// loop, so the mutable state is never touched concurrently.
private final class BodyCollector: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = HTTPResponse

    private let url: String
    private let limit: Int
    private var status = 0
    private var headers: [String: String] = [:]
    private var body: [UInt8] = []

    init(url: String, limit: Int) {
        self.url = url
        self.limit = limit
    }

    func didReceiveHead(task: HTTPClient.Task<HTTPResponse>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        let declared = head.headers.first(name: "content-length").flatMap { Int($0) }
        if let declared, declared > limit {
            return task.eventLoop.makeFailedFuture(HTTPTransportError.responseTooLarge(url: url, limit: limit))
        }
        status = Int(head.status.code)
        headers.reserveCapacity(head.headers.count)
        for (name, value) in head.headers {
            let key = name.lowercased()
            if let earlier = headers[key] { headers[key] = earlier + ", " + value } else { headers[key] = value }
        }
        body.reserveCapacity(min(declared ?? 0, limit))
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<HTTPResponse>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        guard body.count + buffer.readableBytes <= limit else {
            return task.eventLoop.makeFailedFuture(HTTPTransportError.responseTooLarge(url: url, limit: limit))
        }
        body.append(contentsOf: buffer.readableBytesView)
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<HTTPResponse>) throws -> HTTPResponse {
        HTTPResponse(status: status, lowercasedHeaders: headers, body: body)
    }
}
