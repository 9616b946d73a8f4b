import Foundation
@testable import FlipSyncMarketplaces
import FlipSyncCore
import Testing

/// The fast JSON path (`JSONFastPath`) must answer what `JSONDecoder` answers: the same value
/// for a body it reads, and `JSONDecoder`'s own value or error wherever it gives up. Compared on
/// generated eBay bodies (escapes, non-ASCII, nulls, absent and unknown keys, numbers in every
/// form) and on mutations of them (truncated, bytes changed, keys doubled, types swapped).
@Suite("The fast JSON path answers what JSONDecoder answers", .timeLimit(.minutes(2)))
struct JSONFastPathTests {
    /// What `StatusMapping.decode` gives for `body` (the fast path first), and what
    /// `JSONDecoder` alone gives, as comparable text: the value's full description or the error.
    static func outcomes<T: FastJSONDecodable>(_ type: T.Type, _ body: [UInt8]) -> (ours: String, reference: String, fast: Bool) {
        let response = HTTPResponse(status: 200, body: body)
        func text(_ result: () throws -> T) -> String {
            do { return "value " + String(reflecting: try result()) } catch { return "error " + stable("\(error)") }
        }
        let ours = text { try StatusMapping.decode(type, response, operation: "op") }
        let reference = text { try StatusMapping.decodeWithJSONDecoder(type, response, operation: "op") }
        return (ours, reference, T.fast(body) != nil)
    }

    /// The same for a wire type whose values are compared with `==` (a dictionary's description
    /// follows its storage, not its contents): equal values read as the same text.
    static func outcomes<T: FastJSONDecodable & Equatable>(_ type: T.Type, _ body: [UInt8]) -> (ours: String, reference: String, fast: Bool) {
        let response = HTTPResponse(status: 200, body: body)
        let ours = Result { () throws(MarketplaceError) -> T in try StatusMapping.decode(type, response, operation: "op") }
        let reference = Result { () throws(MarketplaceError) -> T in try StatusMapping.decodeWithJSONDecoder(type, response, operation: "op") }
        switch (ours, reference) {
        case (.success(let a), .success(let b)) where a == b: return ("equal values", "equal values", T.fast(body) != nil)
        case (.failure(let a), .failure(let b)): return ("error " + Self.stable("\(a)"), "error " + Self.stable("\(b)"), T.fast(body) != nil)
        default: return ("\(ours)", "\(reference)", T.fast(body) != nil)
        }
    }

    /// An error's text without the aspect name it names: `JSONDecoder` reads an object of
    /// aspects into a dictionary and reports the first wrong value in that dictionary's order,
    /// which differs from one decode to the next (each dictionary hashes with its own seed), so
    /// two decodes of one body with two wrong aspects may name different ones.
    static func stable(_ error: String) -> String {
        guard let aspects = error.range(of: ".aspects.") else { return error }
        return String(error[..<aspects.upperBound]) + "…"
    }

    // MARK: Generated bodies

    static let strings = ["", "Acme", "caf\u{e9}", "\u{1F600} grin", "a \\\"quoted\\\" word", "back\\\\slash", "line\\nbreak",
                          "tab\\t", "\\u00e9t\\u00E9", "\\ud83d\\ude00", "slash\\/", "\\b\\f\\r", "12345678901234567890 long enough to allocate",
                          "\\u0000", "\\ud83d", "\\udc00", "\\x", "\u{7F}"]
    static let integers = ["0", "7", "-3", "-0", "250", "5.0", "1e2", "1E+2", "2.5", "99999999999999999999", "9223372036854775807",
                           "-9223372036854775808", "9223372036854775808", "007", "1.", "-", "\"7\""]

    static func pick<R: RandomNumberGenerator>(_ choices: [String], _ random: inout R) -> String { choices.randomElement(using: &random)! }

    /// A member `"key": value` about half the time, `null` sometimes, nothing otherwise.
    static func optional<R: RandomNumberGenerator>(_ key: String, _ value: String, _ random: inout R) -> String? {
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<6: "\"\(key)\": \(value)"
        case 6: "\"\(key)\": null"
        default: nil
        }
    }

    static func string<R: RandomNumberGenerator>(_ random: inout R) -> String { "\"" + pick(strings, &random) + "\"" }
    static func integer<R: RandomNumberGenerator>(_ random: inout R) -> String {
        Int.random(in: 0..<4, using: &random) == 0 ? pick(integers, &random) : String(Int.random(in: 0...100_000, using: &random))
    }
    static func amount<R: RandomNumberGenerator>(_ random: inout R) -> String {
        object([Int.random(in: 0..<12, using: &random) == 0 ? nil : "\"value\": \"\(Int.random(in: 1...9999, using: &random)).99\"",
                "\"currency\": \(Int.random(in: 0..<10, using: &random) == 0 ? string(&random) : "\"USD\"")"], &random)
    }

    /// An object of `members` in a shuffled order, with an unknown member now and then and
    /// varied whitespace.
    static func object<R: RandomNumberGenerator>(_ members: [String?], _ random: inout R) -> String {
        var present = members.compactMap { $0 }
        if Int.random(in: 0..<4, using: &random) == 0 {
            present.append("\"unknownField\": " + pick(["[1, 2.5e-3, {\"a\": [true, false, null]}]", "{}", "[]", "\"x\"", "-0.0"], &random))
        }
        present.shuffle(using: &random)
        let space = pick(["", " ", "\n  ", "\t", "\r\n"], &random)
        return "{" + space + present.joined(separator: "," + space) + space + "}"
    }

    static func array<R: RandomNumberGenerator>(_ count: Int, _ element: (inout R) -> String, _ random: inout R) -> String {
        "[" + (0..<count).map { _ in element(&random) }.joined(separator: ", ") + "]"
    }

    static func item<R: RandomNumberGenerator>(_ random: inout R) -> String {
        object([Int.random(in: 0..<15, using: &random) == 0 ? nil : "\"itemId\": \(string(&random))",
                optional("title", string(&random), &random), optional("price", amount(&random), &random),
                optional("condition", string(&random), &random), optional("conditionId", "\"1000\"", &random),
                optional("gtin", "\"0\(Int.random(in: 10_000_000_000...99_999_999_999, using: &random))\"", &random),
                optional("seller", object([optional("username", string(&random), &random),
                                           optional("feedbackPercentage", "\"99.5\"", &random),
                                           optional("feedbackScore", integer(&random), &random)], &random), &random),
                optional("shippingOptions", array(Int.random(in: 0...2, using: &random), { object([optional("shippingCost", amount(&$0), &$0)], &$0) }, &random), &random)],
               &random)
    }

    static func search<R: RandomNumberGenerator>(_ random: inout R) -> String {
        object([optional("itemSummaries", array(Int.random(in: 0...6, using: &random), { item(&$0) }, &random), &random),
                optional("total", integer(&random), &random), optional("offset", integer(&random), &random),
                optional("limit", integer(&random), &random), optional("next", string(&random), &random)], &random)
    }

    static func items<R: RandomNumberGenerator>(_ random: inout R) -> String {
        object([optional("items", array(Int.random(in: 0...4, using: &random), { item(&$0) }, &random), &random),
                optional("total", integer(&random), &random)], &random)
    }

    static func offers<R: RandomNumberGenerator>(_ random: inout R) -> String {
        func offer(_ random: inout R) -> String {
            let overrides = array(Int.random(in: 0...2, using: &random), {
                object([optional("priority", integer(&$0), &$0), optional("shippingServiceType", "\"DOMESTIC\"", &$0),
                        optional("shippingCost", amount(&$0), &$0)], &$0)
            }, &random)
            return object([Int.random(in: 0..<15, using: &random) == 0 ? nil : "\"offerId\": \(string(&random))",
                           optional("listingPolicies", object([optional("shippingCostOverrides", overrides, &random),
                                                               optional("fulfillmentPolicyId", string(&random), &random)], &random), &random),
                           Int.random(in: 0..<15, using: &random) == 0 ? nil : "\"sku\": \(string(&random))",
                           optional("marketplaceId", "\"EBAY_US\"", &random),
                           optional("pricingSummary", object([optional("price", amount(&random), &random)], &random), &random),
                           optional("availableQuantity", integer(&random), &random), optional("status", "\"PUBLISHED\"", &random)], &random)
        }
        return object([optional("offers", array(Int.random(in: 0...3, using: &random), offer, &random), &random),
                       optional("total", integer(&random), &random)], &random)
    }

    static func inventory<R: RandomNumberGenerator>(_ random: inout R) -> String {
        func strings(_ random: inout R) -> String {
            array(Int.random(in: 0...2, using: &random), { Int.random(in: 0..<12, using: &$0) == 0 ? "null" : string(&$0) }, &random)
        }
        func item(_ random: inout R) -> String {
            let aspects = object((0..<Int.random(in: 0...3, using: &random)).map { _ in "\(string(&random)): \(strings(&random))" }, &random)
            let shipTo = object([optional("quantity", integer(&random), &random)], &random)
            return object([Int.random(in: 0..<15, using: &random) == 0 ? nil : "\"sku\": \(string(&random))",
                           optional("product", object([optional("title", string(&random), &random), optional("aspects", aspects, &random),
                                                       optional("upc", strings(&random), &random), optional("ean", strings(&random), &random)],
                                                      &random), &random),
                           optional("availability", object([optional("shipToLocationAvailability", shipTo, &random)], &random), &random),
                           optional("condition", "\"NEW\"", &random)], &random)
        }
        return object([optional("inventoryItems", array(Int.random(in: 0...4, using: &random), item, &random), &random),
                       optional("total", integer(&random), &random), optional("next", string(&random), &random)], &random)
    }

    // MARK: Mutations

    static func mutate<R: RandomNumberGenerator>(_ body: [UInt8], _ random: inout R) -> [UInt8] {
        var bytes = body
        guard !bytes.isEmpty else { return [UInt8(ascii: "{")] }
        let at = Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<7, using: &random) {
        case 0: bytes.removeSubrange(at...)                                   // truncated
        case 1: bytes.remove(at: at)                                          // a byte lost
        case 2: bytes.insert([0x22, 0x7B, 0x7D, 0x2C, 0x5B, 0x3A, 0x00, 0xFF, 0xC3, 0x5C, 0x20].randomElement(using: &random)!, at: at)
        case 3: bytes[at] = UInt8.random(in: 0...255, using: &random)         // a byte changed
        case 4:                                                               // a member doubled
            let text = String(decoding: bytes, as: UTF8.self)
            for key in ["\"sku\"", "\"itemId\"", "\"total\"", "\"value\"", "\"title\""] where text.contains(key) {
                return Array(text.replacingOccurrences(of: key + ":", with: key + ": \"twice\", " + key + ":").utf8)
            }
        case 5: bytes = [0xEF, 0xBB, 0xBF] + bytes                            // a byte-order mark
        default: bytes = Array("  [".utf8) + bytes + Array("]".utf8)          // not an object
        }
        return bytes
    }

    // MARK: Tests

    @Test("generated and mutated bodies: the same value or the same error, for search, getItems, getOffers and getInventoryItems")
    func differential() {
        var random = SplitMix64(seed: 20_261_206)
        var compared = 0, fastAnswers = 0, plainFast = 0, plain = 0
        var inventoryPlain = 0, inventoryFast = 0
        for round in 0..<4_000 {
            let generated: [UInt8]
            let kind = round % 4
            switch kind {
            case 0: generated = Array(Self.search(&random).utf8)
            case 1: generated = Array(Self.items(&random).utf8)
            case 2: generated = Array(Self.offers(&random).utf8)
            default: generated = Array(Self.inventory(&random).utf8)
            }
            for body in [generated, Self.mutate(generated, &random), Self.mutate(Self.mutate(generated, &random), &random)] {
                let (ours, reference, fast) = switch kind {
                case 0: Self.outcomes(WireSearchResponse.self, body)
                case 1: Self.outcomes(WireItemsResponse.self, body)
                case 2: Self.outcomes(WireOffersResponse.self, body)
                default: Self.outcomes(WireInventoryResponse.self, body)
                }
                if kind == 3, body == generated, !ours.hasPrefix("error") {
                    inventoryPlain += 1
                    if fast { inventoryFast += 1 }
                }
                #expect(ours == reference, "body: \(String(decoding: body, as: UTF8.self))")
                compared += 1
                if fast { fastAnswers += 1 }
                if body == generated, reference.hasPrefix("value") {
                    plain += 1
                    if fast { plainFast += 1 }
                }
            }
        }
        #expect(compared == 12_000)
        // The fast path must carry the bodies eBay sends, not just defer everything: most
        // well-formed generated bodies (all but those with an odd number or a doubled key) are its.
        #expect(plain > 1_000)
        #expect(Double(plainFast) > 0.5 * Double(plain), "the fast path read \(plainFast) of \(plain) decodable generated bodies")
        #expect(fastAnswers > 0)
        #expect(inventoryPlain > 100 && inventoryFast > 0, "getInventoryItems: \(inventoryFast) of \(inventoryPlain) decodable bodies read fast")
    }

    @Test("a typical getOffers body is read by the fast path, with escapes and non-ASCII decoded")
    func typicalOffer() throws {
        let body = #"""
            {"offers":[{"offerId":"5001","sku":"SKU-\u00e9\/1","marketplaceId":"EBAY_US","availableQuantity":3,
            "pricingSummary":{"price":{"value":"19.99","currency":"USD"}},"status":"PUBLISHED","format":"FIXED_PRICE",
            "listingPolicies":{"fulfillmentPolicyId":"f1","shippingCostOverrides":[{"priority":1,"shippingServiceType":"DOMESTIC",
            "shippingCost":{"value":"4.50","currency":"USD"}}]}}],"total":1,"size":1}
            """#
        let offers = try #require(WireOffersResponse.fast(Array(body.utf8)))
        let offer = try #require(offers.offers?.first)
        #expect(offer.sku == "SKU-é/1")
        #expect(offer.availableQuantity == 3)
        #expect(offer.pricingSummary?.price == WireAmount(value: "19.99", currency: "USD"))
        #expect(offer.listingPolicies?.shippingCostOverrides?.first?.shippingCost?.value == "4.50")
        #expect(String(reflecting: offers) == String(reflecting: try JSONDecoder().decode(WireOffersResponse.self, from: Data(body.utf8))))
    }

    @Test("a typical getInventoryItems page is read by the fast path, aspects and all")
    func typicalInventoryPage() throws {
        let body = #"""
            {"total":2,"size":2,"href":"x","next":"https://api.ebay.com/sell/inventory/v1/inventory_item?offset=2&limit=2",
            "inventoryItems":[{"sku":"SKU-1","locale":"en_US","condition":"NEW","product":{"title":"Caf\u00e9 mug",
            "aspects":{"Brand":["Acme"],"Colour":["Red","Blue"]},"upc":["012345678905"],"imageUrls":["https://i/1.jpg"]},
            "availability":{"shipToLocationAvailability":{"quantity":4}}},{"sku":"SKU-2","product":{"ean":[]}}]}
            """#
        let page = try #require(WireInventoryResponse.fast(Array(body.utf8)))
        #expect(page.inventoryItems?.map(\.sku) == ["SKU-1", "SKU-2"])
        #expect(page.inventoryItems?.first?.product?.title == "Café mug")
        #expect(page.inventoryItems?.first?.product?.aspects == ["Brand": ["Acme"], "Colour": ["Red", "Blue"]])
        #expect(page.inventoryItems?.first?.availability?.shipToLocationAvailability?.quantity == 4)
        #expect(page.inventoryItems?.last?.product?.ean == [])
        #expect(page == (try JSONDecoder().decode(WireInventoryResponse.self, from: Data(body.utf8))))
        // An aspect named twice, and a null among an aspect's values: left to JSONDecoder.
        #expect(WireInventoryResponse.fast(Array(#"{"inventoryItems":[{"sku":"a","product":{"aspects":{"B":["x"],"B":["y"]}}}]}"#.utf8)) == nil)
        #expect(WireInventoryResponse.fast(Array(#"{"inventoryItems":[{"sku":"a","product":{"aspects":{"B":["x",null]}}}]}"#.utf8)) == nil)
    }

    @Test("keys written with escapes or outside ASCII are compared as Swift compares strings", arguments: [
        #"{"offers":[{"offerI\u0064":"1","s\u006bu":"a"}]}"#,                     // escaped ASCII keys: read
        #"{"offers":[{"offerId":"1","sku":"a","s\u006bu":"b"}]}"#,                 // a key twice, once escaped: given up
        #"{"offers":[{"offerId":"1","sku":"a","availableQuantit\u0079":2}]}"#,
        #"{"inventoryItems":[{"sku":"a","product":{"aspects":{"K":["x"],"\u212A":["y"]}}}]}"#,  // the Kelvin sign is "K"
        #"{"inventoryItems":[{"sku":"a","product":{"aspects":{"Gr\u00f6\u00dfe":["M"],"Größe":["L"]}}}]}"#,
        #"{"inventoryItems":[{"sku":"a","product":{"aspects":{"Caf\u0065\u0301":["x"],"Café":["y"]}}}]}"#,  // canonically equal
        #"{"inventoryItems":[{"sku":"a","product":{"aspects":{"Größe":["L"],"Farbe":["rot"]}}}]}"#,
    ])
    func escapedKeys(_ body: String) {
        let bytes = Array(body.utf8)
        let (ours, reference, _) = body.contains("inventoryItems")
            ? Self.outcomes(WireInventoryResponse.self, bytes) : Self.outcomes(WireOffersResponse.self, bytes)
        #expect(ours == reference)
        if body.hasPrefix(#"{"offers":[{"offerI\u0064""#) {
            #expect(WireOffersResponse.fast(bytes)?.offers?.first?.sku == "a")
        }
        if body.contains("Farbe") {
            #expect(WireInventoryResponse.fast(bytes)?.inventoryItems?.first?.product?.aspects == ["Größe": ["L"], "Farbe": ["rot"]])
        }
    }

    @Test("what the fast path leaves to JSONDecoder", arguments: [
        #"{"offers":[{"offerId":"1","sku":"a","availableQuantity":1.0}]}"#,          // an Int written as a decimal
        #"{"offers":[{"offerId":"1","sku":"a","sku":"b"}]}"#,                        // a key read twice
        #"{"offers":[{"offerId":"1","sku":"\ud800"}]}"#,                             // a lone surrogate
        #"{"offers":[{"offerId":"1"}]}"#,                                            // a required key missing
        #"{"offers":[{"offerId":"1","sku":"a"}]} x"#,                                // trailing bytes
        #"{"x":"# + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}",  // deeper than 64
    ])
    func givesUp(_ body: String) {
        #expect(WireOffersResponse.fast(Array(body.utf8)) == nil)
    }
}
