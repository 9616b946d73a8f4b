import FlipSyncCluster
import FlipSyncCore
import FlipSyncTestKit
import Foundation
import PostgresNIO
import Testing

private let start = Timestamp(parsing: "2026-11-25T12:00:00Z")!

@Suite("Cluster endpoint", .timeLimit(.minutes(1)))
struct ClusterEndpointTests {
    @Test("[daemon] cluster parses user, host, port, database and sslmode; a password in the URL is refused")
    func parse() throws {
        let endpoint = try ClusterEndpoint.parse("postgres://flipsync@db.internal:6432/flipsync?sslmode=require").get()
        #expect(endpoint == ClusterEndpoint(user: "flipsync", host: "db.internal", port: 6432, database: "flipsync", tls: .require))
        #expect(try ClusterEndpoint.parse("postgresql://u@[::1]/d").get() == ClusterEndpoint(user: "u", host: "::1", database: "d"))
        guard case .failure(let problem) = ClusterEndpoint.parse("postgres://u:secret@h/d") else {
            Issue.record("a password in the URL was accepted")
            return
        }
        #expect(problem.message.contains("postgres-password"))
        #expect(!problem.message.contains("secret"))
        for bad in ["mysql://u@h/d", "postgres://h/d", "postgres://u@h", "postgres://u@h:0/d", "postgres://u@h/d?x=1"] {
            if case .success = ClusterEndpoint.parse(bad) { Issue.record("\(bad) was accepted") }
        }
    }
}

@Suite("Cluster on PostgreSQL", .postgresInstalled, .postgres, .serialized, .timeLimit(.minutes(10)))
struct ClusterTests {
    @Test("two schedulers on one database, 1000 fires with the lease handed over 3 times: each fire recorded by exactly one node")
    func thousandFiresNoDuplicates() async throws {
        let cluster = try await TestCluster(nodes: ["a", "b"], jobs: [everySecondJob("tick")], at: start)
        let (a, b) = (cluster["a"], cluster["b"])
        try await a.coordinator.tick()
        try await b.coordinator.tick()
        await a.start()
        await b.start()
        await cluster.clock.waitForSleepers(2)
        var leader = a, other = b
        // Two seconds more than counted: a fire is claimed when its scheduler wakes, which may be
        // one step of the virtual clock after its due time.
        for second in 1...1002 {
            if second % 250 == 0 && second <= 750 {
                // A clean stop of the leader's lease: the other node takes it at its next try.
                await leader.coordinator.release()
                swap(&leader, &other)
            }
            try await leader.coordinator.tick()
            try await other.coordinator.tick()
            await cluster.second(live: 2)
        }
        let last = start.secondsSinceEpoch + 1000
        let firesA = try a.recordedFires("tick").filter { $0 <= last }, firesB = try b.recordedFires("tick").filter { $0 <= last }
        let expected = Set((1...1000).map { start.secondsSinceEpoch + Int64($0) })
        #expect(firesA.count + firesB.count == 1000, "every fire recorded once in one of the two ledgers")
        #expect(Set(firesA).union(firesB) == expected, "no fire lost")
        #expect(Set(firesA).isDisjoint(with: firesB), "no fire recorded by both nodes")
        #expect(firesA.count > 0 && firesB.count > 0, "both nodes led for a while")
        let table = try await cluster.fires().filter { $0.at <= last }
        #expect(table.count == 1000)
        #expect(Set(table.map(\.token)).count == 4, "one fencing token per leadership: a, b, a, b (handovers at 250, 500, 750 s)")
        #expect(Set(table.filter { $0.node == "a" }.map(\.at)) == Set(firesA), "a recorded exactly the fires it claimed")
        // Runs started: none twice, across nodes.
        for _ in 0..<10_000 where cluster.started.all.filter({ $0.fire.scheduledAt <= last }).count < 1000 { await Task.yield() }
        let started = cluster.started.all
        #expect(Set(started.map(\.fire)).count == started.count, "no fire started twice")
        await a.scheduler.stop()
        await b.scheduler.stop()
        await cluster.shutdown()
    }

    @Test("on one shared ledger, a pause set through a standby node is obeyed by the scheduler node from its next fire, and no node's save clears it; a resume through the scheduler node runs the job again")
    func pauseAcrossNodes() async throws {
        let cluster = try await TestCluster(nodes: ["a", "b"], jobs: [everySecondJob("tick")], at: start, sharedLedger: true)
        let (a, b) = (cluster["a"], cluster["b"])
        try await a.coordinator.tick()
        try await b.coordinator.tick()
        await a.start()
        await b.start()
        await cluster.clock.waitForSleepers(2)
        func seconds(_ n: Int) async throws {
            for _ in 0..<n {
                try await a.coordinator.tick()
                try await b.coordinator.tick()
                await cluster.second(live: 2)
            }
        }
        try await seconds(5)
        try await b.scheduler.setPaused(true, job: "tick")  // through the standby
        let pausedAt = cluster.clock.now().secondsSinceEpoch
        try await seconds(6)
        let whilePaused = try a.store.recentRuns(job: "tick", limit: 1000).filter { ($0.scheduledAt ?? 0) > pausedAt }
        #expect(whilePaused.count >= 4, "the scheduler node kept handling the fires")
        #expect(whilePaused.allSatisfy { $0.status == .skipped && $0.skipReason == .paused },
                "\(whilePaused.map { "\($0.scheduledAt ?? 0) \($0.status.rawValue) \($0.skipReason?.rawValue ?? "-")" })")
        #expect(try a.store.scheduleStates()["tick"]?.paused == true, "no node's save cleared the pause")
        #expect(await a.scheduler.jobs().first { $0.name == "tick" }?.paused == true, "the scheduler node knows it")
        try await a.scheduler.setPaused(false, job: "tick")
        let resumedAt = cluster.clock.now().secondsSinceEpoch
        try await seconds(4)
        let afterResume = try a.store.recentRuns(job: "tick", limit: 1000).filter { ($0.scheduledAt ?? 0) > resumedAt }
        #expect(!afterResume.isEmpty && afterResume.allSatisfy { $0.skipReason != .paused }, "runs again after the resume")
        #expect(try a.store.scheduleStates()["tick"]?.paused == false)
        await a.scheduler.stop()
        await b.scheduler.stop()
        await cluster.shutdown()
    }

    @Test("the leader dies: the standby takes the lease within lease + acquire interval (7 s) and runs the fires missed meanwhile")
    func failover() async throws {
        let cluster = try await TestCluster(nodes: ["a", "b"], jobs: [everySecondJob("tick")], at: start)
        let (a, b) = (cluster["a"], cluster["b"])
        try await a.coordinator.tick()
        try await b.coordinator.tick()
        await a.start()
        await b.start()
        await cluster.clock.waitForSleepers(2)
        for _ in 1...20 {
            try await a.coordinator.tick()
            try await b.coordinator.tick()
            await cluster.second(live: 2)
        }
        // a renews one last time, then dies (its scheduler and its heartbeat).
        try await a.coordinator.tick()
        let death = cluster.clock.wallMilliseconds()
        await a.kill()
        for _ in 1...20 {
            try await b.coordinator.tick()
            await cluster.second(live: 1)
        }
        let table = try await cluster.fires()
        let firstByB = try #require(table.filter { $0.node == "b" }.map(\.claimedAt).min())
        let gap = firstByB - death
        let bound = a.coordinator.timing.failoverBoundMilliseconds
        #expect(gap <= bound, "b fired \(gap) ms after a's last renewal; the bound is \(bound) ms")
        #expect(gap <= 10_000)
        let all = Set(try a.recordedFires("tick")).union(try b.recordedFires("tick"))
        #expect(all == Set((1...40).map { start.secondsSinceEpoch + Int64($0) }), "the fires while no node held the lease were caught up")
        #expect(Set(try a.recordedFires("tick")).isDisjoint(with: try b.recordedFires("tick")))
        let caughtUp = try b.store.recentRuns(job: "tick", limit: 100).filter { ($0.scheduledAt ?? 0) * 1000 < firstByB - 1000 }
        #expect(!caughtUp.isEmpty && caughtUp.allSatisfy { $0.skipReason != .missed },
                "fires due before b took over ran by the job's policy (less than a minute late: on time), none recorded missed")
        print("failover: b's first fire \(gap) ms after a's last renewal (bound \(bound) ms)")
        await b.scheduler.stop()
        await cluster.shutdown()
    }

    @Test("fencing: a leader paused past its lease, waking after a takeover, cannot claim a fire; the new holder can")
    func staleLeaderFenced() async throws {
        let cluster = try await TestCluster(nodes: ["a", "b"], jobs: [everySecondJob("tick")], at: start)
        let (a, b) = (cluster["a"], cluster["b"])
        #expect(try await a.coordinator.tick())
        #expect(try await !b.coordinator.tick(), "a holds the lease")
        let tokenA = try #require(await a.coordinator.token)
        let fire = FireKey(job: "tick", scheduledAt: start.secondsSinceEpoch + 10)
        // a is paused (a VM stopped, a long GC): it renews nothing for 7 s.
        cluster.clock.advance(bySeconds: 7)
        #expect(try await b.coordinator.tick(), "the lease expired: b takes it")
        #expect(await b.coordinator.token == tokenA + 1, "a new fencing token")
        // a wakes and, still believing it leads, claims a fire.
        #expect(try await a.coordinator.claim([fire]) == nil, "refused: a's token is stale")
        #expect(await a.coordinator.token == nil, "a now knows it lost the lease")
        #expect(try await cluster.fires().isEmpty, "a inserted nothing")
        #expect(try await b.coordinator.claim([fire]) == [fire])
        #expect(try await b.coordinator.claim([fire]) == [fire], "claiming again under the same token is idempotent")
        #expect(try await !a.coordinator.tick(), "b holds the lease now")
        // Expired but not taken over: still refused (the lease is checked against the database's time).
        cluster.clock.advance(bySeconds: 7)
        let later = FireKey(job: "tick", scheduledAt: start.secondsSinceEpoch + 20)
        #expect(try await b.coordinator.claim([later]) == nil, "b's own lease expired: no claim without renewing")
        let table = try await cluster.fires()
        #expect(table.map(\.node) == ["b"] && table.map(\.token) == [tokenA + 1])
        await cluster.shutdown()
    }

    @Test("the node registry: roles, heartbeat ages, a clean stop and a lost node")
    func nodes() async throws {
        let cluster = try await TestCluster(nodes: ["a", "b", "c"], jobs: [everySecondJob("tick")], at: start)
        let (a, b, c) = (cluster["a"], cluster["b"], cluster["c"])
        try await a.coordinator.tick()
        try await b.coordinator.tick()
        try await c.coordinator.tick()
        cluster.clock.advance(bySeconds: 2)
        try await a.coordinator.tick()
        try await b.coordinator.tick()
        var nodes = try await a.coordinator.nodes()
        #expect(nodes.map(\.node) == ["a", "b", "c"])
        #expect(nodes.map(\.role) == [.scheduler, .standby, .standby])
        #expect(nodes.map(\.heartbeatAgeMilliseconds) == [0, 0, 2000])
        #expect(nodes.map(\.tasksClaimed) == [0, 0, 0], "no task claimed yet")
        // Tasks of the queue claimed per node: b holds 3, c 2 (one of them finished: not counted).
        let queue = ClusterTaskQueue(client: a.client, time: .injected(cluster.clock), logger: quietLogger)
        #expect(try await queue.enqueue(run: "run-1", tasks: (0..<6).map { (key: "k\($0)", payload: "{}") }) == 6)
        #expect(try await queue.claim(node: "b", limit: 3, leaseMilliseconds: 60_000).count == 3)
        let cClaimed = try await queue.claim(node: "c", limit: 2, leaseMilliseconds: 60_000)
        #expect(try await queue.complete(cClaimed[0], node: "c"))
        nodes = try await a.coordinator.nodes()
        #expect(nodes.map(\.tasksClaimed) == [0, 3, 1], "b claimed 3; c claimed 2 and finished 1; a none")
        #expect(nodes.map(\.tasksInFlight) == [0, 0, 0], "runs in flight are another column")
        await a.coordinator.release()
        cluster.clock.advance(bySeconds: 5)
        try await b.coordinator.tick()
        nodes = try await b.coordinator.nodes()
        #expect(nodes.map(\.role) == [.stopped, .scheduler, .lost], "a stopped cleanly; b took the lease; c has not been heard from for 7 s")
        await cluster.shutdown()
    }

    @Test("on the database's own clock: the lease is taken and the node's heartbeat is fresh")
    func databaseClock() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase()
        try await TestPostgres.withClient(endpoint, password: server.password) { client in
            let node = ClusterCoordinator(client: client, nodeID: "solo", host: "test-host", pid: 1, time: .database, logger: quietLogger)
            try await node.migrate()
            try await node.migrate()  // a second start migrates nothing
            #expect(try await node.tick())
            let nodes = try await node.nodes()
            #expect(nodes.count == 1 && nodes[0].role == .scheduler)
            #expect(nodes[0].heartbeatAgeMilliseconds < 5000)
            #expect(try await node.claim([FireKey(job: "x", scheduledAt: 1)]) == [FireKey(job: "x", scheduledAt: 1)])
        }
    }
}

@Suite("Cluster node stopping with its database unreachable", .timeLimit(.minutes(1)))
struct ClusterUnreachableStopTests {
    @Test("a node whose PostgreSQL refuses connections stops within the release bound (3 s) once cancelled, not after the pool's retries (it took ~48 s)")
    func stopsPromptly() async throws {
        // Port 1 on loopback: nothing listens, every connection is refused.
        let endpoint = ClusterEndpoint(user: "flipsync", host: "127.0.0.1", port: 1, database: "flipsync", tls: .disable)
        let client = PostgresClient(configuration: endpoint.clientConfiguration(password: "unused"), backgroundLogger: quietLogger)
        let clientRun = Task { await client.run() }
        let coordinator = ClusterCoordinator(client: client, nodeID: "n1", host: "test-host", pid: 1, logger: quietLogger)
        let running = Task { try await coordinator.run(sleepingOn: SystemSchedulerClock()) }
        try await Task.sleep(for: .milliseconds(1500))  // real time: heartbeats failing against a real refused port
        let stopping = ContinuousClock.now
        running.cancel()
        _ = await running.result
        let took = ContinuousClock.now - stopping
        clientRun.cancel()
        await clientRun.value
        #expect(took < .seconds(5), "stopping took \(took)")
        #expect(await coordinator.token == nil)
    }
}
