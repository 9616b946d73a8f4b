/// Browse search over the competitor offers without scanning them: postings by GTIN and by
/// lower-cased title word, built once when the catalog is seeded (competitor offers never change
/// afterwards; no route or admin endpoint mutates them).
///
/// `matches` returns exactly the offers that filtering every one would, in catalog order. An
/// offer matches keyword `k` when its lower-cased title contains `k`. Keywords come from a query
/// split on spaces, so `k` holds no space, and a title contains it exactly when one of the
/// title's space-separated words does: `k`'s offers are the union of the postings of the words
/// containing it (`wordsContaining` maps every substring of every word to those words). The
/// keywords' (and the GTIN's) offers are then intersected smallest first, so a search costs
/// about its smallest posting list, not the catalog.
struct CompetitorIndex: Sendable {
    let offers: [SandboxCompetitorOffer]
    /// Offer indices (ascending) by GTIN.
    private let byGTIN: [String: [Int32]]
    /// Offer indices (ascending) by word id.
    private let postings: [[Int32]]
    /// Word ids by every substring (in `Character`s) of the word.
    private let wordsContaining: [String: [Int32]]

    init(_ offers: [SandboxCompetitorOffer]) {
        var byGTIN: [String: [Int32]] = [:]
        var wordIDs: [String: Int32] = [:]
        var postings: [[Int32]] = []
        for (index, offer) in offers.enumerated() {
            let position = Int32(index)
            if let gtin = offer.gtin { byGTIN[gtin, default: []].append(position) }
            for word in offer.title.lowercased().split(separator: " ") {
                let key = String(word)
                let id: Int32
                if let known = wordIDs[key] {
                    id = known
                } else {
                    id = Int32(postings.count)
                    wordIDs[key] = id
                    postings.append([])
                }
                // A word repeated in one title is posted once.
                if postings[Int(id)].last != position { postings[Int(id)].append(position) }
            }
        }
        var wordsContaining: [String: [Int32]] = [:]
        for (word, id) in wordIDs {
            let characters = Array(word)
            var substrings = Set<String>()
            for start in characters.indices {
                for end in start..<characters.count { substrings.insert(String(characters[start...end])) }
            }
            for substring in substrings { wordsContaining[substring, default: []].append(id) }
        }
        self.offers = offers
        self.byGTIN = byGTIN
        self.postings = postings
        self.wordsContaining = wordsContaining
    }

    /// Indices (ascending) of the offers with `gtin`, whose lower-cased title contains every one
    /// of `keywords` (lower-case, without spaces), and whose condition is one of `conditionIDs`;
    /// a nil argument does not constrain.
    func matches(gtin: String?, keywords: [String]?, conditionIDs: Set<Int>?) -> [Int32] {
        var lists: [[Int32]] = []
        if let gtin { lists.append(byGTIN[gtin] ?? []) }
        for keyword in keywords ?? [] { lists.append(offers(containing: keyword)) }
        lists.sort { $0.count < $1.count }
        var result = lists.first ?? Array(0..<Int32(offers.count))
        for list in lists.dropFirst() where !result.isEmpty {
            result = result.filter { Self.contains(list, $0) }
        }
        if let conditionIDs { result = result.filter { conditionIDs.contains(offers[Int($0)].condition.id) } }
        return result
    }

    /// Offers (ascending indices) whose lower-cased title contains `keyword`.
    private func offers(containing keyword: String) -> [Int32] {
        let words = wordsContaining[keyword] ?? []
        if words.count == 1 { return postings[Int(words[0])] }
        var union = words.flatMap { postings[Int($0)] }
        union.sort()
        var unique: [Int32] = []
        unique.reserveCapacity(union.count)
        for position in union where unique.last != position { unique.append(position) }
        return unique
    }

    /// Binary search in an ascending list.
    private static func contains(_ list: [Int32], _ value: Int32) -> Bool {
        var low = 0, high = list.count
        while low < high {
            let middle = (low + high) / 2
            if list[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low < list.count && list[low] == value
    }
}
