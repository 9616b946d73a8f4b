import FlipSyncCore
import FlipSyncStore
import Foundation

/// Item 4 of issue 7: task-result rows per second into the run ledger as the daemon writes them,
/// against the raw ceiling: the `sqlite3` shell importing the same rows from a CSV in one
/// transaction, into the same schema. The daemon writes a wave's planned tasks with `saveTasks`
/// (one transaction) and each task's states while it runs with `commitTask` (group commit, shared
/// with the other tasks in flight); `saveTask` (one transaction per row) is shown for reference.
enum LedgerBench {
    static func rows(runID: Int64, count: Int) -> [TaskInfo] {
        let base = wallMilliseconds()
        return (0..<count).map { i in
            TaskInfo(runID: runID, key: "listing-\(String(format: "%07d", i))", agent: "pricing-decision", status: .succeeded,
                     attempts: 1, startedAt: base + Int64(i), finishedAt: base + Int64(i) + 20,
                     result: "{\"old\":\"12.99 USD\",\"new\":\"12.49 USD\",\"reason\":\"undercut by 0.50\"}", error: "-")
        }
    }

    /// The retention pruner's work on a large ledger: `runCount` finished runs, one in 50
    /// resuming the run before it, deleted as `RetentionPruner` deletes them (`pruneRuns`, 500 a
    /// transaction, until a batch comes back short). Each transaction holds the one writer every
    /// run and task shares, so its worst time is what a fire can wait behind it.
    static func prune(quick: Bool, scratch: ScratchDirectory, table: ResultTable) throws {
        let runCount = quick ? 50_000 : 300_000, batchSize = 500
        let store = try RunStore(path: scratch.file("prune.sqlite"))
        var failure: (any Error)?
        try store.batch {
            var previous: Int64?
            for i in 0..<runCount {
                do {
                    previous = try store.recordFire(job: "bench", kind: "repricing-sweep", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                                    status: .succeeded, skipReason: nil, summary: nil, at: Int64(i),
                                                    resumes: i % 50 == 49 ? previous : nil)?.id
                } catch {
                    failure = error
                    return
                }
            }
        }
        if let failure { throw failure }
        var batches: [Double] = []
        var deleted = 0
        while true {
            let start = nowNanoseconds()
            let count = try store.pruneRuns(createdBefore: Int64(runCount), limit: batchSize)
            batches.append(Double(nowNanoseconds() - start) / 1e6)
            deleted += count
            if count < batchSize { break }
        }
        guard deleted == runCount else { throw BenchError.setup("pruned \(deleted) runs of \(runCount)") }
        let worst = batches.max() ?? 0, total = batches.reduce(0, +)
        table.add(ResultRow(benchmark: "4 ledger", metric: "retention: \(formatCount(Double(runCount))) old runs pruned \(batchSize) a transaction (one in 50 resumes the run before)",
                            value: "\(format(worst, digits: 1)) ms the longest transaction",
                            reference: "\(batches.count) transactions, \(format(total / 1000, digits: 2)) s in all; median \(format(batches.sorted()[batches.count / 2], digits: 1)) ms",
                            goal: "short transactions (≤ 100 ms: the writer is shared)", verdict: worst <= 100 ? "meets" : "short"))
    }

    static func csvField(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    static let writers = 64

    /// Rounds of the group commit and of the shell's import, interleaved: each short (a fraction
    /// of a second), so one round's ratio moves with the machine; the medians are reported.
    static func rounds(quick: Bool) -> Int { quick ? 3 : 5 }

    static func run(quick: Bool, table: ResultTable) async throws {
        let count = quick ? 5_000 : 20_000
        let scratch = try ScratchDirectory("ledger")
        defer { scratch.remove() }

        func freshRun(_ name: String) throws -> (RunStore, [TaskInfo]) {
            let store = try RunStore(path: scratch.file("\(name).sqlite"))
            guard let run = try store.recordFire(job: "bench", kind: "repricing-sweep", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                                 status: .running, skipReason: nil, summary: nil, at: wallMilliseconds(), resumes: nil) else {
                throw BenchError.setup("could not record a run")
            }
            return (store, rows(runID: run.id, count: count))
        }
        func rate(_ start: UInt64) -> Double { Double(count) / (Double(nowNanoseconds() - start) / 1e9) }
        func checkSaved(_ store: RunStore, _ written: [TaskInfo], _ name: String) throws {
            let saved = try store.tasks(runID: written[0].runID).count
            guard saved == count else { throw BenchError.setup("\(name): \(saved) rows saved, not \(count)") }
        }

        // One transaction per row (saveTask): what every write cost before group commit.
        let (single, singleRows) = try freshRun("single")
        var start = nowNanoseconds()
        for task in singleRows { try single.saveTask(task) }
        let perRow = rate(start)
        try checkSaved(single, singleRows, "single")

        // Tasks in flight: 64 writers, each committing its rows through the group commit.
        func groupCommitRound(_ round: Int) async throws -> Double {
            let (grouped, groupedRows) = try freshRun("grouped-\(round)")
            let start = nowNanoseconds()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in stride(from: writer, to: groupedRows.count, by: writers) { try await grouped.commitTask(groupedRows[index]) }
                    }
                }
                try await group.waitForAll()
            }
            let ours = rate(start)
            try checkSaved(grouped, groupedRows, "grouped")
            return ours
        }

        // A wave planned: all its rows in one transaction (saveTasks).
        let (wave, waveRows) = try freshRun("wave")
        start = nowNanoseconds()
        try wave.saveTasks(waveRows)
        let planned = rate(start)
        try checkSaved(wave, waveRows, "wave")

        // The ceiling: the sqlite3 shell, same schema (made by RunStore's migrations), same
        // pragmas, the same rows from a CSV, one transaction.
        guard commandExists("sqlite3") else {
            let ours = try await groupCommitRound(0)
            table.add(ResultRow(benchmark: "4 ledger", metric: "task rows/s, commitTask from \(writers) tasks (group commit)",
                                value: formatCount(ours), reference: "sqlite3 shell missing (apt-get install -y sqlite3)"))
            return
        }
        func shellRound(_ round: Int) throws -> Double {
            let ceilingPath = scratch.file("ceiling-\(round).sqlite")
            let ceilingStore = try RunStore(path: ceilingPath)
            guard let ceilingRun = try ceilingStore.recordFire(job: "bench", kind: "repricing-sweep", trigger: .manual, requestedBy: nil,
                                                               scheduledAt: nil, status: .running, skipReason: nil, summary: nil,
                                                               at: wallMilliseconds(), resumes: nil) else {
                throw BenchError.setup("could not record a run")
            }
            var csv = ""
            csv.reserveCapacity(count * 160)
            for t in rows(runID: ceilingRun.id, count: count) {
                csv += [String(t.runID), csvField(t.key), csvField(t.agent), t.status.rawValue, String(t.attempts),
                        String(t.startedAt ?? 0), String(t.finishedAt ?? 0), csvField(t.result ?? ""), csvField(t.error ?? "")]
                    .joined(separator: ",") + "\n"
            }
            try scratch.write("tasks-\(round).csv", csv)
            let script = """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                PRAGMA foreign_keys = ON;
                BEGIN;
                .import --csv \(scratch.file("tasks-\(round).csv")) tasks
                COMMIT;
                """
            // Launching the shell itself costs a few ms; measure an empty run and subtract it.
            let empty = try runCommand(["sqlite3", scratch.file("empty.sqlite")], stdin: "SELECT 1;\n", timeout: 60)
            let result = try runCommand(["sqlite3", ceilingPath], stdin: script + "\n", timeout: 300)
            let imported = try runCommand(["sqlite3", ceilingPath], stdin: "SELECT count(*) FROM tasks;\n", timeout: 60)
            guard result.status == 0, Int(imported.output.trimmingCharacters(in: .whitespacesAndNewlines)) == count else {
                throw BenchError.setup("sqlite3 import failed (status \(result.status), rows \(imported.output))")
            }
            let seconds = max(1e-6, Double(result.nanoseconds) - Double(empty.nanoseconds)) / 1e9
            return Double(count) / seconds
        }
        var oursByRound: [Double] = [], ceilingByRound: [Double] = []
        for round in 0..<rounds(quick: quick) {
            oursByRound.append(try await groupCommitRound(round))
            ceilingByRound.append(try shellRound(round))
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let ours = median(oursByRound), ceiling = median(ceilingByRound)
        let ratios = zip(oursByRound, ceilingByRound).map { $0 / $1 }
        let rowCount = formatCount(Double(count))
        let reference = "sqlite3 .import, 1 txn: \(formatCount(ceiling)) rows/s"
        table.add(ResultRow(benchmark: "4 ledger", metric: "task rows/s, commitTask from \(writers) tasks in flight (group commit), \(rowCount) rows, median of \(ratios.count) rounds",
                            value: formatCount(ours) + " rows/s", reference: reference + " (median of the same rounds, interleaved)",
                            ratio: format(ours / ceiling, digits: 3) + "×", goal: "batched, near the ceiling",
                            verdict: ours / ceiling >= 0.5 ? "meets" : "short"))
        table.notes.append("ledger: group commit against the shell round by round: "
            + zip(oursByRound, ceilingByRound).map { "\(formatCount($0)) / \(formatCount($1)) = \(format($0 / $1, digits: 3))×" }.joined(separator: "; "))
        table.add(ResultRow(benchmark: "4 ledger", metric: "task rows/s, saveTasks (a wave planned, 1 txn), \(rowCount) rows",
                            value: formatCount(planned) + " rows/s", reference: reference,
                            ratio: format(planned / ceiling, digits: 3) + "×", goal: "batched, near the ceiling",
                            verdict: planned / ceiling >= 0.5 ? "meets" : "short"))
        table.add(ResultRow(benchmark: "4 ledger", metric: "task rows/s, saveTask (1 txn/row, for reference), \(rowCount) rows",
                            value: formatCount(perRow) + " rows/s", reference: reference,
                            ratio: format(perRow / ceiling, digits: 3) + "×", goal: "", verdict: ""))
        try prune(quick: quick, scratch: scratch, table: table)
        table.notes.append("ledger: WAL, synchronous=NORMAL, the daemon's schema and statements; a run writes 3 rows per task (pending, running, result), so tasks/s ≈ rows/s ÷ 3. \"Near the ceiling\" is read as ≥ 0.5× (issue 15's goal), for one transaction and for group commit, which pays a task switch per row (no savepoint unless a write fails; task rows go in multi-row upserts)")
    }
}
