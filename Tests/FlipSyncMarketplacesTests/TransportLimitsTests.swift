import Dispatch
import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
import Glibc
import Synchronization
import Testing

/// A loopback HTTP server made of a bare socket, for responses no real server would send: one
/// that trickles its body, one that is too large. Each connection gets `respond`.
final class RawHTTPServer: Sendable {
    let port: Int
    private let fd: Int32
    private let done: DispatchGroup

    init(respond: @escaping @Sendable (Int32) -> Void) throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        fd = sock
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(sock, pointer, length) == 0 && listen(sock, 8) == 0 && getsockname(sock, pointer, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
        port = Int(UInt16(bigEndian: address.sin_port))
        let listener = sock
        let done = DispatchGroup()
        self.done = done
        done.enter()
        Thread {
            defer { done.leave() }
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                // Read the request head, then answer.
                var head: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)) {
                    let n = read(client, &buffer, buffer.count)
                    if n <= 0 { break }
                    head += buffer[0..<n]
                }
                respond(client)
                close(client)
            }
        }.start()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        done.wait()
    }

    static func write(_ client: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(client, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }
}

@Suite("HTTP transport: limits and the loopback rule", .timeLimit(.minutes(1)))
struct TransportLimitsTests {
    @Test("a server trickling one byte every 100 ms cannot stretch the exchange past its timeout", arguments: TestTransport.allCases)
    func trickleHitsTheDeadline(_ kind: TestTransport) async throws {
        let server = try RawHTTPServer { client in
            // 120 s of body if nobody stops it.
            guard RawHTTPServer.write(client, Array("HTTP/1.1 200 OK\r\nContent-Length: 1200\r\n\r\n".utf8)) else { return }
            for _ in 0..<1200 {
                guard RawHTTPServer.write(client, [UInt8(ascii: "x")]) else { return }
                usleep(100_000)  // the server's behaviour under test, not a wait for a scheduler
            }
        }
        defer { server.stop() }
        let transport = kind.make(HostAllowList(["127.0.0.1"]))
        let url = server.baseURL + "/slow"
        let started = ContinuousClock.now
        let error = await caught { _ = try await transport.send(HTTPRequest(method: .get, url: url, timeout: .seconds(1))) }
        let elapsed = ContinuousClock.now - started
        #expect(error as? HTTPTransportError == .timedOut(url: url, after: .seconds(1)))
        // Far below the 120 s the body would take; not a timing target (a loaded machine may be slow to
        // wake the deadline), only proof the exchange was cut.
        #expect(elapsed < .seconds(30), "took \(elapsed)")
        #expect(MarketplaceError(error as! HTTPTransportError).taskFailure.isTransientForTest)
    }

    @Test("a body past the limit is abandoned with a typed, permanent error; one within it arrives whole", arguments: TestTransport.allCases)
    func oversizedBody(_ kind: TestTransport) async throws {
        let size = 1 << 20
        let server = try RawHTTPServer { client in
            _ = RawHTTPServer.write(client, Array("HTTP/1.1 200 OK\r\nContent-Length: \(size)\r\n\r\n".utf8)
                                    + [UInt8](repeating: UInt8(ascii: "y"), count: size))
        }
        defer { server.stop() }
        let small = kind.make(HostAllowList(["127.0.0.1"]), maxResponseBytes: 64 * 1024)
        let url = server.baseURL + "/big"
        let error = await caught { _ = try await small.send(HTTPRequest(method: .get, url: url, timeout: .seconds(20))) }
        #expect(error as? HTTPTransportError == .responseTooLarge(url: url, limit: 64 * 1024))
        let failure = MarketplaceError(try #require(error as? HTTPTransportError))
        #expect(!failure.taskFailure.isTransientForTest)
        let roomy = kind.make(HostAllowList(["127.0.0.1"]))
        #expect(kind.maxResponseBytes(of: roomy) == 16 << 20)
        let response = try await roomy.send(HTTPRequest(method: .get, url: url, timeout: .seconds(20)))
        #expect(response.body.count == size)
    }

    @Test("a body with no length, streamed in chunks past the limit, is abandoned while it streams", arguments: TestTransport.allCases)
    func oversizedChunkedBody(_ kind: TestTransport) async throws {
        // 64 chunks of 16 KiB (1 MiB) if the client reads them all; the server stops at the
        // first write that fails, i.e. once the client has closed the connection.
        let server = try RawHTTPServer { client in
            guard RawHTTPServer.write(client, Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)) else { return }
            let chunk = Array("4000\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "z"), count: 16 * 1024) + Array("\r\n".utf8)
            for _ in 0..<64 {
                guard RawHTTPServer.write(client, chunk) else { return }
            }
            _ = RawHTTPServer.write(client, Array("0\r\n\r\n".utf8))
        }
        defer { server.stop() }
        let url = server.baseURL + "/chunked"
        let small = kind.make(HostAllowList(["127.0.0.1"]), maxResponseBytes: 64 * 1024)
        let error = await caught { _ = try await small.send(HTTPRequest(method: .get, url: url, timeout: .seconds(20))) }
        #expect(error as? HTTPTransportError == .responseTooLarge(url: url, limit: 64 * 1024))
        let roomy = kind.make(HostAllowList(["127.0.0.1"]))
        let response = try await roomy.send(HTTPRequest(method: .get, url: url, timeout: .seconds(20)))
        #expect(response.body.count == 64 * 16 * 1024)
    }

    @Test("a redirect to another server comes back as the 3xx, and that server is never called", arguments: TestTransport.allCases)
    func redirectToAnotherHostNotFollowed(_ kind: TestTransport) async throws {
        let calls = HitCounter()
        let other = try calls.server(answering: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        defer { other.stop() }
        let target = other.baseURL + "/steal"
        let first = try RawHTTPServer { client in
            _ = RawHTTPServer.write(client, Array("HTTP/1.1 302 Found\r\nLocation: \(target)\r\nContent-Length: 0\r\n\r\n".utf8))
        }
        defer { first.stop() }
        // Both servers allowed, so only the no-redirect rule stands between the credential and the other one.
        let transport = kind.make(HostAllowList(["127.0.0.1"]))
        let response = try await transport.send(HTTPRequest(method: .get, url: first.baseURL + "/start",
                                                            headers: [("Authorization", "Bearer s3cret")], timeout: .seconds(10)))
        #expect(response.status == 302)
        #expect(response.header("Location") == target)
        #expect(calls.value == 0)
    }

    @Test("plain http goes only to loopback hosts, whatever the allow-list holds", arguments: TestTransport.allCases)
    func plainHTTPOnlyLoopback(_ kind: TestTransport) async {
        let fromConfig = HostAllowList(baseURLs: ["http://127.0.0.1.nip.io/ebay", "http://localhost.attacker.example/ebay",
                                                  "http://evil.example/x", "https://api.ebay.com", "http://127.0.0.1:8780/ebay"])
        #expect(fromConfig.entries == ["api.ebay.com:443", "127.0.0.1:8780"])
        let list = HostAllowList(["evil.example", "127.0.0.1.nip.io"])
        #expect(!list.allows(scheme: "http", host: "evil.example", port: 80))
        #expect(list.allows(scheme: "https", host: "evil.example", port: 443))
        let transport = kind.make(list)
        for (url, host) in [("http://evil.example/x", "evil.example"), ("http://127.0.0.1.nip.io/ebay", "127.0.0.1.nip.io")] {
            let error = await caught { _ = try await transport.send(HTTPRequest(method: .get, url: url)) }
            #expect(error as? HTTPTransportError == .hostNotAllowed(host))
            // `admit` (the request pipeline's first stage) refuses the same, before any quota.
            #expect(throws: HTTPTransportError.hostNotAllowed(host)) { _ = try transport.admit(HTTPRequest(method: .get, url: url)) }
        }
        for url in ["http://127.0.0.1@evil.example/", "http://evil.example\\@127.0.0.1/", "http://127.1/"] {
            let error = await caught { _ = try await transport.send(HTTPRequest(method: .get, url: url)) }
            #expect(error is HTTPTransportError, "\(url)")
            #expect(throws: HTTPTransportError.self) { _ = try transport.admit(HTTPRequest(method: .get, url: url)) }
        }
    }

    @Test("a request admit let through is sent as admitted; admitted by another transport, the sending one's allow-list decides again", arguments: TestTransport.allCases)
    func admittedThenSent(_ kind: TestTransport) async throws {
        let calls = HitCounter()
        let server = try calls.server(answering: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        defer { server.stop() }
        let request = HTTPRequest(method: .get, url: server.baseURL + "/x", timeout: .seconds(10))
        let allowing = kind.make(HostAllowList(["127.0.0.1"]))
        let admitted = try allowing.admit(request)
        let response = try await allowing.send(admitted)
        #expect(response.status == 200 && response.body == Array("hello".utf8))
        #expect(calls.value == 1)
        // The same admission shown to a transport that allows nothing: refused there, nothing sent.
        for other in TestTransport.allCases {
            let refusing = other.make(HostAllowList([]))
            let error = await caught { _ = try await refusing.send(admitted) }
            #expect(error as? HTTPTransportError == .hostNotAllowed("127.0.0.1"), "\(other)")
        }
        #expect(calls.value == 1)
    }

    @Test("the sandbox refuses to serve on anything but loopback", arguments: ["0.0.0.0", "10.0.0.1", "localhost.attacker.example", "127.1", "::"])
    func sandboxOnlyLoopback(_ host: String) async {
        let error = await caught { _ = try await SandboxServer.start(SandboxConfiguration(host: host)) }
        #expect("\(String(describing: error))".contains("serves only on a loopback address"), "\(String(describing: error))")
    }
}

/// A count shared with a server thread.
private final class HitCounter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }

    /// A server that counts each connection here and answers it with `response`.
    func server(answering response: String) throws -> RawHTTPServer {
        try RawHTTPServer { client in
            self.add()
            _ = RawHTTPServer.write(client, Array(response.utf8))
        }
    }
}

extension TaskFailure {
    var isTransientForTest: Bool {
        if case .transient = self { return true }
        return false
    }
}
