import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
import Logging

/// A sandbox on an ephemeral loopback port and a `ShopifyClient` + `ShopifyMarketplace`
/// pointed at its `/shopify` API over real HTTP.
struct ShopifyHarness: Sendable {
    let sandbox: SandboxServer
    let client: ShopifyClient
    let marketplace: ShopifyMarketplace
    let recorder: InMemorySpendRecorder
    let transport: URLSessionTransport

    static let token = "shpat_s3cr3t-SHOPIFY-token"

    /// Runs `body` with a fresh sandbox and client, and always stops the sandbox afterwards.
    /// `clock` (when given) drives both the sandbox and the client, so Shopify's bucket leaks
    /// only when the test advances it.
    static func with<T: Sendable>(listings: Int = 30, token: String = ShopifyHarness.token, clock: (any SchedulerClock)? = nil,
                                  pageSize: Int = 100, orderPageSize: Int = 25, compareRetries: Int = 3, bulkThreshold: Int = 2000, zonePageSize: Int = 5,
                                  zoneRatePageLimit: Int = ShopifyClient.maxRatePagesPerZone, _ body: @Sendable (ShopifyHarness) async throws -> T) async throws -> T {
        let clock = clock ?? SystemSchedulerClock()
        let sandbox = try await SandboxServer.start(
            SandboxConfiguration(port: 0, seed: 11, listings: listings, shopifyAccessToken: Self.token), clock: clock,
            logger: Harness.quietLogger)
        do {
            let transport = URLSessionTransport(allowList: HostAllowList(["127.0.0.1:\(sandbox.port)"]))
            let recorder = InMemorySpendRecorder()
            let client = ShopifyClient(
                configuration: ShopifyClientConfiguration(baseURL: sandbox.baseURL + "/shopify", requests: 1000, burst: 1000,
                                                          timeout: .seconds(10), pageSize: pageSize, orderPageSize: orderPageSize,
                                                          compareRetries: compareRetries, bulkThreshold: bulkThreshold, zonePageSize: zonePageSize,
                                                          zoneRatePageLimit: zoneRatePageLimit),
                accessToken: SecretText(token), transport: transport, recorder: recorder, rateLimiters: RateLimiters(clock: clock),
                clock: clock, logger: Harness.quietLogger)
            let marketplace = ShopifyMarketplace(client: client, logger: Harness.quietLogger)
            let harness = ShopifyHarness(sandbox: sandbox, client: client, marketplace: marketplace, recorder: recorder, transport: transport)
            let result = try await body(harness)
            await sandbox.stop()
            return result
        } catch {
            await sandbox.stop()
            throw error
        }
    }

    var state: SandboxState { sandbox.state }

    /// A raw request to the sandbox's Shopify API, bypassing the client (and its buckets).
    func raw(_ method: HTTPRequest.Method, _ path: String, token: String = ShopifyHarness.token,
             body: String = "") async throws -> HTTPResponse {
        try await transport.send(HTTPRequest(
            method: method, url: sandbox.baseURL + "/shopify/admin/api/\(SandboxShopify.apiVersion)/" + path,
            headers: [("X-Shopify-Access-Token", token), ("Content-Type", "application/json")], body: Array(body.utf8)))
    }

    /// A raw GraphQL request to the sandbox (`POST graphql.json`), bypassing the client; the
    /// status and the parsed JSON body.
    func graphQL(_ query: String, variables: String = "{}", token: String = ShopifyHarness.token) async throws -> (status: Int, body: [String: Any]) {
        let body = #"{"query":\#(String(decoding: try JSONSerialization.data(withJSONObject: [query]), as: UTF8.self).dropFirst().dropLast()),"variables":\#(variables)}"#
        let response = try await raw(.post, "graphql.json", token: token, body: body)
        return (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:])
    }

    /// Calls recorded for `operation` with each status.
    func statuses(_ operation: String) -> [Int?] {
        recorder.recorded.filter { $0.operation == operation }.map(\.status)
    }
}
