import FlipSyncCore
import Foundation
import Hummingbird

extension ShopifyRoutes {
    // MARK: Values

    /// `first`: 1…250, as Shopify requires.
    static func pageSize(_ value: Any?) throws -> Int {
        guard let first = int(value), (1...250).contains(first) else {
            throw GQLError(message: "The 'first' argument must be between 1 and 250.", code: "BAD_REQUEST")
        }
        return first
    }

    static func int(_ value: Any?) -> Int? {
        switch value {
        case let v as Int: return v
        case let v as Int64: return Int(v)
        case let v as Double: return v == v.rounded() ? Int(v) : nil
        case let v as NSNumber: return v.intValue
        default: return nil
        }
    }

    /// The number at the end of `gid://shopify/{type}/{n}` (nil for another type or a bad id).
    static func gidNumber(_ value: Any?, _ type: String) -> Int64? {
        guard let text = value as? String, text.hasPrefix("gid://shopify/\(type)/") else { return nil }
        return Int64(text.dropFirst("gid://shopify/\(type)/".count).prefix { $0 != "?" })
    }

    /// Opaque cursors: base64url of `kind:n1:n2…`.
    static func cursor(_ kind: String, _ values: [Int64]) -> String {
        Data(([kind] + values.map(String.init)).joined(separator: ":").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decodeCursor(_ token: String, _ kind: String) -> [Int64] {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return [] }
        let parts = String(decoding: data, as: UTF8.self).split(separator: ":")
        guard parts.first.map(String.init) == kind else { return [] }
        let values = parts.dropFirst().compactMap { Int64($0) }
        return values.count == parts.count - 1 ? values : []
    }

    /// Micro-units as Shopify's decimal string, two places: `12.99` (`Money.fixedDecimalString`).
    static func decimal(_ micros: Int64) -> String {
        Money(micros: micros, currency: .usd).fixedDecimalString
    }
}
