/// Chooses the competitor offers a repricing decision may follow.
///
/// An offer is considered when it is someone else's, in our listing's currency and condition,
/// matched to our item, and from a seller with enough positive feedback. Matched means matched
/// by GTIN/ASIN, or — only with `llm_matching` on — a title-only offer whose id the title
/// matcher accepted (`acceptedTitleMatches`). Every other offer is counted under the first
/// reason, in `ExclusionReason`'s order, that excludes it.
public struct CompetitorFilter: Sendable, Hashable {
    /// Why an offer was left out, in the order the checks run.
    public enum ExclusionReason: String, Sendable, Hashable, CaseIterable, Comparable {
        /// Our own offer, shown back to us.
        case ours
        /// Priced in another currency than our listing.
        case otherCurrency = "other-currency"
        /// Another condition than our listing's (a used offer does not price a new item).
        case otherCondition = "other-condition"
        /// Matched by title only, and not accepted by the title matcher (or `llm_matching` is off).
        case titleOnly = "title-only"
        /// The channel does not say the seller's feedback.
        case unknownFeedback = "unknown-feedback"
        /// Seller feedback below `min_seller_feedback`.
        case lowFeedback = "low-feedback"

        public static func < (a: Self, b: Self) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }

        /// Counts by reason as the ledgers store them: one JSON object keyed by code, keys in
        /// byte order, no spaces (`{"low-feedback":1,"ours":2}`: what `JSONEncoder` with
        /// `.sortedKeys` writes), built without an encoder (codes are plain ASCII, never escaped).
        public static func storedJSON(_ counts: [Self: Int]) -> String {
            guard !counts.isEmpty else { return "{}" }
            let entries = counts.map { ($0.key.rawValue, $0.value) }.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            return "{" + entries.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        }
    }

    /// The offers that passed, in the order given, and how many were excluded for each reason.
    public struct Result: Sendable, Hashable {
        public var considered: [CompetitorOffer]
        /// Only reasons that excluded at least one offer appear.
        public var excluded: [ExclusionReason: Int]

        public var excludedCount: Int { excluded.values.reduce(0, +) }

        /// The lowest landed price (price + shipping) among the considered offers.
        public var lowestLanded: Money? { considered.map(\.landed).min() }
    }

    public var condition: ItemCondition
    public var currency: Currency
    public var minSellerFeedback: Percent
    public var llmMatching: Bool
    public var acceptedTitleMatches: Set<String>

    public init(condition: ItemCondition, currency: Currency, minSellerFeedback: Percent, llmMatching: Bool,
                acceptedTitleMatches: Set<String>) {
        self.condition = condition
        self.currency = currency
        self.minSellerFeedback = minSellerFeedback
        self.llmMatching = llmMatching
        self.acceptedTitleMatches = acceptedTitleMatches
    }

    /// The reason `offer` is excluded, or `nil` when it is considered.
    public func exclusion(of offer: CompetitorOffer) -> ExclusionReason? {
        if offer.isOurs { return .ours }
        if offer.price.currency != currency || offer.shipping.currency != currency { return .otherCurrency }
        if offer.condition != condition { return .otherCondition }
        if !offer.matchedByIdentifier, !(llmMatching && acceptedTitleMatches.contains(offer.offerID)) { return .titleOnly }
        guard let feedback = offer.sellerFeedback else { return .unknownFeedback }
        if feedback < minSellerFeedback { return .lowFeedback }
        return nil
    }

    public func apply(to offers: [CompetitorOffer]) -> Result {
        var result = Result(considered: [], excluded: [:])
        for offer in offers {
            if let reason = exclusion(of: offer) {
                result.excluded[reason, default: 0] += 1
            } else {
                result.considered.append(offer)
            }
        }
        return result
    }
}
