import ArgumentParser
import FlipSyncCore
import FlipSyncSandbox
import Foundation

@main
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flipsync-sandbox",
        abstract: "Run the local marketplace sandbox on loopback.",
        discussion: """
            Serves the real APIs' shapes over a catalog generated from --seed: eBay under /ebay
            (OAuth, Browse, Inventory, Fulfillment orders), Amazon SP-API under /amazon (LWA,
            Product Pricing, Listings Items, Orders), Shopify Admin under /shopify, EasyPost
            under /easypost, Ollama under /ollama and OpenAI-compatible chat under /openai; plus
            /_admin to inspect state, read the log of applied updates, place orders, inject
            faults and expire tokens. config/flipsync.toml points at http://127.0.0.1:8780. With
            --credentials-directory it accepts the values of the credential files there, by the
            names config/flipsync.toml and the shipped unit use (ebay-client-id, ebay-client-secret,
            ebay-refresh-token; amazon-lwa-client-id, amazon-lwa-client-secret,
            amazon-refresh-token; shopify-access-token; easypost-api-key; openai-api-key); a group
            must be complete, and a group that is absent keeps the sandbox's development values
            (eBay: client id "sandbox-client", secret "sandbox-secret", refresh token
            "sandbox-refresh-token").
            --limits production enforces each operation's real rate, burst and daily quota
            (Amazon 429 QuotaExceeded with x-amzn-RateLimit-Limit, eBay 429 errorId 2001, eBay
            days from midnight America/Los_Angeles); --limits generous (the default) limits
            nothing but the Shopify cost bucket. GET /_admin/limits shows them.
            Stops on SIGINT or SIGTERM, and with --exit-with-parent when the process that
            started it ends.
            """)

    @Option(help: "The loopback address to listen on: 127.x.x.x, ::1 or localhost; anything else is refused.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one and prints it).")
    var port = 8780

    @Option(help: "The seed of the generated catalog; the same seed gives the same data.")
    var seed: UInt64 = 1

    @Option(help: "How many of our listings to generate.")
    var listings = 200

    @Option(help: "Buyers' orders arriving by themselves, spread over the channels (0: only those placed through /_admin/orders).")
    var ordersPerHour = 0

    @Option(help: "A directory of credential files to accept (ebay-*, amazon-lwa-*, amazon-refresh-token, shopify-access-token, easypost-api-key, openai-api-key).")
    var credentialsDirectory: String?

    @Option(help: "generous (default: nothing throttled but Shopify's cost bucket) or production (real rates, bursts and daily quotas).")
    var limits = "generous"

    @Flag(help: "Stop when the process that started this one ends (benchmarks and test harnesses pass it, so one killed by a signal leaves no sandbox behind).")
    var exitWithParent = false

    func validate() throws {
        guard SandboxLimits(named: limits) != nil else { throw ValidationError("--limits must be generous or production, not \"\(limits)\"") }
        guard LoopbackHost.isLoopback(host: host) else {
            throw ValidationError("--host must be a loopback address (127.x.x.x, ::1 or localhost), not \"\(host)\": the sandbox accepts well-known development credentials")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard (1...1_000_000).contains(listings) else { throw ValidationError("--listings must be 1…1000000") }
        guard (0...360_000).contains(ordersPerHour) else { throw ValidationError("--orders-per-hour must be 0…360000") }
    }

    func run() async throws {
        if exitWithParent { ParentWatch.start() }
        var configuration = SandboxConfiguration(host: host, port: port, seed: seed, listings: listings, ordersPerHour: ordersPerHour)
        configuration.limits = SandboxLimits(named: limits) ?? .generous
        if let credentialsDirectory {
            do {
                try SandboxCredentialFiles.load(directory: credentialsDirectory, into: &configuration)
            } catch {
                throw ValidationError("--credentials-directory: \(error)")
            }
        }
        try await SandboxServer.runUntilSignalled(configuration) { bound in
            // Unbuffered, so a script reading our output learns the port at once.
            FileHandle.standardOutput.write(Data("flipsync-sandbox: listening on http://\(host):\(bound) (/ebay, /amazon, /shopify, /easypost, /ollama, /openai; admin under /_admin)\n".utf8))
        }
    }
}
