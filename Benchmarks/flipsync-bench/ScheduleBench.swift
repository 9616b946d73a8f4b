import FlipSyncCore
import Foundation

/// Item 1 of issue 7: nanoseconds per `next()`, ours against Python's cronsim and croniter on the
/// same cron expressions (a Python subprocess launched in the same invocation).
///
/// Each measurement walks forward: `t = next(after: t)`, restarting from the base instant every
/// `restartEvery` fires so that sparse expressions stay within the years every library supports.
/// The best of three rounds is kept on both sides.
enum ScheduleBench {
    static let base: Int64 = 1_767_225_600  // 2026-01-01T00:00:00Z: a year with both DST changes ahead
    static let restartEvery = 400

    struct Case {
        var expression: String
        var zone: String
        var cron: Bool
    }

    static let cases: [Case] = {
        let calendar = ["daily", "hourly", "Mon..Fri *-*-* 02:00", "*:0/15", "*-*-* 02:30:00", "Sat *-*-1..7 18:00:00"]
        let cron = ["0 2 * * *", "*/5 * * * *", "30 2 * * *", "0 9 * * 1-5", "*/15 9-17 * * 1-5", "0 0 1 * *"]
        let zones = ["UTC", "America/New_York", "Australia/Lord_Howe"]
        var cases: [Case] = []
        for zone in zones {
            cases += calendar.map { Case(expression: $0, zone: zone, cron: false) }
            cases += cron.map { Case(expression: $0, zone: zone, cron: true) }
        }
        return cases
    }()

    static let python = #"""
import json, sys, time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
cases, n, restart, base = json.loads(sys.stdin.read())
libs = {}
try:
    from cronsim import CronSim
    def run_cronsim(expr, start, n):
        done = 0
        while done < n:
            it = CronSim(expr, start)
            for _ in range(min(restart, n - done)):
                next(it)
            done += min(restart, n - done)
    libs["cronsim"] = run_cronsim
except ImportError:
    print(json.dumps({"missing": "cronsim"}), flush=True)
try:
    from croniter import croniter
    def run_croniter(expr, start, n):
        done = 0
        while done < n:
            it = croniter(expr, start)
            for _ in range(min(restart, n - done)):
                it.get_next(datetime)
            done += min(restart, n - done)
    libs["croniter"] = run_croniter
except ImportError:
    print(json.dumps({"missing": "croniter"}), flush=True)
for expr, zone in cases:
    start = datetime.fromtimestamp(base, timezone.utc).astimezone(ZoneInfo(zone))
    for name, run in libs.items():
        best = None
        for _ in range(3):
            t0 = time.perf_counter_ns()
            run(expr, start, n)
            elapsed = (time.perf_counter_ns() - t0) / n
            best = elapsed if best is None else min(best, elapsed)
        print(json.dumps({"expr": expr, "zone": zone, "lib": name, "ns": best}), flush=True)
"""#

    static func run(quick: Bool, table: ResultTable) throws {
        let iterations = quick ? 4_000 : 40_000
        let pythonIterations = quick ? 400 : 1_200
        var zones: [String: ZoneRules] = [:]
        var ours: [String: Double] = [:]
        for c in cases {
            let zone = try zones[c.zone] ?? ZoneRules.named(c.zone)
            zones[c.zone] = zone
            let expression = try ScheduleExpression(parsing: c.cron ? "cron:" + c.expression : c.expression)
            var best = Double.infinity
            for _ in 0..<3 {
                var done = 0
                var checksum: Int64 = 0
                let start = nowNanoseconds()
                while done < iterations {
                    var t = Timestamp(secondsSinceEpoch: base)
                    for _ in 0..<min(restartEvery, iterations - done) {
                        guard let next = expression.next(after: t, in: zone) else { break }
                        t = next
                        checksum &+= next.secondsSinceEpoch
                    }
                    done += restartEvery
                }
                blackHole &+= checksum
                best = min(best, Double(nowNanoseconds() - start) / Double(iterations))
            }
            ours["\(c.expression)|\(c.zone)"] = best
        }

        // Python, on the cron expressions (neither library reads OnCalendar).
        let cronCases = cases.filter(\.cron).map { [$0.expression, $0.zone] }
        let payload = try JSONSerialization.data(withJSONObject: [cronCases, pythonIterations, restartEvery, base] as [Any])
        var theirs: [String: [String: Double]] = [:]
        var missing: [String] = []
        do {
            let result = try runCommand(["python3", "-c", python], stdin: String(decoding: payload, as: UTF8.self), timeout: 600)
            for line in result.output.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
                if let lib = object["missing"] as? String { missing.append(lib); continue }
                if let expr = object["expr"] as? String, let zone = object["zone"] as? String,
                   let lib = object["lib"] as? String, let ns = object["ns"] as? Double {
                    theirs["\(expr)|\(zone)", default: [:]][lib] = ns
                }
            }
            if result.status != 0 { table.notes.append("python3 exited \(result.status) during the schedule comparison") }
        } catch {
            table.notes.append("python3 could not be run: \(error)")
        }
        for lib in missing { table.notes.append("\(lib) is not installed: its column is empty (pip install \(lib))") }

        for c in cases {
            let key = "\(c.expression)|\(c.zone)"
            let ns = ours[key] ?? 0
            var row = ResultRow(benchmark: "1 schedule", metric: "next() \(c.cron ? "cron" : "OnCalendar") `\(c.expression)` \(c.zone)",
                                value: "\(format(ns, digits: 0)) ns", goal: "few hundred ns (≤ 500)",
                                verdict: ns <= 500 ? "meets" : "over")
            if let python = theirs[key] {
                let parts = ["cronsim", "croniter"].compactMap { lib in python[lib].map { "\(lib) \(format($0, digits: 0)) ns" } }
                row.reference = parts.joined(separator: ", ")
                row.ratio = ["cronsim", "croniter"].compactMap { lib in python[lib].map { format($0 / ns, digits: 0) + "×" } }
                    .joined(separator: ", ") + " faster"
            }
            table.add(row)
        }
        table.notes.append("schedule: ratio = their ns ÷ ours (how many times faster ours is); \(iterations) chained next() per expression (Python: \(pythonIterations)), best of 3, restarting from 2026-01-01 every \(restartEvery) fires")
    }
}
