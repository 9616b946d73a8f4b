@testable import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import Foundation
import Logging

/// What the sync's end-to-end tests need beside `WorkflowHarness`: the three channel clients
/// over real HTTP to the sandbox, the sync ledger on the harness's SQLite file, a job, and runs
/// through a real `RunCoordinator`.
struct SyncRig: Sendable {
    let harness: WorkflowHarness
    let ledger: SyncStore
    let marketplaces: [MarketplaceName: any Marketplace]
    let job: JobDefinition

    var state: SandboxState { harness.sandbox.state }

    init(_ harness: WorkflowHarness, params: String) throws {
        self.harness = harness
        ledger = try SyncStore(path: harness.directory + "/flipsync.sqlite")
        marketplaces = Self.marketplaces(for: harness.sandbox)
        job = try Self.job(params: params, directory: harness.directory)
    }

    /// eBay, Amazon and Shopify clients pointed at `sandbox`, with generous client-side rate limits.
    static func marketplaces(for sandbox: SandboxServer) -> [MarketplaceName: any Marketplace] {
        let clock = SystemSchedulerClock()
        let transport = URLSessionTransport(allowList: HostAllowList(["127.0.0.1:\(sandbox.port)"]))
        let recorder = InMemorySpendRecorder()
        let limiters = RateLimiters(clock: clock)
        let logger = WorkflowHarness.quietLogger
        let ebayCredentials = sandbox.state.credentials
        let ebay = EbayClient(
            configuration: EbayClientConfiguration(baseURL: sandbox.baseURL + "/ebay", requests: 1000, per: .seconds(1), burst: 1000,
                                                   timeout: .seconds(10)),
            credentials: EbayCredentials(clientID: ebayCredentials.clientID, clientSecret: SecretText(ebayCredentials.clientSecret),
                                         refreshToken: SecretText(ebayCredentials.refreshToken)),
            transport: transport, recorder: recorder, rateLimiters: limiters, clock: clock, logger: logger)
        let amazonCredentials = sandbox.state.amazonCredentials
        let amazon = AmazonClient(
            configuration: AmazonClientConfiguration(baseURL: sandbox.baseURL + "/amazon", tokenURL: sandbox.baseURL + "/amazon/auth/o2/token",
                                                     sellerID: SandboxState.amazonSellerID, timeout: .seconds(10),
                                                     rates: AmazonClientConfiguration.uniformRates(AmazonRate(requestsPerSecond: 1000, burst: 1000))),
            credentials: AmazonCredentials(clientID: amazonCredentials.clientID, clientSecret: SecretText(amazonCredentials.clientSecret),
                                           refreshToken: SecretText(amazonCredentials.refreshToken)),
            transport: transport, recorder: recorder, rateLimiters: limiters, clock: clock, logger: logger)
        let shopify = ShopifyClient(
            configuration: ShopifyClientConfiguration(baseURL: sandbox.baseURL + "/shopify", timeout: .seconds(10)),
            accessToken: SecretText(sandbox.state.shopifyAccessToken), transport: transport, recorder: recorder,
            rateLimiters: limiters, clock: clock, logger: logger)
        return [.ebay: EbayMarketplace(client: ebay), .amazon: AmazonMarketplace(client: amazon),
                .shopify: ShopifyMarketplace(client: shopify, logger: logger)]
    }

    static func job(params: String, directory: String) throws -> JobDefinition {
        let path = directory + "/marketplace-sync.toml"
        try """
            name = "sync"
            kind = "marketplace-sync"
            schedule = "*:0/10"
            timezone = "UTC"
            concurrency = 8
            [retry]
            attempts = 2
            backoff = "100ms"
            [params]
            marketplaces = ["ebay", "amazon", "shopify"]
            \(params)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let defaults = JobDefaults(timezone: .utc, currency: .usd, configuredMarketplaces: [.ebay, .amazon, .shopify],
                                   configFile: "config/flipsync.toml")
        let (catalog, diagnostics) = JobCatalog.load(paths: [path], defaults: defaults, now: SystemSchedulerClock().now())
        guard let job = catalog.jobs.first, diagnostics.isEmpty else { throw RigError.badJob("\(diagnostics)") }
        return job
    }

    enum RigError: Error { case badJob(String), noRun }

    /// Runs the sync once through a real coordinator (resuming `resumes` if given); the run and its status.
    @discardableResult
    func run(resumes: Int64? = nil, marketplaces override: [MarketplaceName: any Marketplace]? = nil,
             batchSize: Int? = 25) async throws -> (run: RunInfo, status: RunStatus) {
        let clock = SystemSchedulerClock()
        guard let run = try harness.store.recordFire(job: job.name, kind: job.kind.rawValue, trigger: .manual, requestedBy: 0,
                                                     scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                     at: clock.wallMilliseconds(), resumes: resumes) else { throw RigError.noRun }
        guard case .marketplaceSync(let parameters) = job.parameters else { throw RigError.badJob("not a marketplace-sync job") }
        let plan = MarketplaceSyncPlan(parameters: parameters, marketplaces: override ?? marketplaces, ledger: ledger, batchSize: batchSize)
        let coordinator = RunCoordinator(ledger: harness.store, pool: PermitPool(permits: 16), clock: clock, plan: { _ in plan },
                                         logger: WorkflowHarness.quietLogger)
        let status = await coordinator.execute(run: run, job: job)
        return (run, status)
    }

    /// SKUs listed on all three channels.
    var skusOnEveryChannel: [String] {
        state.listings.map(\.sku).filter { state.listedQuantities(sku: $0).count == 3 }
    }

    /// For each SKU we track, channels whose listed quantity is not on-hand − safety (floored at 0).
    func unconverged(safety: Int) throws -> [String: [MarketplaceName: Int]] {
        var out: [String: [MarketplaceName: Int]] = [:]
        for (sku, onHand) in try ledger.onHand() {
            let target = max(0, onHand - safety)
            let off = state.listedQuantities(sku: sku).filter { $0.value != target }
            if !off.isEmpty { out[sku] = off }
        }
        return out
    }
}
