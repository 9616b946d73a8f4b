import FlipSyncCore
import Foundation
import Logging

/// Where the local Ollama server is and which model to ask (`/api/chat` is appended to the base
/// URL). Usually free; give prices to meter a hosted Ollama. Local models can be slow to load,
/// so the timeout is generous.
public typealias OllamaConfiguration = ChatModelConfiguration

extension ChatModelConfiguration {
    /// From `[llm.ollama]` and `[prices.ollama]`, with a 120 s timeout.
    public static func ollama(_ endpoint: FlipSyncConfig.Endpoint, prices: [String: Money]?, currency: Currency) -> Self {
        Self(endpoint, prices: prices, currency: currency, timeout: .seconds(120))
    }
}

/// A local model through Ollama's chat API. Every call is recorded with its token counts;
/// its cost is zero unless the configuration gives prices, and only then is a reservation made
/// first (worst case: the prompt's UTF-8 bytes as input tokens plus the output cap).
public final class OllamaClient: ChatModel {
    public let configuration: OllamaConfiguration
    private let exchange: RequestPipeline
    private let bucket: TokenBucket

    public static let provider = "ollama"
    public static let operation = "api.chat"

    public init(configuration: OllamaConfiguration, transport: any HTTPTransport, recorder: any SpendRecorder,
                rateLimiters: RateLimiters, quota: (any QuotaLedger)? = nil, logger: Logger = Logger(label: "flipsync.llm.ollama")) {
        self.configuration = configuration
        let host = HTTPURLAuthority.hostKey(of: configuration.baseURL)
        let bucket = rateLimiters.bucket("\(host)|ollama", requests: configuration.requests, per: configuration.per,
                                         burst: configuration.burst)
        self.bucket = bucket
        exchange = RequestPipeline(transport: transport, recorder: recorder, quota: quota, logger: logger)
    }

    /// `POST /api/chat` with `{"model", "messages": [{"role", "content"}], "stream": false,
    /// "format": "json" (when asked), "options": {"num_predict"}}`; the answer's
    /// `message.content`, `prompt_eval_count` (input tokens), `eval_count` (output tokens) and
    /// `done` are read. Errors are `{"error": "…"}`.
    /// Reference: Ollama API, "Generate a chat completion"
    /// (https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion; also
    /// https://docs.ollama.com/api/chat).
    public func complete(_ request: ChatRequest) async throws -> ChatCompletion {
        let maxOutput = request.maxOutputTokens ?? configuration.defaultMaxOutputTokens
        let wire = WireOllamaChatRequest(model: configuration.model,
                                         messages: request.messages.map { .init(role: $0.role.rawValue, content: $0.content) },
                                         stream: false, format: request.jsonOutput ? "json" : nil,
                                         options: .init(num_predict: maxOutput))
        let http = HTTPRequest(method: .post, url: configuration.baseURL + "/api/chat",
                               headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
                               body: Array(try JSONEncoder().encode(wire)), timeout: configuration.timeout)
        let prices = configuration.prices
        let estimate = prices.cost(of: ChatUsage(inputTokens: LLMEstimate.inputTokenBound(request.messages), outputTokens: Int64(maxOutput)))
        let operation = Self.operation
        return try await exchange.send(http, PipelineCall(provider: Self.provider, operation: operation, price: estimate,
                                                 limit: { [bucket] in try await bucket.acquire() })) { response in
            try StatusMapping.check(response, api: "Ollama", operation: operation, apiMessage: Self.apiMessage)
            let answer = try StatusMapping.decode(WireOllamaChatResponse.self, response, operation: operation)
            guard answer.done else { throw MarketplaceError.malformed("\(operation): the answer is not done (\"done\": false)") }
            let usage = ChatUsage(inputTokens: answer.prompt_eval_count ?? 0, outputTokens: answer.eval_count ?? 0)
            let cost = prices.cost(of: usage)
            let completion = ChatCompletion(text: answer.message.content, usage: usage, model: answer.model ?? configuration.model,
                                            provider: Self.provider, cost: cost)
            return .init(value: completion,
                         call: MeteredCall(provider: Self.provider, operation: operation, units: usage.inputTokens + usage.outputTokens,
                                           cost: cost, status: response.status, inputTokens: usage.inputTokens,
                                           outputTokens: usage.outputTokens))
        }
    }

    /// Ollama's `{"error": "…"}`, or nil.
    static func apiMessage(_ response: HTTPResponse) -> String? {
        (try? JSONDecoder().decode(WireOllamaError.self, from: Data(response.body)))?.error
    }
}

/// Upper bounds for reserving before a call.
enum LLMEstimate {
    /// A token is at least one UTF-8 byte, so the bytes bound the input tokens; each message
    /// adds a few tokens of framing.
    static func inputTokenBound(_ messages: [ChatMessage]) -> Int64 {
        Int64(messages.reduce(3) { $0 + $1.content.utf8.count + $1.role.rawValue.utf8.count + 4 })
    }
}

struct WireOllamaChatRequest: Encodable {
    struct Message: Encodable {
        var role: String
        var content: String
    }

    struct Options: Encodable {
        var num_predict: Int
    }

    var model: String
    var messages: [Message]
    var stream: Bool
    var format: String?
    var options: Options
}

struct WireOllamaChatResponse: Decodable {
    struct Message: Decodable {
        var role: String?
        var content: String
    }

    var model: String?
    var message: Message
    var done: Bool
    var prompt_eval_count: Int64?
    var eval_count: Int64?
}

struct WireOllamaError: Decodable {
    var error: String
}
