/// `daemon.metrics`: a loopback host and a port, `HOST:PORT` (`127.0.0.1:9466`, `[::1]:9466`,
/// `localhost:9466`). Port 0 asks the kernel for a free port (tests). Any host that is not
/// loopback (by `LoopbackHost`) is refused: the metrics have no authentication.
public struct MetricsAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public struct Problem: Error, Sendable { public var message: String }

    public static func parse(_ text: String) -> Result<MetricsAddress, Problem> {
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return .failure(Problem(message: "must be HOST:PORT, like \"127.0.0.1:9466\" (found \"\(text)\")"))
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                return .failure(Problem(message: "must be HOST:PORT, like \"127.0.0.1:9466\" (found \"\(text)\")"))
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText),
              port <= 65_535 else {
            return .failure(Problem(message: "the port must be a number 0…65535 (found \"\(text)\")"))
        }
        guard LoopbackHost.isLoopback(host: String(host)) else {
            return .failure(Problem(message: "metrics are served on loopback only (127.0.0.1, ::1 or localhost): \"\(host)\" is not"))
        }
        return .success(MetricsAddress(host: String(host), port: port))
    }
}
