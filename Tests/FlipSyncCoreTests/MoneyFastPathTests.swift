@testable import FlipSyncCore
import Testing

/// `Money(amount:currencyCode:)` answers `Money(parsing: amount + " " + code)` wherever it
/// answers at all, and answers the plain amounts marketplaces send.
@Suite("Money from an amount and a currency code", .timeLimit(.minutes(1)))
struct MoneyFastPathTests {
    @Test("the usual amounts are read, to the micro-unit")
    func usual() throws {
        #expect(Money(amount: "19.99", currencyCode: "USD") == (try Money(parsing: "19.99 USD")))
        #expect(Money(amount: "0.000001", currencyCode: "EUR")?.micros == 1)
        #expect(Money(amount: "1200", currencyCode: "JPY")?.currency.code == "JPY")
    }

    @Test("left to the full parse", arguments: [("USD", "19.99"), ("-1", "USD"), ("1.0000001", "USD"), ("1 0", "USD"), ("19.99", "usd X"),
                                                 ("19.99", "XYZ"), ("", "USD"), ("19.99", ""), (".5", "USD"), ("1..2", "USD"), ("١٢", "USD")])
    func leftToParse(_ amount: String, _ code: String) {
        #expect(Money(amount: amount, currencyCode: code) == nil)
    }

    @Test("3,000 generated pairs: the same money as the full parse wherever it answers")
    func generated() {
        var random = SystemRandomNumberGenerator()
        let amountBytes = Array("0123456789.,_-+ eE")
        let codes = ["USD", "EUR", "GBP", "JPY", "usd", "XYZ", "US", "USDX", " USD", "", "CAD"]
        var answered = 0
        for _ in 0..<3_000 {
            // Half of them plain amounts (digits, perhaps a point and up to 8 decimals), half any bytes.
            let amount = Bool.random(using: &random)
                ? String(Int.random(in: 0...999_999, using: &random)) + (Bool.random(using: &random) ? "" : "." + String(repeating: "7", count: Int.random(in: 0...8, using: &random)))
                : String((0..<Int.random(in: 0...9, using: &random)).map { _ in amountBytes.randomElement(using: &random)! })
            let code = codes.randomElement(using: &random)!
            guard let fast = Money(amount: amount, currencyCode: code) else { continue }
            answered += 1
            #expect(fast == (try? Money(parsing: amount + " " + code)), "\(amount) \(code)")
        }
        #expect(answered > 600)
    }
}
