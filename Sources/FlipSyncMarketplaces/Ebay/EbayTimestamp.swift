import FlipSyncCore

/// eBay's REST timestamps: ISO 8601 in UTC with milliseconds, `2015-08-04T19:09:02.768Z`
/// (e.g. `Order.creationDate` and the `creationdate:[…]` filter of the Fulfillment API's
/// `getOrders`, https://developer.ebay.com/api-docs/sell/fulfillment/resources/order/methods/getOrders).
enum EbayTimestamp {
    /// `YYYY-MM-DDTHH:MM:SS.sssZ` for milliseconds since the epoch.
    static func string(milliseconds: Int64) -> String {
        // Floor division, so instants before 1970 keep a positive millisecond part.
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let fraction = String(milliseconds - seconds * 1000)
        return CivilDateTime(utcSeconds: seconds).iso8601 + "." + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
    }

    /// Milliseconds since the epoch of an ISO 8601 timestamp with optional fractional seconds
    /// (digits past the third are dropped), `Z` or a `±HH:MM` offset; nil if it is not one.
    static func milliseconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count > 19, bytes[19] == UInt8(ascii: ".") else {
            return Timestamp(parsing: text).map { $0.secondsSinceEpoch * 1000 }
        }
        var end = 20
        var fraction: Int64 = 0
        while end < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[end]) {
            if end < 23 { fraction = fraction * 10 + Int64(bytes[end] - UInt8(ascii: "0")) }
            end += 1
        }
        guard end > 20 else { return nil }
        for _ in min(end, 23)..<23 { fraction *= 10 }
        let whole = String(decoding: bytes[0..<19] + bytes[end...], as: UTF8.self)
        guard let seconds = Timestamp(parsing: whole) else { return nil }
        return seconds.secondsSinceEpoch * 1000 + fraction
    }
}
