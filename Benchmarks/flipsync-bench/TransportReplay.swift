import FlipSyncMarketplaces
import Foundation

/// The sweep's recorded requests (the curl list `SweepBench.RequestRecorder` writes) sent again
/// through `AsyncHTTPClientTransport` alone, `concurrency` at a time: no request pipeline, no
/// decoding, no ledger. Its CPU per request is what the transport costs by itself, the floor
/// under the sweep's own.
enum TransportReplay {
    struct Outcome {
        let sent: Int
        let ok: Int
        let seconds: Double
        let cpu: Double
    }

    static func run(listPath: String, baseURL: String, concurrency: Int) async throws -> Outcome {
        let text = try String(contentsOfFile: listPath, encoding: .utf8)
        // Parsed before the clock starts: the list is not part of the cost.
        var requests: [HTTPRequest] = []
        for (index, line) in text.split(separator: "\n").enumerated() {
            requests.append(try parse(line, number: index + 1))
        }
        let transport = AsyncHTTPClientTransport(allowList: HostAllowList(baseURLs: [baseURL]), connectionsPerHost: concurrency)
        let cpuBefore = SweepBench.processCPUSeconds()
        let start = nowNanoseconds()
        let ok = try await withThrowingTaskGroup(of: Bool.self) { group in
            var next = 0, ok = 0
            func add() {
                let request = requests[next]
                next += 1
                group.addTask { (200...299).contains(try await transport.send(request).status) }
            }
            while next < min(concurrency, requests.count) { add() }
            while let answered = try await group.next() {
                if answered { ok += 1 }
                if next < requests.count { add() }
            }
            return ok
        }
        let seconds = Double(nowNanoseconds() - start) / 1e9
        let cpu = SweepBench.processCPUSeconds() - cpuBefore
        await transport.shutdown()
        return Outcome(sent: requests.count, ok: ok, seconds: seconds, cpu: cpu)
    }

    /// One line of `--next -s -o /dev/null -w '…' -X METHOD -H 'Name: value' … [--data-binary @file] 'URL'`.
    static func parse(_ line: Substring, number: Int) throws -> HTTPRequest {
        var words: [String] = []
        var rest = line[...]
        while let first = rest.first {
            if first == " " {
                rest = rest.dropFirst()
            } else if first == "'" {
                guard let close = rest.dropFirst().firstIndex(of: "'") else { throw BenchError.setup("request \(number): an open quote") }
                words.append(String(rest[rest.index(after: rest.startIndex)..<close]))
                rest = rest[rest.index(after: close)...]
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                words.append(String(rest[..<end]))
                rest = rest[end...]
            }
        }
        var method = HTTPRequest.Method.get
        var headers: [(name: String, value: String)] = []
        var body: [UInt8] = []
        var url: String?
        var index = 0
        func value() throws -> String {
            index += 1
            guard index < words.count else { throw BenchError.setup("request \(number): \(words[index - 1]) without a value") }
            return words[index]
        }
        while index < words.count {
            switch words[index] {
            case "--next", "-s": break
            case "-o", "-w": _ = try value()
            case "-X":
                let name = try value()
                guard let parsed = HTTPRequest.Method(rawValue: name) else { throw BenchError.setup("request \(number): method \(name)") }
                method = parsed
            case "-H":
                let header = try value()
                guard let colon = header.firstIndex(of: ":") else { throw BenchError.setup("request \(number): header without a colon") }
                headers.append((String(header[..<colon]), String(header[header.index(after: colon)...].drop(while: { $0 == " " }))))
            case "--data-binary":
                let path = String(try value().dropFirst())
                body = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            default:
                url = words[index]
            }
            index += 1
        }
        guard let url else { throw BenchError.setup("request \(number): no URL") }
        return HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: .seconds(120))
    }
}
