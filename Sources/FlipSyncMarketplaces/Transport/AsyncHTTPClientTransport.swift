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

    public func admit(_ request: HTTPRequest) throws(HTTPTransportError) {
        guard let parts = URLParts(request.url), URL(string: request.url) != nil else { throw .invalidURL(request.url) }
        guard allowList.allows(scheme: parts.scheme, host: parts.host, port: parts.port) else { throw .hostNotAllowed(parts.host) }
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try admit(request)
        try Task.checkCancellation()
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        for header in request.headers {
            outgoing.headers.add(name: header.name, value: header.value)
        }
        if !request.body.isEmpty { outgoing.body = .bytes(ByteBuffer(bytes: request.body)) }

        // The whole exchange runs in a task of its own so that the deadline, a timer on an event
        // loop, can cancel it wherever it is — AsyncHTTPClient's own deadline (passed too)
        // covers only the wait for the response head, not the body.
        let deadline = NIODeadline.now() + .milliseconds(max(request.timeout.milliseconds, 1))
        let limit = maxResponseBytes
        let client = self.client, prepared = outgoing, url = request.url
        let exchange = Task { try await Self.exchange(prepared, client: client, deadline: deadline, url: url, limit: limit) }
        let expired = Expiry()
        let timer = client.eventLoopGroup.next().scheduleTask(deadline: deadline) {
            expired.mark()
            exchange.cancel()
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await exchange.value
            } onCancel: {
                exchange.cancel()
            }
        } catch {
            throw Self.failure(error, request: request, expired: expired.happened)
        }
    }

    /// Sends `request` and collects the body, at most `limit` bytes, as it streams in.
    private static func exchange(_ request: HTTPClientRequest, client: HTTPClient, deadline: NIODeadline,
                                 url: String, limit: Int) async throws -> HTTPResponse {
        let response = try await client.execute(request, deadline: deadline)
        let declared = response.headers.first(name: "content-length").flatMap { Int($0) }
        if let declared, declared > limit { throw HTTPTransportError.responseTooLarge(url: url, limit: limit) }
        var body: [UInt8] = []
        body.reserveCapacity(min(declared ?? 0, limit))
        // Leaving this loop early (too large, cancelled) drops the body stream, which makes
        // AsyncHTTPClient cancel the request and close its connection.
        for try await chunk in response.body {
            guard body.count + chunk.readableBytes <= limit else { throw HTTPTransportError.responseTooLarge(url: url, limit: limit) }
            body.append(contentsOf: chunk.readableBytesView)
        }
        var headers: [String: String] = [:]
        for (name, value) in response.headers {
            let key = name.lowercased()
            if let earlier = headers[key] { headers[key] = earlier + ", " + value } else { headers[key] = value }
        }
        return HTTPResponse(status: Int(response.status.code), headers: headers, body: body)
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

/// Set by a request's deadline timer when it fires.
private final class Expiry: Sendable {
    private let state = Mutex(false)
    func mark() { state.withLock { $0 = true } }
    var happened: Bool { state.withLock { $0 } }
}
