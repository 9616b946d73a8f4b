import FlipSyncCore

/// A postal address to rate between. Rating needs only `zip` and `country`; the street lines
/// are sent when known because some carriers rate residential and commercial addresses apart.
public struct ShippingAddress: Sendable, Hashable {
    public var name: String?
    public var street1: String?
    public var city: String?
    public var state: String?
    /// The ZIP code (`94105` or `94105-1804`); its first three digits pick the rate card's zone.
    public var zip: String
    /// ISO 3166 alpha-2, `US` by default.
    public var country: String

    public init(name: String? = nil, street1: String? = nil, city: String? = nil, state: String? = nil, zip: String,
                country: String = "US") {
        self.name = name
        self.street1 = street1
        self.city = city
        self.state = state
        self.zip = zip
        self.country = country
    }

    /// The ZIP's first three digits as a number (`941`), or nil when it does not start with three digits.
    public var zip3: Int? {
        let digits = zip.utf8.prefix(3)
        guard digits.count == 3, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - 48) }
    }
}

/// A box to ship, exact in tenths as EasyPost takes it: the core's `ParcelSize` (dimensions in
/// tenths of an inch, weight in tenths of an ounce).
public typealias Parcel = ParcelSize

/// A parcel going from one address to another: what a rate quote is asked for.
public struct Shipment: Sendable, Hashable {
    public var from: ShippingAddress
    public var to: ShippingAddress
    public var parcel: Parcel

    public init(from: ShippingAddress, to: ShippingAddress, parcel: Parcel) {
        self.from = from
        self.to = to
        self.parcel = parcel
    }
}

/// One service's price for a shipment, from a carrier API or an offline rate card.
public struct CarrierRate: Sendable, Hashable {
    /// `USPS`, `UPS`, `FedEx`.
    public var carrier: String
    /// The carrier's service name as the API spells it: `GroundAdvantage`, `Priority`, `Ground`.
    public var service: String
    public var amount: Money
    /// Transit days the carrier estimates (EasyPost `delivery_days`, read as business days), when it says.
    public var deliveryDays: Int?
    public var deliveryDateGuaranteed: Bool
    /// The API's id for buying this rate later (`rate_…`); nil for rate-card quotes.
    public var rateID: String?

    public init(carrier: String, service: String, amount: Money, deliveryDays: Int?, deliveryDateGuaranteed: Bool = false,
                rateID: String? = nil) {
        self.carrier = carrier
        self.service = service
        self.amount = amount
        self.deliveryDays = deliveryDays
        self.deliveryDateGuaranteed = deliveryDateGuaranteed
        self.rateID = rateID
    }
}
