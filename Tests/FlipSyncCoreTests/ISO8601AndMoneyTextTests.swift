import Testing
@testable import FlipSyncCore

@Suite("One ISO 8601 reader, one money formatter", .timeLimit(.minutes(1)))
struct ISO8601AndMoneyTextTests {
    @Test("ISO8601.milliseconds reads eBay's, Amazon's and Shopify's forms, fractions and offsets; refuses the rest", arguments: [
        ("2015-08-04T19:09:02.768Z", 1_438_715_342_768 as Int64?), ("2026-03-01T12:00:00Z", 1_772_366_400_000),
        ("2026-03-01T12:00:00+01:00", 1_772_362_800_000), ("2026-03-01T12:00:00.5Z", 1_772_366_400_500),
        ("2026-03-01T12:00:00.123456Z", 1_772_366_400_123), ("2026-03-01T12:00:00", 1_772_366_400_000),
        ("2026-03-01T12:00:00.Z", nil), ("2026-02-30T12:00:00Z", nil), ("yesterday", nil), ("@1772366400", nil), ("2026-03-01T12:00:00+1", nil),
    ])
    func reads(_ text: String, _ expected: Int64?) {
        #expect(ISO8601.milliseconds(text) == expected)
    }

    @Test("fixedDecimalString is decimalString in whole minor units: the currency's digits exactly")
    func moneyText() throws {
        let usd = Currency.usd, jpy = try #require(Currency(code: "JPY"))
        #expect(Money(micros: 12_990_000, currency: usd).fixedDecimalString == "12.99")
        #expect(Money(micros: 12_500_000, currency: usd).fixedDecimalString == "12.50")
        #expect(Money(micros: 125_000, currency: usd).fixedDecimalString == "0.13")
        #expect(Money(micros: 125_000, currency: usd).decimalString == "0.125")
        #expect(Money(micros: -500_000, currency: usd).fixedDecimalString == "-0.50")
        #expect(Money(micros: 1_200_000_000, currency: jpy).fixedDecimalString == "1200")
    }

    /// The formatter as first written, with strings: the reference the one in use must match.
    static func reference(_ money: Money) -> String {
        let magnitude = money.micros.magnitude
        let whole = magnitude / 1_000_000
        var fraction = String(magnitude % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.count > money.currency.minorUnitDigits, fraction.hasSuffix("0") { fraction.removeLast() }
        let sign = money.micros < 0 ? "-" : ""
        return fraction.isEmpty ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }

    @Test("decimalString: the currency's digits (USD 2, JPY 0, KWD 3), more only where the amount needs them, for the extremes and 20,000 seeded amounts")
    func decimalStringMatchesTheReference() throws {
        let currencies = try ["USD", "JPY", "KWD"].map { try #require(Currency(code: $0)) }
        let usd = currencies[0], jpy = currencies[1], kwd = currencies[2]
        #expect(Money(micros: 0, currency: usd).decimalString == "0.00")
        #expect(Money(micros: 0, currency: jpy).decimalString == "0")
        #expect(Money(micros: -1, currency: usd).decimalString == "-0.000001")
        #expect(Money(micros: 19_990_000, currency: usd).decimalString == "19.99")
        #expect(Money(micros: 19_000_000, currency: jpy).decimalString == "19")
        #expect(Money(micros: 19_500_000, currency: jpy).decimalString == "19.5")
        #expect(Money(micros: 1_250_000, currency: kwd).decimalString == "1.250")
        #expect(Money(micros: Int64.max, currency: usd).decimalString == "9223372036854.775807")
        #expect(Money(micros: Int64.min, currency: usd).decimalString == "-9223372036854.775808")
        var generator = SystemRandomNumberGenerator()
        var seed = UInt64.random(in: 1...UInt64.max, using: &generator)
        for _ in 0..<20_000 {
            // xorshift64: amounts of every size, from a few micro-units to the whole range.
            seed ^= seed << 13
            seed ^= seed >> 7
            seed ^= seed << 17
            let micros = Int64(bitPattern: seed) >> Int64(seed % 60)
            for currency in currencies {
                let money = Money(micros: micros, currency: currency)
                #expect(money.decimalString == Self.reference(money), "\(micros) \(currency.code), seed \(seed)")
            }
        }
    }
}
