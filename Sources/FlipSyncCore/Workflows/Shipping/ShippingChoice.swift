/// The shipping decision for one order line, as recorded: what was quoted, what was chosen and
/// why, and what it saves or loses. All amounts exact, in micro-units of `currency`.
public struct ShippingRecommendation: Sendable, Hashable, Codable {
    /// Every status a line (or a listing's destination, or a listing's verdict) can have.
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        /// The cheapest adequate label was chosen; `default_service` (when set and quoted) has an
        /// adequate quote too, and the saving is measured against it (never negative).
        case recommended
        /// The cheapest adequate label was chosen, but `default_service` was quoted and none of
        /// its quotes arrives by the promise: no saving is claimed (saving 0, not actionable).
        case defaultInadequate = "default-inadequate"
        /// Quotes in the config's currency came back, but none arrives by the promise. The label
        /// fields describe the fastest quote (the earliest arrival, then the cheapest), which is
        /// late; no margin or saving is computed, so the line counts neither as saving nor as losing.
        case noAdequateRate = "no-adequate-rate"
        /// No quote in the config's currency at all (no source serves the destination, or every
        /// quote was in another currency).
        case noRate = "no-rate"
        /// Not quoted: the reason says why (no packaging data, no destination, …).
        case skipped

        /// A label was chosen: the margin (and the saving, if any) are computed.
        public var hasChoice: Bool { self == .recommended || self == .defaultInadequate }
    }

    public var marketplace: MarketplaceName
    public var orderID: String
    public var lineID: String
    public var sku: String
    public var quantity: Int
    public var destinationPostalCode: String?
    /// The ship date: the order time plus the handling days counted in business days, or now if
    /// later, moved to the next Monday (same time of day) when it falls on a weekend.
    public var shipAt: Int64?
    /// The promise applied: the channel's delivery date, or, where the channel gives none, the
    /// order time plus `default_promise_days` business days.
    public var deliverBy: Int64?
    public var status: Status
    public var reason: String
    /// One box per unit: labels bought for the line.
    public var parcels: Int
    public var carrier: String?
    public var service: String?
    public var serviceKey: String?
    public var source: String?
    public var deliveryDays: Int?
    public var billableOunces: Int?
    public var currency: String
    /// The chosen labels' total (one per parcel).
    public var labelMicros: Int64?
    /// What the buyer paid for shipping on this line, when the channel says.
    public var buyerPaidMicros: Int64?
    /// Buyer paid − label: negative when the line loses money on shipping (nil without a choice).
    public var marginMicros: Int64?
    /// The default service's labels for the line, when it was quoted: its cheapest adequate
    /// quote, or (status `default-inadequate`) its cheapest quote, which misses the promise.
    public var defaultService: String?
    public var defaultMicros: Int64?
    /// Default − chosen when the default service has an adequate quote (≥ 0, the chosen label
    /// being the cheapest adequate); 0 for `default-inadequate`; nil otherwise.
    public var savingMicros: Int64?
    /// The saving is positive and at least `min_saving`: a recommendation to act on.
    public var actionable: Bool

    /// True when the buyer's shipping payment does not cover the cheapest adequate label.
    public var losesMoney: Bool { (marginMicros ?? 0) < 0 }

    public init(marketplace: MarketplaceName, orderID: String, lineID: String, sku: String, quantity: Int,
                destinationPostalCode: String?, shipAt: Int64?, deliverBy: Int64?, status: Status, reason: String, parcels: Int,
                carrier: String? = nil, service: String? = nil, serviceKey: String? = nil, source: String? = nil,
                deliveryDays: Int? = nil, billableOunces: Int? = nil, currency: String, labelMicros: Int64? = nil,
                buyerPaidMicros: Int64? = nil, marginMicros: Int64? = nil, defaultService: String? = nil,
                defaultMicros: Int64? = nil, savingMicros: Int64? = nil, actionable: Bool = false) {
        self.marketplace = marketplace
        self.orderID = orderID
        self.lineID = lineID
        self.sku = sku
        self.quantity = quantity
        self.destinationPostalCode = destinationPostalCode
        self.shipAt = shipAt
        self.deliverBy = deliverBy
        self.status = status
        self.reason = reason
        self.parcels = parcels
        self.carrier = carrier
        self.service = service
        self.serviceKey = serviceKey
        self.source = source
        self.deliveryDays = deliveryDays
        self.billableOunces = billableOunces
        self.currency = currency
        self.labelMicros = labelMicros
        self.buyerPaidMicros = buyerPaidMicros
        self.marginMicros = marginMicros
        self.defaultService = defaultService
        self.defaultMicros = defaultMicros
        self.savingMicros = savingMicros
        self.actionable = actionable
    }
}

/// One quote as recorded, with whether it meets the line's promise.
public struct ShippingQuoteRecord: Sendable, Hashable, Codable {
    public var marketplace: MarketplaceName
    public var orderID: String
    public var lineID: String
    public var source: String
    public var carrier: String
    public var service: String
    public var serviceKey: String
    /// One label, exact.
    public var amountMicros: Int64
    public var currency: String
    public var deliveryDays: Int?
    public var deliveryDateGuaranteed: Bool
    public var billableOunces: Int?
    public var rateID: String?
    /// Arrival if shipped at the line's ship date, when the carrier gives transit days.
    public var arrivesAt: Int64?
    public var adequate: Bool

    public init(marketplace: MarketplaceName, orderID: String, lineID: String, source: String, carrier: String, service: String,
                serviceKey: String, amountMicros: Int64, currency: String, deliveryDays: Int?, deliveryDateGuaranteed: Bool,
                billableOunces: Int?, rateID: String?, arrivesAt: Int64?, adequate: Bool) {
        self.marketplace = marketplace
        self.orderID = orderID
        self.lineID = lineID
        self.source = source
        self.carrier = carrier
        self.service = service
        self.serviceKey = serviceKey
        self.amountMicros = amountMicros
        self.currency = currency
        self.deliveryDays = deliveryDays
        self.deliveryDateGuaranteed = deliveryDateGuaranteed
        self.billableOunces = billableOunces
        self.rateID = rateID
        self.arrivesAt = arrivesAt
        self.adequate = adequate
    }
}

/// Business days: Monday to Friday, in UTC, with no holidays. Day boundaries are UTC midnights.
public enum BusinessDays {
    public static let dayMilliseconds: Int64 = 86_400_000

    /// The UTC date as whole days since 1970-01-01 (a Thursday), rounding down.
    public static func date(_ milliseconds: Int64) -> Int64 {
        milliseconds >= 0 ? milliseconds / dayMilliseconds : -((-milliseconds + dayMilliseconds - 1) / dayMilliseconds)
    }

    /// 0 = Monday … 6 = Sunday, in UTC.
    public static func weekday(_ milliseconds: Int64) -> Int {
        Int(((date(milliseconds) + 3) % 7 + 7) % 7)
    }

    public static func isBusinessDay(_ milliseconds: Int64) -> Bool { weekday(milliseconds) < 5 }

    /// `t` itself on a weekday; on Saturday or Sunday, the next Monday at the same time of day.
    public static func rollForward(_ t: Int64) -> Int64 {
        switch weekday(t) {
        case 5: return t + 2 * dayMilliseconds
        case 6: return t + dayMilliseconds
        default: return t
        }
    }

    /// `n` business days after `t` (same time of day): from `rollForward(t)`, step one calendar
    /// day at a time and count the weekdays reached. Friday + 2 → Tuesday; Saturday + 1 → Tuesday;
    /// n = 0 → `rollForward(t)`.
    public static func add(_ n: Int, to t: Int64) -> Int64 {
        var at = rollForward(t)
        var left = max(0, n)
        // Whole weeks first (5 business days = 7 calendar days), then day by day.
        at += Int64(left / 5) * 7 * dayMilliseconds
        left %= 5
        while left > 0 {
            at += dayMilliseconds
            if isBusinessDay(at) { left -= 1 }
        }
        return at
    }
}

/// The pure decision: ship date, adequacy against the promise, the cheapest adequate service and
/// the savings. Integer math; transit and handling in business days (`BusinessDays`), the
/// promise compared by UTC calendar date.
public enum ShippingChoice {
    public static let dayMilliseconds: Int64 = BusinessDays.dayMilliseconds

    /// The ship date: order time + `handlingDays` business days, or `now` when that has passed
    /// (a label bought now cannot ship in the past), moved to Monday when it falls on a weekend.
    public static func shipAt(placedAt: Int64, handlingDays: Int, now: Int64) -> Int64 {
        BusinessDays.rollForward(max(BusinessDays.add(handlingDays, to: placedAt), now))
    }

    /// The promise the line is held to: the channel's `deliverBy`, or, when the channel gives
    /// none (Shopify), the order time + `defaultPromiseDays` business days.
    public static func promise(of line: OrderLine, defaultPromiseDays: Int) -> Int64 {
        line.deliverBy ?? BusinessDays.add(defaultPromiseDays, to: line.placedAt)
    }

    /// When the parcel arrives if it leaves at `shipAt`: `deliveryDays` business days later, or
    /// nil without transit days.
    public static func arrival(of quote: RateQuote, shipAt: Int64) -> Int64? {
        quote.deliveryDays.map { BusinessDays.add($0, to: shipAt) }
    }

    /// Meets the promise: the arrival's UTC date is on or before the promise's UTC date. Without
    /// a promise any quote is adequate; with one, a quote without transit days is not (it
    /// cannot be shown to meet it).
    public static func isAdequate(_ quote: RateQuote, shipAt: Int64, deliverBy: Int64?) -> Bool {
        guard let deliverBy else { return true }
        guard let arrival = arrival(of: quote, shipAt: shipAt) else { return false }
        return BusinessDays.date(arrival) <= BusinessDays.date(deliverBy)
    }

    /// The row for one quote of `line`, judged against `deliverBy` (the promise applied).
    public static func record(_ quote: RateQuote, line: OrderLine, shipAt: Int64, deliverBy: Int64?) -> ShippingQuoteRecord {
        ShippingQuoteRecord(
            marketplace: line.marketplace, orderID: line.orderID, lineID: line.lineID, source: quote.source, carrier: quote.carrier,
            service: quote.service, serviceKey: quote.serviceKey, amountMicros: quote.amount.micros, currency: quote.amount.currency.code,
            deliveryDays: quote.deliveryDays, deliveryDateGuaranteed: quote.deliveryDateGuaranteed, billableOunces: quote.billableOunces,
            rateID: quote.rateID, arrivesAt: arrival(of: quote, shipAt: shipAt),
            adequate: isAdequate(quote, shipAt: shipAt, deliverBy: deliverBy))
    }

    /// A line that cannot be quoted, and why.
    public static func skipped(_ line: OrderLine, reason: String, currency: Currency, deliverBy: Int64? = nil) -> ShippingRecommendation {
        ShippingRecommendation(marketplace: line.marketplace, orderID: line.orderID, lineID: line.lineID, sku: line.sku,
                               quantity: line.quantity, destinationPostalCode: line.destination?.postalCode, shipAt: nil,
                               deliverBy: deliverBy ?? line.deliverBy, status: .skipped, reason: reason, parcels: max(0, line.quantity),
                               currency: currency.code, buyerPaidMicros: line.shippingPaid?.micros)
    }

    /// `2026-12-08`: a UTC date for reasons.
    static func dateText(_ milliseconds: Int64) -> String {
        let d = CivilDate(daysSinceEpoch: BusinessDays.date(milliseconds))
        func pad(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(d.year)-\(pad(d.month))-\(pad(d.day))"
    }

    /// The decision for `line` shipped as `line.quantity` boxes, from every quote for one box,
    /// against the promise `deliverBy` (`promise(of:defaultPromiseDays:)`; nil: none).
    ///
    /// Only quotes in `currency` count. The choice is the cheapest adequate quote (ties: fewer
    /// transit days, then carrier, service, source). Margin: buyer paid − chosen labels. Saving:
    /// against the cheapest *adequate* quote of `defaultService` (so never negative); when the
    /// default service was quoted but none of its quotes is adequate, status
    /// `default-inadequate` and saving 0. A saving is actionable when it is positive and at least
    /// `minSaving`. With quotes but none adequate: `no-adequate-rate`, with the fastest quote
    /// recorded and its lateness in the reason; with no quote in the currency: `no-rate`.
    /// The most one line's labels may cost together (one billion in the currency's units).
    public static let maxLabelsMicros: Int64 = 1_000_000_000 * 1_000_000

    public static func recommend(line: OrderLine, quotes: [RateQuote], shipAt: Int64, deliverBy: Int64?, defaultService: String?,
                                 minSaving: Money?, currency: Currency, promiseNote: String? = nil) -> ShippingRecommendation {
        let parcels = Int64(max(1, line.quantity))
        var row = ShippingRecommendation(
            marketplace: line.marketplace, orderID: line.orderID, lineID: line.lineID, sku: line.sku, quantity: line.quantity,
            destinationPostalCode: line.destination?.postalCode, shipAt: shipAt, deliverBy: deliverBy, status: .noRate,
            reason: "", parcels: Int(parcels), currency: currency.code, defaultService: defaultService)
        let paid = line.shippingPaid.flatMap { $0.currency == currency ? $0 : nil }
        row.buyerPaidMicros = paid?.micros
        let money = { (micros: Int64) in Money(micros: micros, currency: currency).description }
        let promiseText = deliverBy.map { "the promise \(dateText($0))" + (promiseNote.map { " (\($0))" } ?? "") } ?? "no promise"
        // A quote whose labels for every parcel would pass `maxLabelsMicros` (or overflow) is
        // not counted: a carrier's answer that large is malformed, and would overflow the sums.
        let usable = quotes.filter { quote in
            let (total, overflow) = quote.amount.micros.multipliedReportingOverflow(by: parcels)
            return quote.amount.currency == currency && quote.amount.micros >= 0 && !overflow && total <= maxLabelsMicros
        }
        let ordered = usable.sorted {
            ($0.amount.micros, $0.deliveryDays ?? Int.max, $0.carrier, $0.service, $0.source)
                < ($1.amount.micros, $1.deliveryDays ?? Int.max, $1.carrier, $1.service, $1.source)
        }
        let adequate = ordered.filter { isAdequate($0, shipAt: shipAt, deliverBy: deliverBy) }
        guard let best = adequate.first else {
            guard !usable.isEmpty else {
                row.status = .noRate
                row.reason = quotes.isEmpty ? "no source quoted this parcel to \(line.destination?.postalCode ?? "?")"
                    : "no quote in \(currency.code) between 0 and \(Money(micros: maxLabelsMicros, currency: currency)) for \(parcels) parcel\(parcels == 1 ? "" : "s") (of \(quotes.count))"
                return row
            }
            // The fastest: the earliest arrival (quotes without transit days last), then the cheapest.
            let fastest = ordered.min { a, b in
                let (x, y) = (arrival(of: a, shipAt: shipAt) ?? Int64.max, arrival(of: b, shipAt: shipAt) ?? Int64.max)
                return x < y
            }!
            row.status = .noAdequateRate
            row.take(fastest, parcels: parcels)
            var reason = "none of \(usable.count) quote\(usable.count == 1 ? "" : "s") arrives by \(promiseText)"
            if let arrives = arrival(of: fastest, shipAt: shipAt), let deliverBy {
                let late = BusinessDays.date(arrives) - BusinessDays.date(deliverBy)
                reason += "; the fastest, \(fastest.serviceKey) at \(money(fastest.amount.micros * parcels)), arrives \(dateText(arrives)), "
                    + "\(late) day\(late == 1 ? "" : "s") late"
            } else {
                reason += "; no quote gives transit days"
            }
            row.reason = reason
            return row
        }
        let label = best.amount.micros * parcels
        row.status = .recommended
        row.take(best, parcels: parcels)
        row.marginMicros = paid.map { $0.micros - label }
        if let defaultService {
            if let standard = adequate.first(where: { $0.serviceKey == defaultService }) {
                row.defaultMicros = standard.amount.micros * parcels
                row.savingMicros = standard.amount.micros * parcels - label
            } else if let standard = ordered.first(where: { $0.serviceKey == defaultService }) {
                row.status = .defaultInadequate
                row.defaultMicros = standard.amount.micros * parcels
                row.savingMicros = 0
            }
        }
        let threshold = minSaving.flatMap { $0.currency == currency ? $0.micros : nil } ?? 0
        row.actionable = (row.savingMicros ?? 0) > 0 && (row.savingMicros ?? 0) >= threshold
        var reason = "\(best.serviceKey) from \(best.source) at \(money(label))"
        if parcels > 1 { reason += " for \(parcels) boxes" }
        if let days = best.deliveryDays, let arrives = arrival(of: best, shipAt: shipAt) {
            reason += ", \(days) business day\(days == 1 ? "" : "s") in transit, arrives \(dateText(arrives)) for \(promiseText)"
        }
        if let margin = row.marginMicros, let paid {
            reason += margin < 0 ? "; the buyer paid \(money(paid.micros)), \(money(-margin)) short"
                : "; the buyer paid \(money(paid.micros))"
        }
        if let saving = row.savingMicros, let defaultService {
            reason += row.status == .defaultInadequate
                ? "; \(defaultService) misses the promise, so no saving is claimed"
                : "; saves \(money(saving)) against \(defaultService)"
        }
        row.reason = reason
        return row
    }
}

/// The operator's packaging file: one box per SKU, as CSV with the header
/// `sku,weight_oz,length_in,width_in,height_in`, amounts with at most one decimal place
/// (`12.5`), all positive. Blank lines and lines starting with `#` are ignored.
public enum PackagingFile {
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    public static let header = ["sku", "weight_oz", "length_in", "width_in", "height_in"]

    /// The file's rows, or the first problem with its line.
    public static func parse(_ text: String, file: String) throws(Problem) -> [PackedItem] {
        var items: [PackedItem] = []
        var seen = Set<String>()
        var sawHeader = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let trimmed = line.drop { $0 == " " }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { String($0.trimmingSpaces) }
            if !sawHeader {
                guard fields == header else {
                    throw Problem(file: file, line: number, message: "the header must be \"\(header.joined(separator: ","))\"")
                }
                sawHeader = true
                continue
            }
            guard fields.count == header.count else {
                throw Problem(file: file, line: number, message: "expected \(header.count) fields, found \(fields.count)")
            }
            let sku = fields[0]
            guard !sku.isEmpty else { throw Problem(file: file, line: number, message: "the SKU is empty") }
            guard seen.insert(sku).inserted else { throw Problem(file: file, line: number, message: "SKU \(sku) is listed twice") }
            var tenths: [Int] = []
            for (name, field) in zip(header.dropFirst(), fields.dropFirst()) {
                guard let value = Self.tenths(field), value > 0 else {
                    throw Problem(file: file, line: number, message: "\(name) \"\(field)\" is not a positive number with at most one decimal place")
                }
                tenths.append(value)
            }
            items.append(PackedItem(sku: sku, size: ParcelSize(lengthTenthsIn: tenths[1], widthTenthsIn: tenths[2],
                                                               heightTenthsIn: tenths[3], weightTenthsOz: tenths[0])))
        }
        guard sawHeader else { throw Problem(file: file, line: 1, message: "the file is empty (no header)") }
        return items
    }

    /// The text of a packaging file for `items`, in their order.
    public static func render(_ items: [PackedItem]) -> String {
        func decimal(_ tenths: Int) -> String { tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)" }
        var out = header.joined(separator: ",") + "\n"
        for item in items {
            let s = item.size
            out += [item.sku, decimal(s.weightTenthsOz), decimal(s.lengthTenthsIn), decimal(s.widthTenthsIn), decimal(s.heightTenthsIn)]
                .joined(separator: ",") + "\n"
        }
        return out
    }

    /// `12`, `12.5` → 120, 125; nil for anything else (signs, more decimals, exponents, huge values).
    static func tenths(_ text: String) -> Int? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = parts.first, (1...6).contains(whole.count),
              whole.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let units = Int(whole) else { return nil }
        guard parts.count == 2 else { return units * 10 }
        let fraction = parts[1]
        guard fraction.utf8.count == 1, let digit = fraction.utf8.first, digit >= 48, digit <= 57 else { return nil }
        return units * 10 + Int(digit - 48)
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}

extension ShippingRecommendation {
    /// The label of `quote` for `parcels` boxes: who carries it, how, how fast and at what cost.
    mutating func take(_ quote: RateQuote, parcels: Int64) {
        carrier = quote.carrier
        service = quote.service
        serviceKey = quote.serviceKey
        source = quote.source
        deliveryDays = quote.deliveryDays
        billableOunces = quote.billableOunces
        labelMicros = quote.amount.micros * parcels
    }
}
