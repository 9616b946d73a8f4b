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

    @Test("every endpoint in the middleware's table is a served route it faults: an injected 503 comes back from each, counted once")
    func everyEndpointIsFaulted() async throws {
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 3, listings: 10), logger: Harness.quietLogger)
        do {
            let transport = TestTransport.urlSession.make(HostAllowList(["127.0.0.1:\(sandbox.port)"]))
            let endpoints = SandboxFaultMiddleware.endpoints.sorted { $0.key < $1.key }
            #expect(endpoints.count == 28)
            #expect(endpoints.contains { $0.key == "GET /amazon/products/pricing/v0/items/{asin}/offers" }, "keys are the router's endpoint paths")
            for (key, endpoint) in endpoints {
                let parts = key.split(separator: " ", maxSplits: 1).map(String.init)
                let method = try #require(HTTPRequest.Method(rawValue: parts[0]), "\(key)")
                // Captures (`{asin}`, `{file}`) filled in; an empty body (a GraphQL request's route is then `shopify.graphql`).
                let path = parts[1].split(separator: "/").map { $0.hasPrefix("{") ? "x" : String($0) }.joined(separator: "/")
                let route = key.hasSuffix("/graphql.json") ? SandboxRoute.shopifyGraphQL : endpoint.route
                sandbox.state.inject(SandboxFault(route: route, remaining: 1, status: 503, kind: "each"))
                let response = try await transport.send(HTTPRequest(method: method, url: sandbox.baseURL + "/" + path))
                #expect(response.status == 503, "\(key): \(response.status) \(String(decoding: response.body, as: UTF8.self))")
            }
            #expect(sandbox.state.faultsApplied.byKind == ["each": 28])
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    @Test("a malformed fault cuts off the answer and creates nothing the answer would have handed out (a feed document)")
    func malformedCreatesNothing() async throws {
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 3, listings: 10), logger: Harness.quietLogger)
        do {
            let transport = TestTransport.urlSession.make(HostAllowList(["127.0.0.1:\(sandbox.port)"]))
            let lwa = SandboxCredentials.amazonDevelopment
            let form = "grant_type=refresh_token&refresh_token=\(lwa.refreshToken.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
                + "&client_id=\(lwa.clientID)&client_secret=\(lwa.clientSecret)"
            let tokenResponse = try await transport.send(HTTPRequest(method: .post, url: sandbox.baseURL + "/amazon/auth/o2/token",
                                                                     headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                                                     body: Array(form.utf8)))
            let token = try #require((try JSONSerialization.jsonObject(with: Data(tokenResponse.body)) as? [String: Any])?["access_token"] as? String)
            let create = HTTPRequest(method: .post, url: sandbox.baseURL + "/" + AmazonRoutes.feedsPath + "/documents",
                                     headers: [("x-amz-access-token", token), ("Content-Type", "application/json")],
                                     body: Array(#"{"contentType":"application/json; charset=UTF-8"}"#.utf8))
            sandbox.state.inject(SandboxFault(route: .amazonCreateFeedDocument, remaining: 1, malformed: true))
            let cut = try await transport.send(create)
            #expect(cut.status == 200)
            #expect(String(decoding: cut.body, as: UTF8.self) == #"{"feedDocumentId":"#)
            let whole = try await transport.send(create)
            #expect(whole.status == 201)
            let id = (try JSONSerialization.jsonObject(with: Data(whole.body)) as? [String: Any])?["feedDocumentId"] as? String
            #expect(id == "amzn1.tortuga.4.na.sandbox1", "the cut-off answer created no document")
            #expect(sandbox.state.tokensIssued["amazon"] == 1)
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }
}
