import FlipSyncCore

/// The readiness scan's probe of a rate-shopping API: one real quote (a paid call, within the
/// scan's budget) for a one-pound box between two fixed US ZIP codes.
struct CarrierQuoteProbe: ReachabilityProbe {
    let client: CarrierClient

    func ping() async throws {
        let rates = try await client.rates(for: Shipment(from: ShippingAddress(zip: "10001"), to: ShippingAddress(zip: "94103"),
                                                         parcel: Parcel(inches: 8, 6, 4, ounces: 16)))
        guard !rates.isEmpty else { throw MarketplaceError.malformed("the carrier API answered with no rates") }
    }
}

/// The readiness scan's probe of a chat model: the shortest real completion (metered like any call).
struct ChatProbe: ReachabilityProbe {
    let model: any ChatModel

    func ping() async throws {
        _ = try await model.complete(ChatRequest(messages: [.init(.user, "Reply with OK.")], maxOutputTokens: 4))
    }
}
