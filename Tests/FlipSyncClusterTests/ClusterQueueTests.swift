import FlipSyncCluster
import FlipSyncCore
import FlipSyncTestKit
import Foundation
import PostgresNIO
import Synchronization
import Testing

private let start = Timestamp(parsing: "2026-11-25T12:00:00Z")!

/// `count` running clients (one connection pool each, as separate nodes have) on a fresh,
/// migrated database of the suite's server.
func withClients<T: Sendable>(_ count: Int, _ body: @Sendable ([PostgresClient]) async throws -> T) async throws -> T {
    let server = try server()
    let endpoint = try await server.freshDatabase()
    let clients = (0..<count).map { _ in
        PostgresClient(configuration: endpoint.clientConfiguration(password: server.password), backgroundLogger: quietLogger)
    }
    return try await withThrowingTaskGroup(of: T?.self) { group in
        for client in clients { group.addTask { await client.run(); return nil } }
        defer { group.cancelAll() }
        try await ClusterDatabase.migrate(clients[0], logger: quietLogger)
        return try await body(clients)
    }
}

private func keys(_ n: Int) -> [(key: String, payload: String)] {
    (1...n).map { (key: "listing-\($0)", payload: "{\"n\":\($0)}") }
}

@Suite("Cluster tasks on PostgreSQL", .postgresInstalled, .postgres, .serialized, .timeLimit(.minutes(5)))
struct ClusterTaskQueueTests {
    @Test("three nodes claim 300 tasks concurrently with SKIP LOCKED: each task claimed by exactly one node, once; enqueue is idempotent on (run, key)")
    func skipLockedNoTaskTwice() async throws {
        try await withClients(3) { clients in
            let queue = ClusterTaskQueue(client: clients[0], logger: quietLogger)
            #expect(try await queue.enqueue(run: "r1", tasks: keys(300)) == 300)
            #expect(try await queue.enqueue(run: "r1", tasks: keys(310)) == 10, "the 300 already there are not enqueued twice")
            #expect(try await queue.enqueue(run: "r2", tasks: keys(5)) == 5, "the same keys in another run are other tasks")
            let claims = try await withThrowingTaskGroup(of: (String, [ClaimedTask]).self) { group in
                for (i, client) in clients.enumerated() {
                    group.addTask {
                        let node = "n\(i)"
                        let queue = ClusterTaskQueue(client: client, logger: quietLogger)
                        var mine: [ClaimedTask] = []
                        while true {
                            let batch = try await queue.claim(node: node, limit: 7, leaseMilliseconds: 60_000)
                            if batch.isEmpty { break }
                            mine += batch
                            #expect(try await queue.complete(batch, node: node) == Set(batch.map(\.id)))
                        }
                        return (node, mine)
                    }
                }
                var all: [(String, [ClaimedTask])] = []
                for try await claim in group { all.append(claim) }
                return all
            }
            let ids = claims.flatMap { $0.1.map(\.id) }
            #expect(ids.count == 315, "every task claimed once: \(ids.count) claims")
            #expect(Set(ids).count == 315, "no task claimed by two nodes")
            #expect(claims.flatMap(\.1).allSatisfy { $0.attempts == 1 && $0.token == 1 })
            let rows = try await queue.tasks(run: "r1") + queue.tasks(run: "r2")
            #expect(rows.count == 315 && rows.allSatisfy { $0.state == .done })
            for (node, mine) in claims {
                #expect(Set(rows.filter { $0.holder == node }.map(\.id)) == Set(mine.map(\.id)), "\(node) completed what it claimed")
            }
            #expect(claims.filter { !$0.1.isEmpty }.count >= 2, "the work was shared: \(claims.map { ($0.0, $0.1.count) })")
        }
    }

    @Test("fencing: a node whose lease expired and whose task another node re-claimed cannot complete or fail it; the new holder can")
    func expiredLeaseFenced() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let a = ClusterTaskQueue(client: clients[0], time: .injected(clock), logger: quietLogger)
            let b = ClusterTaskQueue(client: clients[1], time: .injected(clock), logger: quietLogger)
            try await a.enqueue(run: "r", tasks: keys(3))
            let mine = try await a.claim(node: "a", limit: 2, leaseMilliseconds: 1000)
            #expect(mine.map(\.key) == ["listing-1", "listing-2"])
            #expect(try await b.claim(node: "b", limit: 5, leaseMilliseconds: 10_000).map(\.key) == ["listing-3"],
                    "a's leased tasks are not claimable while its lease runs")
            // a is paused past its lease; b (with room again) claims a's tasks.
            clock.advance(byMilliseconds: 1001)
            let taken = try await b.claim(node: "b", limit: 5, leaseMilliseconds: 1000)
            #expect(taken.map(\.id) == mine.map(\.id), "expired leases are claimable by any node")
            #expect(taken.allSatisfy { $0.attempts == 2 } && zip(taken, mine).allSatisfy { $0.token == $1.token + 1 },
                    "a second attempt, under a new fencing token")
            // a wakes and reports.
            #expect(try await !a.complete(mine[0], node: "a"), "refused: the task is b's now")
            #expect(try await !a.fail(mine[1], node: "a", error: "timeout", retry: true), "refused too")
            #expect(try await a.heartbeat(node: "a", leaseMilliseconds: 1000) == 0, "a holds nothing to extend")
            #expect(try await !a.complete(taken[0], node: "a"), "b's token under a's name: refused")
            #expect(try await b.complete(taken[0], node: "b"))
            #expect(try await b.fail(taken[1], node: "b", error: "HTTP 500", retry: false))
            let rows = try await a.tasks(run: "r")
            #expect(rows.map(\.state) == [.done, .failed, .claimed])
            #expect(rows[0].holder == "b" && rows[1].holder == "b" && rows[1].error == "HTTP 500")
            // A lease that expired with nobody claiming the task again is still its holder's.
            clock.advance(byMilliseconds: 5000)
            let late = try #require(rows.last)
            #expect(try await b.complete([ClaimedTask(id: late.id, run: "r", key: late.key, payload: "", token: late.token, attempts: 1)],
                                         node: "b") == [late.id])
        }
    }

    @Test("heartbeat extends a node's leases: its tasks are not re-claimed while it heartbeats, and are once it stops")
    func heartbeatKeepsLeases() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let a = ClusterTaskQueue(client: clients[0], time: .injected(clock), logger: quietLogger)
            let b = ClusterTaskQueue(client: clients[1], time: .injected(clock), logger: quietLogger)
            try await a.enqueue(run: "r", tasks: keys(4))
            let mine = try await a.claim(node: "a", limit: 4, leaseMilliseconds: 1000)
            #expect(mine.count == 4)
            for _ in 0..<5 {
                clock.advance(byMilliseconds: 800)
                #expect(try await a.heartbeat(node: "a", leaseMilliseconds: 1000) == 4)
                #expect(try await b.claim(node: "b", limit: 10, leaseMilliseconds: 1000).isEmpty, "4 s after the claim, a's leases hold")
            }
            // a dies: no more heartbeats.
            clock.advance(byMilliseconds: 999)
            #expect(try await b.claim(node: "b", limit: 10, leaseMilliseconds: 1000).isEmpty)
            clock.advance(byMilliseconds: 1)
            #expect(try await b.claim(node: "b", limit: 10, leaseMilliseconds: 1000).map(\.id) == mine.map(\.id))
            #expect(try await a.claimedByNode() == ["b": 4])
        }
    }

    @Test("handing back: a released task is claimable by another node at once (not counted as an attempt), and its releaser can no longer end it; a stale releaser is refused")
    func releaseHandsBackAtOnce() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let a = ClusterTaskQueue(client: clients[0], time: .injected(clock), logger: quietLogger)
            let b = ClusterTaskQueue(client: clients[1], time: .injected(clock), logger: quietLogger)
            try await a.enqueue(run: "r", tasks: keys(8))
            let mine = try await a.claim(node: "a", limit: 5, leaseMilliseconds: 60_000)
            #expect(try await !b.release(mine[2], node: "b"), "only the holder releases a task")
            for task in mine[2...] { #expect(try await a.release(task, node: "a")) }
            #expect(try await !a.release(mine[2], node: "a"), "released already: no longer a's")
            let others = try await b.claim(node: "b", limit: 10, leaseMilliseconds: 60_000)
            let neverClaimed = try await a.tasks(run: "r").suffix(3).map(\.id)
            #expect(Set(others.map(\.id)) == Set(mine[2...].map(\.id)).union(neverClaimed),
                    "b gets a's three released tasks without waiting for their leases, and the three never claimed")
            #expect(others.allSatisfy { $0.attempts == 1 }, "a release is no attempt")
            #expect(try await !a.complete(mine[2], node: "a"), "a released it: no longer a's")
            #expect(try await a.complete(Array(mine[0...1]), node: "a") == Set(mine[0...1].map(\.id)), "a finishes what it kept")
            #expect(try await b.complete(others, node: "b").count == 6)
            #expect(try await a.tasks(run: "r").allSatisfy { $0.state == .done })
        }
    }

    @Test("80 dispatches at once share statements: each gets its task's id (one (run, key) given twice: one row, one id), a key PostgreSQL refuses (a NUL) fails alone; 80 endings at once: each fenced by its own token, a stale one refused, a missing message NULL")
    func coalescedEnqueuesAndEndings() async throws {
        try await withClients(1) { clients in
            let queue = ClusterTaskQueue(client: clients[0], logger: quietLogger)
            let keys = (0..<78).map { "k\($0)" } + ["k5", "bad\u{0}key"]
            let ids = await withTaskGroup(of: (Int, Result<Int64, any Error>).self) { group in
                for (index, key) in keys.enumerated() {
                    group.addTask {
                        do { return (index, .success(try await queue.enqueue(run: "r", key: key, payload: "{\"i\":\(index)}", origin: "a"))) } catch {
                            return (index, .failure(error))
                        }
                    }
                }
                var out: [Int: Result<Int64, any Error>] = [:]
                for await (index, result) in group { out[index] = result }
                return out
            }
            let failed = ids.filter { if case .failure = $0.value { return true } else { return false } }.map(\.key)
            #expect(failed == [79], "only the NUL key fails")
            let got = try (0..<79).map { try ids[$0]!.get() }
            #expect(got[5] == got[78], "k5 twice: one task")
            #expect(Set(got).count == 78)
            let rows = try await queue.tasks(run: "r")
            #expect(rows.count == 78)
            #expect(Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0.id) }) == Dictionary(uniqueKeysWithValues: (0..<78).map { ("k\($0)", got[$0]) }))
            let enqueueStatements = queue.coalescedStatements.enqueues
            #expect(enqueueStatements < 40, "\(enqueueStatements) statements for 80 enqueues")

            var claimed: [ClaimedTask] = []
            while claimed.count < 78 { claimed += try await queue.claim(node: "a", limit: 78, leaseMilliseconds: 60_000) }
            var stale = claimed[3]
            stale.token += 1
            let endings = [stale] + claimed.enumerated().filter { $0.offset != 3 }.map(\.element)
            let accepted = try await withThrowingTaskGroup(of: (Int64, Int64, Bool).self) { group in
                for (index, task) in endings.enumerated() {
                    group.addTask {
                        (task.id, task.token, try await queue.finish(task, node: "a", outcome: "finished", message: index % 2 == 0 ? nil : "why \(index)"))
                    }
                }
                var out: [(Int64, Int64, Bool)] = []
                for try await result in group { out.append(result) }
                return out
            }
            #expect(accepted.filter { !$0.2 }.map(\.0) == [stale.id], "only the stale token is refused")
            #expect(queue.coalescedStatements.finishes < 40, "\(queue.coalescedStatements.finishes) statements for 77 endings")
            let ended = try await queue.tasks(run: "r")
            #expect(ended.filter { $0.state == .done }.count == 77)
            #expect(ended.first { $0.id == stale.id }?.state == .claimed)
            #expect(ended.filter { $0.error != nil }.count == 39, "the messages given (odd places), NULL where none")
            #expect(ended.filter { $0.error != nil }.allSatisfy { $0.error!.hasPrefix("why ") })
        }
    }

    @Test("an enqueue whose statement does not answer (the table locked by another connection) fails after the statement bound, and the enqueues behind it go on once the lock is gone")
    func stuckEnqueueGivenUp() async throws {
        try await withClients(2) { clients in
            let queue = ClusterTaskQueue(client: clients[0], logger: quietLogger, statementMilliseconds: 300)
            let first = try await queue.enqueue(run: "r", key: "before", payload: "{}", origin: "a")
            let stuck = try await clients[1].withTransaction(logger: quietLogger) { connection in
                try await connection.query("LOCK TABLE flipsync_cluster_tasks IN ACCESS EXCLUSIVE MODE", logger: quietLogger)
                do {
                    _ = try await queue.enqueue(run: "r", key: "during", payload: "{}", origin: "a")
                    return "answered"
                } catch {
                    return "\(error)"
                }
            }
            #expect(stuck.contains("no answer within 300 ms"), "\(stuck)")
            let after = try await queue.enqueue(run: "r", key: "after", payload: "{}", origin: "a")
            #expect(after > first)
            let keys = try await queue.tasks(run: "r").map(\.key)
            #expect(keys.contains("before") && keys.contains("after"))
        }
    }

    @Test("a failed task to retry goes back to pending and is claimed again as attempt 2")
    func failRetry() async throws {
        try await withClients(1) { clients in
            let queue = ClusterTaskQueue(client: clients[0], logger: quietLogger)
            try await queue.enqueue(run: "r", tasks: keys(1))
            let first = try #require(try await queue.claim(node: "a", limit: 1, leaseMilliseconds: 60_000).first)
            #expect(try await queue.fail(first, node: "a", error: "HTTP 503", retry: true))
            let second = try #require(try await queue.claim(node: "b", limit: 1, leaseMilliseconds: 60_000).first)
            #expect(second.id == first.id && second.attempts == 2 && second.token == 2)
            #expect(try await !queue.complete(first, node: "a"))
            #expect(try await queue.complete(second, node: "b"))
            #expect(try await queue.tasks(run: "r").map(\.state) == [.done])
        }
    }
}

@Suite("Cluster rate limits on PostgreSQL", .postgresInstalled, .postgres, .serialized, .timeLimit(.minutes(3)))
struct ClusterRateLimiterTests {
    @Test("a bucket starts full (burst), refills at the rate on the database's time, and says how long to wait when empty")
    func bucket() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let a = ClusterRateLimiter(client: clients[0], node: "a", time: .injected(clock), logger: quietLogger)
            let b = ClusterRateLimiter(client: clients[1], node: "b", time: .injected(clock), logger: quietLogger)
            for limiter in [a, b, a] { #expect(try await limiter.acquire("ebay/revise", ratePerSecond: 4, burst: 3).granted) }
            let empty = try await b.acquire("ebay/revise", ratePerSecond: 4, burst: 3)
            #expect(empty == RateDecision(granted: false, waitMilliseconds: 250), "the burst is shared by both nodes")
            #expect(try await a.acquire("ebay/browse", ratePerSecond: 4, burst: 3).granted, "another key, another bucket")
            clock.advance(byMilliseconds: 249)
            #expect(try await !a.acquire("ebay/revise", ratePerSecond: 4, burst: 3).granted)
            clock.advance(byMilliseconds: 1)
            #expect(try await a.acquire("ebay/revise", ratePerSecond: 4, burst: 3).granted)
            #expect(try await b.acquire("ebay/revise", ratePerSecond: 4, burst: 3).waitMilliseconds == 250)
            clock.advance(byMilliseconds: 60_000)
            var granted = 0
            for _ in 0..<10 where try await b.acquire("ebay/revise", ratePerSecond: 4, burst: 3).granted { granted += 1 }
            #expect(granted == 3, "a long idle refills to the burst, not beyond")
        }
    }

    @Test("three clients hammering one bucket for 2 s: total grants ≤ burst + rate × window (database clock)")
    func hammer() async throws {
        try await withClients(3) { clients in
            let rate = 50.0, burst = 10
            let clock = clients[0]
            func dbNow() async throws -> Int64 {
                let rows = try await clock.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
                for try await ms in rows.decode(Int64.self) { return ms }
                throw ClusterError.noRow("now")
            }
            let began = try await dbNow()
            let counts = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for client in clients {
                    group.addTask {
                        let limiter = ClusterRateLimiter(client: client, node: "node-\(UUID().uuidString.prefix(8))", logger: quietLogger)
                        let deadline = ContinuousClock.now + .seconds(2)
                        var granted = 0, denied = 0
                        while ContinuousClock.now < deadline {
                            let decision = try await limiter.acquire("amazon/listings", ratePerSecond: rate, burst: burst)
                            if decision.granted { granted += 1 } else { denied += 1 }
                        }
                        return (granted, denied)
                    }
                }
                var all: [(Int, Int)] = []
                for try await count in group { all.append(count) }
                return all
            }
            let ended = try await dbNow()
            let window = Double(ended - began) / 1000
            let granted = counts.map(\.0).reduce(0, +), calls = counts.map { $0.0 + $0.1 }.reduce(0, +)
            let bound = Double(burst) + rate * window
            print("rate limit: \(granted) grants of \(calls) calls from 3 clients in \(window) s; bound \(bound)")
            #expect(Double(granted) <= bound, "\(granted) grants in \(window) s exceed burst + rate × window = \(bound)")
            #expect(Double(granted) >= rate * window * 0.5, "the bucket granted at its rate: \(granted) in \(window) s")
            #expect(calls > granted, "the clients asked for more than the rate")
            #expect(counts.allSatisfy { $0.0 + $0.1 > 0 })
        }
    }
}

@Suite("Cluster node names on PostgreSQL", .postgresInstalled, .postgres, .serialized, .timeLimit(.minutes(3)))
struct ClusterNodeNameTests {
    @Test("a second process with a live node's node_name refuses to start with a clear error; once the first's heartbeat is stale it takes the name, and the first stops")
    func duplicateRefused() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let first = ClusterCoordinator(client: clients[0], nodeID: "shop-1", host: "host-a", pid: 4242, time: .injected(clock),
                                           logger: quietLogger)
            let second = ClusterCoordinator(client: clients[1], nodeID: "shop-1", host: "host-b", pid: 4242, time: .injected(clock),
                                            logger: quietLogger)
            #expect(try await first.tick())
            let tokenBefore = try #require(await first.token)
            do {
                try await second.run(sleepingOn: clock)
                Issue.record("the second process started under a live node's name")
            } catch let error as ClusterError {
                #expect(error.isNodeNameInUse)
                #expect(error.description.contains("node_name \"shop-1\" is in use by another flipsyncd (host host-a, pid 4242"))
            }
            #expect(await second.token == nil, "the refused node never held the scheduler lease")
            clock.advance(byMilliseconds: 5000)
            await #expect(throws: ClusterError.self, "5 s without a heartbeat: not stale yet (6 s)") { try await second.tick() }
            #expect(try await first.tick(), "the first keeps its name and its lease")
            clock.advance(byMilliseconds: 6000)
            #expect(try await second.tick(), "the first's heartbeat is 6 s old: the name and the expired lease are the second's")
            #expect(await second.token == tokenBefore + 1, "under a new fencing token")
            let nodes = try await second.nodes()
            #expect(nodes.map(\.host) == ["host-b"] && nodes.map(\.role) == [.scheduler])
            // The first wakes from its pause: it finds its name taken and drops the lease at once.
            await #expect(throws: ClusterError.self) { try await first.tick() }
            #expect(await first.token == nil)
            #expect(try await first.claim([FireKey(job: "x", scheduledAt: 1)]) == nil, "it fires nothing")
        }
    }

    @Test("a node's name is free at once after its clean stop, or when its process on this host no longer exists; a live one on this host is refused")
    func cleanStopAndDeadProcess() async throws {
        try await withClients(1) { clients in
            let clock = ManualClock(start)
            func node(_ host: String, _ pid: Int64) -> ClusterCoordinator {
                ClusterCoordinator(client: clients[0], nodeID: "n", host: host, pid: pid, time: .injected(clock), logger: quietLogger)
            }
            let stopped = node("host-a", 1)
            try await stopped.tick()
            await stopped.release()
            let next = node("host-b", 2)
            #expect(try await next.tick(), "a clean stop frees the name")
            await next.release()
            // On one host: a process SIGKILLed and restarted under the same name at once.
            let killed = node("host-c", Int64(Int32.max))  // no such process
            try await killed.tick()
            let restarted = node("host-c", Int64(getpid()))
            try await restarted.tick()
            #expect(try await restarted.nodes().map(\.pid) == [Int64(getpid())], "the dead process's name was taken over")
            let another = node("host-c", Int64(getpid()))
            await #expect(throws: ClusterError.self, "this test's own process is alive: refused") { try await another.tick() }
            let elsewhere = node("host-d", Int64(Int32.max))
            await #expect(throws: ClusterError.self, "another host's process cannot be checked: refused until stale") {
                try await elsewhere.tick()
            }
        }
    }
}
