import FlipSyncCore
import Foundation
import Hummingbird

/// The carrier API's fault routes.
extension SandboxRoute {
    /// `POST /easypost/v2/shipments`.
    public static let carrierRates = SandboxRoute("carrier.rates")
}

extension SandboxServer {
    /// The EasyPost API key the sandbox accepts (HTTP Basic username, empty password).
    /// Development only; not a secret.
    public static let easyPostAPIKey = "sandbox-easypost-key"
}

/// EasyPost's `POST /v2/shipments` under `/easypost`, answering with deterministic rates.
///
/// Shapes follow EasyPost's Shipment, Rate and Error objects
/// (https://docs.easypost.com/docs/shipments, https://docs.easypost.com/docs/errors); error
/// `code`s are the sandbox's own. Prices are the sandbox's own price list
/// (`SandboxCarrierService.list`), computed from the zone (ZIP3 distance), the billable weight
/// (actual weight rounded up to the pound; dimensional weight L×W×H ÷ 139 for UPS/FedEx, ÷ 166
/// for USPS above one cubic foot, rounded up) and, for USPS Ground Advantage under 16 oz, the
/// ounces. The same request always gets the same rates and ids.
struct CarrierRoutes: Sendable {
    let state: SandboxState

    func register(on router: Router<BasicRequestContext>) {
        router.group("easypost").post("v2/shipments") { request, _ in try await self.createShipment(request) }
    }

    private struct ShipmentRequest: Decodable {
        struct Address: Decodable { var zip: String? }
        struct WireParcel: Decodable {
            var length: Double?
            var width: Double?
            var height: Double?
            var weight: Double?
        }
        struct Body: Decodable {
            var to_address: Address?
            var from_address: Address?
            var parcel: WireParcel?
        }
        var shipment: Body
    }

    func createShipment(_ request: Request) async throws -> Response {
        guard Self.authorized(request.headers[.authorization], key: state.easyPostAPIKey) else {
            return Self.error(status: 401, code: "APIKEY.INVALID", message: "Invalid or missing API key.")
        }
        let bytes = try await JSON.body(request)
        guard let body = JSON.decode(ShipmentRequest.self, bytes)?.shipment else {
            return Self.error(status: 422, code: "SHIPMENT.INVALID_PARAMS", message: "The body must be {\"shipment\": {…}}.")
        }
        guard let from = body.from_address?.zip.flatMap(Self.zip3), let to = body.to_address?.zip.flatMap(Self.zip3) else {
            return Self.error(status: 422, code: "ADDRESS.ZIP.INVALID", message: "from_address and to_address need a ZIP code.")
        }
        guard let p = body.parcel, let length = p.length.map(Self.tenths), let width = p.width.map(Self.tenths),
              let height = p.height.map(Self.tenths), let weight = p.weight.map(Self.tenths),
              length > 0, width > 0, height > 0, weight > 0 else {
            return Self.error(status: 422, code: "PARCEL.INVALID", message: "The parcel needs a positive length, width, height and weight.")
        }
        let zone = 1 + min(7, abs(from - to) / 110)
        let shipmentID = "shp_" + String(Self.fnv1a(bytes), radix: 16)
        let rates = SandboxCarrierService.list.compactMap { service -> [String: Any]? in
            guard let cents = service.priceCents(zone: zone, lengthTenths: length, widthTenths: width, heightTenths: height,
                                                 weightTenthsOz: weight) else { return nil }
            return ["id": "rate_\(String(Self.fnv1a(Array((shipmentID + service.service).utf8)), radix: 16))", "object": "Rate",
                    "mode": "test", "shipment_id": shipmentID, "carrier": service.carrier, "service": service.service,
                    "rate": Money(minorUnits: Int64(cents), currency: .usd).fixedDecimalString, "currency": "USD",
                    "delivery_days": service.deliveryDays(zone: zone), "delivery_date_guaranteed": false]
        }
        return JSON.response(["id": shipmentID, "object": "Shipment", "mode": "test", "rates": rates, "messages": [] as [Any]],
                             status: .created)
    }

    /// `Basic base64("KEY:")`; the password part is ignored, as EasyPost does.
    static func authorized(_ header: String?, key: String) -> Bool {
        guard let header, header.hasPrefix("Basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }) else { return false }
        return decoded.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) == key
    }

    /// EasyPost's error body: `{"error": {"code", "message", "errors": []}}`.
    static func error(status: Int, code: String, message: String, headers: HTTPFields = [:]) -> Response {
        JSON.response(["error": ["code": code, "message": message, "errors": [] as [Any]]], status: HTTPResponse.Status(code: status),
                      headers: headers)
    }

    static func zip3(_ zip: String) -> Int? {
        let digits = zip.prefix(3)
        guard digits.count == 3, digits.allSatisfy(\.isASCII), let value = Int(digits) else { return nil }
        return value
    }

    /// Inches or ounces to whole tenths (EasyPost takes one decimal place).
    static func tenths(_ value: Double) -> Int { Int((value * 10).rounded()) }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}

/// One service in the sandbox's price list. Price in cents: `base + lb × perPound +
/// (zone − 1) × (perZone + lb × perPoundZone)`; with `ouncePrices`, parcels under 16 oz not billed
/// by dimensions pay `base + oz × perOunce + (zone − 1) × perZone` instead.
struct SandboxCarrierService: Sendable {
    var carrier: String
    var service: String
    var baseCents: Int
    var perPoundCents: Int
    var perZoneCents: Int
    var perPoundZoneCents: Int
    var perOunceCents: Int?
    /// Cubic inches per pound.
    var divisor: Int
    /// USPS: dimensional weight only above one cubic foot.
    var onlyOverCubicFoot: Bool
    var maxPounds: Int
    var daysBase: Int
    var zonesPerExtraDay: Int

    static let list: [SandboxCarrierService] = [
        .init(carrier: "USPS", service: "GroundAdvantage", baseCents: 400, perPoundCents: 90, perZoneCents: 30, perPoundZoneCents: 25,
              perOunceCents: 15, divisor: 166, onlyOverCubicFoot: true, maxPounds: 70, daysBase: 2, zonesPerExtraDay: 3),
        .init(carrier: "USPS", service: "Priority", baseCents: 800, perPoundCents: 120, perZoneCents: 45, perPoundZoneCents: 35,
              perOunceCents: nil, divisor: 166, onlyOverCubicFoot: true, maxPounds: 70, daysBase: 1, zonesPerExtraDay: 3),
        .init(carrier: "UPS", service: "Ground", baseCents: 950, perPoundCents: 85, perZoneCents: 40, perPoundZoneCents: 30,
              perOunceCents: nil, divisor: 139, onlyOverCubicFoot: false, maxPounds: 150, daysBase: 1, zonesPerExtraDay: 2),
        .init(carrier: "FedEx", service: "GROUND_HOME_DELIVERY", baseCents: 980, perPoundCents: 80, perZoneCents: 38,
              perPoundZoneCents: 32, perOunceCents: nil, divisor: 139, onlyOverCubicFoot: false, maxPounds: 150, daysBase: 1,
              zonesPerExtraDay: 2),
    ]

    /// The billed weight follows the one dimensional-weight rule (`DimensionalWeightRule`), with
    /// this service's divisor; services with `ouncePrices` bill by the ounce under 16 oz.
    var weightRule: DimensionalWeightRule {
        DimensionalWeightRule(divisor: divisor, onlyOverCubicFoot: onlyOverCubicFoot, ounceTier: perOunceCents != nil)
    }

    /// Nil when the parcel is heavier than the service takes.
    func priceCents(zone: Int, lengthTenths: Int, widthTenths: Int, heightTenths: Int, weightTenthsOz: Int) -> Int? {
        let size = ParcelSize(lengthTenthsIn: lengthTenths, widthTenthsIn: widthTenths, heightTenthsIn: heightTenths,
                              weightTenthsOz: weightTenthsOz)
        switch weightRule.billableWeight(size) {
        case .ounces(let ounces):
            return baseCents + ounces * (perOunceCents ?? 0) + (zone - 1) * perZoneCents
        case .pounds(let pounds):
            guard pounds <= maxPounds else { return nil }
            return baseCents + pounds * perPoundCents + (zone - 1) * (perZoneCents + pounds * perPoundZoneCents)
        }
    }

    func deliveryDays(zone: Int) -> Int { daysBase + (zone - 1) / zonesPerExtraDay }
}
