import FlipSyncCore
import Foundation
import Logging

/// Where OpenAI (or a compatible server) is, which model to ask, and what tokens cost
/// (`/v1/chat/completions` is appended to the base URL; the output cap is always sent as
/// `max_completion_tokens`).
public typealias OpenAIChatConfiguration = ChatModelConfiguration

/// OpenAI's Chat Completions API, a paid model.
///
/// Before sending, the worst case is reserved: every prompt byte as an uncached input token
/// plus `max_completion_tokens` output tokens at the configured prices. Once answered, the call
/// is recorded with `usage.prompt_tokens` (cached ones included),
/// `usage.prompt_tokens_details.cached_tokens` and `usage.completion_tokens`, costed exactly
/// (`TokenPrices.cost(of:)`). The key is sent as a Bearer token and never appears in errors,
/// logs or descriptions.
public final class OpenAIChatClient: ChatModel {
    public let configuration: OpenAIChatConfiguration
    private let apiKey: SecretText
    private let exchange: RequestPipeline
    private let bucket: TokenBucket

    public static let provider = "openai"
    public static let operation = "chat.completions"

    public init(configuration: OpenAIChatConfiguration, apiKey: SecretText, transport: any HTTPTransport,
                recorder: any SpendRecorder, rateLimiters: RateLimiters, quota: (any QuotaLedger)? = nil, logger: Logger = Logger(label: "flipsync.llm.openai")) {
        self.configuration = configuration
        self.apiKey = apiKey
        let host = HTTPURLAuthority.hostKey(of: configuration.baseURL)
        // One bucket per host and key; the key is named by its hash, never spelled out.
        let bucket = rateLimiters.bucket("\(host)|openai|\(apiKey.reveal().hashValue)", requests: configuration.requests,
                                         per: configuration.per, burst: configuration.burst)
        self.bucket = bucket
        exchange = RequestPipeline(transport: transport, recorder: recorder, quota: quota, logger: logger, gate: rateLimiters.shared)
    }

    /// `POST /v1/chat/completions` with `{"model", "messages": [{"role", "content"}],
    /// "max_completion_tokens", "response_format": {"type": "json_object"} (when asked)}` and
    /// `Authorization: Bearer KEY`; reads `model`, `choices[0].message.content` and `usage`
    /// (`prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`). Errors are
    /// `{"error": {"message", "type", "param", "code"}}`.
    /// References: OpenAI API reference, "Create chat completion"
    /// (https://platform.openai.com/docs/api-reference/chat/create), prompt caching
    /// (https://platform.openai.com/docs/guides/prompt-caching), error codes
    /// (https://platform.openai.com/docs/guides/error-codes).
    public func complete(_ request: ChatRequest) async throws -> ChatCompletion {
        let maxOutput = request.maxOutputTokens ?? configuration.defaultMaxOutputTokens
        let wire = WireOpenAIChatRequest(model: configuration.model,
                                         messages: request.messages.map { .init(role: $0.role.rawValue, content: $0.content) },
                                         max_completion_tokens: maxOutput,
                                         response_format: request.jsonOutput ? .init(type: "json_object") : nil)
        let http = HTTPRequest(method: .post, url: configuration.baseURL + "/v1/chat/completions",
                               headers: [("Authorization", "Bearer \(apiKey.reveal())"), ("Content-Type", "application/json"),
                                         ("Accept", "application/json")],
                               body: Array(try JSONEncoder().encode(wire)), timeout: configuration.timeout)
        let prices = configuration.prices
        let estimate = prices.cost(of: ChatUsage(inputTokens: LLMEstimate.inputTokenBound(request.messages), outputTokens: Int64(maxOutput)))
        let operation = Self.operation
        return try await exchange.send(http, PipelineCall(provider: Self.provider, operation: operation, price: estimate,
                                                 limit: { [bucket] in try await bucket.acquire() },
                                                 shared: bucket.shared("openai/chat"))) { response in
            try StatusMapping.check(response, api: "OpenAI", operation: operation, apiMessage: Self.apiMessage)
            let answer = try StatusMapping.decode(WireOpenAIChatResponse.self, response, operation: operation)
            guard let content = answer.choices.first?.message.content else {
                throw MarketplaceError.malformed("\(operation): the answer has no choices[0].message.content")
            }
            let usage = ChatUsage(inputTokens: answer.usage.prompt_tokens,
                                  cachedInputTokens: answer.usage.prompt_tokens_details?.cached_tokens ?? 0,
                                  outputTokens: answer.usage.completion_tokens)
            let cost = prices.cost(of: usage)
            let completion = ChatCompletion(text: content, usage: usage, model: answer.model, provider: Self.provider, cost: cost)
            return .init(value: completion,
                         call: MeteredCall(provider: Self.provider, operation: operation, units: usage.inputTokens + usage.outputTokens,
                                           cost: cost, status: response.status, inputTokens: usage.inputTokens,
                                           cachedInputTokens: usage.cachedInputTokens, outputTokens: usage.outputTokens))
        }
    }

    /// OpenAI's `error.message` (with its `code` or `type`), or nil.
    static func apiMessage(_ response: HTTPResponse) -> String? {
        guard let body = try? JSONDecoder().decode(WireOpenAIError.self, from: Data(response.body)) else { return nil }
        let kind = body.error.code ?? body.error.type
        return kind.map { "OpenAI error \($0): \(body.error.message)" } ?? body.error.message
    }
}

struct WireOpenAIChatRequest: Encodable {
    struct Message: Encodable {
        var role: String
        var content: String
    }

    struct ResponseFormat: Encodable {
        var type: String
    }

    var model: String
    var messages: [Message]
    var max_completion_tokens: Int
    var response_format: ResponseFormat?
}

struct WireOpenAIChatResponse: Decodable {
    struct Choice: Decodable {
        struct Message: Decodable {
            var role: String?
            var content: String?
        }

        var index: Int?
        var message: Message
    }

    struct Usage: Decodable {
        struct PromptDetails: Decodable {
            var cached_tokens: Int64?
        }

        var prompt_tokens: Int64
        var completion_tokens: Int64
        var prompt_tokens_details: PromptDetails?
    }

    var model: String
    var choices: [Choice]
    var usage: Usage
}

struct WireOpenAIError: Decodable {
    struct Detail: Decodable {
        var message: String
        var type: String?
        var code: String?
    }

    var error: Detail
}
