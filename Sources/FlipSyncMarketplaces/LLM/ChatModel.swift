import FlipSyncCore

/// A chat model: one request in, one completion out.
///
/// Contract: `complete` sends the request once (no retries inside), reports the call to the
/// client's `SpendRecorder` with its token usage and exact cost, and throws `MarketplaceError`
/// (or `TaskFailure.budgetExhausted` when a paid model's budget cannot afford the call, in which
/// case nothing is sent, or `CancellationError`).
public protocol ChatModel: Sendable {
    func complete(_ request: ChatRequest) async throws -> ChatCompletion
}

/// One message of a chat.
public struct ChatMessage: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable {
        case system, user, assistant
    }

    public var role: Role
    public var content: String

    public init(_ role: Role, _ content: String) {
        self.role = role
        self.content = content
    }
}

/// What to ask a chat model.
public struct ChatRequest: Sendable, Hashable {
    public var messages: [ChatMessage]
    /// Ask for a JSON object as the answer (Ollama `format: "json"`, OpenAI `response_format: json_object`).
    public var jsonOutput: Bool
    /// The most tokens the answer may have; nil for the client's default. Paid models always
    /// send a cap, so the reservation made before the call is a true upper bound.
    public var maxOutputTokens: Int?

    public init(messages: [ChatMessage], jsonOutput: Bool = false, maxOutputTokens: Int? = nil) {
        self.messages = messages
        self.jsonOutput = jsonOutput
        self.maxOutputTokens = maxOutputTokens
    }
}

/// Tokens one call used, as the provider counted them. `inputTokens` includes
/// `cachedInputTokens` (OpenAI's `prompt_tokens` convention).
public struct ChatUsage: Sendable, Hashable {
    public var inputTokens: Int64
    public var cachedInputTokens: Int64
    public var outputTokens: Int64

    public init(inputTokens: Int64, cachedInputTokens: Int64 = 0, outputTokens: Int64) {
        self.inputTokens = inputTokens
        self.cachedInputTokens = cachedInputTokens
        self.outputTokens = outputTokens
    }
}

/// A model's answer with what it used and cost.
public struct ChatCompletion: Sendable, Hashable {
    public var text: String
    public var usage: ChatUsage
    /// The model that answered, as the provider names it.
    public var model: String
    /// `ollama`, `openai`: the `[prices.*]` key.
    public var provider: String
    public var cost: Money

    public init(text: String, usage: ChatUsage, model: String, provider: String, cost: Money) {
        self.text = text
        self.usage = usage
        self.model = model
        self.provider = provider
        self.cost = cost
    }
}

/// Prices per million tokens (`[prices.openai] input`, `cached_input`, `output`).
public struct TokenPrices: Sendable, Hashable {
    public var inputPerMillion: Money
    public var cachedInputPerMillion: Money
    public var outputPerMillion: Money

    public init(inputPerMillion: Money, cachedInputPerMillion: Money, outputPerMillion: Money) {
        precondition(inputPerMillion.currency == cachedInputPerMillion.currency && inputPerMillion.currency == outputPerMillion.currency,
                     "token prices must share one currency")
        self.inputPerMillion = inputPerMillion
        self.cachedInputPerMillion = cachedInputPerMillion
        self.outputPerMillion = outputPerMillion
    }

    /// From `[prices.ollama]` / `[prices.openai]`: `input_tokens_per_million`,
    /// `cached_input_tokens_per_million` (the input price if unset) and
    /// `output_tokens_per_million`; a missing price is zero in `currency`.
    public init(_ table: [String: Money]?, currency: Currency) {
        let input = table?["input_tokens_per_million"] ?? .zero(currency)
        self.init(inputPerMillion: input, cachedInputPerMillion: table?["cached_input_tokens_per_million"] ?? input,
                  outputPerMillion: table?["output_tokens_per_million"] ?? .zero(currency))
    }

    public static func free(_ currency: Currency = .usd) -> TokenPrices {
        TokenPrices(inputPerMillion: .zero(currency), cachedInputPerMillion: .zero(currency), outputPerMillion: .zero(currency))
    }

    public var currency: Currency { inputPerMillion.currency }

    /// The exact cost of `usage`: uncached input, cached input and output tokens at their
    /// prices, summed in micro-units × tokens and divided by a million once, rounded UP to the
    /// micro-unit (1,234 input tokens at 0.15 USD/M = 185.1 → 186 micros).
    public func cost(of usage: ChatUsage) -> Money {
        let uncached = max(0, usage.inputTokens - usage.cachedInputTokens)
        let cached = min(usage.cachedInputTokens, usage.inputTokens)
        let scaled = uncached * inputPerMillion.micros + cached * cachedInputPerMillion.micros + usage.outputTokens * outputPerMillion.micros
        return Money(micros: (scaled + 999_999) / 1_000_000, currency: currency)
    }
}

/// Where a chat model is, which model to ask, what its tokens cost and how fast it may be
/// called: the same for Ollama and for an OpenAI-compatible API.
public struct ChatModelConfiguration: Sendable, Hashable {
    /// e.g. `http://127.0.0.1:11434`, `https://api.openai.com`, or the sandbox's `/ollama`, `/openai`.
    public var baseURL: String
    /// `llama3.2:3b`, `gpt-4o-mini`, …
    public var model: String
    public var prices: TokenPrices
    /// Used when a request sets no `maxOutputTokens`.
    public var defaultMaxOutputTokens: Int
    public var requests: Int
    public var per: TimeSpan
    public var burst: Int
    public var timeout: TimeSpan

    public init(baseURL: String, model: String, prices: TokenPrices = .free(), defaultMaxOutputTokens: Int = 256,
                requests: Int = 5, per: TimeSpan = .seconds(1), burst: Int = 5, timeout: TimeSpan = .seconds(60)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.model = model
        self.prices = prices
        self.defaultMaxOutputTokens = defaultMaxOutputTokens
        self.requests = requests
        self.per = per
        self.burst = burst
        self.timeout = timeout
    }

    /// From `[llm.NAME]` and `[prices.NAME]`.
    public init(_ endpoint: FlipSyncConfig.Endpoint, prices: [String: Money]?, currency: Currency, timeout: TimeSpan = .seconds(60)) {
        self.init(baseURL: endpoint.baseURL, model: endpoint.model ?? "", prices: TokenPrices(prices, currency: currency),
                  requests: endpoint.rateLimit.requests, per: endpoint.rateLimit.per, burst: endpoint.rateLimit.burst,
                  timeout: timeout)
    }
}
