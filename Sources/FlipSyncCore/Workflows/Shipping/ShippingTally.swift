/// A row a shipping summary counts: a run's order line (`ShippingRecommendation`) or a sweep's
/// listing verdict (`ListingShippingVerdict`).
public protocol ShippingTallied: Sendable, Hashable {
    var status: ShippingRecommendation.Status { get }
    var currency: String { get }
    var savingMicros: Int64? { get }
    var marginMicros: Int64? { get }
    var actionable: Bool { get }
    var losesMoney: Bool { get }
    /// Between two rows with the same shortfall, whether this one is named first.
    func namedBefore(_ other: Self) -> Bool
}

/// What both shipping summaries count over their rows in one currency: rows by status, the
/// saving on the actionable ones, and the rows that lose money, worst first, with their total
/// shortfall. Exact sums, saturating (never a trap).
public struct ShippingTally<Row: ShippingTallied>: Sendable, Hashable {
    /// Rows by status; a status no row has is absent (`count(_:)` reads it as 0).
    public var byStatus: [ShippingRecommendation.Status: Int]
    public var actionable: Int
    /// Σ saving over the actionable rows.
    public var totalSaving: Money
    /// Every row that loses money, worst first (`worstFirst`).
    public var losing: [Row]
    /// Σ (label − what the buyer paid or is charged) over `losing`.
    public var totalShortfall: Money

    /// The rows in `currency` counted; the others left out.
    public init(_ rows: [Row], currency: Currency) {
        let mine = rows.filter { $0.currency == currency.code }
        byStatus = Dictionary(mine.map { ($0.status, 1) }, uniquingKeysWith: +)
        let acting = mine.filter(\.actionable)
        actionable = acting.count
        totalSaving = Money(micros: acting.reduce(0) { $0.saturatingAdd($1.savingMicros ?? 0) }, currency: currency)
        losing = Self.worstFirst(mine.filter(\.losesMoney))
        totalShortfall = Money(micros: losing.reduce(0) { $0.saturatingAdd(-($1.marginMicros ?? 0)) }, currency: currency)
    }

    public func count(_ status: ShippingRecommendation.Status) -> Int { byStatus[status] ?? 0 }

    /// Rows counted, of every status.
    public var total: Int { byStatus.values.reduce(0, +) }

    /// The largest shortfall first; equal ones in the row type's own order (`namedBefore`).
    public static func worstFirst(_ rows: [Row]) -> [Row] {
        rows.sorted { a, b in
            let (ma, mb) = (a.marginMicros ?? 0, b.marginMicros ?? 0)
            if ma != mb { return ma < mb }
            return a.namedBefore(b)
        }
    }

    /// The counts after the first, as the summaries' texts list them: each status with rows, in
    /// `ShippingRecommendation.Status`'s order; `defaultInadequate` is each summary's own words.
    func otherStatuses(defaultInadequate: String) -> [String] {
        [(ShippingRecommendation.Status.defaultInadequate, defaultInadequate), (.noAdequateRate, "without an adequate rate"),
         (.noRate, "without a rate"), (.skipped, "skipped")]
            .compactMap { status, words in count(status) > 0 ? "\(count(status)) \(words)" : nil }
    }

    /// The losing rows a summary's text names: at most `ShippingRunSummary.shownLimit`, worst
    /// first, as `(N of M shown, worst first): a, b`; when some are left out, the pointer to the
    /// full list (`flipsyncctl show RUN --json`, field `shipping.FIELD`) before the colon.
    func namedLosing(runID: Int64?, field: String, _ describe: (Row) -> String) -> String {
        let shown = losing.prefix(ShippingRunSummary.shownLimit)
        var text = "(\(shown.count) of \(losing.count) shown, worst first"
        if shown.count < losing.count {
            text += "; all in `flipsyncctl show \(runID.map(String.init) ?? "RUN") --json`, field `shipping.\(field)`"
        }
        return text + "): " + shown.map(describe).joined(separator: ", ")
    }
}

extension ShippingRecommendation: ShippingTallied {
    /// By marketplace, order, line.
    public func namedBefore(_ other: ShippingRecommendation) -> Bool {
        (marketplace.rawValue, orderID, lineID) < (other.marketplace.rawValue, other.orderID, other.lineID)
    }
}

extension ListingShippingVerdict: ShippingTallied {
    /// By marketplace, listing id.
    public func namedBefore(_ other: ListingShippingVerdict) -> Bool {
        (marketplace.rawValue, listingID) < (other.marketplace.rawValue, other.listingID)
    }
}
