import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

/// A `CarrierClient` pointed at the harness's sandbox, with its own spend recorder.
struct CarrierHarness: Sendable {
    let h: Harness
    let client: CarrierClient
    let recorder: InMemorySpendRecorder

    static let quotePrice = Money(micros: 5_000, currency: .usd)  // half a cent per quote

    static func with(apiKey: String = SandboxServer.easyPostAPIKey, limit: Money? = nil,
                     _ body: @Sendable (CarrierHarness) async throws -> Void) async throws {
        try await Harness.with(listings: 1) { h in
            let recorder = InMemorySpendRecorder(limit: limit)
            let client = CarrierClient(
                configuration: CarrierClientConfiguration(baseURL: h.sandbox.baseURL + "/easypost", requests: 1000, burst: 1000,
                                                          quotePrice: quotePrice, timeout: .seconds(10)),
                apiKey: SecretText(apiKey), transport: h.transport, recorder: recorder,
                rateLimiters: RateLimiters(clock: SystemSchedulerClock()), logger: Harness.quietLogger)
            try await body(CarrierHarness(h: h, client: client, recorder: recorder))
        }
    }

    func rates(from: String = "94105", to: String = "94110", _ parcel: Parcel) async throws -> [String: CarrierRate] {
        let rates = try await client.rates(for: Shipment(from: ShippingAddress(zip: from), to: ShippingAddress(zip: to), parcel: parcel))
        return Dictionary(uniqueKeysWithValues: rates.map { ("\($0.carrier) \($0.service)", $0) })
    }

    var quotesReceived: Int { h.sandbox.state.requestCounts[SandboxRoute.carrierRates.rawValue] ?? 0 }
}

@Suite("Carrier rate shopping over HTTP", .timeLimit(.minutes(1)))
struct CarrierClientTests {
    static let services = ["USPS GroundAdvantage", "USPS Priority", "UPS Ground", "FedEx GROUND_HOME_DELIVERY"]

    @Test("a quote returns every service cheapest first and is recorded as one paid call")
    func happyPath() async throws {
        try await CarrierHarness.with { c in
            let rates = try await c.client.rates(for: Shipment(from: ShippingAddress(zip: "94105"), to: ShippingAddress(zip: "10001"),
                                                               parcel: Parcel(inches: 10, 8, 4, ounces: 12)))
            #expect(Set(rates.map { "\($0.carrier) \($0.service)" }) == Set(Self.services))
            #expect(rates.map(\.amount.micros) == rates.map(\.amount.micros).sorted())
            #expect(rates.allSatisfy { $0.amount.currency == .usd && $0.amount.micros > 0 && $0.deliveryDays != nil })
            #expect(rates.allSatisfy { $0.rateID?.hasPrefix("rate_") == true })
            #expect(c.recorder.recorded == [MeteredCall(provider: "carrier", operation: "shipments.create",
                                                        cost: CarrierHarness.quotePrice, status: 201)])
        }
    }

    @Test("a lighter parcel costs less with every service")
    func lighterIsCheaper() async throws {
        try await CarrierHarness.with { c in
            let light = try await c.rates(Parcel(inches: 10, 8, 4, ounces: 8))
            let heavy = try await c.rates(Parcel(inches: 10, 8, 4, ounces: 5 * 16))
            for service in Self.services {
                let (l, h) = (try #require(light[service]), try #require(heavy[service]))
                #expect(l.amount < h.amount, "\(service): \(l.amount) should be below \(h.amount)")
            }
        }
    }

    @Test("a big light box is billed at its dimensional weight: ÷139 for UPS/FedEx, ÷166 for USPS over 1 ft³")
    func dimensionalWeight() async throws {
        try await CarrierHarness.with { c in
            let bigLight = try await c.rates(Parcel(inches: 20, 20, 20, ounces: 16))  // 8,000 in³, 1 lb
            let small58 = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 58 * 16))
            let small57 = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 57 * 16))
            let small49 = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 49 * 16))
            let small1 = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 16))
            // 8,000 / 139 = 57.6 → 58 lb; 8,000 / 166 = 48.2 → 49 lb.
            #expect(bigLight["UPS Ground"]?.amount == small58["UPS Ground"]?.amount)
            #expect(bigLight["UPS Ground"]!.amount > small57["UPS Ground"]!.amount)
            #expect(bigLight["FedEx GROUND_HOME_DELIVERY"]?.amount == small58["FedEx GROUND_HOME_DELIVERY"]?.amount)
            #expect(bigLight["USPS Priority"]?.amount == small49["USPS Priority"]?.amount)
            #expect(bigLight["USPS Priority"]!.amount > small1["USPS Priority"]!.amount)
            // Exactly one cubic foot: USPS ignores dimensions, UPS does not (1,728 / 139 → 13 lb).
            let cube = try await c.rates(Parcel(inches: 12, 12, 12, ounces: 16))
            let small13 = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 13 * 16))
            #expect(cube["USPS Priority"]?.amount == small1["USPS Priority"]?.amount)
            #expect(cube["UPS Ground"]?.amount == small13["UPS Ground"]?.amount)
        }
    }

    @Test("a farther zone costs more and takes at least as long")
    func zoneEffect() async throws {
        try await CarrierHarness.with { c in
            let parcel = Parcel(inches: 10, 8, 4, ounces: 40)
            let near = try await c.rates(from: "94105", to: "94110", parcel)
            let far = try await c.rates(from: "94105", to: "10001", parcel)
            for service in Self.services {
                let (n, f) = (try #require(near[service]), try #require(far[service]))
                #expect(n.amount < f.amount, "\(service)")
                #expect(n.deliveryDays! <= f.deliveryDays!, "\(service)")
            }
            #expect(far["USPS GroundAdvantage"]!.deliveryDays! > near["USPS GroundAdvantage"]!.deliveryDays!)
        }
    }

    @Test("a wrong API key is an auth error that never shows the key, and costs nothing")
    func wrongKey() async throws {
        let key = "EZTK-wrong-SECRET-key-0042"
        try await CarrierHarness.with(apiKey: key) { c in
            let error = await caught { _ = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 16)) }
            guard case .auth(let message)? = error as? MarketplaceError else {
                Issue.record("expected .auth, got \(String(describing: error))")
                return
            }
            #expect(message.contains("HTTP 401") && message.contains("APIKEY.INVALID"))
            #expect(!"\(error!)".contains(key) && !String(reflecting: error!).contains(key))
            #expect(c.recorder.recorded.map(\.cost.micros) == [0])
        }
    }

    struct FaultCase: Sendable, CustomTestStringConvertible {
        var name: String
        var fault: SandboxFault
        var expected: MarketplaceError
        var recordedCost: Int64
        var testDescription: String { name }
    }

    static let faultCases: [FaultCase] = [
        FaultCase(name: "429 with Retry-After", fault: SandboxFault(route: .carrierRates, remaining: 1, status: 429, retryAfterSeconds: 7),
                  expected: .rateLimited(retryAfter: .seconds(7)), recordedCost: 0),
        FaultCase(name: "503", fault: SandboxFault(route: .carrierRates, remaining: 1, status: 503),
                  expected: .transient("EasyPost shipments.create answered HTTP 503: EasyPost error INTERNAL_SERVER_ERROR: The sandbox was asked to fail this request."),
                  recordedCost: 0),
        FaultCase(name: "422 with EasyPost's message", fault: SandboxFault(route: .carrierRates, remaining: 1, status: 422, message: "Parcel weight is invalid."),
                  expected: .permanent(status: 422, message: "EasyPost error BAD_REQUEST: Parcel weight is invalid."), recordedCost: 0),
        FaultCase(name: "malformed body (answered, so billed)", fault: SandboxFault(route: .carrierRates, remaining: 1, malformed: true),
                  expected: .malformed("shipments.create: the body is not the documented JSON (not valid JSON at top level)"),
                  recordedCost: CarrierHarness.quotePrice.micros),
    ]

    @Test("faults become typed errors, and the reservation is settled", arguments: faultCases)
    func faults(_ testCase: FaultCase) async throws {
        try await CarrierHarness.with { c in
            try await c.h.inject(testCase.fault)
            let error = await caught { _ = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 16)) }
            #expect(error as? MarketplaceError == testCase.expected)
            #expect(c.recorder.recorded.map(\.cost.micros) == [testCase.recordedCost])
            // The fault is used up and nothing stays reserved: the next quote succeeds.
            #expect(try await c.rates(Parcel(inches: 6, 6, 6, ounces: 16)).count == 4)
        }
    }

    @Test("a budget that cannot afford a quote sends no request")
    func budgetExhausted() async throws {
        // Room for exactly two quotes.
        try await CarrierHarness.with(limit: CarrierHarness.quotePrice * 2) { c in
            _ = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 16))
            _ = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 16))
            let error = await caught { _ = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 16)) }
            guard case .budgetExhausted? = error as? TaskFailure else {
                Issue.record("expected .budgetExhausted, got \(String(describing: error))")
                return
            }
            #expect(c.quotesReceived == 2)
            #expect(c.recorder.recorded.count == 2)
        }
        try await CarrierHarness.with(limit: Money(micros: CarrierHarness.quotePrice.micros - 1, currency: .usd)) { c in
            let error = await caught { _ = try await c.rates(Parcel(inches: 6, 6, 6, ounces: 16)) }
            #expect(error is TaskFailure)
            #expect(c.quotesReceived == 0)
        }
    }

    @Test("an invalid parcel is refused before anything is reserved or sent")
    func invalidParcel() async throws {
        try await CarrierHarness.with { c in
            let error = await caught { _ = try await c.rates(Parcel(inches: 6, 0, 6, ounces: 16)) }
            guard case .refused? = error as? MarketplaceError else {
                Issue.record("expected .refused, got \(String(describing: error))")
                return
            }
            #expect(c.quotesReceived == 0 && c.recorder.recorded.isEmpty)
        }
    }
}
