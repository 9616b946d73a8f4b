import GRDB
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore
import FlipSyncTestKit

/// Task inputs and results are the workflows' own `Codable` values, kept as JSON; a ledger
/// written before inputs were recorded (string inputs, hand-written result JSON) keeps working.
@Suite("Task inputs and results in the ledger", .timeLimit(.minutes(2)))
struct TaskPayloadLedgerTests {
    /// A ledger as the code before `m14-tasks` (formerly `v12-tasks`) left it: every earlier migration, no `tasks.input`,
    /// and task rows whose results are the JSON that code wrote by hand (field order included).
    static func oldLedger(_ path: String, results: [(key: String, status: String, result: String?)]) throws {
        let queue = try ledgerConnection(path)
        let migrations = RunStore.migrator.migrations
        let m14 = try #require(migrations.firstIndex { $0.hasPrefix("m14-tasks") })
        let last = migrations[m14 - 1]
        try RunStore.migrator.migrate(queue, upTo: last)
        try queue.write { db in
            #expect(try !db.columns(in: "tasks").map(\.name).contains("input"))
            try db.execute(sql: """
                INSERT INTO runs (id, job, kind, trigger, created_at, started_at, status)
                VALUES (1, 'sweep', 'repricing-sweep', 'manual', 1000, 1000, 'interrupted')
                """)
            for row in results {
                try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status, attempts, result) VALUES (1, ?, 'agent', ?, 1, ?)",
                               arguments: [row.key, row.status, row.result])
            }
        }
    }

    @Test("a ledger from before task inputs opens, and each old task result decodes as its workflow's type")
    func oldRowsDecode() throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        try Self.oldLedger(path, results: [
            ("orders:ebay", "succeeded",
             #"{"applied":2,"duplicates":1,"oversells":0,"seeded":3,"seen":4,"unknown":0,"drift":1,"planned":5,"pushed":6,"failed":0}"#),
            ("plan:ebay", "succeeded", #"{"limited_by":"ebay/browse quota (3 calls left)","selected":3,"listings":5}"#),
            ("decide:ebay:A1", "succeeded", #"{"state":"hold","reason":"no-cost","old_micros":1990000,"new_micros":null}"#),
            ("decide:ebay:group-1", "succeeded", #"{"decided":4,"changing":2,"unread":1,"competition_reads":3}"#),
            ("apply:ebay:1", "succeeded", #"{"sent":2,"applied":2,"failed":0,"reconciled":0}"#),
            ("quote:ebay:o1:l1", "succeeded", #"{"status":"recommended","label_micros":5000000,"margin_micros":null,"saving_micros":1000}"#),
            ("listings:ebay", "pending", nil),
        ])
        let store = try RunStore(path: path)  // runs the newer migrations
        let tasks = Dictionary(uniqueKeysWithValues: try store.tasks(runID: 1).map { ($0.key, $0) })
        #expect(tasks.count == 7 && tasks.values.allSatisfy { $0.input == nil })
        #expect(try tasks["orders:ebay"]?.result(as: SyncCounts.self)
                == SyncCounts(applied: 2, duplicates: 1, oversells: 0, seeded: 3, seen: 4, unknown: 0, drift: 1, planned: 5, pushed: 6, failed: 0))
        #expect(try tasks["plan:ebay"]?.result(as: SweepPlanResult.self)
                == SweepPlanResult(limitedBy: "ebay/browse quota (3 calls left)", selected: 3, listings: 5))
        #expect(try tasks["decide:ebay:A1"]?.result(as: ListingDecided.self)
                == ListingDecided(state: .hold, reason: .noCost, oldMicros: 1_990_000, newMicros: nil))
        #expect(try tasks["decide:ebay:group-1"]?.result(as: GroupDecided.self)
                == GroupDecided(decided: 4, changing: 2, unread: 1, competitionReads: 3))
        #expect(try tasks["apply:ebay:1"]?.result(as: ApplyTally.self) == ApplyTally(sent: 2, applied: 2, failed: 0, reconciled: 0, bulk: nil))
        #expect(try tasks["quote:ebay:o1:l1"]?.result(as: ShippingOutcome.self)
                == ShippingOutcome(status: "recommended", labelMicros: 5_000_000, marginMicros: nil, savingMicros: 1000))
        #expect(try tasks["listings:ebay"]?.result(as: MarketplaceInput.self) == nil)

        // New rows in the same ledger keep their input, which the agent reads back as its own type.
        let planned = PlannedTask(key: "apply:ebay:2", agent: "apply", input: ListingsInput(marketplace: .ebay, skus: ["A,1", "B\n2", "C\"3"]))
        try store.saveTask(TaskInfo(runID: 1, key: planned.key, agent: planned.agent, status: .pending, input: planned.input.json))
        let saved = try #require(try store.tasks(runID: 1).first { $0.key == planned.key })
        #expect(try TaskPayload(json: try #require(saved.input)).decode(ListingsInput.self, what: "the saved input")
                == ListingsInput(marketplace: .ebay, skus: ["A,1", "B\n2", "C\"3"]))
        // A later state of the same task (no input given) keeps the planned input.
        try store.saveTask(TaskInfo(runID: 1, key: planned.key, agent: planned.agent, status: .succeeded, result: #"{"sent":0}"#))
        #expect(try store.tasks(runID: 1).first { $0.key == planned.key }?.input == planned.input.json)
    }

    @Test("a task result that is not its workflow's type is an error naming the task and the run, never a default")
    func badResultIsAnError() throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        try Self.oldLedger(path, results: [("push:ebay", "succeeded", #"{"applied":"two"}"#)])
        let store = try RunStore(path: path)
        let task = try #require(try store.tasks(runID: 1).first)
        let error = #expect(throws: TaskFailure.self) { try task.result(as: SyncCounts.self) }
        #expect(error?.description.contains("task push:ebay's result (run 1)") == true, "\(String(describing: error))")
    }

    @Test("an input the agent cannot read fails its task permanently, naming the task")
    func badInputIsPermanent() throws {
        let task = PlannedTask(key: "decide:ebay:A1", agent: "decide", input: MarketplaceInput(marketplace: .ebay))
        let error = #expect(throws: TaskFailure.self) { try task.input(as: ListingsInput.self) }
        guard case .permanent(let message) = error else { Issue.record("not permanent: \(String(describing: error))"); return }
        #expect(message.contains("task decide:ebay:A1's input"))
    }
}
