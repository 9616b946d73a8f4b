import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

@Suite("Secrets, error mapping and wire values", .timeLimit(.minutes(2)))
struct RedactionAndMappingTests {
    @Test("a request's description hides credentials and the body")
    func requestDescription() {
        let request = HTTPRequest(method: .post, url: "https://api.ebay.com/identity/v1/oauth2/token",
                                  headers: [("Authorization", "Basic c2VjcmV0"), ("authorization", "Bearer tok-123"),
                                            ("X-EBAY-C-MARKETPLACE-ID", "EBAY_US")],
                                  body: Array("refresh_token=r-456".utf8))
        let text = "\(request)"
        #expect(!text.contains("c2VjcmV0") && !text.contains("tok-123") && !text.contains("r-456"))
        #expect(text.contains("Authorization: <redacted>") && text.contains("EBAY_US") && text.contains("19 bytes"))
    }

    @Test("secrets and credentials never print their values")
    func secretText() {
        let secret = SecretText("hunter2")
        let credentials = EbayCredentials(clientID: "id", clientSecret: secret, refreshToken: SecretText("r-789"))
        for text in ["\(secret)", String(reflecting: secret), "\(credentials)", String(reflecting: credentials)] {
            #expect(!text.contains("hunter2") && !text.contains("r-789"), "\(text)")
        }
        var dumped = ""
        dump(credentials, to: &dumped)
        #expect(!dumped.contains("hunter2") && !dumped.contains("r-789"))
        #expect(secret.reveal() == "hunter2")
    }

    @Test("errors map to the coordinator's TaskFailure", arguments: [
        (MarketplaceError.rateLimited(retryAfter: .seconds(3)), true, TimeSpan?.some(.seconds(3))),
        (.transient("HTTP 503"), true, nil),
        (.auth("refused"), false, nil),
        (.permanent(status: 400, message: "bad"), false, nil),
        (.malformed("cut off"), false, nil),
        (.refused("host"), false, nil),
    ])
    func taskFailure(_ error: MarketplaceError, _ retryable: Bool, _ retryAfter: TimeSpan?) {
        switch error.taskFailure {
        case .transient(_, let after): #expect(retryable && after == retryAfter)
        case .permanent: #expect(!retryable)
        case .budgetExhausted: Issue.record("never budgetExhausted")
        }
    }

    @Test("prices go on the wire with exactly the currency's digits", arguments: [
        (Int64(12_990_000), "12.99"), (12_500_000, "12.50"), (1_000_000, "1.00"), (10_000, "0.01"), (123_456_780_000, "123456.78"),
    ])
    func wireAmount(_ micros: Int64, _ expected: String) throws {
        #expect(try EbayClient.wireAmount(Money(micros: micros, currency: .usd), sku: "S").value == expected)
    }

    @Test("a yen price has no decimals; a fraction of a cent or a zero price is refused")
    func wireAmountEdges() throws {
        #expect(try EbayClient.wireAmount(Money(minorUnits: 1200, currency: Currency(code: "JPY")!), sku: "S").value == "1200")
        #expect(throws: MarketplaceError.self) { try EbayClient.wireAmount(Money(micros: 12_995_000, currency: .usd), sku: "S") }
        #expect(throws: MarketplaceError.self) { try EbayClient.wireAmount(.zero(.usd), sku: "S") }
    }

    @Test("Retry-After is read in seconds; anything else is no hint")
    func retryAfter() {
        #expect(StatusMapping.retryAfter(HTTPResponse(status: 429, headers: ["Retry-After": "12"])) == .seconds(12))
        #expect(StatusMapping.retryAfter(HTTPResponse(status: 429, headers: ["retry-after": " 0 "])) == .seconds(0))
        #expect(StatusMapping.retryAfter(HTTPResponse(status: 429, headers: ["Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"])) == nil)
        #expect(StatusMapping.retryAfter(HTTPResponse(status: 429)) == nil)
    }

    @Test("the same seed gives the same catalog; another seed a different one")
    func deterministicCatalog() {
        let a = SeededCatalog(seed: 42, listings: 30)
        let b = SeededCatalog(seed: 42, listings: 30)
        #expect(a.listings == b.listings && a.competitors == b.competitors)
        #expect(SeededCatalog(seed: 43, listings: 30).listings != a.listings)
        #expect(a.competitors.contains { $0.gtin == nil } && a.competitors.contains { $0.gtin != nil })
        #expect(Set(a.listings.map(\.sku)).count == 30 && Set(a.listings.map(\.gtin)).count == 30)
    }
}

@Suite("Sandbox credentials", .timeLimit(.minutes(2)))
struct SandboxCredentialsTests {
    @Test("credentials are read from the files config/flipsync.toml names; a missing file gives none")
    func fromDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-creds-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "id-1\n".write(toFile: directory + "/ebay-client-id", atomically: true, encoding: .utf8)
        try "secret-2".write(toFile: directory + "/ebay-client-secret", atomically: true, encoding: .utf8)
        #expect(SandboxCredentials(directory: directory) == nil)
        try "refresh-3\n".write(toFile: directory + "/ebay-refresh-token", atomically: true, encoding: .utf8)
        #expect(SandboxCredentials(directory: directory) == SandboxCredentials(clientID: "id-1", clientSecret: "secret-2", refreshToken: "refresh-3"))
    }

    @Test("--credentials-directory: every group of files sets what the sandbox accepts; a partial group or an empty directory is refused")
    func everyCredentialFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-creds-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = SandboxConfiguration()
        #expect(throws: SandboxCredentialFiles.Failure.self) { try SandboxCredentialFiles.load(directory: directory, into: &configuration) }
        let values = ["ebay-client-id": "e1", "ebay-client-secret": "e2", "ebay-refresh-token": "e3",
                      "amazon-lwa-client-id": "a1", "amazon-lwa-client-secret": "a2", "amazon-refresh-token": "a3",
                      "shopify-access-token": "s1", "easypost-api-key": "p1", "openai-api-key": "o1"]
        try "a1\n".write(toFile: directory + "/amazon-lwa-client-id", atomically: true, encoding: .utf8)
        #expect(throws: SandboxCredentialFiles.Failure.self) { try SandboxCredentialFiles.load(directory: directory, into: &configuration) }
        for (name, value) in values { try (value + "\n").write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
        let read = try SandboxCredentialFiles.load(directory: directory, into: &configuration)
        #expect(Set(read) == Set(values.keys))
        #expect(configuration.credentials == SandboxCredentials(clientID: "e1", clientSecret: "e2", refreshToken: "e3"))
        #expect(configuration.amazonCredentials == SandboxCredentials(clientID: "a1", clientSecret: "a2", refreshToken: "a3"))
        #expect(configuration.shopifyAccessToken == "s1")
        #expect(configuration.easyPostAPIKey == "p1")
        #expect(configuration.openAIAPIKey == "o1")
    }

    @Test("a sandbox given other carrier and OpenAI keys accepts those and refuses the development ones")
    func configuredKeysAreEnforced() async throws {
        var configuration = SandboxConfiguration(listings: 1)
        configuration.easyPostAPIKey = "ep-\(UInt64.random(in: 0...UInt64.max))"
        configuration.openAIAPIKey = "oa-\(UInt64.random(in: 0...UInt64.max))"
        let sandbox = try await SandboxServer.start(configuration)
        do {
            func status(_ path: String, _ authorization: String, _ body: String) async throws -> Int {
                var request = URLRequest(url: URL(string: sandbox.baseURL + path)!)
                request.httpMethod = "POST"
                request.setValue(authorization, forHTTPHeaderField: "Authorization")
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                request.httpBody = Data(body.utf8)
                request.timeoutInterval = 20
                let (_, response) = try await URLSession.shared.data(for: request)
                return (response as? HTTPURLResponse)?.statusCode ?? -1
            }
            func basic(_ key: String) -> String { "Basic " + Data((key + ":").utf8).base64EncodedString() }
            let shipment = #"{"shipment":{"from_address":{"zip":"94105"},"to_address":{"zip":"10001"},"parcel":{"length":10,"width":8,"height":4,"weight":12}}}"#
            let chat = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#
            #expect(try await status("/easypost/v2/shipments", basic(configuration.easyPostAPIKey), shipment) == 201)
            #expect(try await status("/easypost/v2/shipments", basic(SandboxServer.easyPostAPIKey), shipment) == 401)
            #expect(try await status("/openai/v1/chat/completions", "Bearer " + configuration.openAIAPIKey, chat) == 200)
            #expect(try await status("/openai/v1/chat/completions", "Bearer " + SandboxServer.openAIAPIKey, chat) == 401)
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }
}
