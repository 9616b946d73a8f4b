import FlipSyncMarketplaces
import Testing

/// The HTTP transports, so the transport suites run over each while both exist.
enum TestTransport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case urlSession = "URLSession"
    case asyncHTTPClient = "AsyncHTTPClient"

    var testDescription: String { rawValue }

    func make(_ allowList: HostAllowList, maxResponseBytes: Int? = nil) -> any HTTPTransport {
        switch self {
        case .urlSession:
            return URLSessionTransport(allowList: allowList, maxResponseBytes: maxResponseBytes ?? URLSessionTransport.defaultMaxResponseBytes)
        case .asyncHTTPClient:
            return AsyncHTTPClientTransport(allowList: allowList,
                                            maxResponseBytes: maxResponseBytes ?? AsyncHTTPClientTransport.defaultMaxResponseBytes)
        }
    }

    func maxResponseBytes(of transport: any HTTPTransport) -> Int? {
        (transport as? URLSessionTransport)?.maxResponseBytes ?? (transport as? AsyncHTTPClientTransport)?.maxResponseBytes
    }
}
