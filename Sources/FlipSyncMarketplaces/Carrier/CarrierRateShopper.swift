import FlipSyncCore

/// The rate-shopping API (`CarrierClient`, EasyPost's shapes) as the shipping workflow's
/// `RateShopper`: one `POST /v2/shipments` per request, a paid call that reserves its price
/// first (a budget that cannot afford it throws `TaskFailure.budgetExhausted` and sends
/// nothing). Each rate's billable weight is the carrier's published rule applied to the box
/// (`DimensionalWeightRule.published`), since the API does not return it. Nothing is bought.
public struct CarrierRateShopper: RateShopper {
    public let name: String
    public var kind: ShippingArbitrage.RateSource { .api }
    let client: CarrierClient

    public init(name: String = "easypost", client: CarrierClient) {
        self.name = name
        self.client = client
    }

    /// Every rate EasyPost returns for the box (see `CarrierClient.rates(for:)`, which follows
    /// https://docs.easypost.com/docs/shipments).
    public func quotes(for request: ParcelRequest) async throws -> [RateQuote] {
        try await client.rates(for: Shipment(request)).map { rate in
            RateQuote(source: name, carrier: rate.carrier, service: rate.service, amount: rate.amount, deliveryDays: rate.deliveryDays,
                      deliveryDateGuaranteed: rate.deliveryDateGuaranteed,
                      billableOunces: DimensionalWeightRule.published(carrier: rate.carrier, service: rate.service)?.billableOunces(request.size),
                      rateID: rate.rateID)
        }
    }
}

/// Offline rate cards as a `RateShopper`: free, no I/O. Each quote's billable weight is the
/// card's own (its divisor, its cubic-foot rule, its ounce breaks).
public struct RateCardShopper: RateShopper {
    public let name: String
    public var kind: ShippingArbitrage.RateSource { .rateCards }
    let cards: RateCardSet

    public init(name: String = "rate-cards", cards: RateCardSet) {
        self.name = name
        self.cards = cards
    }

    public func quotes(for request: ParcelRequest) async throws -> [RateQuote] {
        let shipment = Shipment(request)
        return cards.cards.compactMap { card in
            card.quote(shipment).map { rate in
                let billable: Int
                switch card.billableWeight(shipment.parcel) {
                case .ounces(let oz): billable = oz
                case .pounds(let lb): billable = lb * 16
                }
                return RateQuote(source: name, carrier: rate.carrier, service: rate.service, amount: rate.amount,
                                 deliveryDays: rate.deliveryDays, deliveryDateGuaranteed: rate.deliveryDateGuaranteed,
                                 billableOunces: billable)
            }
        }
    }
}

extension Shipment {
    /// The carrier API's shipment for a workflow's parcel request.
    init(_ request: ParcelRequest) {
        let size = request.size
        self.init(from: ShippingAddress(zip: request.originPostalCode, country: request.originCountry),
                  to: ShippingAddress(state: request.destination.region, zip: request.destination.postalCode,
                                      country: request.destination.country),
                  parcel: Parcel(lengthTenthsIn: size.lengthTenthsIn, widthTenthsIn: size.widthTenthsIn,
                                 heightTenthsIn: size.heightTenthsIn, weightTenthsOz: size.weightTenthsOz))
    }
}
