import FlipSyncCore
import Foundation

/// How the Amazon routes write money, times and paging tokens.
extension AmazonRoutes {
    // MARK: Values

    /// Whole cents as a decimal string: `12.99` (`Money.fixedDecimalString`).
    static func decimalText(_ micros: Int64) -> String {
        Money(micros: micros, currency: .usd).fixedDecimalString
    }

    /// The same amount as an exact JSON number.
    static func decimal(_ micros: Int64) -> Decimal { Decimal(string: decimalText(micros))! }

    /// Product Pricing's `MoneyType`: `{"CurrencyCode":"USD","Amount":12.99}` (a number).
    static func numberMoney(_ micros: Int64) -> [String: Any] { ["CurrencyCode": "USD", "Amount": decimal(micros)] }

    /// Orders' `Money`: `{"CurrencyCode":"USD","Amount":"12.99"}` (a string).
    static func orderMoney(_ micros: Int64) -> [String: Any] { ["CurrencyCode": "USD", "Amount": decimalText(micros)] }

    /// `2026-03-01T12:00:00Z` (whole seconds, rounded down: `Timestamp(milliseconds:)`).
    static func iso8601(_ milliseconds: Int64) -> String {
        Timestamp(milliseconds: milliseconds).iso8601UTC
    }

    /// `ISO8601.milliseconds`, the one reader.
    static func milliseconds(_ text: String) -> Int64? {
        ISO8601.milliseconds(text)
    }

    /// An opaque paging token: the kind and numbers, base64url.
    static func token(kind: String, _ numbers: [Int64]) -> String {
        Data(([kind] + numbers.map(String.init)).joined(separator: ":").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func untoken(_ token: String, kind: String) -> [Int64]? {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else { return nil }
        let parts = String(decoding: data, as: UTF8.self).split(separator: ":").map(String.init)
        guard parts.first == kind else { return nil }
        let numbers = parts.dropFirst().map { Int64($0) }
        guard numbers.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        return numbers.compactMap { $0 }
    }
}
