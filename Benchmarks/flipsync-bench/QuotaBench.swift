import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncRuntime
import FlipSyncSandbox
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Logging
import Synchronization

/// Issue 13, "What must show": a 20,000-listing catalog on eBay, Amazon and Shopify against the
/// in-process sandbox with production limits (`SandboxLimits.production`), on a virtual clock
/// that FlipSync and the sandbox share, so a night of token buckets and daily quotas runs in
/// seconds. Side by side, on a fresh sandbox each (same seed, so the same catalog):
///
/// - the planner path: the daemon's own `Runtime` (config and jobs loaded as the daemon loads
///   them, quota ledger, request pipeline, channels) and its `RunCoordinator` running the
///   `repricing-sweep` (eBay, Amazon) and the `marketplace-sync` (Shopify's prices and stock);
///   whatever the planners do when this runs is what is measured;
/// - the naive path, built here from the same clients' single-item calls: eBay one Browse
///   search per listing, Amazon one `getItemOffers` per ASIN, Shopify one `productVariant`
///   read per variant (then the same writes as the sync).
///
/// Counts come from the sandbox (requests by route, 429s its limits answered, Shopify queries
/// answered THROTTLED) and from FlipSync's quota ledger; virtual times from the shared clock.
enum QuotaBench {
    /// 2026-06-10 01:00 PDT: each night starts one hour after eBay's quotas reset.
    static let startWall: Int64 = 1_781_078_400_000
    static let maxNights = 8
    /// The share of listings that are another listing of a product already listed (same GTIN).
    static let sharedGTINPercent = 25
    /// `[quotas] reserve = { marketplace-sync = "20%" }`.
    static let syncReservePercent = 20
    static let ebayBrowseLimit = 5_000
    /// What a sweep may use of eBay's Browse quota a day: the limit less the sync's reserve.
    static var sweepBrowseCeiling: Int { ebayBrowseLimit - (ebayBrowseLimit * syncReservePercent + 99) / 100 }
    static let concurrency = 16

    /// The parts, each on fresh sandboxes of its own: `--quota-part` picks some (all by default).
    static let parts = ["ebay-capped", "ebay-uncapped", "ebay-naive", "amazon", "amazon-naive", "shopify", "shopify-naive"]

    static func run(quick: Bool, listings: Int?, nights: Int?, parts selected: [String], sweepTimeout: String = "12h",
                    table: ResultTable) async throws {
        let selected = selected.isEmpty ? parts : selected
        let count = listings ?? (quick ? 2_000 : 20_000)
        let nightCap = nights ?? maxNights
        let label = "\(formatCount(Double(count))) listings"
        let catalog = SeededCatalog(seed: 1, listings: count, sharedGTINPercent: sharedGTINPercent)
        let gtins = Set(catalog.listings.map(\.gtin)).count
        let pairs = Set(catalog.listings.map { "\($0.gtin)|\($0.condition.inventoryEnum)" }).count
        let inStockGTINs = Set(catalog.listings.filter { $0.quantity > 0 }.map(\.gtin)).count
        table.notes.append("quota: a \(label) catalog (seed 1, \(sharedGTINPercent)% of listings another listing of a product already listed): "
                           + "\(formatCount(Double(gtins))) distinct GTINs (\(formatCount(Double(inStockGTINs))) with a listing in stock: the searches a full sweep makes, "
                           + "one per GTIN whatever the conditions), \(formatCount(Double(pairs))) distinct GTIN-and-condition pairs; every product on eBay, Amazon and Shopify; sandbox limits `production`; "
                           + "one virtual clock for FlipSync and the sandbox (a sleep advances it once no request is in flight); "
                           + "config as production.example.toml (eBay 5/s burst 10, Amazon 1/2s burst 1 then x-amzn-RateLimit-Limit) "
                           + "but Shopify rate_limit 50/s so that Shopify's cost bucket, not our own limit, is what binds; "
                           + "[quotas] reserve marketplace-sync \(syncReservePercent)%; jobs: concurrency \(concurrency), timeout \(sweepTimeout) (sweeps), 12h (sync)")
        try await ebay(count: count, gtins: gtins, nightCap: nightCap, parts: selected, sweepTimeout: sweepTimeout, table: table)
        if selected.contains("amazon") || selected.contains("amazon-naive") {
            try await amazon(count: count, planner: selected.contains("amazon"), naive: selected.contains("amazon-naive"), table: table)
        }
        if selected.contains("shopify") || selected.contains("shopify-naive") {
            try await shopify(count: count, planner: selected.contains("shopify"), naive: selected.contains("shopify-naive"), table: table)
        }
    }

    // MARK: eBay

    static func ebay(count: Int, gtins: Int, nightCap: Int, parts: [String], sweepTimeout: String = "12h", table: ResultTable) async throws {
        let goalNights = (gtins + sweepBrowseCeiling - 1) / sweepBrowseCeiling
        let bench = "Q ebay"
        // The planner, as README tells a large catalog to run today (max_listings_per_run at the
        // Browse calls the sweep may make a day), then with no cap (the sweep left to size itself).
        for cap in [sweepBrowseCeiling, nil] as [Int?] where parts.contains(cap == nil ? "ebay-uncapped" : "ebay-capped") {
            let name = cap.map { "planner, max_listings_per_run = \($0)" } ?? "planner, no max_listings_per_run"
            log("  eBay \(name)")
            let world = try await QuotaWorld(listings: count, sweepCap: cap, sweepTimeout: sweepTimeout)
            var nightsNeeded: Int?
            var first: (calls: Int, decide: Int64, run: Int64, status: RunStatus)?
            var maxUsed: Int64 = 0
            var perNight: [String] = []
            var lastCovered = -1
            for night in 1...nightCap {
                let before = world.sandbox.state.requestCounts
                let started = world.clock.monotonicMilliseconds()
                let (run, status) = try await world.run("sweep-ebay")
                let elapsed = world.clock.monotonicMilliseconds() - started
                let searches = (world.sandbox.state.requestCounts["search"] ?? 0) - (before["search"] ?? 0)
                let offerReads = (world.sandbox.state.requestCounts["offers"] ?? 0) - (before["offers"] ?? 0)
                let used = world.runtime.ledger.quota.usage().first { $0.key == QuotaKey(provider: "ebay", api: "browse") }?.used ?? 0
                maxUsed = max(maxUsed, used)
                let covered = try world.runtime.sqlite!.store.coverage(marketplace: .ebay).count
                if first == nil { first = (searches, try world.waveSpan(runID: run.id, agent: "decide"), elapsed, status) }
                perNight.append("night \(night): \(status.rawValue), \(searches) searches, \(offerReads) getOffers, \(covered)/\(count) checked, \(format(Double(elapsed) / 60_000, digits: 0)) min")
                log("    " + perNight.last!)
                if covered >= count { nightsNeeded = night; break }
                // A night that checked nothing new will be followed by the same night again.
                if covered == lastCovered {
                    perNight.append("stalled: night \(night) checked no listing not checked before")
                    break
                }
                lastCovered = covered
                world.nextNight(night)
            }
            let violations = world.sandbox.state.limitRefusals.filter { $0.key.rawValue == "search" }.values.reduce(0) { $0 + $1.total }
            let all429 = world.sandbox.state.limitRefusals.values.reduce(0) { $0 + $1.total }
            await world.stop()
            let f = first!
            table.add(ResultRow(benchmark: bench, metric: "\(name): Browse calls per listing, night 1",
                                value: format(Double(f.calls) / Double(count), digits: 3),
                                reference: "naive 1.000", goal: "one search per distinct GTIN"))
            table.add(ResultRow(benchmark: bench, metric: "\(name): night 1 virtual time (whole sweep / decide wave)",
                                value: "\(format(Double(f.run) / 60_000, digits: 1)) / \(format(Double(f.decide) / 60_000, digits: 1)) min",
                                reference: "job timeout of jobs/nightly-repricing.toml: 45 min", goal: "within the job's timeout",
                                verdict: f.run <= 45 * 60_000 ? "meets" : "short"))
            table.add(ResultRow(benchmark: bench, metric: "\(name): most of eBay's Browse quota used in a night",
                                value: "\(maxUsed) of \(ebayBrowseLimit) (\(format(Double(maxUsed) * 100 / Double(ebayBrowseLimit), digits: 0))%)",
                                reference: "sweep ceiling \(sweepBrowseCeiling) (sync's reserve \(syncReservePercent)% kept)",
                                goal: "≤ \(sweepBrowseCeiling)", verdict: maxUsed <= Int64(sweepBrowseCeiling) ? "meets" : "short"))
            table.add(ResultRow(benchmark: bench, metric: "\(name): quota-violation 429s (sandbox; all routes \(all429))",
                                value: "\(violations)", goal: "0", verdict: violations == 0 && all429 == 0 ? "meets" : "short"))
            table.add(ResultRow(benchmark: bench, metric: "\(name): nights until every listing checked once",
                                value: nightsNeeded.map { "\($0)" } ?? (perNight.last?.hasPrefix("stalled") == true ? "never (stalled)" : "not within \(nightCap)"),
                                reference: "⌈\(formatCount(Double(gtins))) GTINs ÷ \(sweepBrowseCeiling)⌉ = \(goalNights)",
                                goal: "≤ \(goalNights)", verdict: (nightsNeeded ?? .max) <= goalNights ? "meets" : "short"))
            table.notes.append("ebay \(name): " + perNight.joined(separator: "; "))
        }

        // Naive: one Browse search per listing, as many a night as the quota lets a call
        // outside the sync (limit − reserve), night after night until every listing was read.
        guard parts.contains("ebay-naive") else { return }
        log("  eBay naive: one Browse search per listing")
        let world = try await QuotaWorld(listings: count, sweepCap: nil)
        let marketplace = try world.marketplace(.ebay)
        let listings = try await world.clock.measure { try await marketplace.activeListings() }.value
        var remaining = listings[...]
        var nights: Int?
        var firstNight: (calls: Int, read: Int)?
        var maxUsed: Int64 = 0
        for night in 1...nightCap {
            let before = world.sandbox.state.requestCounts["search"] ?? 0
            let (read, elapsed) = try await world.clock.measure {
                try await forEachConcurrently(Array(remaining), limit: concurrency) { listing in
                    do {
                        _ = try await marketplace.competitions(for: [listing], titleMatches: false)
                        return true
                    } catch let error as MarketplaceError {
                        if case .quotaExhausted = error { return false }
                        throw error
                    }
                }
            }
            let done = Set(zip(Array(remaining), read).filter { $0.1 }.map { $0.0.sku })
            remaining = remaining.filter { !done.contains($0.sku) }[...]
            let calls = (world.sandbox.state.requestCounts["search"] ?? 0) - before
            maxUsed = max(maxUsed, world.runtime.ledger.quota.usage().first { $0.key == QuotaKey(provider: "ebay", api: "browse") }?.used ?? 0)
            if firstNight == nil { firstNight = (calls, done.count) }
            _ = elapsed
            log("    night \(night): \(calls) searches, \(listings.count - remaining.count)/\(listings.count) read")
            if remaining.isEmpty { nights = night; break }
            world.nextNight(night)
        }
        let violations = world.sandbox.state.limitRefusals.values.reduce(0) { $0 + $1.total }
        await world.stop()
        table.add(ResultRow(benchmark: bench, metric: "naive (a Browse search per listing): calls per listing",
                            value: format(Double(firstNight!.calls) / Double(max(1, firstNight!.read)), digits: 3),
                            reference: "most quota used in a night \(maxUsed) of \(ebayBrowseLimit)"))
        table.add(ResultRow(benchmark: bench, metric: "naive: nights until every listing read once (quota-violation 429s \(violations))",
                            value: nights.map { "\($0)" } ?? "not within \(nightCap)",
                            reference: "⌈\(formatCount(Double(count))) listings ÷ \(sweepBrowseCeiling)⌉ = \((count + sweepBrowseCeiling - 1) / sweepBrowseCeiling)",
                            goal: "≤ \(goalNights)", verdict: (nights ?? .max) <= goalNights ? "meets" : "short"))
    }

    // MARK: Amazon

    static func amazon(count: Int, planner: Bool, naive runNaive: Bool, table: ResultTable) async throws {
        let bench = "Q amazon"
        let bound = Double(count) / 20 / 0.5
        var decide: Int64 = 0
        if planner {
        log("  Amazon planner: the sweep's getListingOffersBatch")
        let world = try await QuotaWorld(listings: count, sweepCap: nil)
        let started = world.clock.monotonicMilliseconds()
        let (run, status) = try await world.run("sweep-amazon")
        let elapsed = world.clock.monotonicMilliseconds() - started
        decide = try world.waveSpan(runID: run.id, agent: "decide")
        let counts = world.sandbox.state.requestCounts
        let batches = counts[SandboxRoute.amazonListingOffersBatch.rawValue] ?? 0
        let refusals = world.sandbox.state.limitRefusals
        let violations = refusals.values.reduce(0) { $0 + $1.total }
        let checked = try world.runtime.sqlite!.store.coverage(marketplace: .amazon).count
        await world.stop()
        table.add(ResultRow(benchmark: bench, metric: "planner (getListingOffersBatch): calls per listing",
                            value: format(Double(batches) / Double(count), digits: 3), reference: "naive 1.000; \(batches) calls",
                            goal: "⌈\(count) ÷ 20⌉ = \((count + 19) / 20) calls", verdict: batches <= (count + 19) / 20 ? "meets" : "short"))
        table.add(ResultRow(benchmark: bench, metric: "planner: virtual time to read all competition (decide wave); whole sweep",
                            value: "\(format(Double(decide) / 1000, digits: 0)) s; \(format(Double(elapsed) / 60_000, digits: 1)) min",
                            reference: "bound \(formatCount(Double(count))) ÷ 20 ÷ 0.5/s = \(format(bound, digits: 0)) s",
                            ratio: format(Double(decide) / 1000 / bound, digits: 2) + "× the bound",
                            goal: "≤ 35 min (2,100 s)", verdict: decide <= 35 * 60_000 ? "meets" : "short"))
        table.add(ResultRow(benchmark: bench, metric: "planner: share of getListingOffersBatch's rate used over the decide wave",
                            value: "\(format(Double(batches) * 100 / max(1, Double(decide) / 1000 * 0.5 + 1), digits: 0))%",
                            reference: "\(batches) calls in \(format(Double(decide) / 1000, digits: 0)) s at 0.5/s, burst 1"))
        table.add(ResultRow(benchmark: bench, metric: "planner: quota-violation 429s (sandbox)",
                            value: "\(violations)", reference: "run \(status.rawValue), \(checked)/\(count) checked",
                            goal: "0", verdict: violations == 0 ? "meets" : "short"))
        table.notes.append("amazon planner: requests \(counts.filter { $0.key.hasPrefix("amazon.") }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); 429s by row \(refusals.map { "\($0.key.rawValue) \($0.value.total)" }.joined(separator: ", ")); run summary: \(run.summary ?? run.error ?? "")")

        }
        guard runNaive else { return }
        log("  Amazon naive: getItemOffers per ASIN")
        let naive = try await QuotaWorld(listings: count, sweepCap: nil)
        let marketplace = try naive.marketplace(.amazon)
        let listings = try await marketplace.activeListings()
        let clock = naive.clock
        let (_, time) = try await naive.clock.measure {
            try await forEachConcurrently(listings, limit: concurrency) { listing in
                // A 429 is waited out (its Retry-After, else 2 s) and the call made again, as the
                // coordinator's retry would; the sandbox counts it.
                while true {
                    do {
                        _ = try await marketplace.competition(for: listing)
                        return true
                    } catch MarketplaceError.rateLimited(let retryAfter) {
                        try await clock.sleep(milliseconds: retryAfter?.milliseconds ?? 2_000)
                    }
                }
            }
        }
        let offers = naive.sandbox.state.requestCounts[SandboxRoute.amazonOffers.rawValue] ?? 0
        let naiveViolations = naive.sandbox.state.limitRefusals.values.reduce(0) { $0 + $1.total }
        await naive.stop()
        table.add(ResultRow(benchmark: bench, metric: "naive (getItemOffers per ASIN): calls per listing; 429s \(naiveViolations)",
                            value: format(Double(offers) / Double(listings.count), digits: 3)))
        table.add(ResultRow(benchmark: bench, metric: "naive: virtual time to read all competition",
                            value: "\(format(Double(time) / 1000, digits: 0)) s (\(format(Double(time) / 3_600_000, digits: 1)) h)",
                            reference: decide > 0 ? "planner \(format(Double(decide) / 1000, digits: 0)) s" : "bound \(formatCount(Double(listings.count))) × 2 s",
                            ratio: decide > 0 ? format(Double(time) / Double(decide), digits: 1) + "× the planner's" : "", goal: "≤ 2,100 s",
                            verdict: time <= 35 * 60_000 ? "meets" : "short"))
    }

    // MARK: Shopify

    static func shopify(count: Int, planner: Bool, naive runNaive: Bool, table: ResultTable) async throws {
        let bench = "Q shopify"
        var push: Int64 = 0
        if planner {
        log("  Shopify planner: marketplace-sync (Amazon's prices and stock onto Shopify)")
        let world = try await QuotaWorld(listings: count, sweepCap: nil)
        let targets = world.shopifyTargets()
        let started = world.clock.monotonicMilliseconds()
        let (run, status) = try await world.run("sync-shopify")
        let elapsed = world.clock.monotonicMilliseconds() - started
        push = try world.taskSpan(runID: run.id, key: "push:shopify")
        let counts = world.sandbox.state.requestCounts.filter { $0.key.hasPrefix("shopify.") }
        let calls = counts.values.reduce(0, +)
        let reads = counts.filter { !["shopify.productVariantsBulkUpdate", "shopify.inventorySetQuantities"].contains($0.key) }.values.reduce(0, +)
        let throttled = world.sandbox.state.shopifyThrottledCount
        let points = world.runtime.ledger.quota.usage().first { $0.key == QuotaKey(provider: "shopify", api: "graphql") }?.used ?? 0
        let converged = world.shopifyConverged(targets)
        let failed = try world.runtime.sqlite!.store.tasks(runID: run.id).filter { $0.status != .succeeded }
            .map { "\($0.key) \($0.status.rawValue) after \($0.attempts) attempts: \($0.error ?? "")" }
        await world.stop()
        if !failed.isEmpty { table.notes.append("shopify planner: tasks not succeeded: " + failed.joined(separator: "; ")) }
        let restored = 2_000 + 100 * Double(elapsed) / 1000
        table.add(ResultRow(benchmark: bench, metric: "planner (sync): calls per variant, reads / all (\(targets.changes) changes to \(formatCount(Double(count))) variants)",
                            value: "\(format(Double(reads) / Double(count), digits: 4)) / \(format(Double(calls) / Double(count), digits: 3))",
                            reference: "naive reads 1.000", goal: "reads ≪ 1 (bulk operation)"))
        table.add(ResultRow(benchmark: bench, metric: "planner: virtual time, Shopify push task / whole sync",
                            value: "\(format(Double(push) / 60_000, digits: 1)) / \(format(Double(elapsed) / 60_000, digits: 1)) min",
                            reference: "cost points used \(points): \(format(Double(points) * 100 / restored, digits: 0))% of what the bucket gave (2,000 + 100/s)"))
        table.add(ResultRow(benchmark: bench, metric: "planner: THROTTLED answers (sandbox); 429s \(world.sandbox.state.limitRefusals.values.reduce(0) { $0 + $1.total })",
                            value: "\(throttled)", reference: "run \(status.rawValue); \(converged) of \(targets.changes) changes live",
                            goal: "0", verdict: throttled == 0 ? "meets" : "short"))
        table.notes.append("shopify planner: requests \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); run summary: \(run.summary ?? run.error ?? "")")

        }
        guard runNaive else { return }
        log("  Shopify naive: a productVariant read per variant, then the same writes")
        let naive = try await QuotaWorld(listings: count, sweepCap: nil)
        let shopify = try naive.marketplace(.shopify) as! ShopifyMarketplace
        let client = shopify.client
        let wanted = naive.shopifyTargets()
        let ids = naive.sandbox.state.channelListings(.shopify).compactMap { Int64($0.listingID) }
        let (_, time) = try await naive.clock.measure {
            try await forEachConcurrently(ids, limit: concurrency) { id in
                guard let variant = try await client.variant(id: id), let sku = variant.sku, let target = wanted.bySKU[sku] else { return true }
                if target.price != variant.price {
                    _ = try await client.updatePrices(productID: variant.productID, [(id, target.price)])
                }
                if let item = variant.inventoryItemID, let available = variant.available, available != target.quantity {
                    _ = try await client.setInventory(inventoryItemID: item, available: target.quantity, compareQuantity: available)
                }
                return true
            }
        }
        let naiveCounts = naive.sandbox.state.requestCounts.filter { $0.key.hasPrefix("shopify.") }
        let naiveThrottled = naive.sandbox.state.shopifyThrottledCount
        let naivePoints = naive.runtime.ledger.quota.usage().first { $0.key == QuotaKey(provider: "shopify", api: "graphql") }?.used ?? 0
        await naive.stop()
        table.add(ResultRow(benchmark: bench, metric: "naive: calls per variant, reads / all; THROTTLED \(naiveThrottled)",
                            value: "\(format(Double(naiveCounts["shopify.productVariant"] ?? 0) / Double(count), digits: 3)) / \(format(Double(naiveCounts.values.reduce(0, +)) / Double(count), digits: 3))",
                            reference: "cost points \(naivePoints)"))
        table.add(ResultRow(benchmark: bench, metric: "naive: virtual time for prices and stock of every variant",
                            value: "\(format(Double(time) / 60_000, digits: 1)) min", reference: "planner's push \(format(Double(push) / 60_000, digits: 1)) min",
                            ratio: format(Double(time) / Double(max(push, 1)), digits: 2) + "× the planner's"))
    }

    // MARK: Running things concurrently

    /// `body` over `items`, at most `limit` at once; the results in the items' order.
    static func forEachConcurrently<T: Sendable>(_ items: [T], limit: Int,
                                                 _ body: @escaping @Sendable (T) async throws -> Bool) async throws -> [Bool] {
        try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            var results = [Bool](repeating: false, count: items.count)
            var next = 0
            func start() {
                guard next < items.count else { return }
                let index = next, item = items[index]
                next += 1
                group.addTask { (index, try await body(item)) }
            }
            for _ in 0..<limit { start() }
            while let (index, ok) = try await group.next() {
                results[index] = ok
                start()
            }
            return results
        }
    }
}

// MARK: - The world of one measurement

/// One fresh sandbox (production limits, the bench's catalog) and the daemon's runtime over it,
/// on one `JumpClock`, in a scratch directory.
final class QuotaWorld: @unchecked Sendable {
    let clock: JumpClock
    let sandbox: SandboxServer
    let runtime: Runtime
    let catalog: JobCatalog
    let coordinator: RunCoordinator
    let scratch: ScratchDirectory

    init(listings: Int, sweepCap: Int?, sweepTimeout: String = "12h") async throws {
        clock = JumpClock(wallMilliseconds: QuotaBench.startWall)
        scratch = try ScratchDirectory("quota")
        var quiet = Logger(label: "flipsync-bench.sandbox")
        quiet.logLevel = .critical
        var configuration = SandboxConfiguration(port: 0, seed: 1, listings: listings)
        configuration.limits = .production
        configuration.sharedGTINPercent = QuotaBench.sharedGTINPercent
        configuration.amazonTenths = 10
        sandbox = try await SandboxServer.start(configuration, clock: clock, logger: quiet)
        let base = sandbox.baseURL
        try FileManager.default.createDirectory(atPath: scratch.file("jobs"), withIntermediateDirectories: true)
        let channels = SandboxConfigText.marketplaces(baseURL: base, rates: [
            .ebay: .init("5/s", burst: 10), .amazon: .init("1/2s", burst: 1), .shopify: .init("50/s", burst: 50),
        ])
        try scratch.write("flipsync.toml", """
            [daemon]
            database = "\(scratch.file("flipsync.sqlite"))"
            jobs_directory = "\(scratch.file("jobs"))"
            timezone = "America/Los_Angeles"
            currency = "USD"
            pool_size = 64

            \(channels)
            [quotas]
            reserve = { marketplace-sync = "\(QuotaBench.syncReservePercent)%" }
            """)
        let sweepParams = """
            shipping_cost = "4.50 USD"
            strategy = "beat-lowest"
            undercut = "1%"
            min_margin = "15%"
            max_change = "10%"
            rounding = ".99"
            """
        func sweep(_ marketplace: String, cap: Int?) -> String {
            """
            name = "sweep-\(marketplace)"
            kind = "repricing-sweep"
            schedule = "daily"
            timeout = "\(sweepTimeout)"
            concurrency = \(QuotaBench.concurrency)
            [retry]
            attempts = 4
            backoff = "2s"
            max_backoff = "2m"
            [params]
            marketplaces = ["\(marketplace)"]
            \(sweepParams)
            \(cap.map { "max_listings_per_run = \($0)" } ?? "")
            """
        }
        try scratch.write("jobs/sweep-ebay.toml", sweep("ebay", cap: sweepCap))
        try scratch.write("jobs/sweep-amazon.toml", sweep("amazon", cap: nil))
        try scratch.write("jobs/sync-shopify.toml", """
            name = "sync-shopify"
            kind = "marketplace-sync"
            schedule = "*:0/10"
            timeout = "12h"
            concurrency = 8
            [retry]
            attempts = 5
            backoff = "1s"
            max_backoff = "30s"
            [params]
            marketplaces = ["amazon", "shopify"]
            stock_source = "amazon"
            push_price = true
            price_source = "amazon"
            safety_stock = 0
            """)
        let setup = DaemonSetup(configPath: scratch.file("flipsync.toml"), environment: .init(workingDirectory: scratch.path))
        let loaded = setup.load(now: clock.now())
        guard loaded.configIsValid, loaded.errors.isEmpty else {
            await sandbox.stop()
            throw BenchError.setup("quota bench config or jobs invalid: \(loaded.errors.prefix(3).map { "\($0)" })")
        }
        catalog = loaded.catalog
        let values = sandbox.developmentCredentials(for: loaded.config)
        var logger = Logger(label: "flipsync-bench.quota")
        logger.logLevel = .critical
        let transport = VirtualTimeTransport(
            inner: URLSessionTransport(allowList: ChannelFactory.allowList(loaded.config), connectionsPerHost: loaded.config.poolSize),
            clock: clock)
        runtime = try Runtime.open(config: loaded.config, jobs: loaded.catalog.jobs, clock: clock, logger: logger,
                                   secret: { name in
                                       guard let value = values[name] else { throw BenchError.setup("no development value for \(name)") }
                                       return SecretText(value)
                                   }, transport: transport)
        coordinator = runtime.coordinator(pool: PermitPool(permits: loaded.config.poolSize), clock: clock, logger: logger)
        // Unit costs as a cost source would give them (the sandbox's), so every listing has a floor.
        let costs = Dictionary(sandbox.state.listings.map { ($0.sku, Money(micros: $0.costMicros, currency: .usd)) },
                               uniquingKeysWith: { a, _ in a })
        try runtime.sqlite!.store.saveUnitCosts(costs, source: "bench", at: clock.wallMilliseconds())
    }

    func marketplace(_ name: MarketplaceName) throws -> any Marketplace {
        guard let marketplace = runtime.services.marketplaces[name] else {
            throw BenchError.setup("\(name.rawValue) unavailable: \(runtime.services.unavailable[name] ?? "?")")
        }
        return marketplace
    }

    /// Records a manual run of `job` and executes it.
    func run(_ job: String) async throws -> (run: RunInfo, status: RunStatus) {
        guard let definition = catalog[job] else { throw BenchError.setup("no job \(job)") }
        guard let run = try runtime.sqlite!.store.recordFire(job: job, kind: definition.kind.rawValue, trigger: .manual, requestedBy: nil,
                                                     scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                     at: clock.wallMilliseconds(), resumes: nil) else {
            throw BenchError.setup("could not record the run")
        }
        let status = await coordinator.execute(run: run, job: definition)
        return (try runtime.sqlite!.store.run(id: run.id) ?? run, status)
    }

    /// The next night's start: `night` days after the first, 01:00 Pacific.
    func nextNight(_ night: Int) {
        clock.advance(toWall: QuotaBench.startWall + Int64(night) * 86_400_000)
    }

    /// Virtual milliseconds from the first start to the last finish of `agent`'s tasks.
    func waveSpan(runID: Int64, agent: String) throws -> Int64 {
        let tasks = try runtime.sqlite!.store.tasks(runID: runID).filter { $0.agent == agent }
        guard let start = tasks.compactMap(\.startedAt).min(), let end = tasks.compactMap(\.finishedAt).max() else { return 0 }
        return end - start
    }

    func taskSpan(runID: Int64, key: String) throws -> Int64 {
        guard let task = try runtime.sqlite!.store.tasks(runID: runID).first(where: { $0.key == key }),
              let start = task.startedAt, let end = task.finishedAt else { return 0 }
        return end - start
    }

    /// What the sync brings each Shopify variant to: Amazon's price and quantity (the job's
    /// stock and price source; no orders, safety stock 0), and how many variants differ.
    struct ShopifyTargets: Sendable {
        var bySKU: [String: (price: Money, quantity: Int)]
        var changes: Int
    }

    func shopifyTargets() -> ShopifyTargets {
        let amazon = Dictionary(sandbox.state.channelListings(.amazon).map { ($0.sku, $0) }, uniquingKeysWith: { a, _ in a })
        var targets: [String: (price: Money, quantity: Int)] = [:]
        var changes = 0
        for listing in sandbox.state.channelListings(.shopify) {
            guard let source = amazon[listing.sku] else { continue }
            targets[listing.sku] = (Money(micros: source.priceMicros, currency: .usd), source.quantity)
            if source.priceMicros != listing.priceMicros || source.quantity != listing.quantity { changes += 1 }
        }
        return ShopifyTargets(bySKU: targets, changes: changes)
    }

    /// How many Shopify variants now have their target price and quantity, of those that had to change.
    func shopifyConverged(_ targets: ShopifyTargets) -> Int {
        let now = shopifyTargets()
        return targets.changes - now.changes
    }

    func stop() async {
        await sandbox.stop()
        scratch.remove()
    }
}

/// The transport FlipSync's clients use, telling the clock which requests are in flight: the
/// clock does not move while one is (a request takes no virtual time).
struct VirtualTimeTransport: HTTPTransport {
    let inner: URLSessionTransport
    let clock: JumpClock

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        clock.requestStarted()
        defer { clock.requestFinished() }
        return try await inner.send(request)
    }

    /// The URLSession transport's own check; what it admits carries nothing prepared, so the
    /// protocol's `send(_: AdmittedRequest)` sends it through `send(_:)` above, clock and all.
    func admit(_ request: HTTPRequest) throws(HTTPTransportError) -> AdmittedRequest { try inner.admit(request) }
}

// MARK: - The virtual clock

/// A clock shared by FlipSync and the sandbox on which waiting takes no real time: `sleep(ms)`
/// moves virtual monotonic and wall time forward to (the caller's last reading of the clock +
/// ms), unless it is already past that, and returns. So requests take no virtual time and the
/// token buckets on both sides (FlipSync's limiters, the sandbox's production limits) decide
/// how virtual time passes.
///
/// - The caller's last reading: a token bucket reads the clock, computes its wait and sleeps;
///   counting the wait from that reading (kept per task), not from whenever the sleep starts,
///   keeps many tasks waiting on one bucket from each adding their wait.
/// - The clock moves only when no request is in flight and none has started for a moment
///   (`quietMicroseconds` of real time), so a request granted a token at T reaches the sandbox
///   at T, not after another task moved the clock on.
/// - A sleep longer than `timerThreshold` (a job's timeout) does not move the clock: it wakes
///   when other sleeps have moved the clock past its deadline, as a timer would.
final class JumpClock: SchedulerClock, Sendable {
    private struct Timer {
        var id: Int
        var deadline: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var wall: Int64
        var monotonic: Int64 = 1_000_000
        var lastRead: [Int: Int64] = [:]
        var inFlight = 0
        var started = 0
        var idle: [CheckedContinuation<Void, Never>] = []
        var timers: [Timer] = []
        var nextID = 0
        var jumps = 0
    }

    static let timerThreshold: Int64 = 30 * 60_000
    static let quietMicroseconds = 300
    private let state: Mutex<State>

    init(wallMilliseconds: Int64) {
        state = Mutex(State(wall: wallMilliseconds))
    }

    private static var taskKey: Int? { withUnsafeCurrentTask { $0?.hashValue } }

    private func read(_ value: (State) -> Int64) -> Int64 {
        let key = Self.taskKey
        return state.withLock { s in
            if let key {
                if s.lastRead.count > 100_000 { s.lastRead.removeAll(keepingCapacity: true) }
                s.lastRead[key] = s.monotonic
            }
            return value(s)
        }
    }

    func wallMilliseconds() -> Int64 { read { $0.wall } }
    func monotonicMilliseconds() -> Int64 { read { $0.monotonic } }

    var jumps: Int { state.withLock { $0.jumps } }

    func sleep(milliseconds: Int64) async throws {
        try Task.checkCancellation()
        let key = Self.taskKey
        let deadline = state.withLock { s -> Int64 in
            let from = key.flatMap { s.lastRead.removeValue(forKey: $0) } ?? s.monotonic
            // A timer (a job's timeout) runs from now: a task's last reading may be another,
            // finished task's (task hash values are reused), nights old, which once timed a run
            // out at once (night 4 of a 20,000-listing run, 0 virtual minutes).
            if milliseconds > Self.timerThreshold { return s.monotonic + milliseconds }
            return min(from, s.monotonic) + max(0, milliseconds)
        }
        if milliseconds > Self.timerThreshold {
            try await timer(deadline)
            return
        }
        await quiet()
        advance(toMonotonic: deadline)
        await Task.yield()
        try Task.checkCancellation()
    }

    /// Waits until no request is in flight and none has started for `quietMicroseconds`.
    private func quiet() async {
        while true {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let idle = state.withLock { s -> Bool in
                    if s.inFlight == 0 { return true }
                    s.idle.append(continuation)
                    return false
                }
                if idle { continuation.resume() }
            }
            let started = state.withLock { $0.started }
            try? await Task.sleep(for: .microseconds(Self.quietMicroseconds))
            if state.withLock({ $0.inFlight == 0 && $0.started == started }) { return }
        }
    }

    private func timer(_ deadline: Int64) async throws {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { s -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if s.monotonic >= deadline { return .success(()) }
                    s.timers.append(Timer(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let cancelled = state.withLock { s -> Timer? in
                guard let index = s.timers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.timers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves both clocks forward to `deadline` (monotonic), never back; wakes the timers due.
    func advance(toMonotonic deadline: Int64) {
        let due = state.withLock { s -> [Timer] in
            guard deadline > s.monotonic else { return [] }
            s.wall += deadline - s.monotonic
            s.monotonic = deadline
            s.jumps += 1
            let due = s.timers.filter { $0.deadline <= s.monotonic }
            s.timers.removeAll { $0.deadline <= s.monotonic }
            return due
        }
        for timer in due { timer.continuation.resume() }
    }

    /// Moves both clocks forward until the wall clock reads `wall` (the next night).
    func advance(toWall wall: Int64) {
        let deadline = state.withLock { s in s.monotonic + max(0, wall - s.wall) }
        advance(toMonotonic: deadline)
    }

    func requestStarted() {
        state.withLock { s in
            s.inFlight += 1
            s.started += 1
        }
    }

    func requestFinished() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.inFlight -= 1
            guard s.inFlight == 0 else { return [] }
            defer { s.idle.removeAll() }
            return s.idle
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Runs `body` and says how much virtual time it took.
    func measure<T>(_ body: () async throws -> T) async rethrows -> (value: T, elapsed: Int64) {
        let start = state.withLock { $0.monotonic }
        let value = try await body()
        return (value, state.withLock { $0.monotonic } - start)
    }
}
