import FlipSyncCore

/// The `[marketplaces.*]` tables of a config that points the eBay, Amazon and Shopify clients at a
/// sandbox (`SandboxServer`, `flipsync-sandbox`) at `baseURL`: its `/ebay`, `/amazon` and
/// `/shopify` routes, the credential names its `developmentCredentials(for:)` answers, its Amazon
/// seller, and config/flipsync.toml's fees. Only which channels and their rates vary; whatever else
/// a test needs (`[daemon]`, prices, carriers, LLMs) it writes around this text.
public enum SandboxConfigText {
    /// A channel's `rate_limit` (`"50/s"`, `"1/2s"`, …) and `burst`.
    public struct Rate: Sendable, Hashable {
        public var limit: String
        public var burst: Int

        public init(_ limit: String, burst: Int) {
            self.limit = limit
            self.burst = burst
        }

        /// 1000/s with a burst of 1000: more than a test's calls need.
        public static let generous = Rate("1000/s", burst: 1000)
    }

    /// One table for each marketplace in `rates`, at its rate, in `MarketplaceName.allCases`
    /// order, separated by blank lines; the text ends with a newline. By default all three, `generous`.
    public static func marketplaces(baseURL: String,
                                    rates: [MarketplaceName: Rate] = [.ebay: .generous, .amazon: .generous, .shopify: .generous]) -> String {
        MarketplaceName.allCases.compactMap { name in rates[name].map { table(name, baseURL: baseURL, rate: $0) } }
            .joined(separator: "\n")
    }

    private static func table(_ name: MarketplaceName, baseURL: String, rate: Rate) -> String {
        switch name {
        case .ebay:
            """
            [marketplaces.ebay]
            base_url = "\(baseURL)/ebay"
            credentials = { client_id = "ebay-client-id", client_secret = "ebay-client-secret", refresh_token = "ebay-refresh-token" }
            rate_limit = "\(rate.limit)"
            burst = \(rate.burst)
            fee_percent = "13.25%"
            fee_fixed = "0.30 USD"

            """
        case .amazon:
            // The seller id is the sandbox's own (`SandboxState.amazonSellerID`).
            """
            [marketplaces.amazon]
            base_url = "\(baseURL)/amazon"
            token_url = "\(baseURL)/amazon/auth/o2/token"
            seller_id = "A1SANDBOXSELLER"
            credentials = { client_id = "amazon-lwa-client-id", client_secret = "amazon-lwa-client-secret", refresh_token = "amazon-refresh-token" }
            rate_limit = "\(rate.limit)"
            burst = \(rate.burst)
            fee_percent = "15%"

            """
        case .shopify:
            """
            [marketplaces.shopify]
            base_url = "\(baseURL)/shopify"
            credentials = { access_token = "shopify-access-token" }
            rate_limit = "\(rate.limit)"
            burst = \(rate.burst)
            fee_percent = "2.9%"
            fee_fixed = "0.30 USD"

            """
        }
    }
}
