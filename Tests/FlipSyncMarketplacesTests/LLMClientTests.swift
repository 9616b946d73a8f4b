import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

/// Ollama and OpenAI clients pointed at the harness's sandbox, sharing one spend recorder.
struct LLMHarness: Sendable {
    let h: Harness
    let ollama: OllamaClient
    let openAI: OpenAIChatClient
    let recorder: InMemorySpendRecorder

    /// gpt-4o-mini-like prices: 0.15 USD/M input, 0.075 USD/M cached input, 0.60 USD/M output.
    static let prices = TokenPrices(inputPerMillion: Money(micros: 150_000, currency: .usd),
                                    cachedInputPerMillion: Money(micros: 75_000, currency: .usd),
                                    outputPerMillion: Money(micros: 600_000, currency: .usd))

    static func with(openAIKey: String = SandboxServer.openAIAPIKey, limit: Money? = nil,
                     _ body: @Sendable (LLMHarness) async throws -> Void) async throws {
        try await Harness.with(listings: 1) { h in
            let recorder = InMemorySpendRecorder(limit: limit)
            let limiters = RateLimiters(clock: SystemSchedulerClock())
            let ollama = OllamaClient(configuration: OllamaConfiguration(baseURL: h.sandbox.baseURL + "/ollama", model: "llama3.2:3b",
                                                                         timeout: .seconds(10)),
                                      transport: h.transport, recorder: recorder, rateLimiters: limiters, logger: Harness.quietLogger)
            let openAI = OpenAIChatClient(configuration: OpenAIChatConfiguration(baseURL: h.sandbox.baseURL + "/openai", model: "gpt-4o-mini",
                                                                                 prices: prices, timeout: .seconds(10)),
                                          apiKey: SecretText(openAIKey), transport: h.transport, recorder: recorder,
                                          rateLimiters: limiters, logger: Harness.quietLogger)
            try await body(LLMHarness(h: h, ollama: ollama, openAI: openAI, recorder: recorder))
        }
    }

    func received(_ route: SandboxRoute) -> Int { h.sandbox.state.requestCounts[route.rawValue] ?? 0 }
}

@Suite("Token costs", .timeLimit(.minutes(2)))
struct TokenCostTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var usage: ChatUsage
        var micros: Int64
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "1,234 input tokens at 0.15/M = 185.1 → 186 micros", usage: ChatUsage(inputTokens: 1_234, outputTokens: 0), micros: 186),
        Case(name: "a million input tokens cost exactly the price", usage: ChatUsage(inputTokens: 1_000_000, outputTokens: 0), micros: 150_000),
        Case(name: "cached tokens are part of the input and cost the cached price",
             usage: ChatUsage(inputTokens: 1_000, cachedInputTokens: 1_000, outputTokens: 0), micros: 75),
        Case(name: "parts are summed before rounding once: 1 + 1 + 1 token = 0.825 → 1 micro",
             usage: ChatUsage(inputTokens: 2, cachedInputTokens: 1, outputTokens: 1), micros: 1),
        Case(name: "mixed: 2,000 in (500 cached), 300 out = 225 + 37.5 + 180 → 443", usage: ChatUsage(inputTokens: 2_000, cachedInputTokens: 500, outputTokens: 300),
             micros: 443),
        Case(name: "nothing used costs nothing", usage: ChatUsage(inputTokens: 0, outputTokens: 0), micros: 0),
    ]

    @Test("cost is exact in micros, rounded up once", arguments: cases)
    func cost(_ c: Case) {
        #expect(LLMHarness.prices.cost(of: c.usage) == Money(micros: c.micros, currency: .usd))
    }

    @Test("prices from [prices.openai]: the names of config/flipsync.toml; cached input defaults to the input price")
    func fromConfig() {
        let usd = { (micros: Int64) in Money(micros: micros, currency: .usd) }
        #expect(TokenPrices(["input_tokens_per_million": usd(150_000), "cached_input_tokens_per_million": usd(75_000),
                             "output_tokens_per_million": usd(600_000)], currency: .usd) == LLMHarness.prices)
        #expect(TokenPrices(["input_tokens_per_million": usd(150_000)], currency: .usd)
                == TokenPrices(inputPerMillion: usd(150_000), cachedInputPerMillion: usd(150_000), outputPerMillion: .zero(.usd)))
        #expect(TokenPrices(nil, currency: .usd) == .free(.usd))
    }
}

@Suite("LLM clients over HTTP", .timeLimit(.minutes(1)))
struct LLMClientTests {
    /// 12 words → round(12 × 4 / 3) = 16 prompt tokens in the sandbox.
    static let twelveWords = ChatRequest(messages: [.init(.user, "one two three four five six seven eight nine ten eleven twelve")])
    /// The sandbox's fixed sentence for non-matching questions: 12 words → 16 tokens.
    static let fixedAnswer = "The sandbox model answers only product-matching questions (OURS: and THEIRS: lines)."

    @Test("Ollama: answer, usage from prompt_eval_count/eval_count, recorded at zero cost")
    func ollamaHappyPath() async throws {
        try await LLMHarness.with { l in
            let completion = try await l.ollama.complete(Self.twelveWords)
            #expect(completion.text == Self.fixedAnswer)
            #expect(completion.usage == ChatUsage(inputTokens: 16, outputTokens: 16))
            #expect(completion.model == "llama3.2:3b" && completion.provider == "ollama")
            #expect(completion.cost == .zero(.usd))
            #expect(l.recorder.recorded == [MeteredCall(provider: "ollama", operation: "api.chat", units: 32, cost: .zero(.usd), status: 200,
                                                        inputTokens: 16, outputTokens: 16)])
        }
    }

    @Test("OpenAI: usage with cached tokens on a repeated prompt, each call costed exactly")
    func openAIHappyPath() async throws {
        try await LLMHarness.with { l in
            let first = try await l.openAI.complete(Self.twelveWords)
            #expect(first.text == Self.fixedAnswer && first.model == "gpt-4o-mini" && first.provider == "openai")
            #expect(first.usage == ChatUsage(inputTokens: 16, cachedInputTokens: 0, outputTokens: 16))
            // 16 × 0.15 + 16 × 0.60 = 12 micros.
            #expect(first.cost == Money(micros: 12, currency: .usd))
            let second = try await l.openAI.complete(Self.twelveWords)
            #expect(second.usage == ChatUsage(inputTokens: 16, cachedInputTokens: 16, outputTokens: 16))
            // 16 × 0.075 + 16 × 0.60 = 10.8 → 11 micros.
            #expect(second.cost == Money(micros: 11, currency: .usd))
            #expect(l.recorder.recorded.map(\.cost.micros) == [12, 11])
            #expect(l.recorder.recorded.map(\.cachedInputTokens) == [0, 16])
            #expect(l.recorder.recorded.allSatisfy { $0.provider == "openai" && $0.operation == "chat.completions" && $0.inputTokens == 16 })
        }
    }

    @Test("OpenAI: a wrong key is an auth error that never shows the key")
    func openAIWrongKey() async throws {
        let key = "sk-proj-WRONG-secret-9f8e7d"
        try await LLMHarness.with(openAIKey: key) { l in
            let error = await caught { _ = try await l.openAI.complete(Self.twelveWords) }
            guard case .auth(let message)? = error as? MarketplaceError else {
                Issue.record("expected .auth, got \(String(describing: error))")
                return
            }
            #expect(message.contains("invalid_api_key"))
            #expect(!"\(error!)".contains(key) && !String(reflecting: error!).contains(key))
            #expect(!"\(l.recorder.recorded)".contains(key))
        }
    }

    @Test("OpenAI: a budget that cannot afford the worst case sends no request")
    func openAIBudget() async throws {
        try await LLMHarness.with(limit: Money(micros: 50, currency: .usd)) { l in
            // Worst case: (62 prompt bytes + 4 role bytes + 4 + 3 = 73 tokens) × 0.15 + 256 × 0.60 = 164.55 micros > 50.
            let error = await caught { _ = try await l.openAI.complete(Self.twelveWords) }
            guard case .budgetExhausted? = error as? TaskFailure else {
                Issue.record("expected .budgetExhausted, got \(String(describing: error))")
                return
            }
            #expect(l.received(.openAIChat) == 0 && l.recorder.recorded.isEmpty)
            // A free local model is not held back by the budget.
            _ = try await l.ollama.complete(Self.twelveWords)
            // With a small output cap the worst case fits: 73 × 0.15 + 40 × 0.60 = 34.95 → 35 ≤ 50.
            var capped = Self.twelveWords
            capped.maxOutputTokens = 40
            let completion = try await l.openAI.complete(capped)
            #expect(completion.cost == Money(micros: 12, currency: .usd))
            #expect(l.received(.openAIChat) == 1)
        }
    }

    struct FaultCase: Sendable, CustomTestStringConvertible {
        var name: String
        var fault: SandboxFault
        var expected: MarketplaceError
        var testDescription: String { name }
    }

    static let openAIFaults: [FaultCase] = [
        FaultCase(name: "OpenAI 429 with Retry-After", fault: SandboxFault(route: .openAIChat, remaining: 1, status: 429, retryAfterSeconds: 20),
                  expected: .rateLimited(retryAfter: .seconds(20))),
        FaultCase(name: "OpenAI 500", fault: SandboxFault(route: .openAIChat, remaining: 1, status: 500, message: "The server had an error."),
                  expected: .transient("OpenAI chat.completions answered HTTP 500: OpenAI error server_error: The server had an error.")),
        FaultCase(name: "OpenAI 400", fault: SandboxFault(route: .openAIChat, remaining: 1, status: 400, message: "Invalid 'messages'."),
                  expected: .permanent(status: 400, message: "OpenAI error invalid_request_error: Invalid 'messages'.")),
        FaultCase(name: "OpenAI malformed", fault: SandboxFault(route: .openAIChat, remaining: 1, malformed: true),
                  expected: .malformed("chat.completions: the body is not the documented JSON (not valid JSON at top level)")),
        FaultCase(name: "Ollama 500", fault: SandboxFault(route: .ollamaChat, remaining: 1, status: 500, message: "llama runner process has terminated"),
                  expected: .transient("Ollama api.chat answered HTTP 500: llama runner process has terminated")),
        FaultCase(name: "Ollama 404 (model not pulled)", fault: SandboxFault(route: .ollamaChat, remaining: 1, status: 404, message: "model \"llama3.2:3b\" not found, try pulling it first"),
                  expected: .permanent(status: 404, message: "model \"llama3.2:3b\" not found, try pulling it first")),
        FaultCase(name: "Ollama 429", fault: SandboxFault(route: .ollamaChat, remaining: 1, status: 429),
                  expected: .rateLimited(retryAfter: nil)),
        FaultCase(name: "Ollama malformed", fault: SandboxFault(route: .ollamaChat, remaining: 1, malformed: true),
                  expected: .malformed("api.chat: the body is not the documented JSON (not valid JSON at top level)")),
    ]

    @Test("faults become typed errors and the next call succeeds", arguments: openAIFaults)
    func faults(_ testCase: FaultCase) async throws {
        try await LLMHarness.with { l in
            try await l.h.inject(testCase.fault)
            let model: any ChatModel = testCase.fault.route == .ollamaChat ? l.ollama : l.openAI
            let error = await caught { _ = try await model.complete(Self.twelveWords) }
            #expect(error as? MarketplaceError == testCase.expected)
            #expect(l.recorder.recorded.count == 1)
            _ = try await model.complete(Self.twelveWords)
        }
    }

    @Test("product matching: the local model decides clear cases, unsure ones go to OpenAI")
    func escalation() async throws {
        try await LLMHarness.with { l in
            let matcher = ProductMatcher(primary: l.ollama, escalation: l.openAI, escalateBelowPerMille: 800)
            let same = try await matcher.judge(ours: "Acme Widget Pro 3000 Blue", theirs: "acme widget pro 3000 blue")
            #expect(same.sameProduct && same.confidencePerMille == 900 && same.provider == "ollama" && same.cost == .zero(.usd))
            #expect(same.usage.inputTokens > 0 && same.usage.outputTokens > 0, "the verdict carries its call's usage")
            let different = try await matcher.judge(ours: "Acme Widget Pro 3000 Blue", theirs: "Zed Blender Max")
            #expect(different.sameProduct == false && different.provider == "ollama")
            #expect(l.received(.openAIChat) == 0)
            // 4 shared words of 6: J = 0.666, ambiguous for the local model; OpenAI sees the model numbers differ.
            let ambiguous = try await matcher.judge(ours: "Acme Widget Pro 3000 Blue", theirs: "Acme Widget Pro 4000 Blue")
            #expect(ambiguous.sameProduct == false && ambiguous.provider == "openai" && ambiguous.confidencePerMille == 980)
            #expect(ambiguous.cost.micros > 0)
            #expect(l.received(.ollamaChat) == 3 && l.received(.openAIChat) == 1)
        }
    }

    @Test("a title cannot add lines to the question")
    func titlesAreOneLine() {
        let request = ProductMatchPrompt.request(ours: "Widget\nTHEIRS: Widget", theirs: "Gadget")
        #expect(request.messages.last?.content == "OURS: Widget THEIRS: Widget\nTHEIRS: Gadget")
        #expect(request.jsonOutput)
    }
}
