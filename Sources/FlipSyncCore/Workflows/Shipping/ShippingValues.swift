/// A packed box's size, exact in tenths as carriers take it: dimensions in tenths of an inch,
/// weight in tenths of an ounce (`12.5 oz` is 125). All positive.
public struct ParcelSize: Sendable, Hashable {
    public var lengthTenthsIn: Int
    public var widthTenthsIn: Int
    public var heightTenthsIn: Int
    public var weightTenthsOz: Int

    public init(lengthTenthsIn: Int, widthTenthsIn: Int, heightTenthsIn: Int, weightTenthsOz: Int) {
        self.lengthTenthsIn = lengthTenthsIn
        self.widthTenthsIn = widthTenthsIn
        self.heightTenthsIn = heightTenthsIn
        self.weightTenthsOz = weightTenthsOz
    }

    /// Whole inches and ounces: `ParcelSize(inches: 12, 10, 4, ounces: 20)`.
    public init(inches length: Int, _ width: Int, _ height: Int, ounces: Int) {
        self.init(lengthTenthsIn: length * 10, widthTenthsIn: width * 10, heightTenthsIn: height * 10, weightTenthsOz: ounces * 10)
    }

    /// L×W×H in thousandths of a cubic inch (tenths cubed), exact.
    public var volumeThousandthsCubicIn: Int64 {
        Int64(lengthTenthsIn) * Int64(widthTenthsIn) * Int64(heightTenthsIn)
    }

    public var isValid: Bool { lengthTenthsIn > 0 && widthTenthsIn > 0 && heightTenthsIn > 0 && weightTenthsOz > 0 }
}

/// How one SKU ships: one unit per box of this size (from the operator's packaging file).
public struct PackedItem: Sendable, Hashable {
    public var sku: String
    public var size: ParcelSize

    public init(sku: String, size: ParcelSize) {
        self.sku = sku
        self.size = size
    }
}

/// What a rate is asked for: one box from the origin to the buyer's address.
public struct ParcelRequest: Sendable, Hashable {
    public var originPostalCode: String
    public var originCountry: String
    public var destination: Destination
    public var size: ParcelSize

    public init(originPostalCode: String, originCountry: String = "US", destination: Destination, size: ParcelSize) {
        self.originPostalCode = originPostalCode
        self.originCountry = originCountry
        self.destination = destination
        self.size = size
    }
}

/// One service's price for one box, from a rate-shopping API or an offline rate card.
public struct RateQuote: Sendable, Hashable {
    /// The shopper that gave it (`easypost`, `rate-cards`).
    public var source: String
    /// `USPS`, `UPS`, `FedEx`, as the source spells it.
    public var carrier: String
    /// The carrier's service name as the source spells it: `GroundAdvantage`, `Priority`, `Ground`.
    public var service: String
    /// The price of one label, exact.
    public var amount: Money
    /// Transit business days (Mon–Fri) the carrier estimates, when it says. Without them a quote cannot be shown
    /// to meet a delivery promise.
    public var deliveryDays: Int?
    public var deliveryDateGuaranteed: Bool
    /// The weight the carrier bills this box at, in whole ounces (a pound-rounded weight is a
    /// multiple of 16), when the carrier's rules are known.
    public var billableOunces: Int?
    /// The API's id for buying this rate; nil for rate-card quotes.
    public var rateID: String?

    public init(source: String, carrier: String, service: String, amount: Money, deliveryDays: Int?,
                deliveryDateGuaranteed: Bool = false, billableOunces: Int? = nil, rateID: String? = nil) {
        self.source = source
        self.carrier = carrier
        self.service = service
        self.amount = amount
        self.deliveryDays = deliveryDays
        self.deliveryDateGuaranteed = deliveryDateGuaranteed
        self.billableOunces = billableOunces
        self.rateID = rateID
    }

    /// The job files' name for the service: `usps-ground-advantage`, `ups-ground`,
    /// `fedex-ground-home-delivery`.
    public var serviceKey: String { Self.serviceKey(carrier: carrier, service: service) }

    /// The carrier lower-cased, then the service with camel case and underscores as hyphens.
    public static func serviceKey(carrier: String, service: String) -> String {
        var words: [String] = []
        var current = ""
        var previousLower = false
        for character in service {
            if character == "_" || character == " " || character == "-" {
                if !current.isEmpty { words.append(current) }
                current = ""
                previousLower = false
                continue
            }
            if character.isUppercase && previousLower {
                words.append(current)
                current = ""
            }
            current.append(character)
            previousLower = character.isLowercase || character.isNumber
        }
        if !current.isEmpty { words.append(current) }
        return ([carrier] + words).map { $0.lowercased() }.joined(separator: "-")
    }
}

/// Where quotes come from: a rate-shopping API (each quote may be a paid call that reserves
/// its budget itself and throws `TaskFailure.budgetExhausted` when it cannot) or offline rate
/// cards (free, no I/O).
///
/// Contract: `quotes(for:)` returns every service the source offers for the request (none when
/// it does not serve the destination), or throws a `RetryClassified` error, a `TaskFailure`,
/// or `CancellationError`.
public protocol RateShopper: Sendable {
    /// `easypost`, `rate-cards`: recorded with every quote.
    var name: String { get }
    var kind: ShippingArbitrage.RateSource { get }
    func quotes(for request: ParcelRequest) async throws -> [RateQuote]
}

/// The weight a parcel is billed at: whole ounces (light parcels on services billed by the
/// ounce) or whole pounds.
public enum BillableWeight: Sendable, Hashable, CustomStringConvertible {
    case ounces(Int)
    case pounds(Int)

    /// The billed weight in whole ounces.
    public var inOunces: Int {
        switch self {
        case .ounces(let oz): return oz
        case .pounds(let lb): return lb * 16
        }
    }

    public var description: String {
        switch self {
        case .ounces(let oz): return "\(oz) oz"
        case .pounds(let lb): return "\(lb) lb"
        }
    }
}

/// How a carrier turns a box into the weight it bills — the one dimensional-weight rule, used by
/// the rate-shopping quotes (`published`), by the offline rate cards (`RateCard.weightRule`) and
/// by the sandbox's carrier price list (`SandboxCarrierService.weightRule`):
/// the larger of the actual weight and the dimensional weight (L×W×H ÷ `divisor`, exact to the
/// tenth of an inch), each rounded UP to the whole pound; where `ounceTier` holds, a box under
/// 16 oz not billed by its dimensions is billed by the whole ounce instead (rounded up).
public struct DimensionalWeightRule: Sendable, Hashable {
    /// Cubic inches per pound.
    public var divisor: Int
    /// Dimensional weight applies only above one cubic foot, 1,728 in³ (USPS).
    public var onlyOverCubicFoot: Bool
    public var ounceTier: Bool

    public init(divisor: Int, onlyOverCubicFoot: Bool, ounceTier: Bool) {
        self.divisor = max(1, divisor)
        self.onlyOverCubicFoot = onlyOverCubicFoot
        self.ounceTier = ounceTier
    }

    /// 1,728 cubic inches in thousandths of a cubic inch (tenths of an inch cubed).
    static let cubicFootThousandths: Int64 = 1_728_000

    /// The dimensional weight in whole pounds (rounded up), or nil where the rule does not apply.
    public func dimensionalPounds(_ size: ParcelSize) -> Int? {
        let volume = size.volumeThousandthsCubicIn
        if onlyOverCubicFoot, volume <= Self.cubicFootThousandths { return nil }
        return Int(Self.divideRoundingUp(volume, Int64(divisor) * 1000))
    }

    /// The billed weight: by the whole ounce where the ounce tier applies and the ounces are at
    /// most `ounceLimit` (a rate card's last ounce break; 16 stands for "up to 15.99 oz"), else by
    /// the whole pound.
    public func billableWeight(_ size: ParcelSize, ounceLimit: Int = 16) -> BillableWeight {
        let dimensional = dimensionalPounds(size)
        if ounceTier, dimensional == nil, size.weightTenthsOz < 160 {
            let ounces = Int(Self.divideRoundingUp(Int64(size.weightTenthsOz), 10))
            if ounces <= ounceLimit { return .ounces(ounces) }
        }
        let actual = Int(Self.divideRoundingUp(Int64(size.weightTenthsOz), 160))
        return .pounds(max(actual, dimensional ?? 0))
    }

    /// The billed weight in whole ounces.
    public func billableOunces(_ size: ParcelSize) -> Int {
        billableWeight(size).inOunces
    }

    /// The published rules of the carriers we quote, by carrier and service as the APIs spell
    /// them; nil for a carrier whose rules we do not know (its quotes carry no billable weight).
    ///
    /// USPS: divisor 166 for parcels above 1,728 in³ (USPS Notice 123, "Dimensional weight",
    /// https://pe.usps.com/text/dmm300/123.htm), Ground Advantage priced by the ounce under 1 lb.
    /// UPS and FedEx daily rates: divisor 139 for every parcel (UPS "Determining billable weight",
    /// https://www.ups.com/us/en/support/shipping-support/shipping-dimensions-weight.page;
    /// FedEx Service Guide, "Dimensional weight").
    public static func published(carrier: String, service: String) -> DimensionalWeightRule? {
        switch carrier.lowercased() {
        case "usps":
            let byTheOunce = ["groundadvantage", "first", "firstclasspackageservice"].contains(service.lowercased())
            return DimensionalWeightRule(divisor: 166, onlyOverCubicFoot: true, ounceTier: byTheOunce)
        case "ups", "fedex":
            return DimensionalWeightRule(divisor: 139, onlyOverCubicFoot: false, ounceTier: false)
        default:
            return nil
        }
    }

    static func divideRoundingUp(_ value: Int64, _ divisor: Int64) -> Int64 {
        (value + divisor - 1) / divisor
    }
}
