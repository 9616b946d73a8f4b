import FlipSyncCore
import Foundation
import Hummingbird
import Synchronization

/// The LLM APIs' fault routes.
extension SandboxRoute {
    /// `POST /ollama/api/chat`.
    public static let ollamaChat = SandboxRoute("ollama.chat")
    /// `POST /openai/v1/chat/completions`.
    public static let openAIChat = SandboxRoute("openai.chat")
}

extension SandboxServer {
    /// The OpenAI key the sandbox accepts as `Authorization: Bearer …`. Development only; not a secret.
    public static let openAIAPIKey = "sandbox-openai-key"
}

/// Ollama's `POST /api/chat` under `/ollama` and OpenAI's `POST /v1/chat/completions` under
/// `/openai`, answering product-matching questions deterministically.
///
/// The question convention (FlipSyncMarketplaces' `ProductMatchPrompt`): the last user message
/// holds the lines `OURS: <title>` and `THEIRS: <title>`; the answer is the JSON
/// `{"same_product": bool, "confidence": number}`. Judgement uses the Jaccard index J of the
/// titles' lower-cased word sets (runs of letters and digits), in thousandths:
/// - Ollama (the small local model): same when J ≥ 500; confidence 0.55–0.60 in the ambiguous
///   band 300 ≤ J < 700 (so a caller escalates), 0.87–0.90 outside it.
/// - OpenAI: not the same when the titles' words with digits (model numbers, sizes) differ,
///   otherwise same when J ≥ 400; confidence 0.90–1.00.
/// Other questions get a fixed sentence. Usage: a text's tokens are round(words × 4 / 3),
/// words being runs of letters and digits over all messages; OpenAI reports the prompt's tokens
/// rounded down to 8 as `cached_tokens` when the same messages were asked before.
/// Shapes follow https://github.com/ollama/ollama/blob/main/docs/api.md and
/// https://platform.openai.com/docs/api-reference/chat/create.
struct LLMRoutes: Sendable {
    let state: SandboxState
    /// The prompts OpenAI has seen, for `cached_tokens`.
    private let seenPrompts = SeenPrompts()

    init(state: SandboxState) { self.state = state }

    func register(on router: Router<BasicRequestContext>) {
        router.group("ollama").post("api/chat") { request, _ in try await self.ollamaChat(request) }
        router.group("openai").post("v1/chat/completions") { request, _ in try await self.openAIChat(request) }
    }

    private struct ChatBody: Decodable {
        struct Message: Decodable {
            var role: String
            var content: String
        }
        var model: String?
        var messages: [Message]?
        var stream: Bool?
    }

    // MARK: Ollama

    func ollamaChat(_ request: Request) async throws -> Response {
        func error(_ status: HTTPResponse.Status, _ message: String) -> Response { JSON.response(["error": message], status: status) }
        guard let body = JSON.decode(ChatBody.self, try await JSON.body(request)) else { return error(.badRequest, "invalid JSON body") }
        guard let model = body.model, !model.isEmpty else { return error(.badRequest, "model is required") }
        guard body.stream == false else { return error(.badRequest, "the sandbox answers only \"stream\": false") }
        let messages = body.messages ?? []
        let answer = Self.answer(messages.last { $0.role == "user" }?.content ?? "", judge: Self.ollamaJudgement)
        return JSON.response([
            "model": model, "created_at": "2025-01-01T00:00:00Z",
            "message": ["role": "assistant", "content": answer], "done": true, "done_reason": "stop",
            "prompt_eval_count": Self.tokens(messages.map(\.content).joined(separator: "\n")), "eval_count": Self.tokens(answer),
        ])
    }

    // MARK: OpenAI

    func openAIChat(_ request: Request) async throws -> Response {
        guard request.headers[.authorization] == "Bearer \(state.openAIAPIKey)" else {
            // Unlike OpenAI, no part of the key is echoed.
            return Self.openAIError(status: 401, type: "invalid_request_error", code: "invalid_api_key", message: "Incorrect API key provided.")
        }
        guard let body = JSON.decode(ChatBody.self, try await JSON.body(request)), let messages = body.messages, !messages.isEmpty else {
            return Self.openAIError(status: 400, type: "invalid_request_error", code: nil, message: "'messages' is a required property.")
        }
        guard let model = body.model, !model.isEmpty else {
            return Self.openAIError(status: 400, type: "invalid_request_error", code: nil, message: "you must provide a model parameter")
        }
        let prompt = messages.map { "\($0.role)\u{1}\($0.content)" }.joined(separator: "\u{2}")
        let answer = Self.answer(messages.last { $0.role == "user" }?.content ?? "", judge: Self.openAIJudgement)
        let promptTokens = Self.tokens(messages.map(\.content).joined(separator: "\n"))
        let completionTokens = Self.tokens(answer)
        let seenBefore = !seenPrompts.insert(prompt)
        let cached = seenBefore ? promptTokens / 8 * 8 : 0
        return JSON.response([
            "id": "chatcmpl-\(String(CarrierRoutes.fnv1a(Array(prompt.utf8)), radix: 16))", "object": "chat.completion",
            "created": 1_735_689_600, "model": model,
            "choices": [["index": 0, "message": ["role": "assistant", "content": answer], "finish_reason": "stop"]],
            "usage": ["prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens,
                      "prompt_tokens_details": ["cached_tokens": cached]],
        ])
    }

    /// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
    static func openAIError(status: Int, type: String, code: String?, message: String) -> Response {
        JSON.response(["error": ["message": message, "type": type, "param": NSNull(), "code": code.map { $0 as Any } ?? NSNull()]],
                      status: HTTPResponse.Status(code: status))
    }

    // MARK: Judgement

    struct Judgement {
        var same: Bool
        var confidencePerMille: Int
    }

    static func ollamaJudgement(_ ours: String, _ theirs: String) -> Judgement {
        let j = jaccardPerMille(words(ours), words(theirs))
        let distance = abs(j - 500)
        return Judgement(same: j >= 500, confidencePerMille: (300..<700).contains(j) ? 550 + distance / 4 : 850 + distance / 10)
    }

    static func openAIJudgement(_ ours: String, _ theirs: String) -> Judgement {
        let a = words(ours), b = words(theirs)
        let j = jaccardPerMille(a, b)
        let numbersDiffer = a.filter { $0.contains(where: \.isNumber) } != b.filter { $0.contains(where: \.isNumber) }
        return Judgement(same: !numbersDiffer && j >= 400, confidencePerMille: numbersDiffer ? 980 : 900 + abs(j - 400) / 6)
    }

    /// The JSON answer to an `OURS:`/`THEIRS:` question, or a fixed sentence for anything else.
    static func answer(_ question: String, judge: (String, String) -> Judgement) -> String {
        var ours: String?, theirs: String?
        for line in question.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("OURS:") { ours = String(line.dropFirst(5)) }
            if line.hasPrefix("THEIRS:") { theirs = String(line.dropFirst(7)) }
        }
        guard let ours, let theirs else {
            return "The sandbox model answers only product-matching questions (OURS: and THEIRS: lines)."
        }
        let verdict = judge(ours, theirs)
        let c = min(1000, max(0, verdict.confidencePerMille))
        let fraction = String(c % 1000)
        return #"{"same_product":\#(verdict.same),"confidence":\#(c / 1000).\#(String(repeating: "0", count: 3 - fraction.count))\#(fraction)}"#
    }

    /// Lower-cased runs of letters and digits.
    static func words(_ text: String) -> Set<String> {
        Set(text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init))
    }

    static func jaccardPerMille(_ a: Set<String>, _ b: Set<String>) -> Int {
        let union = a.union(b).count
        return union == 0 ? 0 : 1000 * a.intersection(b).count / union
    }

    /// round(words × 4 / 3), words being runs of letters and digits.
    static func tokens(_ text: String) -> Int {
        let words = text.split { !($0.isLetter || $0.isNumber) }.count
        return (8 * words + 3) / 6
    }
}

/// The set of prompts one sandbox's OpenAI route has answered.
final class SeenPrompts: Sendable {
    private let prompts = Mutex<Set<String>>([])

    /// True the first time `prompt` is inserted.
    func insert(_ prompt: String) -> Bool { prompts.withLock { $0.insert(prompt).inserted } }
}
