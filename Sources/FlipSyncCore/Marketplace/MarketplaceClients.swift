/// The marketplace clients a plan may use, by name, and why each configured one that is missing
/// is missing: a plan's lookup into `WorkflowServices.marketplaces` and `.unavailable`.
struct MarketplaceClients: Sendable {
    let clients: [MarketplaceName: any Marketplace]
    let unavailable: [MarketplaceName: String]

    /// The client for `name`, or a permanent task failure saying why there is none.
    func client(_ name: String) throws -> any Marketplace {
        guard let marketplace = MarketplaceName(rawValue: name), let client = clients[marketplace] else {
            if let reason = MarketplaceName(rawValue: name).flatMap({ unavailable[$0] }) {
                throw TaskFailure.permanent("marketplace \(name) is unavailable: \(reason)")
            }
            throw TaskFailure.permanent("marketplace \(name) is not configured (no [marketplaces.\(name)] in the config)")
        }
        return client
    }
}
