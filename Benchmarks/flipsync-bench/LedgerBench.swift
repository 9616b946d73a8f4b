import FlipSyncCore
import FlipSyncStore
import Foundation

/// Item 4 of issue 7: task-result rows per second into the run ledger as the daemon writes them
/// (`RunStore.saveTask`, one transaction per row) against the raw ceiling: the `sqlite3` shell
/// importing the same rows from a CSV in one transaction, into the same schema.
enum LedgerBench {
    static func rows(runID: Int64, count: Int) -> [TaskInfo] {
        let base = wallMilliseconds()
        return (0..<count).map { i in
            TaskInfo(runID: runID, key: "listing-\(String(format: "%07d", i))", agent: "pricing-decision", status: .succeeded,
                     attempts: 1, startedAt: base + Int64(i), finishedAt: base + Int64(i) + 20,
                     result: "{\"old\":\"12.99 USD\",\"new\":\"12.49 USD\",\"reason\":\"undercut by 0.50\"}", error: "-")
        }
    }

    static func csvField(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    static func run(quick: Bool, table: ResultTable) throws {
        let count = quick ? 5_000 : 20_000
        let scratch = try ScratchDirectory("ledger")
        defer { scratch.remove() }

        // Ours: the daemon's path, one saveTask (one write transaction) per row.
        let store = try RunStore(path: scratch.file("daemon.sqlite"))
        guard let run = try store.recordFire(job: "bench", kind: "repricing-sweep", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                             status: .running, skipReason: nil, summary: nil, at: wallMilliseconds(), resumes: nil) else {
            throw BenchError.setup("could not record a run")
        }
        let tasks = rows(runID: run.id, count: count)
        let start = nowNanoseconds()
        for task in tasks { try store.saveTask(task) }
        let ours = Double(count) / (Double(nowNanoseconds() - start) / 1e9)

        // The ceiling: the sqlite3 shell, same schema (made by RunStore's migrations), same
        // pragmas, the same rows from a CSV, one transaction.
        guard commandExists("sqlite3") else {
            table.add(ResultRow(benchmark: "4 ledger", metric: "task rows/s, RunStore.saveTask (1 txn/row)",
                                value: formatCount(ours), reference: "sqlite3 shell missing (apt-get install -y sqlite3)"))
            return
        }
        let ceilingPath = scratch.file("ceiling.sqlite")
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
        try scratch.write("tasks.csv", csv)
        let script = """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA foreign_keys = ON;
            BEGIN;
            .import --csv \(scratch.file("tasks.csv")) tasks
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
        let ceiling = Double(count) / seconds
        table.add(ResultRow(benchmark: "4 ledger", metric: "task rows/s, RunStore.saveTask (1 txn/row), \(formatCount(Double(count))) rows",
                            value: formatCount(ours) + " rows/s",
                            reference: "sqlite3 .import, 1 txn: \(formatCount(ceiling)) rows/s",
                            ratio: format(ours / ceiling, digits: 3) + "×", goal: "batched, near the ceiling",
                            verdict: "no batch API"))
        table.notes.append("ledger: RunStore has no batch API (every saveTask is its own write transaction, WAL, synchronous=NORMAL), so the \"batched\" figure the issue asks for cannot be measured through it; a run writes 3 rows per task (pending, running, result), so tasks/s ≈ rows/s ÷ 3")
    }
}
