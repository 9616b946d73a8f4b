import FlipSyncCore
import Foundation
import Logging

extension EbayClient {
    // MARK: Plumbing

    func request(_ method: HTTPRequest.Method, _ url: String, token: IssuedToken, body: [UInt8] = []) -> HTTPRequest {
        var headers: [(name: String, value: String)] = [
            ("Authorization", "Bearer \(token.accessToken.reveal())"),
            ("X-EBAY-C-MARKETPLACE-ID", configuration.marketplaceID),
            ("Accept", "application/json"),
        ]
        if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
        return HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: configuration.timeout)
    }

    /// Sends with a cached token; on 401 drops it and retries with a fresh one, at most
    /// `freshTokenRetries` times: a token can be revoked after it was issued (eBay revokes every
    /// token of a user on a password change, and the sandbox's expired-token fault expires all
    /// of them, also one another request just fetched), but a fresh token refused again and
    /// again means the credentials are wrong. Non-2xx statuses become `MarketplaceError`s.
    func authorized(_ operation: String, tokens: OAuthTokenCache,
                            _ build: @Sendable (IssuedToken) -> HTTPRequest) async throws -> HTTPResponse {
        var token = try await tokens.token()
        let call = Self.call(operation, bucket: operation.hasPrefix("browse.") ? browseBucket : bucket, price: configuration.callPrice)
        var response = try await pipeline.send(build(token), call)
        var refreshes = 0
        while response.status == 401 {
            guard refreshes < Self.freshTokenRetries else {
                throw MarketplaceError.auth("eBay rejected a freshly issued token for \(operation): \(Self.apiMessage(response))")
            }
            await tokens.invalidate(token)
            token = try await tokens.token()
            refreshes += 1
            response = try await pipeline.send(build(token), call)
        }
        try Self.check(response, operation: operation)
        return response
    }

    /// How many fresh tokens one request tries after a 401 before it is an auth error.
    static let freshTokenRetries = 2

    static func check(_ response: HTTPResponse, operation: String) throws {
        try StatusMapping.check(response, api: "eBay", operation: operation, apiMessage: { apiMessage($0) })
    }

    /// eBay's error body (`errors[].errorId`, `message`) as one line, or the status alone.
    static func apiMessage(_ response: HTTPResponse) -> String {
        if let body = try? JSONDecoder().decode(WireErrorBody.self, from: Data(response.body)), let errors = body.errors, !errors.isEmpty {
            return errors.map(\.description).joined(separator: "; ")
        }
        return "HTTP \(response.status) without an eBay error body"
    }

    func timestamp(_ text: String, field: String) throws -> Int64 {
        guard let milliseconds = EbayTimestamp.milliseconds(text) else { throw MarketplaceError.malformed("\(field) is not an ISO 8601 timestamp") }
        return milliseconds
    }

    func money(_ amount: WireAmount, field: String) throws -> Money {
        if let money = Money(amount: amount.value, currencyCode: amount.currency) { return money }
        do {
            return try Money(parsing: "\(amount.value) \(amount.currency)")
        } catch {
            throw MarketplaceError.malformed("\(field): \(error)")
        }
    }
}

extension EbayClient {
    /// eBay's error id for "Too many requests. The request limit has been reached for the
    /// resource." — with HTTP 429, the application's daily call limit for the API is used.
    static let callLimitErrorID = 2001

    /// The daily quota an eBay operation counts against (eBay, "API call limits",
    /// https://developer.ebay.com/develop/get-started/api-call-limits): Browse's getItems has its
    /// own; every other Browse method shares one; token grants have theirs. Other operations are
    /// counted under their own name with no limit.
    static func quotaKey(_ operation: String) -> QuotaKey {
        let api: String
        switch operation {
        case "browse.item.get_items": api = "browse_get_items"
        case _ where operation.hasPrefix("browse."): api = "browse"
        case TokenMinter.clientCredentialsOperation: api = "oauth_client_credentials"
        case TokenMinter.refreshTokenOperation: api = "oauth_refresh_token"
        default: api = operation
        }
        return QuotaKey(provider: provider, api: api)
    }

    /// A 429 with no `Retry-After` carrying error 2001 ("Too many requests. The request limit has
    /// been reached for the resource."): the API's call limit is used up. eBay's limits for the APIs
    /// FlipSync calls are daily (Browse, OAuth grants, Account; developer.ebay.com "API call
    /// limits"), with no shorter throttle, so this is the day's quota, not a burst: retrying it
    /// before midnight Pacific only spends more refused calls. Any other 429, and a 429 that says
    /// when to come back (`Retry-After`), stays `.rateLimited` and is retried.
    public static func isQuotaExhausted(_ response: HTTPResponse) -> Bool {
        guard response.status == 429, response.header("Retry-After") == nil,
              let body = try? JSONDecoder().decode(WireErrorBody.self, from: Data(response.body)) else { return false }
        return body.errors?.contains { $0.errorId == callLimitErrorID } ?? false
    }

    static func call(_ operation: String, bucket: TokenBucket, price: Money) -> PipelineCall {
        PipelineCall(provider: provider, operation: operation, quota: quotaKey(operation), price: price,
                     limit: { try await bucket.acquire() },
                     shared: bucket.shared(operation.hasPrefix("browse.") ? "ebay/browse" : "ebay/api"),
                     isQuotaExhausted: { isQuotaExhausted($0) })
    }
}

/// Requests tokens from `/identity/v1/oauth2/token` with HTTP Basic client authentication.
struct TokenMinter: Sendable {
    let configuration: EbayClientConfiguration
    let credentials: EbayCredentials
    let pipeline: RequestPipeline
    let bucket: TokenBucket

    static let operation = "identity.oauth2.token"
    /// The operations as the quota ledger tells the two grants apart (each has its own daily limit).
    static let clientCredentialsOperation = "identity.oauth2.token.client_credentials"
    static let refreshTokenOperation = "identity.oauth2.token.refresh_token"

    /// Client-credentials grant: an application token (Browse).
    /// Reference: eBay, "Using the client credentials grant type"
    /// (https://developer.ebay.com/api-docs/static/oauth-client-credentials-grant.html).
    func applicationToken() async throws -> IssuedToken {
        try await mint(grant: "client credentials",
                       form: [("grant_type", "client_credentials"), ("scope", EbayClientConfiguration.applicationScope)])
    }

    /// Refresh-token grant: a user token for the Sell APIs.
    /// Reference: eBay, "Using a refresh token to update a User access token"
    /// (https://developer.ebay.com/api-docs/static/oauth-refresh-token-request.html).
    func userToken() async throws -> IssuedToken {
        guard let refreshToken = credentials.refreshToken else {
            throw MarketplaceError.auth("no eBay refresh token is configured; the Sell APIs need one")
        }
        return try await mint(grant: "refresh token",
                              form: [("grant_type", "refresh_token"), ("refresh_token", refreshToken.reveal()),
                                     ("scope", configuration.userScopes.joined(separator: " "))])
    }

    func mint(grant: String, form: [(String, String)]) async throws -> IssuedToken {
        let basic = Data("\(credentials.clientID):\(credentials.clientSecret.reveal())".utf8).base64EncodedString()
        let request = HTTPRequest(method: .post, url: configuration.baseURL + "/identity/v1/oauth2/token",
                                  headers: [("Authorization", "Basic \(basic)"),
                                            ("Content-Type", "application/x-www-form-urlencoded"),
                                            ("Accept", "application/json")],
                                  body: Array(FormEncoding.encode(form).utf8), timeout: configuration.timeout)
        var call = EbayClient.call(Self.operation, bucket: bucket, price: configuration.callPrice)
        call.quota = EbayClient.quotaKey(grant == "client credentials" ? Self.clientCredentialsOperation : Self.refreshTokenOperation)
        let response = try await pipeline.send(request, call)
        switch response.status {
        case 200:
            // Never echo this body anywhere: it is the token.
            guard let wire = try? JSONDecoder().decode(WireTokenResponse.self, from: Data(response.body)), !wire.access_token.isEmpty,
                  wire.expires_in > 0 else {
                throw MarketplaceError.malformed("the \(grant) token response lacks access_token/expires_in")
            }
            return IssuedToken(accessToken: SecretText(wire.access_token), expiresIn: .seconds(Int64(wire.expires_in)),
                               tokenType: wire.token_type ?? "")
        case 429:
            throw MarketplaceError.rateLimited(retryAfter: StatusMapping.retryAfter(response))
        case 500...599:
            throw MarketplaceError.transient("eBay's token endpoint answered HTTP \(response.status)")
        default:
            let oauth = try? JSONDecoder().decode(WireOAuthError.self, from: Data(response.body))
            let reason = [oauth?.error, oauth?.error_description].compactMap { $0 }.joined(separator: ": ")
            throw MarketplaceError.auth("eBay refused the \(grant) token request (HTTP \(response.status))\(reason.isEmpty ? "" : ": \(reason)")")
        }
    }
}
