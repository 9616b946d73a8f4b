import FlipSyncCore
import FlipSyncRuntime
import Foundation
import NIOCore
import NIOPosix

// Malloc's arenas capped as flipsyncd caps them, first thing (`MALLOC_ARENA_MAX` in the
// environment wins: `MALLOC_ARENA_MAX=16` is glibc's default on 2 cores, for a comparison).
ProcessMemory.capMallocArenas()

// FLIPSYNC_BENCH_EXECUTOR=nio: SwiftNIO's event loops (one per core) as Swift concurrency's
// global executor by SwiftNIO's own takeover (each job run as its loop's serial executor); first
// thing, before any task runs. Unset: Swift's own pool.
// FLIPSYNC_BENCH_EXECUTOR=daemon: as flipsyncd runs: one event loop (unless
// NIO_SINGLETON_GROUP_LOOP_COUNT says otherwise; `EventLoops.useOneUnlessConfigured`), installed
// by `GlobalExecutor` (each job run on the generic executor).
let benchExecutor = ProcessInfo.processInfo.environment["FLIPSYNC_BENCH_EXECUTOR"] ?? "pool"
if benchExecutor == "daemon" {
    EventLoops.useOneUnlessConfigured()
    _ = GlobalExecutor.installed
}
if benchExecutor == "nio" {
    NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}

// flipsync-bench: where flipsyncd stands against its limits and against the tools people use
// instead (issue 7). Every comparison runs side by side in this one invocation and is reported
// as a ratio, because the machine is noisy. Progress goes to stderr; the table to stdout.
//
//   swift run -c release flipsync-bench [--quick] [--only NAME]... [--sweep-listings N] [--sweep-rounds N]
//                                       [--quota-listings N] [--quota-nights N] [--quota-part P]...
//                                       [--quota-sweep-timeout SPAN]
//
// NAME: schedule, lateness, idle, pool, ledger, footprint, sweep, toml, quota, cluster, cluster-sweep.

let usage = """
    usage: flipsync-bench [--quick] [--only NAME]... [--sweep-listings N] [--sweep-rounds N] [--quota-listings N] [--quota-nights N] [--quota-part P]...
                          [--quota-sweep-timeout SPAN]
      --quick             shorter runs (lateness 10 s instead of the issue's 60 s, fewer iterations,
                          a sweep of 1,000 listings instead of the issue's 100,000)
      --only NAME         run only NAME (repeatable): schedule, lateness, idle, pool, ledger, footprint, sweep, toml, quota, cluster, cluster-sweep
      --sweep-listings N  the sweep's listings (1…1000000), whatever --quick says
      --sweep-rounds N    sweeps per transport (1…20; 1), alternated, each on a fresh sandbox and ledger:
                          the rows show the round with the median CPU per request and list every round's
      --quota-listings N  the quota item's catalog (100…100000; 20000, or 2000 with --quick)
      --quota-nights N    the most nights the quota item runs eBay's sweep (1…30; 8)
      --quota-part P      only part P of the quota item (repeatable): ebay-capped, ebay-uncapped, ebay-naive, amazon, shopify
      --quota-sweep-timeout SPAN  the quota item's sweep jobs' timeout (12h; 45m is jobs/nightly-repricing.toml's)
    """

let allBenchmarks = ["schedule", "lateness", "idle", "pool", "ledger", "sweep", "footprint", "toml", "quota", "cluster", "cluster-sweep"]
var quick = false
var sweepListings: Int?
var sweepRounds = 1
var quotaListings: Int?
var quotaNights: Int?
var quotaParts: [String] = []
var quotaSweepTimeout = "12h"
var only: [String] = []
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--quick": quick = true
    case "--only":
        guard let name = arguments.next(), allBenchmarks.contains(name) else {
            FileHandle.standardError.write(Data((usage + "\n").utf8))
            exit(2)
        }
        only.append(name)
    case "--sweep-listings":
        guard let text = arguments.next(), let count = Int(text), (1...1_000_000).contains(count) else {
            FileHandle.standardError.write(Data((usage + "\n").utf8))
            exit(2)
        }
        sweepListings = count
    case "--sweep-rounds":
        guard let text = arguments.next(), let count = Int(text), (1...20).contains(count) else {
            FileHandle.standardError.write(Data((usage + "\n").utf8))
            exit(2)
        }
        sweepRounds = count
    case "--quota-part":
        guard let part = arguments.next(), QuotaBench.parts.contains(part) else {
            FileHandle.standardError.write(Data((usage + "\n").utf8))
            exit(2)
        }
        quotaParts.append(part)
    case "--quota-sweep-timeout":
        guard let text = arguments.next(), let span = try? TimeSpan(parsing: text), span.milliseconds > 0 else {
            FileHandle.standardError.write(Data((usage + "\n").utf8))
            exit(2)
        }
        quotaSweepTimeout = text
    case "--quota-listings", "--quota-nights":
        let range = argument == "--quota-listings" ? 100...100_000 : 1...30
        guard let text = arguments.next(), let count = Int(text), range.contains(count) else {
            FileHandle.standardError.write(Data((usage + "\n").utf8))
            exit(2)
        }
        if argument == "--quota-listings" { quotaListings = count } else { quotaNights = count }
    case "-h", "--help":
        print(usage)
        exit(0)
    default:
        FileHandle.standardError.write(Data(("unknown argument \(argument)\n" + usage + "\n").utf8))
        exit(2)
    }
}
let selected = only.isEmpty ? allBenchmarks : allBenchmarks.filter(only.contains)

#if DEBUG
log("warning: a debug build; run `swift run -c release flipsync-bench` for figures worth keeping")
#endif

let table = ResultTable()
let began = Date()
var failures = 0
for name in selected {
    log("[\(name)]")
    do {
        switch name {
        case "schedule": try ScheduleBench.run(quick: quick, table: table)
        case "lateness": try await SchedulerBench.lateness(quick: quick, table: table)
        case "idle": try await SchedulerBench.idleWakeups(quick: quick, table: table)
        case "pool": try await PoolBench.run(quick: quick, table: table)
        case "ledger": try await LedgerBench.run(quick: quick, table: table)
        case "sweep": try await SweepBench.run(quick: quick, listings: sweepListings, rounds: sweepRounds, table: table)
        case "footprint": try FootprintBench.run(quick: quick, table: table)
        case "toml": try TOMLBench.run(quick: quick, table: table)
        case "quota": try await QuotaBench.run(quick: quick, listings: quotaListings, nights: quotaNights, parts: quotaParts,
                                                  sweepTimeout: quotaSweepTimeout, table: table)
        case "cluster": try await ClusterBench.run(quick: quick, table: table)
        case "cluster-sweep": try await ClusterSweepBench.run(quick: quick, table: table)
        default: break
        }
    } catch {
        failures += 1
        log("  \(name) failed: \(error)")
        table.add(ResultRow(benchmark: name, metric: "failed", value: "\(error)"))
    }
}

let stamp = ISO8601DateFormatter().string(from: began)
print("flipsync-bench \(quick ? "--quick " : "")— \(stamp) — \(machineDescription())")
print("")
print(table.render())
if !table.notes.isEmpty {
    print("")
    for note in table.notes { print("- " + note) }
}
if blackHole == 42 { print("") }  // keeps measured results alive
exit(failures == 0 ? 0 : 1)
