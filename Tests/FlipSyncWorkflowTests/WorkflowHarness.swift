import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Logging

/// A sandbox on an ephemeral loopback port and a fresh SQLite ledger in a temporary directory,
/// for workflows run end to end. Always stopped and removed afterwards.
struct WorkflowHarness: Sendable {
    let sandbox: SandboxServer
    let store: RunStore
    let directory: String

    static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// `clock`: the sandbox's (feed processing, token lifetimes); pass the world's to make them meet.
    static func with<T: Sendable>(listings: Int = 40, seed: UInt64 = 11, clock: any SchedulerClock = SystemSchedulerClock(),
                                  _ body: @Sendable (WorkflowHarness) async throws -> T) async throws -> T {
        let directory = NSTemporaryDirectory() + "flipsync-workflow-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: seed, listings: listings), clock: clock,
                                                    logger: quietLogger)
        do {
            let store = try RunStore(path: directory + "/flipsync.sqlite")
            let result = try await body(WorkflowHarness(sandbox: sandbox, store: store, directory: directory))
            await sandbox.stop()
            return result
        } catch {
            await sandbox.stop()
            throw error
        }
    }
}

/// The daemon's world over the harness's sandbox: a real config file and job files, loaded as
/// the daemon loads them, channels built by `ChannelFactory` with the sandbox's development
/// credentials, and a `RunCoordinator` over the harness's SQLite ledger.
struct WorkflowWorld: Sendable {
    let harness: WorkflowHarness
    let config: FlipSyncConfig
    let catalog: JobCatalog
    let services: WorkflowServices
    /// The real spend ledger (the harness's SQLite), with the config's and the jobs' budgets.
    let spend: SpendLedger
    let clock: any SchedulerClock

    /// The config: every marketplace on the sandbox with generous rate limits (Amazon's `amazonRate`).
    static func configText(baseURL: String, amazonRate: String = "1000/s") -> String {
        """
        [daemon]
        database = "flipsync.sqlite"
        jobs_directory = "jobs"
        timezone = "America/New_York"
        currency = "USD"

        \(SandboxConfigText.marketplaces(baseURL: baseURL, rates: [.ebay: .generous, .amazon: .init(amazonRate, burst: 1000), .shopify: .generous]))
        """
    }

    /// The sandbox's LLMs and their prices, for `llm_matching`.
    static func llmConfigText(baseURL: String) -> String {
        """

        [llm.ollama]
        base_url = "\(baseURL)/ollama"
        model = "llama3.2:3b"
        rate_limit = "1000/s"

        [llm.openai]
        base_url = "\(baseURL)/openai"
        model = "gpt-4o-mini"
        credentials = { api_key = "openai-api-key" }
        rate_limit = "1000/s"

        [prices.openai]
        input_tokens_per_million = "0.15 USD"
        cached_input_tokens_per_million = "0.075 USD"
        output_tokens_per_million = "0.60 USD"
        """
    }

    /// Writes the config (plus `extraConfig`) and `jobs` (file name without `.toml` → text),
    /// loads them and builds the channels.
    static func load(_ harness: WorkflowHarness, jobs: [String: String], extraConfig: String = "",
                     clock: any SchedulerClock = SystemSchedulerClock(), amazonRate: String = "1000/s",
                     offerMemory: Bool = false, ebaySearchTaskGTINs: Int? = nil) throws -> WorkflowWorld {
        let jobsDirectory = harness.directory + "/jobs"
        try FileManager.default.createDirectory(atPath: jobsDirectory, withIntermediateDirectories: true)
        for (name, text) in jobs { try text.write(toFile: "\(jobsDirectory)/\(name).toml", atomically: true, encoding: .utf8) }
        let configPath = harness.directory + "/flipsync.toml"
        try (configText(baseURL: harness.sandbox.baseURL, amazonRate: amazonRate) + extraConfig).write(toFile: configPath, atomically: true, encoding: .utf8)
        let loaded = DaemonSetup(configPath: configPath, environment: .current).load(now: clock.now())
        guard loaded.errors.isEmpty else { throw LoadError(diagnostics: loaded.errors.map(\.description)) }
        var config = loaded.config
        if let ebaySearchTaskGTINs { config.marketplaces[.ebay]?.searchTaskGTINs = ebaySearchTaskGTINs }
        let values = harness.sandbox.developmentCredentials(for: config)
        let spend = try SpendLedger(store: harness.store, budgets: SpendBudgets(config: config, jobs: loaded.catalog.jobs),
                                    clock: clock)
        let services = ChannelFactory.services(
            config: config,
            secret: { name in
                guard let value = values[name] else { throw LoadError(diagnostics: ["no development value for \(name)"]) }
                return SecretText(value)
            },
            transport: URLSessionTransport(allowList: ChannelFactory.allowList(config)), recorder: spend,
            rateLimiters: RateLimiters(clock: clock), clock: clock, matchCache: harness.store,
            offerMemory: offerMemory ? harness.store : nil, logger: WorkflowHarness.quietLogger)
        return WorkflowWorld(harness: harness, config: config, catalog: loaded.catalog, services: services, spend: spend, clock: clock)
    }

    struct LoadError: Error, CustomStringConvertible {
        var diagnostics: [String]
        var description: String { diagnostics.joined(separator: "\n") }
    }

    func coordinator(plan: @escaping @Sendable (JobDefinition) -> any WorkflowPlan) -> RunCoordinator {
        let spend = self.spend
        return RunCoordinator(ledger: harness.store, pool: PermitPool(permits: 64), clock: clock, plan: plan,
                              logger: WorkflowHarness.quietLogger, runSpend: { (try? spend.spent(runID: $0).micros) ?? 0 })
    }

    var plans: WorkflowPlans {
        WorkflowPlans(ledger: harness.store, probe: harness.store, repricing: harness.store, sync: SyncStore(store: harness.store),
                      shipping: harness.store, spend: SpendEvidence(store: harness.store, spend: spend), services: services, clock: clock)
    }

    /// Records a manual run of `job` (resuming `resumes` if given) and executes it with the daemon's plans.
    func run(_ job: String, resumes: Int64? = nil, coordinator: RunCoordinator? = nil) async throws -> (run: RunInfo, status: RunStatus) {
        guard let definition = catalog[job] else { throw LoadError(diagnostics: ["no job \(job)"]) }
        let plans = self.plans
        let coordinator = coordinator ?? self.coordinator(plan: { plans.plan(for: $0) })
        guard let run = try harness.store.recordFire(job: job, kind: definition.kind.rawValue, trigger: .manual, requestedBy: nil,
                                                     scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                     at: clock.wallMilliseconds(), resumes: resumes) else {
            throw LoadError(diagnostics: ["run not recorded"])
        }
        let status = await coordinator.execute(run: run, job: definition)
        return (try harness.store.run(id: run.id) ?? run, status)
    }
}
