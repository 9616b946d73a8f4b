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
}
