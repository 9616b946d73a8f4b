import FlipSyncCore
import Foundation
import Logging

/// Where and how fast to call the carrier rate-shopping API (EasyPost's shapes).
public struct CarrierClientConfiguration: Sendable, Hashable {
    /// `https://api.easypost.com` or the local sandbox (`http://127.0.0.1:8780/easypost`); `/v2/…` is appended.
    public var baseURL: String
    /// The token bucket: `requests` per `per`, holding at most `burst`.
    public var requests: Int
    public var per: TimeSpan
    public var burst: Int
    /// What one rate quote costs (`[prices.carrier] quote`); reserved before each quote.
    public var quotePrice: Money
    public var timeout: TimeSpan

    public init(baseURL: String, requests: Int = 5, per: TimeSpan = .seconds(1), burst: Int = 10,
                quotePrice: Money, timeout: TimeSpan = .seconds(30)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.requests = requests
        self.per = per
        self.burst = burst
        self.quotePrice = quotePrice
        self.timeout = timeout
    }

    /// From `[carriers.easypost]` and `[prices.carrier] rate_quote` (zero in `currency` if unset).
    public init(_ endpoint: FlipSyncConfig.Endpoint, prices: [String: Money]?, currency: Currency) {
        self.init(baseURL: endpoint.baseURL, requests: endpoint.rateLimit.requests, per: endpoint.rateLimit.per,
                  burst: endpoint.rateLimit.burst, quotePrice: prices?["rate_quote"] ?? .zero(currency))
    }
}

/// Carrier rate shopping through EasyPost: one `Shipment` created per quote, its `rates` read.
///
/// Every quote is a paid call: its price is reserved with the `SpendRecorder` before anything
/// is sent (a budget that cannot afford it throws `TaskFailure.budgetExhausted` and sends
/// nothing), and recorded once answered. Requests take a token from the bucket for
/// (host, key fingerprint) first.
///
/// Labels are not bought here: buying postage spends real money per label and is left to an
/// explicit, separate step that does not exist yet.
///
/// Errors thrown are `MarketplaceError`, `TaskFailure.budgetExhausted`, or `CancellationError`.
/// No error, log line or description contains the API key.
public final class CarrierClient: Sendable {
    public let configuration: CarrierClientConfiguration
    private let apiKey: SecretText
    private let exchange: RequestPipeline
    private let bucket: TokenBucket

    public static let provider = "carrier"
    public static let quoteOperation = "shipments.create"

    public init(configuration: CarrierClientConfiguration, apiKey: SecretText, transport: any HTTPTransport,
                recorder: any SpendRecorder, rateLimiters: RateLimiters, quota: (any QuotaLedger)? = nil,
                logger: Logger = Logger(label: "flipsync.marketplaces.carrier")) {
        self.configuration = configuration
        self.apiKey = apiKey
        let host = HTTPURLAuthority.hostKey(of: configuration.baseURL)
        // One bucket per host and key; the key is named by its hash, never spelled out.
        let bucket = rateLimiters.bucket("\(host)|carrier|\(apiKey.reveal().hashValue)", requests: configuration.requests,
                                         per: configuration.per, burst: configuration.burst)
        self.bucket = bucket
        exchange = RequestPipeline(transport: transport, recorder: recorder, quota: quota, logger: logger, gate: rateLimiters.shared)
    }

    /// Every rate the carriers offer for `shipment`, cheapest first.
    ///
    /// `POST /v2/shipments` with `{"shipment": {"to_address", "from_address", "parcel": {"length",
    /// "width", "height" (inches), "weight" (ounces)}}}`, HTTP Basic auth with the API key as the
    /// username and no password. The answer's `rates[]` carry `id`, `carrier`, `service`, `rate`
    /// (a decimal string), `currency`, `delivery_days` (may be null) and `delivery_date_guaranteed`.
    /// Errors are `{"error": {"code", "message", "errors"}}`.
    /// References: EasyPost "Create a Shipment" (https://docs.easypost.com/docs/shipments),
    /// Rate object (https://docs.easypost.com/docs/shipments/rates), Parcel object
    /// (https://docs.easypost.com/docs/parcels), Authentication
    /// (https://docs.easypost.com/docs/authentication), Errors (https://docs.easypost.com/docs/errors).
    public func rates(for shipment: Shipment) async throws -> [CarrierRate] {
        guard shipment.parcel.isValid else {
            throw MarketplaceError.refused("a parcel needs a positive length, width, height and weight")
        }
        let body = try JSONEncoder().encode(WireShipmentRequest(shipment: .init(shipment)))
        let basic = Data("\(apiKey.reveal()):".utf8).base64EncodedString()
        let request = HTTPRequest(method: .post, url: configuration.baseURL + "/v2/shipments",
                                  headers: [("Authorization", "Basic \(basic)"), ("Content-Type", "application/json"),
                                            ("Accept", "application/json")],
                                  body: Array(body), timeout: configuration.timeout)
        let operation = Self.quoteOperation
        let price = configuration.quotePrice
        return try await exchange.send(request, PipelineCall(provider: Self.provider, operation: operation, price: price,
                                                 limit: { [bucket] in try await bucket.acquire() },
                                                 shared: bucket.shared("carrier/easypost"))) { response in
            try StatusMapping.check(response, api: "EasyPost", operation: operation, apiMessage: Self.apiMessage)
            let wire = try StatusMapping.decode(WireShipmentResponse.self, response, operation: operation)
            let rates = try wire.rates.map { rate in
                guard let amount = try? Money(parsing: "\(rate.rate) \(rate.currency)") else {
                    throw MarketplaceError.malformed("\(operation): rate \(rate.id ?? "?") has no usable amount")
                }
                return CarrierRate(carrier: rate.carrier, service: rate.service, amount: amount, deliveryDays: rate.delivery_days,
                                   deliveryDateGuaranteed: rate.delivery_date_guaranteed ?? false, rateID: rate.id)
            }
            return .init(value: rates.sorted { ($0.amount.micros, $0.carrier, $0.service) < ($1.amount.micros, $1.carrier, $1.service) },
                         call: MeteredCall(provider: Self.provider, operation: operation, cost: price, status: response.status))
        }
    }

    /// EasyPost's `error.message` (with its `code`), or nil.
    static func apiMessage(_ response: HTTPResponse) -> String? {
        guard let body = try? JSONDecoder().decode(WireEasyPostError.self, from: Data(response.body)) else { return nil }
        return body.error.code.map { "EasyPost error \($0): \(body.error.message)" } ?? body.error.message
    }
}

// MARK: Wire shapes (EasyPost v2)

struct WireShipmentRequest: Encodable {
    struct Address: Encodable {
        var name: String?
        var street1: String?
        var city: String?
        var state: String?
        var zip: String
        var country: String

        init(_ address: ShippingAddress) {
            name = address.name
            street1 = address.street1
            city = address.city
            state = address.state
            zip = address.zip
            country = address.country
        }
    }

    struct WireParcel: Encodable {
        // Decimal keeps "12.5" exact on the wire.
        var length: Decimal
        var width: Decimal
        var height: Decimal
        var weight: Decimal

        init(_ parcel: Parcel) {
            func tenths(_ value: Int) -> Decimal { Decimal(value) / 10 }
            length = tenths(parcel.lengthTenthsIn)
            width = tenths(parcel.widthTenthsIn)
            height = tenths(parcel.heightTenthsIn)
            weight = tenths(parcel.weightTenthsOz)
        }
    }

    struct Body: Encodable {
        var to_address: Address
        var from_address: Address
        var parcel: WireParcel

        init(_ shipment: Shipment) {
            to_address = Address(shipment.to)
            from_address = Address(shipment.from)
            parcel = WireParcel(shipment.parcel)
        }
    }

    var shipment: Body
}

struct WireShipmentResponse: Decodable {
    struct Rate: Decodable {
        var id: String?
        var carrier: String
        var service: String
        var rate: String
        var currency: String
        var delivery_days: Int?
        var delivery_date_guaranteed: Bool?
    }

    var id: String?
    var rates: [Rate]
}

struct WireEasyPostError: Decodable {
    struct Detail: Decodable {
        var code: String?
        var message: String
    }

    var error: Detail
}
