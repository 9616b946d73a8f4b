import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncTestKit
import Foundation
import Testing

@Suite("eBay OAuth over HTTP", .timeLimit(.minutes(1)))
struct EbayAuthTests {
    @Test("many concurrent requests share one application token request")
    func oneTokenForConcurrentRequests() async throws {
        try await Harness.with { h in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<20 {
                    group.addTask { _ = try await h.client.searchPage(BrowseQuery(.keywords("acme"), pageSize: 5)) }
                }
                try await group.waitForAll()
            }
            #expect(h.sandbox.state.tokensIssued == ["application": 1])
            #expect(h.recorder.count(operation: "identity.oauth2.token") == 1)
            #expect(h.recorder.count(operation: "browse.item_summary.search") == 20)
        }
    }

    @Test("a token that expires mid-run is refreshed once and the requests retried")
    func expiryMidRunRefreshesOnce() async throws {
        try await Harness.with { h in
            _ = try await h.client.offers(sku: "FS-00001")
            #expect(h.sandbox.state.tokensIssued == ["user": 1])
            _ = try await h.admin(.post, "tokens/expire", as: [String: Bool].self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 1...10 {
                    group.addTask { _ = try await h.client.offers(sku: "FS-0000\(index % 9 + 1)") }
                }
                try await group.waitForAll()
            }
            #expect(h.sandbox.state.tokensIssued == ["user": 2])
        }
    }

    @Test("a fresh token revoked again is replaced up to twice per request; a third 401 in a row is an auth error")
    func freshTokenRevokedAgain() async throws {
        try await Harness.with { h in
            _ = try await h.client.offers(sku: "FS-00001")
            // Each of the next two offers requests expires every token first (so it answers 401):
            // the request's own send and its first retry with a fresh token.
            h.sandbox.state.inject(SandboxFault(route: .offers, remaining: 2, expireTokens: true))
            _ = try await h.client.offers(sku: "FS-00002")
            #expect(h.sandbox.state.tokensIssued == ["user": 3])
            h.sandbox.state.inject(SandboxFault(route: .offers, remaining: 3, expireTokens: true))
            await #expect {
                _ = try await h.client.offers(sku: "FS-00003")
            } throws: { error in
                guard case MarketplaceError.auth(let message) = error else { return false }
                return message.contains("freshly issued token")
            }
            #expect(h.sandbox.state.tokensIssued == ["user": 5])
        }
    }

    @Test("a cached token is renewed shortly before it expires, by the client's clock")
    func renewedBeforeExpiry() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_800_000_000))
        try await Harness.with(clock: clock) { h in
            _ = try await h.client.searchPage(BrowseQuery(.keywords("acme")))
            clock.advance(bySeconds: 7200 - 61)
            _ = try await h.client.searchPage(BrowseQuery(.keywords("acme")))
            #expect(h.sandbox.state.tokensIssued == ["application": 1])
            clock.advance(bySeconds: 2)  // now within 60 s of expiry
            _ = try await h.client.searchPage(BrowseQuery(.keywords("acme")))
            #expect(h.sandbox.state.tokensIssued == ["application": 2])
        }
    }

    @Test("a wrong client secret is an auth error that does not contain the secret")
    func wrongSecret() async throws {
        let secret = "WRONG-secret-4417"
        try await Harness.with(clientSecret: secret) { h in
            let error = await caught { _ = try await h.client.searchPage(BrowseQuery(.keywords("acme"))) }
            guard case .auth(let message)? = error as? MarketplaceError else {
                Issue.record("expected .auth, got \(String(describing: error))")
                return
            }
            #expect(message.contains("invalid_client"))
            let basic = Data("\(Harness.credentials.clientID):\(secret)".utf8).base64EncodedString()
            for text in ["\(error!)", String(reflecting: error!), message] {
                #expect(!text.contains(secret) && !text.contains(basic))
            }
            #expect(h.sandbox.state.tokensIssued.isEmpty)
        }
    }

    @Test("a wrong refresh token is an auth error that does not contain the token")
    func wrongRefreshToken() async throws {
        let refresh = "stale-REFRESH-9931"
        try await Harness.with(refreshToken: refresh) { h in
            let error = await caught { _ = try await h.client.offers(sku: "FS-00001") }
            guard case .auth(let message)? = error as? MarketplaceError else {
                Issue.record("expected .auth, got \(String(describing: error))")
                return
            }
            #expect(message.contains("invalid_grant"))
            #expect(!"\(error!)".contains(refresh) && !String(reflecting: error!).contains(refresh))
        }
    }
}
