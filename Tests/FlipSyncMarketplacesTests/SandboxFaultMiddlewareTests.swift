import FlipSyncCore
import FlipSyncMarketplaces
@testable import FlipSyncSandbox
import Foundation
import Testing

/// Faults are applied by one middleware (`SandboxFaultMiddleware`) in front of every provider's
/// routes (issue 15, item 5): the same fault answers the same way on each, in that provider's
/// own error shape.
@Suite("Sandbox fault middleware", .timeLimit(.minutes(1)))
struct SandboxFaultMiddlewareTests {
    struct Probe: Sendable {
        var name: String
        var route: SandboxRoute
        var request: HTTPRequest
        /// `Retry-After` as the provider writes it.
        var retryAfter: String
        /// The body's code and message, as the provider shapes its errors.
        var codeAndMessage: @Sendable ([String: Any]) -> (code: String?, message: String?)
    }

    static func probes(_ base: String) -> [Probe] {
        [
            Probe(name: "eBay", route: .search,
                  request: HTTPRequest(method: .get, url: base + "/ebay/buy/browse/v1/item_summary/search?q=lamp"),
                  retryAfter: "7") { body in
                let error = (body["errors"] as? [[String: Any]])?.first
                return ((error?["errorId"] as? Int).map(String.init), error?["message"] as? String)
            },
            Probe(name: "Amazon", route: .amazonOffers,
                  request: HTTPRequest(method: .get, url: base + "/amazon/products/pricing/v0/items/B000000001/offers?MarketplaceId=ATVPDKIKX0DER&ItemCondition=New"),
                  retryAfter: "7") { body in
                let error = (body["errors"] as? [[String: Any]])?.first
                return (error?["code"] as? String, error?["message"] as? String)
            },
            Probe(name: "Shopify", route: .shopifyLocations,
                  request: HTTPRequest(method: .post, url: base + ShopifyRoutes.basePath + "/graphql.json",
                                       headers: [("Content-Type", "application/json")],
                                       body: Array(#"{"query":"{ locations(first: 1) { nodes { id } } }"}"#.utf8)),
                  retryAfter: "7.0") { body in
                (nil, body["errors"] as? String)
            },
            Probe(name: "carrier", route: .carrierRates,
                  request: HTTPRequest(method: .post, url: base + "/easypost/v2/shipments",
                                       headers: [("Content-Type", "application/json")], body: Array(#"{"shipment":{}}"#.utf8)),
                  retryAfter: "7") { body in
                let error = body["error"] as? [String: Any]
                return (error?["code"] as? String, error?["message"] as? String)
            },
        ]
    }

    @Test("one 429 fault (Retry-After 7, a message) answers on eBay, Amazon, Shopify and the carrier in each one's error shape, once")
    func one429EveryProvider() async throws {
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 3, listings: 10), logger: Harness.quietLogger)
        do {
            let transport = TestTransport.urlSession.make(HostAllowList(["127.0.0.1:\(sandbox.port)"]))
            let expectedCodes = ["eBay": "2001", "Amazon": "QuotaExceeded", "carrier": "RATE_LIMITED"]
            for probe in Self.probes(sandbox.baseURL) {
                sandbox.state.inject(SandboxFault(route: probe.route, remaining: 1, status: 429, retryAfterSeconds: 7,
                                                  message: "slow down", kind: "same"))
                let faulted = try await transport.send(probe.request)
                #expect(faulted.status == 429, "\(probe.name)")
                #expect(faulted.header("Retry-After") == probe.retryAfter, "\(probe.name)")
                #expect(faulted.header("Content-Type") == "application/json", "\(probe.name)")
                let body = try #require(try JSONSerialization.jsonObject(with: Data(faulted.body)) as? [String: Any], "\(probe.name)")
                let (code, message) = probe.codeAndMessage(body)
                #expect(message == "slow down", "\(probe.name): \(String(decoding: faulted.body, as: UTF8.self))")
                #expect(code == expectedCodes[probe.name], "\(probe.name): \(String(decoding: faulted.body, as: UTF8.self))")
                // The fault is used up: the next request reaches the handler, which refuses the missing credentials.
                let next = try await transport.send(probe.request)
                #expect(next.status != 429 && (400..<500).contains(next.status), "\(probe.name): \(next.status)")
            }
            #expect(sandbox.state.faultsApplied.byKind == ["same": 4])
            #expect(sandbox.state.faultsApplied.byRoute == ["search": 1, "amazon.offers": 1, "shopify.locations": 1, "carrier.rates": 1])
            #expect(sandbox.state.requestCounts["shopify.locations"] == 2, "a GraphQL request counts under its root field")
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    @Test("the endpoint table is keyed by the router's endpoint paths (captures as {name}), one entry per faultable endpoint")
    func tableMatchesRouter() {
        let known = Set(SandboxFaultMiddleware.endpoints.keys)
        #expect(known.contains("GET /amazon/products/pricing/v0/items/{asin}/offers"))
        #expect(known.contains("POST /shopify/admin/api/\(SandboxShopify.apiVersion)/graphql.json"))
        #expect(known.count == 27)
        #expect(!known.contains { $0.contains("/_admin") })
    }
}
