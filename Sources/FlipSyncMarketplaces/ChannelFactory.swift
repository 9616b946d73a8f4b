import FlipSyncCore
import Logging

/// Builds the `WorkflowServices` (the channel clients the config names, and what the workflows
/// need besides) once from the config, over one transport whose allow-list is exactly
/// the configured hosts, sharing one set of rate limiters and one spend recorder.
///
/// A channel whose credentials cannot be read is left out with the reason (in
/// `WorkflowServices.unavailable`), so the jobs that need it fail saying why, and the others run.
/// Likewise a rate-card file with a problem is journaled at its `file:line` and left out.
public enum ChannelFactory {
    /// Reads a credential by its name in the config (`ebay-client-secret`, …).
    public typealias SecretLookup = @Sendable (String) throws -> SecretText

    /// The hosts of every configured base URL and token URL: the transport calls nothing else —
    /// but for Amazon's feed documents: with an SP-API base URL of North America, the document
    /// store its presigned feed-document URLs name (`AmazonFeedDocumentHosts`); and, when Shopify
    /// is configured on a real store (an https `base_url` that is not loopback),
    /// `shopifyBulkFileURL`'s host: Shopify serves a bulk operation's result file from Google
    /// Cloud Storage, not from the shop. A sandbox serves feed documents and bulk files from its
    /// own host, already in the list.
    public static func allowList(_ config: FlipSyncConfig) -> HostAllowList {
        var urls = config.marketplaces.values.flatMap { [$0.baseURL] + ($0.tokenURL.map { [$0] } ?? []) }
        urls += config.carriers.values.map(\.baseURL) + config.llm.values.map(\.baseURL)
        if let amazon = config.marketplaces[.amazon] { urls += AmazonFeedDocumentHosts.urls(forBaseURL: amazon.baseURL) }
        if let shopify = config.marketplaces[.shopify], let parts = HTTPURLAuthority(shopify.baseURL),
           parts.scheme == "https", !LoopbackHost.isLoopback(host: parts.host) {
            urls.append(shopifyBulkFileURL)
        }
        return HostAllowList(baseURLs: urls)
    }

    /// Where Shopify's bulk operation result files are (signed Google Cloud Storage URLs).
    public static let shopifyBulkFileURL = "https://storage.googleapis.com"

    public static func services(config: FlipSyncConfig, secret: SecretLookup, transport: any HTTPTransport,
                                recorder: any SpendRecorder, rateLimiters: RateLimiters, clock: any SchedulerClock,
                                matchCache: (any MatchCache)? = nil, quota: (any QuotaLedger)? = nil,
                                offerMemory: (any OfferMemory)? = nil, logger: Logger) -> WorkflowServices {
        var services = WorkflowServices()
        let models = chatModels(config: config, secret: secret, transport: transport, recorder: recorder,
                                rateLimiters: rateLimiters, quota: quota, logger: logger)
        for (name, model) in models { services.llmProbes[name] = ChatProbe(model: model) }
        if let cache = matchCache, let primary = models.first?.model {
            services.matcher = CachedOfferMatcher(matcher: ProductMatcher(primary: primary, escalation: models.dropFirst().first?.model),
                                                  cache: cache, recorder: recorder, clock: clock)
        }
        for (name, m) in config.marketplaces.sorted(by: { $0.key < $1.key }) {
            services.fees[name] = MarketplaceFees(m)
            let callPrice = config.prices[name.rawValue]?["call"]
            do {
                func credential(_ role: String) throws -> SecretText {
                    guard let file = m.credentials[role] else {
                        throw ChannelSetupError("[marketplaces.\(name.rawValue)] credentials has no \"\(role)\"")
                    }
                    return try secret(file)
                }
                switch name {
                case .ebay:
                    let client = EbayClient(
                        configuration: EbayClientConfiguration(m, callPrice: callPrice),
                        credentials: EbayCredentials(clientID: try credential("client_id").reveal(),
                                                     clientSecret: try credential("client_secret"),
                                                     refreshToken: try credential("refresh_token")),
                        transport: transport, recorder: recorder, rateLimiters: rateLimiters, clock: clock, quota: quota, logger: logger)
                    // Offers are read one SKU at a time (eBay's getOffers needs the SKU): as many at once
                    // as the daemon's pool allows, within the marketplace's rate limit.
                    services.marketplaces[name] = EbayMarketplace(client: client, ourUsername: m.sellerID,
                                                                  offerReadsInFlight: min(64, config.poolSize),
                                                                  refreshTaskListings: m.refreshTaskListings ?? EbayMarketplace.defaultRefreshTaskListings,
                                                                  searchTaskGTINs: m.searchTaskGTINs ?? EbayMarketplace.defaultSearchTaskGTINs,
                                                                  offerMemory: offerMemory, clock: clock)
                case .amazon:
                    guard let sellerID = m.sellerID else { throw ChannelSetupError("[marketplaces.amazon] needs seller_id") }
                    let rate = AmazonRate(requestsPerSecond: Double(m.rateLimit.requests) * 1000 / Double(max(1, m.rateLimit.per.milliseconds)),
                                          burst: m.rateLimit.burst)
                    let configuration = AmazonClientConfiguration(
                        baseURL: m.baseURL, tokenURL: m.tokenURL ?? AmazonClientConfiguration.northAmericaTokenURL,
                        marketplaceID: m.marketplaceID ?? "ATVPDKIKX0DER", sellerID: sellerID,
                        callPrice: callPrice ?? .zero(config.currency), rates: AmazonClientConfiguration.uniformRates(rate))
                    let client = AmazonClient(
                        configuration: configuration,
                        credentials: AmazonCredentials(clientID: try credential("client_id").reveal(),
                                                       clientSecret: try credential("client_secret"),
                                                       refreshToken: try credential("refresh_token")),
                        transport: transport, recorder: recorder, rateLimiters: rateLimiters, clock: clock, quota: quota, logger: logger)
                    services.marketplaces[name] = AmazonMarketplace(client: client, clock: clock)
                case .shopify:
                    let client = ShopifyClient(configuration: ShopifyClientConfiguration(m, callPrice: callPrice),
                                               accessToken: try credential("access_token"), transport: transport,
                                               recorder: recorder, rateLimiters: rateLimiters, clock: clock, quota: quota, logger: logger)
                    let shopify = ShopifyMarketplace(client: client, logger: logger)
                    services.marketplaces[name] = shopify
                    services.costSources[name] = shopify
                }
            } catch {
                services.unavailable[name] = "\(error)"
                logger.error("marketplace \(name.rawValue) is unavailable: \(error)",
                             metadata: ["event": "marketplace-unavailable", "marketplace": "\(name.rawValue)"])
            }
        }
        services.currency = config.currency
        if let easypost = config.carriers["easypost"] {
            do {
                guard let name = easypost.credentials["api_key"] else {
                    throw ChannelSetupError("[carriers.easypost] credentials has no \"api_key\"")
                }
                let client = CarrierClient(
                    configuration: CarrierClientConfiguration(easypost, prices: config.prices["carrier"], currency: config.currency),
                    apiKey: try secret(name), transport: transport, recorder: recorder, rateLimiters: rateLimiters, quota: quota, logger: logger)
                services.rateShoppers["easypost"] = CarrierRateShopper(client: client)
                services.carrierProbes["easypost"] = CarrierQuoteProbe(client: client)
            } catch {
                logger.error("carrier easypost is unavailable: \(error)", metadata: ["event": "carrier-unavailable"])
            }
        }
        // Offline rate cards (`daemon.rate_cards`): a bad file is journaled at its line and left
        // out; the cards that load quote as the "rate-cards" source.
        let rateCards = RateCardSet.load(config)
        for diagnostic in rateCards.diagnostics {
            logger.error("\(diagnostic)", metadata: ["event": "rate-card-invalid", "file": "\(diagnostic.file)", "line": "\(diagnostic.line)"])
        }
        if !rateCards.cards.cards.isEmpty {
            services.rateShoppers["rate-cards"] = RateCardShopper(cards: rateCards.cards)
        }
        return services
    }
}

extension ChannelFactory {
    /// The configured chat models, in the order `llm_matching` asks them: `[llm.ollama]` first,
    /// `[llm.openai]` for escalation (either alone works). An LLM whose credentials cannot be
    /// read is left out, said in the journal.
    static func chatModels(config: FlipSyncConfig, secret: SecretLookup, transport: any HTTPTransport, recorder: any SpendRecorder,
                           rateLimiters: RateLimiters, quota: (any QuotaLedger)? = nil, logger: Logger) -> [(name: String, model: any ChatModel)] {
        var models: [(name: String, model: any ChatModel)] = []
        if let ollama = config.llm["ollama"] {
            models.append(("ollama", OllamaClient(configuration: .ollama(ollama, prices: config.prices["ollama"], currency: config.currency),
                                                  transport: transport, recorder: recorder, rateLimiters: rateLimiters, quota: quota, logger: logger)))
        }
        if let openai = config.llm["openai"] {
            do {
                guard let name = openai.credentials["api_key"] else { throw ChannelSetupError("[llm.openai] credentials has no \"api_key\"") }
                models.append(("openai", OpenAIChatClient(
                    configuration: OpenAIChatConfiguration(openai, prices: config.prices["openai"], currency: config.currency),
                    apiKey: try secret(name), transport: transport, recorder: recorder, rateLimiters: rateLimiters, quota: quota, logger: logger)))
            } catch {
                logger.error("LLM openai is unavailable: \(error)", metadata: ["event": "llm-unavailable"])
            }
        }
        return models
    }
}

/// A channel that could not be set up from the config.
struct ChannelSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ShopifyMarketplace: UnitCostSource {}
