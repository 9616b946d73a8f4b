/// The four things a job can do. Each kind's parameter schema lives with its workflow.
public enum JobKind: String, CaseIterable, Sendable, Hashable, Codable {
    case repricingSweep = "repricing-sweep"
    case marketplaceSync = "marketplace-sync"
    case shippingArbitrage = "shipping-arbitrage"
    case readinessScan = "readiness-scan"
}

/// A marketplace FlipSync can act on.
public enum MarketplaceName: String, CaseIterable, Sendable, Hashable, Codable, Comparable {
    case ebay, amazon, shopify

    public static func < (a: MarketplaceName, b: MarketplaceName) -> Bool { a.rawValue < b.rawValue }
}

/// What a job does: one case per kind, carrying that kind's `[params]` as its schema validated
/// them. The kind is not stored beside it: `kind` reads it from the case, and a plan is built
/// from the case's parameters (`WorkflowPlans.plan(for:)`), so no plan casts them at run time.
public enum JobParameters: Sendable, Hashable {
    case repricingSweep(RepricingSweep.Parameters)
    case marketplaceSync(MarketplaceSync.Parameters)
    case shippingArbitrage(ShippingArbitrage.Parameters)
    case readinessScan(ReadinessScan.Parameters)

    /// The kind these parameters are of.
    public var kind: JobKind {
        switch self {
        case .repricingSweep: return .repricingSweep
        case .marketplaceSync: return .marketplaceSync
        case .shippingArbitrage: return .shippingArbitrage
        case .readinessScan: return .readinessScan
        }
    }

    /// The marketplaces these parameters act on.
    public var marketplaces: [Located<MarketplaceName>] {
        switch self {
        case .repricingSweep(let p): return p.marketplaces
        case .marketplaceSync(let p): return p.marketplaces
        case .shippingArbitrage(let p): return p.marketplaces
        case .readinessScan: return []
        }
    }

    /// Money amounts in the parameters, for the currency check against the config.
    var amounts: [Located<Money>] {
        switch self {
        case .repricingSweep(let p):
            var out = [p.changeThreshold]
            if case .amount(let m) = p.undercut.value { out.append(Located(value: m, line: p.undercut.line)) }
            if let shipping = p.shippingCost { out.append(Located(value: shipping, line: p.changeThreshold.line)) }
            return out
        case .shippingArbitrage(let p): return p.minSaving.map { [$0] } ?? []
        case .marketplaceSync, .readinessScan: return []
        }
    }

    static func read(kind: JobKind, from reader: inout TableReader) -> JobParameters? {
        switch kind {
        case .repricingSweep: return RepricingSweep.Parameters(reading: &reader).map(JobParameters.repricingSweep)
        case .marketplaceSync: return MarketplaceSync.Parameters(reading: &reader).map(JobParameters.marketplaceSync)
        case .shippingArbitrage: return ShippingArbitrage.Parameters(reading: &reader).map(JobParameters.shippingArbitrage)
        case .readinessScan: return ReadinessScan.Parameters(reading: &reader).map(JobParameters.readinessScan)
        }
    }
}

extension TableReader {
    /// `marketplaces = ["ebay", …]`: known names, no repeats, at least `minimum`.
    mutating func marketplaces(minimum: Int) -> [Located<MarketplaceName>]? {
        guard let list = strings("marketplaces", required: true) else { return nil }
        var out: [Located<MarketplaceName>] = []
        var ok = true
        for item in list.value {
            guard let name = MarketplaceName(rawValue: item.value) else {
                error(item.line, Suggestion.unknown("marketplace", item.value, options: MarketplaceName.allCases.map(\.rawValue)))
                ok = false
                continue
            }
            if out.contains(where: { $0.value == name }) {
                error(item.line, "marketplace \"\(name.rawValue)\" is listed twice")
                ok = false
            }
            out.append(Located(value: name, line: item.line))
        }
        guard ok else { return nil }
        guard out.count >= minimum else {
            error(list.line, "\"\(qualified("marketplaces"))\" needs at least \(minimum) marketplaces, found \(out.count)")
            return nil
        }
        return out
    }
}
