import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Logging

/// `run --local --sandbox`: the built-in sandbox marketplace, served in-process on the loopback
/// address the config's base URLs name, and its development credentials handed to the clients
/// by the credential names the config uses. Never used against anything but loopback.
struct LocalSandbox {
    let server: SandboxServer
    let secret: ChannelFactory.SecretLookup

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    static func start(config: FlipSyncConfig, seed: UInt64 = 1, listings: Int = 200, logger: Logger) async throws -> LocalSandbox {
        var urls = config.marketplaces.values.map(\.baseURL) + config.carriers.values.map(\.baseURL) + config.llm.values.map(\.baseURL)
        urls += config.marketplaces.values.compactMap(\.tokenURL)
        let addresses = Set(urls.compactMap(Self.loopbackAddress))
        guard addresses.count == 1, let address = addresses.first, urls.allSatisfy({ Self.loopbackAddress($0) != nil }) else {
            throw Refused(description: "--sandbox needs every base_url in \(config.file) on one loopback address and port (the sandbox's), e.g. http://127.0.0.1:8780/ebay")
        }
        let server = try await SandboxServer.start(SandboxConfiguration(host: address.host, port: address.port, seed: seed, listings: listings), logger: logger)
        let values = server.developmentCredentials(for: config)
        let known = values
        return LocalSandbox(server: server, secret: { name in
            guard let value = known[name] else { throw Refused(description: "the sandbox has no development value for credential \"\(name)\"") }
            return SecretText(value)
        })
    }

    struct Address: Hashable {
        var host: String
        var port: Int
    }

    /// The address of a plain `http://HOST:PORT/…` URL whose host is loopback by
    /// `LoopbackHost` (127.x.x.x, [::1], localhost), with its port written out (the sandbox never
    /// listens on 80); parsed by `HTTPURLAuthority`, like every URL the config names.
    static func loopbackAddress(_ url: String) -> Address? {
        guard let parts = HTTPURLAuthority(url), parts.scheme == "http", parts.portIsExplicit,
              LoopbackHost.isLoopback(host: parts.host) else { return nil }
        return Address(host: parts.host, port: parts.port)
    }
}
