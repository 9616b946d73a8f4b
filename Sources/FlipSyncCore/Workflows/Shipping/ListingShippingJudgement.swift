/// One listing's shipping settings judged for one destination, or, as the listing's verdict, at
/// its worst destination (the one whose cheapest adequate label is dearest). Amounts are exact,
/// per sale of one unit, in micro-units of `currency`.
public struct ListingShippingVerdict: Sendable, Hashable, Codable {
    public var marketplace: MarketplaceName
    public var listingID: String
    public var sku: String
    /// The destination judged; for a verdict, the worst one (nil when none could be judged).
    public var destinationPostalCode: String?
    public var status: ShippingRecommendation.Status
    public var reason: String
    /// Days from the sale to the parcel leaving.
    public var handlingDays: Int?
    /// Days from the sale to delivery the listing is held to.
    public var promiseDays: Int?
    public var carrier: String?
    public var service: String?
    public var serviceKey: String?
    public var source: String?
    public var deliveryDays: Int?
    public var billableOunces: Int?
    public var currency: String
    /// What the buyer is charged for shipping (zero: free shipping), when the channel says.
    public var chargedMicros: Int64?
    /// The cheapest adequate label for one unit to the destination.
    public var labelMicros: Int64?
    /// Charged − label: negative when every sale to there loses money on shipping.
    public var marginMicros: Int64?
    /// The service measured against: the listing's advertised one, else the job's default.
    public var defaultService: String?
    public var defaultMicros: Int64?
    /// Default − chosen label.
    public var savingMicros: Int64?
    /// The saving is positive and at least `min_saving`.
    public var actionable: Bool

    /// True when what the buyer is charged does not cover the cheapest adequate label.
    public var losesMoney: Bool { (marginMicros ?? 0) < 0 }

    public init(marketplace: MarketplaceName, listingID: String, sku: String, destinationPostalCode: String?,
                status: ShippingRecommendation.Status, reason: String, handlingDays: Int? = nil, promiseDays: Int? = nil,
                carrier: String? = nil, service: String? = nil, serviceKey: String? = nil, source: String? = nil,
                deliveryDays: Int? = nil, billableOunces: Int? = nil, currency: String, chargedMicros: Int64? = nil,
                labelMicros: Int64? = nil, marginMicros: Int64? = nil, defaultService: String? = nil, defaultMicros: Int64? = nil,
                savingMicros: Int64? = nil, actionable: Bool = false) {
        self.marketplace = marketplace
        self.listingID = listingID
        self.sku = sku
        self.destinationPostalCode = destinationPostalCode
        self.status = status
        self.reason = reason
        self.handlingDays = handlingDays
        self.promiseDays = promiseDays
        self.carrier = carrier
        self.service = service
        self.serviceKey = serviceKey
        self.source = source
        self.deliveryDays = deliveryDays
        self.billableOunces = billableOunces
        self.currency = currency
        self.chargedMicros = chargedMicros
        self.labelMicros = labelMicros
        self.marginMicros = marginMicros
        self.defaultService = defaultService
        self.defaultMicros = defaultMicros
        self.savingMicros = savingMicros
        self.actionable = actionable
    }
}

/// One quote for one listing's box to one destination, as recorded.
public struct ListingQuoteRecord: Sendable, Hashable, Codable {
    public var marketplace: MarketplaceName
    public var listingID: String
    public var destinationPostalCode: String
    public var source: String
    public var carrier: String
    public var service: String
    public var serviceKey: String
    public var amountMicros: Int64
    public var currency: String
    public var deliveryDays: Int?
    public var billableOunces: Int?
    /// Arrives within the listing's promise for this destination.
    public var adequate: Bool

    public init(marketplace: MarketplaceName, listingID: String, destinationPostalCode: String, source: String, carrier: String,
                service: String, serviceKey: String, amountMicros: Int64, currency: String, deliveryDays: Int?, billableOunces: Int?,
                adequate: Bool) {
        self.marketplace = marketplace
        self.listingID = listingID
        self.destinationPostalCode = destinationPostalCode
        self.source = source
        self.carrier = carrier
        self.service = service
        self.serviceKey = serviceKey
        self.amountMicros = amountMicros
        self.currency = currency
        self.deliveryDays = deliveryDays
        self.billableOunces = billableOunces
        self.adequate = adequate
    }
}

/// The pure judgement of a listing's shipping settings. A listing has no buyer, so it is held
/// to a promise in whole days from the sale:
///
/// - `listing_promise_days` when the job sets it (the operator's own promise, e.g. a channel's
///   fast-shipping badge);
/// - otherwise the listing's handling time plus the transit its reference service (the
///   advertised one, else the job's `default_service`) is quoted to take to the destination:
///   what the listing shows buyers as its estimated delivery. Without either, the destination
///   is skipped rather than judged against no promise (where the slowest service would win).
///
/// The parcel leaves after the handling days; a quote is adequate when handling + transit ≤
/// promise. The choice and the savings follow `ShippingChoice.recommend` exactly (one box).
public enum ListingShippingJudgement {
    /// The promise for one destination, or nil when nothing defines it.
    public static func promiseDays(fixed: Int?, handlingDays: Int, reference: String?, quotes: [RateQuote], currency: Currency) -> Int? {
        if let fixed { return fixed }
        guard let reference else { return nil }
        let transit = quotes.filter { $0.serviceKey == reference && $0.amount.currency == currency }.compactMap(\.deliveryDays).min()
        return transit.map { handlingDays + $0 }
    }

    /// The row for one quote.
    public static func record(_ quote: RateQuote, listing: ListingShipping, destination: String, handlingDays: Int,
                              promiseDays: Int?) -> ListingQuoteRecord {
        ListingQuoteRecord(marketplace: listing.marketplace, listingID: listing.listingID, destinationPostalCode: destination,
                           source: quote.source, carrier: quote.carrier, service: quote.service, serviceKey: quote.serviceKey,
                           amountMicros: quote.amount.micros, currency: quote.amount.currency.code, deliveryDays: quote.deliveryDays,
                           billableOunces: quote.billableOunces,
                           adequate: promiseDays.map { promise in quote.deliveryDays.map { handlingDays + $0 <= promise } ?? false } ?? false)
    }

    /// A destination (or a whole listing, `destination` nil) that cannot be judged, and why.
    public static func skipped(_ listing: ListingShipping, destination: String?, reason: String, handlingDays: Int?,
                               currency: Currency) -> ListingShippingVerdict {
        ListingShippingVerdict(marketplace: listing.marketplace, listingID: listing.listingID, sku: listing.sku,
                               destinationPostalCode: destination, status: .skipped, reason: reason, handlingDays: handlingDays,
                               currency: currency.code, chargedMicros: charged(listing, currency))
    }

    /// The judgement for one destination from every quote for the listing's box there.
    public static func judge(_ listing: ListingShipping, destination: String, quotes: [RateQuote], handlingDays: Int, promiseDays: Int,
                             defaultService: String?, minSaving: Money?, currency: Currency) -> ListingShippingVerdict {
        // The listing as an order of one unit sold on a Monday at 00:00 UTC (1970-01-05): handling
        // and promise counted in business days from there, the order path's decision unchanged,
        // so a quote is adequate exactly when handling + transit ≤ promise.
        let sale: Int64 = 4 * ShippingChoice.dayMilliseconds
        let line = OrderLine(marketplace: listing.marketplace, orderID: listing.listingID, lineID: destination, sku: listing.sku,
                             quantity: 1, placedAt: sale, shippingPaid: listing.charge,
                             destination: Destination(postalCode: destination, country: "US"),
                             deliverBy: BusinessDays.add(promiseDays, to: sale))
        let r = ShippingChoice.recommend(line: line, quotes: quotes, shipAt: BusinessDays.add(handlingDays, to: sale),
                                         deliverBy: line.deliverBy, defaultService: defaultService, minSaving: minSaving,
                                         currency: currency)
        var row = ListingShippingVerdict(
            marketplace: listing.marketplace, listingID: listing.listingID, sku: listing.sku, destinationPostalCode: destination,
            status: r.status, reason: r.reason, handlingDays: handlingDays, promiseDays: promiseDays, carrier: r.carrier,
            service: r.service, serviceKey: r.serviceKey, source: r.source, deliveryDays: r.deliveryDays,
            billableOunces: r.billableOunces, currency: currency.code, chargedMicros: r.buyerPaidMicros, labelMicros: r.labelMicros,
            marginMicros: r.marginMicros, defaultService: defaultService, defaultMicros: r.defaultMicros, savingMicros: r.savingMicros,
            actionable: r.actionable)
        guard r.status.hasChoice, let label = r.labelMicros, let key = r.serviceKey else {
            row.reason = "to \(destination): \(r.status == .noAdequateRate ? listingLateness(r, handlingDays: handlingDays, promiseDays: promiseDays) : r.reason)"
                + " (promise \(promiseDays) business days from sale)"
            return row
        }
        let money = { (micros: Int64) in Money(micros: micros, currency: currency).description }
        var reason = "to \(destination): \(key) at \(money(label))"
        if let days = r.deliveryDays { reason += ", \(handlingDays)+\(days) of \(promiseDays) business days" }
        if let margin = r.marginMicros, let charged = r.buyerPaidMicros {
            reason += charged == 0 ? "; free shipping" : "; charged \(money(charged))"
            reason += margin < 0 ? ", \(money(-margin)) short on every sale" : ", covers it by \(money(margin))"
        } else {
            reason += "; charge unknown" + (listing.note.map { " (\($0))" } ?? "")
        }
        if let saving = r.savingMicros, let defaultService {
            reason += r.status == .defaultInadequate ? "; \(defaultService) misses the promise, so no saving is claimed"
                : "; saves \(money(saving)) against \(defaultService)"
        }
        row.reason = reason
        return row
    }

    /// A destination without an adequate rate: the fastest quote and its lateness in business days.
    static func listingLateness(_ r: ShippingRecommendation, handlingDays: Int, promiseDays: Int) -> String {
        guard let key = r.serviceKey, let days = r.deliveryDays else { return "no quote gives transit days" }
        let late = handlingDays + days - promiseDays
        return "no quote arrives in time; the fastest, \(key), takes \(handlingDays)+\(days) business days, "
            + "\(late) business day\(late == 1 ? "" : "s") late"
    }

    /// The listing's verdict: its worst judged destination (dearest adequate label, then lowest
    /// margin, then postal code) among those with a chosen label (`recommended`,
    /// `default-inadequate`). Destinations that could not be judged are counted in the reason;
    /// with none judged, the first no-adequate-rate row, else the first no-rate one, else the
    /// first skipped one.
    public static func verdict(_ rows: [ListingShippingVerdict]) -> ListingShippingVerdict? {
        let judged = rows.filter { $0.status.hasChoice }
        let ordered = judged.sorted { a, b in
            let (la, lb) = (a.labelMicros ?? 0, b.labelMicros ?? 0)
            if la != lb { return la > lb }
            let (ma, mb) = (a.marginMicros ?? 0, b.marginMicros ?? 0)
            if ma != mb { return ma < mb }
            return (a.destinationPostalCode ?? "") < (b.destinationPostalCode ?? "")
        }
        guard var worst = ordered.first else {
            return rows.first { $0.status == .noAdequateRate } ?? rows.first { $0.status == .noRate } ?? rows.first
        }
        let unjudged = rows.count - judged.count
        worst.reason = "worst of \(rows.count) destinations " + worst.reason
        if unjudged > 0 { worst.reason += "; \(unjudged) destination\(unjudged == 1 ? "" : "s") not judged" }
        return worst
    }

    static func charged(_ listing: ListingShipping, _ currency: Currency) -> Int64? {
        listing.charge.flatMap { $0.currency == currency ? $0.micros : nil }
    }
}

/// A sweep's listing verdicts summed up: listings by status, the saving against their reference
/// service (actionable ones), and the listings that lose money on every sale to their worst
/// destination, with the total shortfall per sale. Exact sums. The text names at most 20 losing
/// listings, the worst first (largest shortfall, then marketplace, listing id), says "N of M
/// shown", and, when some are left out, points at `flipsyncctl show RUN --json`, field
/// `shipping.losing_listings`.
public struct ListingShippingSummary: Sendable, Hashable {
    /// The verdicts in the currency counted (`ShippingTally`): every losing listing in `tally.losing`.
    public var tally: ShippingTally<ListingShippingVerdict>
    public var runID: Int64?

    public init(_ verdicts: [ListingShippingVerdict], currency: Currency, runID: Int64? = nil) {
        tally = ShippingTally(verdicts, currency: currency)
        self.runID = runID
    }

    public var text: String {
        let currency = tally.totalSaving.currency
        var parts = ["\(tally.total) listings: \(tally.count(.recommended)) judged"]
        parts += tally.otherStatuses(defaultInadequate: "judged with the reference service inadequate")
        var text = parts.joined(separator: ", ")
        text += "; saving \(tally.totalSaving) per sale on \(tally.actionable) listing\(tally.actionable == 1 ? "" : "s")"
        if tally.losing.isEmpty {
            text += "; no listing loses money on shipping"
        } else {
            let losing = tally.losing.count
            text += "; \(losing) listing\(losing == 1 ? "" : "s") losing money on every sale, \(tally.totalShortfall) in all "
                + tally.namedLosing(runID: runID, field: "losing_listings") { v in
                    "\(v.marketplace.rawValue) \(v.listingID) \(v.sku) to \(v.destinationPostalCode ?? "?") short "
                        + "\(Money(micros: -(v.marginMicros ?? 0), currency: currency))"
                }
        }
        return text
    }
}
