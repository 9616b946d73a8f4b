import FlipSyncCore
import Foundation

/// The product-matching question the repricer asks a chat model, in one fixed convention:
/// a system message states the task, the user message holds exactly two lines,
/// `OURS: <title>` and `THEIRS: <title>`, and the model answers the JSON object
/// `{"same_product": true|false, "confidence": 0.0–1.0}`.
///
/// Titles are put on one line each (line breaks become spaces) so a title cannot add lines
/// of its own to the question.
public enum ProductMatchPrompt {
    public static let system = """
        You compare two marketplace listing titles. Decide whether they describe the same product \
        (same brand, model, variant and quantity; condition does not matter). Answer only with JSON: \
        {"same_product": true or false, "confidence": a number from 0.0 to 1.0}.
        """

    public static func request(ours: String, theirs: String) -> ChatRequest {
        ChatRequest(messages: [.init(.system, system), .init(.user, "OURS: \(oneLine(ours))\nTHEIRS: \(oneLine(theirs))")],
                    jsonOutput: true, maxOutputTokens: 32)
    }

    /// The model's answer, or `.malformed` when it is not the documented JSON.
    public static func verdict(from completion: ChatCompletion) throws(MarketplaceError) -> ProductMatchVerdict {
        struct Answer: Decodable {
            var same_product: Bool
            var confidence: Decimal
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(completion.text.utf8)) else {
            throw .malformed("\(completion.provider) did not answer {\"same_product\": bool, \"confidence\": number}")
        }
        var scaled = answer.confidence * 1000
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .plain)
        let perMille = NSDecimalNumber(decimal: rounded).intValue
        guard (0...1000).contains(perMille) else { throw .malformed("\(completion.provider) gave a confidence outside 0…1") }
        return ProductMatchVerdict(sameProduct: answer.same_product, confidencePerMille: perMille, provider: completion.provider,
                                   cost: completion.cost, usage: completion.usage)
    }

    static func oneLine(_ title: String) -> String {
        title.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

/// A model's judgement of two titles.
public struct ProductMatchVerdict: Sendable, Hashable {
    public var sameProduct: Bool
    /// Confidence in thousandths: 0…1000.
    public var confidencePerMille: Int
    /// Which provider gave this verdict.
    public var provider: String
    /// What this verdict's call cost.
    public var cost: Money
    /// The tokens of that call (what a cached verdict saves).
    public var usage: ChatUsage

    public init(sameProduct: Bool, confidencePerMille: Int, provider: String, cost: Money,
                usage: ChatUsage = ChatUsage(inputTokens: 0, outputTokens: 0)) {
        self.usage = usage
        self.sameProduct = sameProduct
        self.confidencePerMille = confidencePerMille
        self.provider = provider
        self.cost = cost
    }
}

/// Asks a cheap (local) model first and a stronger (paid) one only when the first is unsure.
public struct ProductMatcher: Sendable {
    public let primary: any ChatModel
    public let escalation: (any ChatModel)?
    /// Verdicts of `primary` below this confidence (thousandths) go to `escalation`.
    public let escalateBelowPerMille: Int

    public init(primary: any ChatModel, escalation: (any ChatModel)?, escalateBelowPerMille: Int = 800) {
        self.primary = primary
        self.escalation = escalation
        self.escalateBelowPerMille = escalateBelowPerMille
    }

    /// The primary model's verdict, or the escalation model's when the primary's confidence is
    /// below the threshold. Errors are the models' (`MarketplaceError`, `TaskFailure.budgetExhausted`).
    public func judge(ours: String, theirs: String) async throws -> ProductMatchVerdict {
        let request = ProductMatchPrompt.request(ours: ours, theirs: theirs)
        let first = try ProductMatchPrompt.verdict(from: try await primary.complete(request))
        guard first.confidencePerMille < escalateBelowPerMille, let escalation else { return first }
        return try ProductMatchPrompt.verdict(from: try await escalation.complete(request))
    }
}
