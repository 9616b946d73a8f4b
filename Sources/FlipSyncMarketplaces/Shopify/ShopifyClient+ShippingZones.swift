import FlipSyncCore
import Foundation

extension ShopifyClient {
    // MARK: Shipping zones

    static let deliveryProfilesQuery = """
        query FlipSyncDeliveryProfiles($after: String) {
          deliveryProfiles(first: 25, after: $after) {
            nodes { id name profileLocationGroups { locationGroup { id } } }
            pageInfo { hasNextPage endCursor }
          }
        }
        """

    /// Rates read with each zone on a zones page; a zone with more has the rest read with
    /// `zoneRatesQuery`, `ratesPerPage` at a time.
    static let ratesPerZone = 25
    /// Rates per follow-up page of one zone (about 4 points a rate: about 410 requested points).
    static let ratesPerPage = 100
    /// Follow-up pages read for one zone at most (`ShopifyClientConfiguration.zoneRatePageLimit`'s
    /// default): 25 + 100 × 100 = 10,025 rates.
    public static let maxRatePagesPerZone = 100

    static let rateFields = """
        id name active
        rateProvider { __typename ... on DeliveryRateDefinition { price { amount currencyCode } } }
        methodConditions {
          field operator
          conditionCriteria { __typename ... on Weight { unit value } ... on MoneyV2 { amount currencyCode } }
        }
        """

    static let deliveryZonesQuery = """
        query FlipSyncDeliveryZones($profile: ID!, $group: ID!, $first: Int!, $after: String) {
          deliveryProfile(id: $profile) {
            profileLocationGroups(locationGroupId: $group) {
              locationGroupZones(first: $first, after: $after) {
                edges {
                  cursor
                  node {
                    zone { id name countries { code { countryCode restOfWorld } provinces { code } } }
                    methodDefinitions(first: \(ratesPerZone)) {
                      nodes { \(rateFields) }
                      pageInfo { hasNextPage endCursor }
                    }
                  }
                }
                pageInfo { hasNextPage endCursor }
              }
            }
          }
        }
        """

    /// The rest of one zone's rates: the zone is addressed as the one zone after `$zoneAfter`
    /// (the cursor of the zone before it, or the zones page's own `after`) in its group, and
    /// its `methodDefinitions` paged from `$after`. `DeliveryLocationGroupZone` has no id of its
    /// own to query it by.
    static let zoneRatesQuery = """
        query FlipSyncDeliveryZoneRates($profile: ID!, $group: ID!, $zoneAfter: String, $after: String!) {
          deliveryProfile(id: $profile) {
            profileLocationGroups(locationGroupId: $group) {
              locationGroupZones(first: 1, after: $zoneAfter) {
                nodes {
                  zone { id }
                  methodDefinitions(first: \(ratesPerPage), after: $after) {
                    nodes { \(rateFields) }
                    pageInfo { hasNextPage endCursor }
                  }
                }
              }
            }
          }
        }
        """

    /// The shop's shipping zones with their countries and flat rates, from the GraphQL Admin
    /// API's delivery profiles: every profile (`deliveryProfiles`, paged), each of its location
    /// groups, and the group's zones (`deliveryProfile(id:) { profileLocationGroups(locationGroupId:)
    /// { locationGroupZones(first:after:) } }`, paged), each with its first 25 method definitions.
    /// A zone whose `methodDefinitions` has a next page has the rest read by `zoneRatesQuery`
    /// (`locationGroupZones(first: 1, after: <the cursor before the zone>) { methodDefinitions(first:
    /// 100, after:) }`, paged until `hasNextPage` is false, at most `zoneRatePageLimit` (100)
    /// follow-ups a zone: a zone with more is an error naming the zone and the cap), each page
    /// through the cost bucket like any query; the answered zone must be the same zone, and any
    /// malformed page is an error naming the zone. Only zones with more than 25 rates cost
    /// follow-up queries.
    ///
    /// Mapping to `ShopifyShippingZone` (see `zone(_:)` and the README): an inactive method
    /// definition is skipped; a `DeliveryParticipant` rate provider (carrier-calculated) counts
    /// in `carrierRateProviders`; a `DeliveryRateDefinition` is a weight rate when its conditions
    /// are on `TOTAL_WEIGHT` (`GREATER_THAN_OR_EQUAL_TO` is the low bound, `LESS_THAN_OR_EQUAL_TO`
    /// the high one), a price rate when they are on `TOTAL_PRICE` (min and max subtotal), and a
    /// price rate open at both ends when it has none. Anything else (another field, operator or
    /// criteria type, a condition repeated, weight and price mixed, a price or bound in another
    /// currency) is `MarketplaceError.malformed` naming the zone
    /// and the rate: a charge computed from a misread rate would be wrong, not just missing.
    ///
    /// References (2025-01): https://shopify.dev/docs/api/admin-graphql/2025-01/queries/deliveryProfiles,
    /// DeliveryProfile.profileLocationGroups (a list, `locationGroupId:` argument),
    /// DeliveryProfileLocationGroup.locationGroupZones(first:after:last:before:reverse:)
    /// (DeliveryLocationGroupZoneConnection; its DeliveryLocationGroupZoneEdge has `cursor` and `node`),
    /// DeliveryLocationGroupZone (`zone`, `methodDefinitions(first:after:)`, a
    /// DeliveryMethodDefinitionConnection), DeliveryZone (`countries`:
    /// DeliveryCountry { code: DeliveryCountryCodeOrRestOfWorld { countryCode restOfWorld } provinces }),
    /// DeliveryMethodDefinition (`active`, `rateProvider`, `methodConditions`), the unions
    /// `DeliveryRateProvider = DeliveryParticipant | DeliveryRateDefinition` and
    /// `DeliveryConditionCriteria = MoneyV2 | Weight`, DeliveryCondition (`field`:
    /// DeliveryConditionField TOTAL_PRICE | TOTAL_WEIGHT, `operator`: DeliveryConditionOperator
    /// GREATER_THAN_OR_EQUAL_TO | LESS_THAN_OR_EQUAL_TO), all under
    /// https://shopify.dev/docs/api/admin-graphql/2025-01/objects/ (read through the docs search
    /// of shopify.dev's pages, e.g. /objects/DeliveryCondition and /unions/DeliveryConditionCriteria).
    public func shippingZones() async throws -> [ShopifyShippingZone] {
        let first = configuration.zonePageSize
        guard (1...8).contains(first) else { throw MarketplaceError.refused("Shopify zone page size must be 1…8, not \(first)") }
        var groups: [(profile: String, group: String)] = []
        var after: String?
        repeat {
            let data = try await graphQL("deliveryProfiles", Self.deliveryProfilesQuery, ["after": after ?? NSNull()],
                                         as: ShopifyWire.DeliveryProfilesData.self)
            for profile in data.deliveryProfiles.nodes {
                for group in profile.profileLocationGroups { groups.append((profile.id, group.locationGroup.id)) }
            }
            after = data.deliveryProfiles.pageInfo.hasNextPage ? try cursor(data.deliveryProfiles.pageInfo, "deliveryProfiles") : nil
        } while after != nil
        var zones: [ShopifyShippingZone] = []
        for (profile, group) in groups {
            var after: String?
            repeat {
                let data = try await graphQL("deliveryProfile", Self.deliveryZonesQuery,
                                             ["profile": profile, "group": group, "first": first, "after": after ?? NSNull()],
                                             as: ShopifyWire.DeliveryZonesData.self)
                guard let found = data.deliveryProfile else { throw MarketplaceError.malformed("delivery profile \(profile) vanished while its zones were read") }
                guard found.profileLocationGroups.count == 1, let connection = found.profileLocationGroups.first?.locationGroupZones else {
                    throw MarketplaceError.malformed("delivery profile \(profile) answered \(found.profileLocationGroups.count) location groups for \(group), not 1")
                }
                // The cursor just before each zone: what addresses it alone in a follow-up.
                var before = after
                for edge in connection.edges {
                    var methods = edge.node.methodDefinitions.nodes
                    if edge.node.methodDefinitions.pageInfo.hasNextPage {
                        methods += try await remainingRates(of: edge.node, profile: profile, group: group, zoneAfter: before,
                                                            pageLimit: configuration.zoneRatePageLimit)
                    }
                    zones.append(try zone(edge.node, methods: methods))
                    before = edge.cursor
                }
                after = connection.pageInfo.hasNextPage ? try cursor(connection.pageInfo, "locationGroupZones") : nil
            } while after != nil
        }
        return zones
    }

    /// The rates of `wire` after its first page, `ratesPerPage` a query (`zoneRatesQuery`), at
    /// most `pageLimit` queries: a zone with still more is `.refused` naming the zone and the cap.
    func remainingRates(of wire: ShopifyWire.LocationGroupZone, profile: String, group: String, zoneAfter: String?,
                        pageLimit: Int = ShopifyClient.maxRatePagesPerZone) async throws -> [ShopifyWire.MethodDefinition] {
        let zone = wire.zone
        func refuse(_ what: String) -> MarketplaceError { .malformed("Shopify shipping zone \"\(zone.name)\" (\(zone.id)): \(what)") }
        var rates: [ShopifyWire.MethodDefinition] = []
        var page = wire.methodDefinitions.pageInfo
        var read = wire.methodDefinitions.nodes.count
        var pages = 0
        while page.hasNextPage {
            guard pages < pageLimit else {
                throw MarketplaceError.refused("Shopify shipping zone \"\(zone.name)\" (\(zone.id)) has more rates than \(pageLimit) "
                    + "follow-up pages (the cap a zone) hold: \(read) read, more to come")
            }
            pages += 1
            guard let after = page.endCursor, !after.isEmpty else { throw refuse("rates after the first \(read): hasNextPage without an endCursor") }
            let data: ShopifyWire.ZoneRatesData
            do {
                data = try await graphQL("deliveryProfile", Self.zoneRatesQuery,
                                         ["profile": profile, "group": group, "zoneAfter": zoneAfter ?? NSNull(), "after": after],
                                         as: ShopifyWire.ZoneRatesData.self, costKey: "deliveryProfile.rates")
            } catch MarketplaceError.malformed(let message) {
                throw refuse("rates after the first \(read): \(message)")
            }
            guard let found = data.deliveryProfile, found.profileLocationGroups.count == 1,
                  let answered = found.profileLocationGroups.first?.locationGroupZones.nodes, answered.count == 1,
                  let same = answered.first, same.zone.id == zone.id else {
                throw refuse("rates after the first \(read): the zone is no longer where it was read (it moved or vanished)")
            }
            guard !same.methodDefinitions.nodes.isEmpty || !same.methodDefinitions.pageInfo.hasNextPage else {
                throw refuse("rates after the first \(read): an empty page that has a next page")
            }
            rates += same.methodDefinitions.nodes
            read += same.methodDefinitions.nodes.count
            page = same.methodDefinitions.pageInfo
        }
        return rates
    }

    /// Grams in one unit of Shopify's `WeightUnit`.
    static let gramsPerWeightUnit: [String: Double] = ["GRAMS": 1, "KILOGRAMS": 1000, "OUNCES": 28.349523125, "POUNDS": 453.59237]

    /// One location group zone as a `ShopifyShippingZone` (the rules: `shippingZones()`), with
    /// `methods` its every rate (nil: the zone's own page, which must then be its last).
    func zone(_ wire: ShopifyWire.LocationGroupZone, methods: [ShopifyWire.MethodDefinition]? = nil) throws -> ShopifyShippingZone {
        let zone = wire.zone
        let currency = configuration.currency
        func refuse(_ what: String) -> MarketplaceError { .malformed("Shopify shipping zone \"\(zone.name)\" (\(zone.id)): \(what)") }
        guard methods != nil || !wire.methodDefinitions.pageInfo.hasNextPage else {
            throw refuse("its rates after the first \(wire.methodDefinitions.nodes.count) were not read")
        }
        let countries = try zone.countries.map { country -> ShopifyShippingZone.Country in
            let code = country.code.restOfWorld ? "*" : country.code.countryCode
            guard let code, !code.isEmpty else { throw refuse("a country without a code that is not the rest of the world") }
            return .init(code: code, provinceCodes: (country.provinces ?? []).map(\.code))
        }
        var weightRates: [ShopifyShippingZone.WeightRate] = []
        var priceRates: [ShopifyShippingZone.PriceRate] = []
        var carriers = 0
        for method in methods ?? wire.methodDefinitions.nodes where method.active {
            let rate = "rate \"\(method.name)\""
            switch method.rateProvider.__typename {
            case "DeliveryParticipant":
                carriers += 1
                continue
            case "DeliveryRateDefinition": break
            default: throw refuse("\(rate) has a rate provider of type \(method.rateProvider.__typename)")
            }
            guard let wirePrice = method.rateProvider.price else { throw refuse("\(rate) has no price") }
            guard wirePrice.currencyCode == currency.code else { throw refuse("\(rate) is priced in \(wirePrice.currencyCode), not \(currency.code)") }
            let price = try money(wirePrice.amount, currency, field: "\(rate) of zone \(zone.id)")
            var low: Int?, high: Int?, minimum: Money?, maximum: Money?
            var fields = Set<String>()
            for condition in method.methodConditions {
                fields.insert(condition.field)
                let criteria = condition.conditionCriteria
                let isLow: Bool
                switch condition.operator {
                case "GREATER_THAN_OR_EQUAL_TO": isLow = true
                case "LESS_THAN_OR_EQUAL_TO": isLow = false
                default: throw refuse("\(rate) has a condition with operator \(condition.operator)")
                }
                switch (condition.field, criteria.__typename) {
                case ("TOTAL_WEIGHT", "Weight"):
                    guard let value = criteria.value, value >= 0, let unit = criteria.unit, let perUnit = Self.gramsPerWeightUnit[unit] else {
                        let shown: String = criteria.value.map { String($0) } ?? "no value"
                        throw refuse("\(rate) has a weight condition of \(shown) \(criteria.unit ?? "without a unit")")
                    }
                    let grams = Int((value * perUnit).rounded())
                    if isLow { guard low == nil else { throw refuse("\(rate) has two low weight bounds") }; low = grams }
                    else { guard high == nil else { throw refuse("\(rate) has two high weight bounds") }; high = grams }
                case ("TOTAL_PRICE", "MoneyV2"):
                    guard let amount = criteria.amount, criteria.currencyCode == currency.code else {
                        throw refuse("\(rate) has a price condition in \(criteria.currencyCode ?? "no currency"), not \(currency.code)")
                    }
                    let bound = try money(amount, currency, field: "\(rate) of zone \(zone.id)")
                    if isLow { guard minimum == nil else { throw refuse("\(rate) has two minimum subtotals") }; minimum = bound }
                    else { guard maximum == nil else { throw refuse("\(rate) has two maximum subtotals") }; maximum = bound }
                default:
                    throw refuse("\(rate) has a condition on \(condition.field) with a \(criteria.__typename) criterion")
                }
            }
            if fields.count > 1 { throw refuse("\(rate) has conditions on both weight and price") }
            if fields == ["TOTAL_WEIGHT"] {
                weightRates.append(.init(name: method.name, price: price, lowGrams: low ?? 0, highGrams: high))
            } else {
                priceRates.append(.init(name: method.name, price: price, minSubtotal: minimum, maxSubtotal: maximum))
            }
        }
        return ShopifyShippingZone(id: try Self.number(zone.id, "DeliveryZone"), name: zone.name, countries: countries,
                                   weightRates: weightRates, priceRates: priceRates, carrierRateProviders: carriers)
    }
}
