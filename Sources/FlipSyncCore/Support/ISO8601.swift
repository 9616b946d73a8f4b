/// The one ISO 8601 reader. Every date-time a marketplace sends, the sandbox receives or an
/// operator types is read here (or by `Timestamp(parsing:)`, its whole-second form, which this
/// builds on); none uses Foundation's `ISO8601DateFormatter`.
public enum ISO8601 {
    /// Milliseconds since the epoch of `YYYY-MM-DD[(T| )HH:MM:SS[.fraction][Z|±HH:MM]]` (no zone
    /// is UTC): the forms `Timestamp(parsing:)` reads, plus an optional fraction of a second of
    /// any length after the seconds (digits past the third are dropped). Nil if it is not one —
    /// `Timestamp(parsing:)`'s `@SECONDS` form included, which is not ISO 8601.
    public static func milliseconds(_ text: String) -> Int64? {
        guard !text.hasPrefix("@") else { return nil }
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
