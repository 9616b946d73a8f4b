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

    /// Milliseconds since the epoch of an ISO 8601 timestamp (`ISO8601.milliseconds`, the one
    /// reader); nil if it is not one.
    static func milliseconds(_ text: String) -> Int64? {
        ISO8601.milliseconds(text)
    }
}
