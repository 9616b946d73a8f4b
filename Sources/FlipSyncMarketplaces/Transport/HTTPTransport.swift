import FlipSyncCore
import Foundation

/// One HTTP exchange to send: an absolute URL, headers, a body and a time limit.
///
/// `description` never shows header values that carry credentials (`Authorization`, cookies,
/// API keys) nor the body (a token request's body carries a refresh token), so a request can be
/// logged or put in an error message safely.
public struct HTTPRequest: Sendable, CustomStringConvertible {
    public enum Method: String, Sendable {
        case get = "GET", post = "POST", put = "PUT", patch = "PATCH", delete = "DELETE"
    }

    public var method: Method
    /// An absolute `http://` or `https://` URL, query included and already percent-encoded.
    public var url: String
    /// Header names and values in order. Names compare case-insensitively.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// The longest the exchange may take; past it the transport gives up with `.timedOut`.
    public var timeout: TimeSpan

    public init(method: Method, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                timeout: TimeSpan = .seconds(30)) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// Headers whose values are never shown.
    static let sensitiveHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "set-cookie",
                                                "x-api-key", "x-amz-access-token", "x-shopify-access-token"]

    public var description: String {
        let shown = headers.map { header in
            Self.sensitiveHeaders.contains(header.name.lowercased()) ? "\(header.name): <redacted>" : "\(header.name): \(header.value)"
        }
        return "\(method.rawValue) \(url) [\(shown.joined(separator: ", "))] body: \(body.count) bytes"
    }
}

/// What came back: the status, the headers (names lower-cased) and the body bytes.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { _, last in last })
        self.body = body
    }

    /// Headers whose names the transport already lower-cased: no second dictionary is built.
    init(status: Int, lowercasedHeaders: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = lowercasedHeaders
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Why a request got no response.
public enum HTTPTransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The URL's host is not in the allow-list; nothing was sent.
    case hostNotAllowed(String)
    /// The URL is not an absolute http(s) URL; nothing was sent.
    case invalidURL(String)
    /// No complete response within the request's timeout, counted over the whole exchange.
    case timedOut(url: String, after: TimeSpan)
    /// The connection failed (refused, reset, DNS, TLS).
    case connection(url: String, reason: String)
    /// The response body grew past `limit` bytes; the exchange was abandoned. Not retried: the
    /// same request would get the same answer.
    case responseTooLarge(url: String, limit: Int)

    public var description: String {
        switch self {
        case .hostNotAllowed(let host):
            return "host \"\(host)\" is not in the allow-list (plain http is allowed only to a loopback host); request not sent"
        case .invalidURL(let url): return "\"\(url)\" is not an absolute http(s) URL; request not sent"
        case .timedOut(let url, let after): return "no response from \(url) within \(after)"
        case .connection(let url, let reason): return "connection to \(url) failed: \(reason)"
        case .responseTooLarge(let url, let limit): return "the response from \(url) is larger than \(limit) bytes; abandoned"
        }
    }
}

/// Sends one HTTP request and returns its response, whatever the status.
///
/// Contract: a response with any status (including 3xx, 4xx, 5xx) is returned, never thrown;
/// redirects are not followed. Failures to get a response throw `HTTPTransportError`.
/// Cancelling the calling task cancels the request promptly and throws `CancellationError`.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
    /// Throws when `send` would refuse `request` before sending it (a host not in the
    /// allow-list, an invalid URL): the request pipeline asks first, so a refused request never
    /// counts against a quota. The default admits everything.
    func admit(_ request: HTTPRequest) throws(HTTPTransportError) -> AdmittedRequest
    /// Sends a request `admit` let through, without reading its URL again. The default sends
    /// `admitted.request`.
    func send(_ admitted: AdmittedRequest) async throws -> HTTPResponse
}

extension HTTPTransport {
    public func admit(_ request: HTTPRequest) throws(HTTPTransportError) -> AdmittedRequest {
        AdmittedRequest(request, prepared: nil)
    }

    public func send(_ admitted: AdmittedRequest) async throws -> HTTPResponse {
        try await send(admitted.request)
    }
}

/// A request a transport's `admit` let through, with what the transport made of it to decide
/// (AsyncHTTPClient's request, its URL parsed), so that `send` does not parse the URL again.
/// Only a transport of this module makes one with something in it.
public struct AdmittedRequest: Sendable {
    public let request: HTTPRequest
    let prepared: (any Sendable)?

    init(_ request: HTTPRequest, prepared: (any Sendable)?) {
        self.request = request
        self.prepared = prepared
    }
}

/// The hosts a transport may call: `host` (any port) or `host:port`, compared case-insensitively.
public struct HostAllowList: Sendable, Hashable {
    public let entries: Set<String>
    /// `scheme://host:port` of every `host:port` entry with a name or IPv4 host, for each scheme
    /// the list lets through to it, and `scheme://host` when the port is the scheme's own: the
    /// URL prefixes ``admittedURL(_:)`` admits without reading the authority again. Derived
    /// from `entries`.
    private let origins: [[UInt8]]

    public init(_ entries: some Sequence<String>) {
        self.entries = Set(entries.map { $0.lowercased() })
        origins = Self.origins(of: self.entries)
    }

    /// The host (and port) of every base URL, e.g. from `[marketplaces.*] base_url`. A plain
    /// `http://` URL is taken only when its host is loopback (`LoopbackHost`); others are left
    /// out, so credentials never go to them unencrypted.
    public init(baseURLs: some Sequence<String>) {
        self.init(baseURLs.compactMap { url in
            HTTPURLAuthority(url).flatMap { $0.scheme == "https" || LoopbackHost.isLoopback(host: $0.host) ? $0.hostKey : nil }
        })
    }

    public func allows(host: String, port: Int) -> Bool {
        let host = host.lowercased()
        return entries.contains(host) || entries.contains("\(host):\(port)")
    }

    /// ``allows(host:port:)``, and for plain `http` only a loopback host: whatever the list
    /// holds, a request in clear text never leaves the machine.
    public func allows(scheme: String, host: String, port: Int) -> Bool {
        guard scheme == "https" || LoopbackHost.isLoopback(host: host) else { return false }
        return allows(host: host, port: port)
    }

    /// `url` parsed, when it is a URL a transport can send and ``allows(scheme:host:port:)``
    /// lets it through: every transport's check before a request leaves.
    ///
    /// A URL that starts with one of the list's own origins (`http://127.0.0.1:8780`, then `/`,
    /// `?`, `#` or nothing) is not read again for its authority: byte for byte, that authority
    /// is one this list was checked, when it was made, to allow. The daemon's requests all take
    /// this way; any other spelling (upper case, a default port written out) is parsed as before.
    func admittedURL(_ url: String) throws(HTTPTransportError) -> URL {
        if startsWithOrigin(url) {
            guard let parsed = URL(string: url) else { throw .invalidURL(url) }
            return parsed
        }
        guard let parts = HTTPURLAuthority(url), let parsed = URL(string: url) else { throw .invalidURL(url) }
        guard allows(scheme: parts.scheme, host: parts.host, port: parts.port) else { throw .hostNotAllowed(parts.host) }
        return parsed
    }

    /// Whether `url` is one of `origins` followed by its end, `/`, `?` or `#`.
    private func startsWithOrigin(_ url: String) -> Bool {
        var url = url
        return url.withUTF8 { bytes in
            origins.contains { origin in
                guard bytes.starts(with: origin) else { return false }
                guard bytes.count > origin.count else { return true }
                let next = bytes[origin.count]
                return next == UInt8(ascii: "/") || next == UInt8(ascii: "?") || next == UInt8(ascii: "#")
            }
        }
    }

    /// The origins of `entries` (see `origins`), each kept only if the full check admits it.
    private static func origins(of entries: Set<String>) -> [[UInt8]] {
        let checking = HostAllowList(checking: entries)
        var origins: [[UInt8]] = []
        for entry in entries.sorted() {
            guard let colon = entry.lastIndex(of: ":"), let port = Int(entry[entry.index(after: colon)...]) else { continue }
            let host = entry[..<colon]
            // Names and IPv4 only: an IPv6 host is written in brackets, which the entry does not
            // say. (The full parse below refuses such hosts too; this says which are meant.)
            guard !host.isEmpty, host.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }) else { continue }
            for (scheme, standard) in [("https", 443), ("http", 80)] {
                var spellings = ["\(scheme)://\(host):\(port)"]
                if port == standard { spellings.append("\(scheme)://\(host)") }
                for origin in spellings {
                    guard let parts = HTTPURLAuthority(origin + "/"), parts.host == host, parts.port == port,
                          checking.allows(scheme: parts.scheme, host: parts.host, port: parts.port)
                    else { continue }
                    origins.append(Array(origin.utf8))
                }
            }
        }
        return origins
    }

    /// A list for the check alone, with no origins of its own.
    private init(checking entries: Set<String>) {
        self.entries = entries
        origins = []
    }
}
