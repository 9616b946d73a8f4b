import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("Amazon LWA tokens over HTTP", .timeLimit(.minutes(1)))
struct AmazonAuthTests {
    @Test("many concurrent requests share one LWA token request")
    func oneTokenForConcurrentRequests() async throws {
        try await AmazonHarness.with { h in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<12 {
                    group.addTask { _ = try await h.client.listings(pageSize: 5) }
                }
                try await group.waitForAll()
            }
            #expect(h.state.tokensIssued == ["amazon": 1])
            #expect(h.recorder.count(operation: "lwa.token") == 1)
            #expect(h.recorder.count(operation: "listings.searchListingsItems") == 12)
            #expect(h.recorder.recorded.allSatisfy { $0.provider == "amazon" && $0.status == 200 })
        }
    }

    @Test("a token that expires mid-run is refreshed once and the refused requests retried")
    func expiryMidRunRefreshesOnce() async throws {
        try await AmazonHarness.with { h in
            _ = try await h.client.listings(pageSize: 5)
            h.state.expireAllTokens()
            let pages = try await withThrowingTaskGroup(of: AmazonListingsPage.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await h.client.listings(pageSize: 5) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(pages.count == 8 && pages.allSatisfy { $0.items.count == 5 })
            #expect(h.state.tokensIssued == ["amazon": 2])
            // Each refused request was sent twice: once with the expired token, once with the new one.
            #expect(h.recorder.recorded.filter { $0.status == 403 }.count >= 1)
        }
    }

    @Test("an expired-token fault on one call is survived with a single refresh")
    func expiredTokenFault() async throws {
        try await AmazonHarness.with { h in
            let asin = try #require(h.stockedNewListings().first).listingID
            _ = try await h.client.itemOffers(asin: asin)
            h.state.inject(SandboxFault(route: .amazonOffers, remaining: 1, expireTokens: true))
            let offers = try await h.client.itemOffers(asin: asin)
            #expect(!offers.offers.isEmpty)
            #expect(h.state.tokensIssued == ["amazon": 2])
        }
    }

    @Test("a wrong client secret is an auth error that shows no secret")
    func wrongSecret() async throws {
        let secret = "WRONG-lwa-secret-4417"
        try await AmazonHarness.with(clientSecret: secret) { h in
            let error = try #require(await caught { _ = try await h.client.listings() })
            guard case .auth(let message)? = error as? MarketplaceError else {
                Issue.record("expected .auth, got \(error)")
                return
            }
            #expect(message.contains("invalid_client"))
            #expect(AmazonHarness.texts(of: error).allSatisfy { !$0.contains(secret) })
            #expect(AmazonHarness.showsNoSecret(error))
            #expect(h.state.tokensIssued.isEmpty)
        }
    }

    @Test("a wrong refresh token is an auth error that shows no token")
    func wrongRefreshToken() async throws {
        let refresh = "Atzr|stale-REFRESH-9931"
        try await AmazonHarness.with(refreshToken: refresh) { h in
            let error = try #require(await caught { _ = try await h.client.itemOffers(asin: "B000000000") })
            guard case .auth(let message)? = error as? MarketplaceError else {
                Issue.record("expected .auth, got \(error)")
                return
            }
            #expect(message.contains("invalid_grant"))
            #expect(AmazonHarness.texts(of: error).allSatisfy { !$0.contains("stale-REFRESH") })
            #expect(error.localizedDescription.contains("stale-REFRESH") == false)
        }
    }

    @Test("a 403 that is not about the token (another seller's listings) is an auth error without a token refresh")
    func foreignSellerIsAuthWithoutRetry() async throws {
        try await AmazonHarness.with(sellerID: "A2SOMEONEELSE") { h in
            let error = try #require(await caught { _ = try await h.client.listings() })
            guard case .auth(let message)? = error as? MarketplaceError else {
                Issue.record("expected .auth, got \(error)")
                return
            }
            #expect(message.contains("Unauthorized"))
            #expect(h.state.tokensIssued == ["amazon": 1])
            #expect(h.recorder.count(operation: "listings.searchListingsItems") == 1)
            #expect(AmazonHarness.showsNoSecret(error))
        }
    }

    @Test("credentials never show their secrets")
    func credentialsRedacted() {
        let credentials = AmazonCredentials(clientID: "id", clientSecret: SecretText("LWA-s3cr3t"), refreshToken: SecretText("Atzr|r3fr3sh"))
        for text in ["\(credentials)", String(reflecting: credentials), "\(credentials.clientSecret)"] {
            #expect(!text.contains("s3cr3t") && !text.contains("r3fr3sh"))
        }
    }
}
