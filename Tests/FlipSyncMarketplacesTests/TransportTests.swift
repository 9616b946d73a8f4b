import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncTestKit
import Testing

@Suite("HTTP transport", .timeLimit(.minutes(1)))
struct TransportTests {
    @Test("a request to a host outside the allow-list is refused without being sent", arguments: TestTransport.allCases)
    func allowList(_ kind: TestTransport) async throws {
        try await Harness.with(allowList: HostAllowList(["api.ebay.com"]), transport: kind) { h in
            let error = await caught { _ = try await h.client.searchPage(BrowseQuery(.keywords("acme"))) }
            guard case .refused(let message)? = error as? MarketplaceError else {
                Issue.record("expected .refused, got \(String(describing: error))")
                return
            }
            #expect(message.contains("127.0.0.1"))
            #expect(h.sandbox.state.requestCounts.isEmpty)
            #expect(h.recorder.recorded.isEmpty)
        }
    }

    @Test("the allow-list matches a host on any port, or host:port exactly")
    func allowListMatching() {
        let list = HostAllowList(["api.ebay.com", "127.0.0.1:8780"])
        #expect(list.allows(host: "API.eBay.com", port: 443))
        #expect(list.allows(host: "127.0.0.1", port: 8780))
        #expect(!list.allows(host: "127.0.0.1", port: 8781))
        #expect(!list.allows(host: "api.ebay.com.evil.example", port: 443))
        let fromConfig = HostAllowList(baseURLs: ["http://127.0.0.1:8780/ebay", "https://api.ebay.com"])
        #expect(fromConfig.allows(host: "api.ebay.com", port: 443) && fromConfig.allows(host: "127.0.0.1", port: 8780))
        #expect(!fromConfig.allows(host: "api.ebay.com", port: 80))
    }

    @Test("a URL is admitted by its authority alone: an allowed origin followed by its end, /, ? or #; a longer port, a user part, a longer host or another scheme after the same bytes is not")
    func admittedByAuthority() async throws {
        let transport = AsyncHTTPClientTransport(allowList: HostAllowList(["127.0.0.1:8780", "api.ebay.com:443", "example.com"]))
        defer { Task { await transport.shutdown() } }
        func outcome(_ url: String) -> String {
            do {
                _ = try transport.admit(HTTPRequest(method: .get, url: url))
                return "admitted"
            } catch .hostNotAllowed(let host) {
                return "refused \(host)"
            } catch .invalidURL {
                return "invalid"
            } catch {
                return "\(error)"
            }
        }
        let expected: [(String, String)] = [
            ("http://127.0.0.1:8780", "admitted"),
            ("http://127.0.0.1:8780/ebay/sell?x=1", "admitted"),
            ("http://127.0.0.1:8780?x=1", "admitted"),
            ("http://127.0.0.1:8780#top", "admitted"),
            ("https://127.0.0.1:8780/ebay", "admitted"),
            ("http://127.0.0.1:87801/ebay", "invalid"),
            ("http://127.0.0.1:8780123/ebay", "invalid"),
            ("http://127.0.0.1:87800/ebay", "invalid"),
            ("http://127.0.0.1:878/ebay", "refused 127.0.0.1"),
            ("http://127.0.0.1:8781/ebay", "refused 127.0.0.1"),
            ("http://127.0.0.1:8780@evil.example/", "invalid"),
            ("http://127.0.0.1:8780.evil.example/", "invalid"),
            ("http://127.0.0.1:8780:8780/", "invalid"),
            ("https://api.ebay.com/sell/inventory/v1/offer?sku=A", "admitted"),
            ("https://api.ebay.com:443/sell", "admitted"),
            ("https://API.eBay.com/sell", "admitted"),
            ("http://api.ebay.com/sell", "refused api.ebay.com"),
            ("https://api.ebay.com.evil.example/sell", "refused api.ebay.com.evil.example"),
            ("https://api.ebay.comx/sell", "refused api.ebay.comx"),
            ("https://api.ebay.com:444/sell", "refused api.ebay.com"),
            ("https://example.com:8443/x", "admitted"),
            ("http://example.com/x", "refused example.com"),
        ]
        for (url, want) in expected {
            #expect(outcome(url) == want, "\(url)")
        }
        // An allowed port that is the start of another: the other is not let through.
        let shortPort = AsyncHTTPClientTransport(allowList: HostAllowList(["127.0.0.1:878"]))
        defer { Task { await shortPort.shutdown() } }
        #expect(throws: HTTPTransportError.hostNotAllowed("127.0.0.1")) { try shortPort.admit(HTTPRequest(method: .get, url: "http://127.0.0.1:8780/ebay")) }
        #expect(throws: Never.self) { try shortPort.admit(HTTPRequest(method: .get, url: "http://127.0.0.1:878/ebay")) }
    }

    @Test("a URL with credentials in it, or not http(s), is refused", arguments: TestTransport.allCases)
    func invalidURLs(_ kind: TestTransport) async {
        let transport = kind.make(HostAllowList(["example.com"]))
        for url in ["ftp://example.com/x", "http://user:pass@example.com/", "example.com/x", "http://:80/"] {
            let error = await caught { _ = try await transport.send(HTTPRequest(method: .get, url: url)) }
            #expect(error as? HTTPTransportError == .invalidURL(url), "\(url)")
        }
    }

    @Test("a redirect is not followed: the 3xx comes back and becomes a permanent error", arguments: TestTransport.allCases)
    func redirectNotFollowed(_ kind: TestTransport) async throws {
        try await Harness.with(transport: kind) { h in
            try await h.inject(SandboxFault(route: .search, remaining: 1,
                                            redirectTo: h.sandbox.baseURL + "/ebay/buy/browse/v1/item_summary/search?q=acme"))
            let error = await caught { _ = try await h.client.searchPage(BrowseQuery(.keywords("acme"))) }
            guard case .permanent(let status, _)? = error as? MarketplaceError else {
                Issue.record("expected .permanent, got \(String(describing: error))")
                return
            }
            #expect(status == 302)
            #expect(h.sandbox.state.requestCounts["search"] == 1)
        }
    }

    @Test("every request takes a token from its bucket: Browse searches from Browse's, the OAuth token request from the one for eBay's other calls")
    func rateLimited() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_800_000_000))
        try await Harness.with(clock: clock, requests: 1, per: .seconds(60), burst: 2) { h in
            _ = try await h.client.searchPage(BrowseQuery(.keywords("acme")))  // token (other bucket) + search
            _ = try await h.client.searchPage(BrowseQuery(.keywords("acme")))  // Browse's bucket now empty
            let third = Task { try await h.client.searchPage(BrowseQuery(.keywords("acme"))) }
            await clock.waitForSleepers(1)
            #expect(h.sandbox.state.requestCounts["search"] == 2)
            clock.advance(bySeconds: 60)
            _ = try await third.value
            #expect(h.sandbox.state.requestCounts["search"] == 3)
            #expect(h.sandbox.state.requestCounts["token"] == 1)
        }
    }

    @Test("cancelling the task cancels a slow in-flight request promptly", arguments: TestTransport.allCases)
    func cancellation(_ kind: TestTransport) async throws {
        try await Harness.with(transport: kind) { h in
            _ = try await h.client.searchPage(BrowseQuery(.keywords("acme")))  // token already cached
            try await h.inject(SandboxFault(route: .search, remaining: 1, latencyMilliseconds: 30_000))
            let clock = ContinuousClock()
            let started = clock.now
            let task = Task { try await h.client.searchPage(BrowseQuery(.keywords("acme"))) }
            await h.sandbox.state.waitUntilHeld(.search)
            task.cancel()
            let result = await task.result
            #expect(clock.now - started < .seconds(5))
            guard case .failure(let error) = result, error is CancellationError else {
                Issue.record("expected CancellationError, got \(result)")
                return
            }
        }
    }
}
