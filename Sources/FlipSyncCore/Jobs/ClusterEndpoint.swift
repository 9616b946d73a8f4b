/// `[daemon] cluster = "postgres://USER@HOST:PORT/DATABASE"`: the PostgreSQL database several
/// flipsyncd nodes share. No password in the URL (it is refused): it comes from the credential
/// `postgres-password`. `?sslmode=disable|prefer|require` (default `prefer`).
public struct ClusterEndpoint: Sendable, Hashable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Hashable { case disable, prefer, require }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLSMode

    /// The credential the password is read from.
    public static let passwordCredential = "postgres-password"

    public init(user: String, host: String, port: Int = 5432, database: String, tls: TLSMode = .prefer) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
        self.tls = tls
    }

    /// Parses the URL; the error says what is wrong in words for the config's diagnostics.
    public static func parse(_ text: String) -> Result<ClusterEndpoint, ClusterEndpointError> {
        var rest: Substring
        if text.hasPrefix("postgres://") { rest = text.dropFirst("postgres://".count) }
        else if text.hasPrefix("postgresql://") { rest = text.dropFirst("postgresql://".count) }
        else { return .failure(.init("must start with postgres://")) }
        var tls = TLSMode.prefer
        if let q = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: q)...]
            rest = rest[..<q]
            for pair in query.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, kv[0] == "sslmode", let mode = TLSMode(rawValue: kv[1]) else {
                    return .failure(.init("the only query parameter is sslmode=disable|prefer|require, not \"\(pair)\""))
                }
                tls = mode
            }
        }
        guard let at = rest.lastIndex(of: "@") else { return .failure(.init("needs a user: postgres://USER@HOST:PORT/DATABASE")) }
        let user = String(rest[..<at])
        if user.contains(":") {
            return .failure(.init("must not hold a password (put it in the credential \"\(passwordCredential)\")"))
        }
        guard !user.isEmpty else { return .failure(.init("needs a user: postgres://USER@HOST:PORT/DATABASE")) }
        rest = rest[rest.index(after: at)...]
        guard let slash = rest.firstIndex(of: "/") else { return .failure(.init("needs a database: postgres://USER@HOST:PORT/DATABASE")) }
        let database = String(rest[rest.index(after: slash)...])
        guard !database.isEmpty, !database.contains("/") else { return .failure(.init("needs one database name after the host")) }
        let hostPort = rest[..<slash]
        var host = String(hostPort), port = 5432
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else {
                return .failure(.init("has a bad port"))
            }
            port = p
            host = String(hostPort[..<colon])
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return .failure(.init("needs a host")) }
        return .success(ClusterEndpoint(user: user, host: host, port: port, database: database, tls: tls))
    }

    /// The URL as written (no password: it never has one).
    public var description: String {
        "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)" + (tls == .prefer ? "" : "?sslmode=\(tls.rawValue)")
    }
}

public struct ClusterEndpointError: Error, Sendable, Hashable {
    public var message: String
    init(_ message: String) { self.message = message }
}
