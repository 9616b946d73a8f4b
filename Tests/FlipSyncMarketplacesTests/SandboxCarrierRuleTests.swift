import FlipSyncCore
@testable import FlipSyncSandbox
import Testing

/// The sandbox's carrier price list bills by the one dimensional-weight rule: the same
/// `DimensionalWeightRule` the rate shopper reports each quote's billable weight with.
@Suite("Sandbox carrier prices use the one dimensional-weight rule", .timeLimit(.minutes(1)))
struct SandboxCarrierRuleTests {
    @Test("every sandbox service bills by its carrier's published rule")
    func servicesUsePublishedRule() {
        for service in SandboxCarrierService.list {
            #expect(service.weightRule == DimensionalWeightRule.published(carrier: service.carrier, service: service.service),
                    "\(service.carrier) \(service.service)")
        }
    }

    @Test("a price is the base plus the billable weight's rate: by the ounce under 1 lb, else by the (dimensional) pound")
    func priceFollowsBillableWeight() throws {
        let ground = try #require(SandboxCarrierService.list.first { $0.service == "GroundAdvantage" })
        let ups = try #require(SandboxCarrierService.list.first { $0.carrier == "UPS" })
        // 15.1 oz, small box: 16 whole ounces at USPS Ground Advantage, zone 1.
        #expect(ground.priceCents(zone: 1, lengthTenths: 60, widthTenths: 60, heightTenths: 60, weightTenthsOz: 151)
                == ground.baseCents + 16 * ground.perOunceCents!)
        // 20×20×20 in, 1 lb: UPS bills 8,000 ÷ 139 → 58 lb; zone 3.
        #expect(ups.priceCents(zone: 3, lengthTenths: 200, widthTenths: 200, heightTenths: 200, weightTenthsOz: 160)
                == ups.baseCents + 58 * ups.perPoundCents + 2 * (ups.perZoneCents + 58 * ups.perPoundZoneCents))
        // Heavier than the service takes: no price.
        #expect(ups.priceCents(zone: 1, lengthTenths: 60, widthTenths: 60, heightTenths: 60, weightTenthsOz: 151 * 160) == nil)
    }
}
