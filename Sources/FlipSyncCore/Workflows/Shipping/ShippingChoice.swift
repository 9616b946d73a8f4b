/// The shipping decision for one order line, as recorded: what was quoted, what was chosen and
/// why, and what it saves or loses. All amounts exact, in micro-units of `currency`.
public struct ShippingRecommendation: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        /// The cheapest label that meets the promise was found.
        case recommended
        /// Quotes came back, but none meets the delivery promise (or none was in the currency).
        case noAdequateRate = "no-adequate-rate"
        /// Not quoted: the reason says why (no packaging data, no destination, …).
        case skipped
    }

    public var marketplace: MarketplaceName
    public var orderID: String
    public var lineID: String
    public var sku: String
    public var quantity: Int
    public var destinationPostalCode: String?
    /// The earliest the parcel can leave: the order's time plus the handling days, or now if later.
    public var shipAt: Int64?
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
    /// Buyer paid − label: negative when the line loses money on shipping.
    public var marginMicros: Int64?
    /// The default service's labels for the line, when it was quoted.
    public var defaultService: String?
    public var defaultMicros: Int64?
    /// Default − chosen: what switching saves (negative when the default cannot meet the promise
    /// and a dearer service must be used).
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

/// The pure decision: ship date, adequacy against the promise, the cheapest adequate service and
/// the savings. Integer math; calendar days of 24 hours.
public enum ShippingChoice {
    public static let dayMilliseconds: Int64 = 86_400_000

    /// The earliest the parcel leaves: order time + handling days, or `now` when that has passed
    /// (a label bought now cannot ship in the past).
    public static func shipAt(placedAt: Int64, handlingDays: Int, now: Int64) -> Int64 {
        max(placedAt + Int64(handlingDays) * dayMilliseconds, now)
    }

    /// When the parcel arrives if it leaves at `shipAt`, or nil without transit days.
    public static func arrival(of quote: RateQuote, shipAt: Int64) -> Int64? {
        quote.deliveryDays.map { shipAt + Int64($0) * dayMilliseconds }
    }

    /// Meets the promise: arrives no later than `deliverBy`. Without a promise any quote is
    /// adequate; with one, a quote without transit days is not (it cannot be shown to meet it).
    public static func isAdequate(_ quote: RateQuote, shipAt: Int64, deliverBy: Int64?) -> Bool {
        guard let deliverBy else { return true }
        guard let arrival = arrival(of: quote, shipAt: shipAt) else { return false }
        return arrival <= deliverBy
    }

    /// The row for one quote of `line`.
    public static func record(_ quote: RateQuote, line: OrderLine, shipAt: Int64) -> ShippingQuoteRecord {
        ShippingQuoteRecord(
            marketplace: line.marketplace, orderID: line.orderID, lineID: line.lineID, source: quote.source, carrier: quote.carrier,
            service: quote.service, serviceKey: quote.serviceKey, amountMicros: quote.amount.micros, currency: quote.amount.currency.code,
            deliveryDays: quote.deliveryDays, deliveryDateGuaranteed: quote.deliveryDateGuaranteed, billableOunces: quote.billableOunces,
            rateID: quote.rateID, arrivesAt: arrival(of: quote, shipAt: shipAt),
            adequate: isAdequate(quote, shipAt: shipAt, deliverBy: line.deliverBy))
    }

    /// A line that cannot be quoted, and why.
    public static func skipped(_ line: OrderLine, reason: String, currency: Currency) -> ShippingRecommendation {
        ShippingRecommendation(marketplace: line.marketplace, orderID: line.orderID, lineID: line.lineID, sku: line.sku,
                               quantity: line.quantity, destinationPostalCode: line.destination?.postalCode, shipAt: nil,
                               deliverBy: line.deliverBy, status: .skipped, reason: reason, parcels: max(0, line.quantity),
                               currency: currency.code, buyerPaidMicros: line.shippingPaid?.micros)
    }

    /// The decision for `line` shipped as `line.quantity` boxes, from every quote for one box.
    ///
    /// Only quotes in `currency` count. The choice is the cheapest adequate quote (ties: fewer
    /// transit days, then carrier, service, source). Savings: against the buyer's shipping
    /// payment (margin) and against the cheapest quote of `defaultService` (whether or not it
    /// meets the promise: the seller would have bought it). A saving is actionable when it is
    /// positive and at least `minSaving`.
    public static func recommend(line: OrderLine, quotes: [RateQuote], shipAt: Int64, defaultService: String?, minSaving: Money?,
                                 currency: Currency) -> ShippingRecommendation {
        let parcels = Int64(max(1, line.quantity))
        var row = ShippingRecommendation(
            marketplace: line.marketplace, orderID: line.orderID, lineID: line.lineID, sku: line.sku, quantity: line.quantity,
            destinationPostalCode: line.destination?.postalCode, shipAt: shipAt, deliverBy: line.deliverBy, status: .noAdequateRate,
            reason: "", parcels: Int(parcels), currency: currency.code, defaultService: defaultService)
        let paid = line.shippingPaid.flatMap { $0.currency == currency ? $0 : nil }
        row.buyerPaidMicros = paid?.micros
        let usable = quotes.filter { $0.amount.currency == currency }
        let ordered = usable.sorted {
            ($0.amount.micros, $0.deliveryDays ?? Int.max, $0.carrier, $0.service, $0.source)
                < ($1.amount.micros, $1.deliveryDays ?? Int.max, $1.carrier, $1.service, $1.source)
        }
        if let defaultService, let standard = ordered.first(where: { $0.serviceKey == defaultService }) {
            row.defaultMicros = standard.amount.micros * parcels
        }
        guard let best = ordered.first(where: { isAdequate($0, shipAt: shipAt, deliverBy: line.deliverBy) }) else {
            row.reason = quotes.isEmpty ? "no source quoted this parcel to \(line.destination?.postalCode ?? "?")"
                : usable.isEmpty ? "no quote in \(currency.code) (of \(quotes.count))"
                : "none of \(usable.count) quotes arrives by the promised date"
            return row
        }
        let label = best.amount.micros * parcels
        row.status = .recommended
        row.carrier = best.carrier
        row.service = best.service
        row.serviceKey = best.serviceKey
        row.source = best.source
        row.deliveryDays = best.deliveryDays
        row.billableOunces = best.billableOunces
        row.labelMicros = label
        row.marginMicros = paid.map { $0.micros - label }
        row.savingMicros = row.defaultMicros.map { $0 - label }
        let threshold = minSaving.flatMap { $0.currency == currency ? $0.micros : nil } ?? 0
        row.actionable = (row.savingMicros ?? 0) > 0 && (row.savingMicros ?? 0) >= threshold
        let money = { (micros: Int64) in Money(micros: micros, currency: currency).description }
        var reason = "\(best.serviceKey) from \(best.source) at \(money(label))"
        if parcels > 1 { reason += " for \(parcels) boxes" }
        if let days = best.deliveryDays { reason += ", \(days) day\(days == 1 ? "" : "s") in transit" }
        if let margin = row.marginMicros {
            reason += margin < 0 ? "; the buyer paid \(money(paid!.micros)), \(money(-margin)) short"
                : "; the buyer paid \(money(paid!.micros))"
        }
        if let saving = row.savingMicros, let defaultService {
            reason += saving >= 0 ? "; saves \(money(saving)) against \(defaultService)"
                : "; \(money(-saving)) more than \(defaultService), which misses the promise"
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
