import FlipSyncCore

/// Item 3 of issue 7: the cost of the run coordinator's fan-out pattern — a throwing task group
/// fed from an iterator with an in-flight bound, each task holding a `PermitPool` permit — against
/// a bare `withTaskGroup` with the same bound, on no-op tasks.
enum PoolBench {
    static func bare(tasks: Int, bound: Int) async -> UInt64 {
        let start = nowNanoseconds()
        await withTaskGroup(of: Void.self) { group in
            var next = (0..<tasks).makeIterator()
            var inFlight = 0
            func startNext() -> Bool {
                guard next.next() != nil else { return false }
                group.addTask {}
                return true
            }
            while inFlight < bound, startNext() { inFlight += 1 }
            while await group.next() != nil {
                inFlight -= 1
                if startNext() { inFlight += 1 }
            }
        }
        return nowNanoseconds() - start
    }

    /// As `RunCoordinator.runTasks` + `perform` do it, without the ledger writes (those are item 4).
    static func coordinatorPattern(tasks: Int, bound: Int, pool: PermitPool) async throws -> UInt64 {
        let start = nowNanoseconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = (0..<tasks).makeIterator()
            var inFlight = 0
            func startNext() -> Bool {
                guard next.next() != nil else { return false }
                group.addTask { try await pool.withPermit {} }
                return true
            }
            while inFlight < bound, startNext() { inFlight += 1 }
            while try await group.next() != nil {
                inFlight -= 1
                if startNext() { inFlight += 1 }
            }
        }
        return nowNanoseconds() - start
    }

    static func run(quick: Bool, table: ResultTable) async throws {
        let tasks = quick ? 200_000 : 1_000_000
        let bound = 16       // a job's `concurrency` (the shipped repricing job uses 16)
        // Uncontended: the pool (pool_size 64) is larger than the bound. Contended: a smaller pool,
        // so tasks queue for permits, as when several runs share the daemon's pool.
        for (label, permits) in [("pool 64 ≥ bound", 64), ("pool 4 < bound", 4)] {
            // Paired rounds, alternating the two sides; the median of the per-round ratios is
            // reported with its range: on a small noisy machine single rounds swing both ways.
            var ratios: [Double] = [], bareTimes: [UInt64] = [], poolTimes: [UInt64] = []
            for _ in 0..<5 {
                let bareTime = await bare(tasks: tasks, bound: bound)
                let poolTime = try await coordinatorPattern(tasks: tasks, bound: bound, pool: PermitPool(permits: permits))
                bareTimes.append(bareTime)
                poolTimes.append(poolTime)
                ratios.append(Double(poolTime) / Double(bareTime))
            }
            ratios.sort()
            let ratio = ratios[ratios.count / 2]
            let bareNs = Double(bareTimes.sorted()[bareTimes.count / 2]) / Double(tasks)
            let poolNs = Double(poolTimes.sorted()[poolTimes.count / 2]) / Double(tasks)
            table.add(ResultRow(benchmark: "3 pool", metric: "\(formatCount(Double(tasks))) no-op tasks, bound \(bound), \(label)",
                                value: "\(format(poolNs, digits: 0)) ns/task",
                                reference: "bare withTaskGroup \(format(bareNs, digits: 0)) ns/task",
                                ratio: "\(format(ratio, digits: 2))× (\(format(ratios.first!, digits: 2))–\(format(ratios.last!, digits: 2)))",
                                goal: "≤ 1.2×", verdict: ratio <= 1.2 ? "meets" : "over"))
        }
    }
}
