import FlipSyncCore
import Foundation
import Hummingbird

/// Small helpers for JSON in and out of the sandbox's handlers.
enum JSON {
    static func response(_ object: Any, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return raw(Array(data), status: status, headers: extra)
    }

    static func raw(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// eBay's error body: `{"errors":[{"errorId","domain","category","message"}]}`.
    static func ebayError(status: Int, errorId: Int, domain: String = "API_SANDBOX", category: String = "REQUEST",
                          message: String, headers: HTTPFields = [:]) -> Response {
        response(["errors": [["errorId": errorId, "domain": domain, "category": category, "message": message]]],
                 status: HTTPResponse.Status(code: status), headers: headers)
    }

    static func body(_ request: Request, limit: Int = 1 << 20) async throws -> [UInt8] {
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        return Array(buffer.readableBytesView)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(bytes))
    }

    /// Micro-units as eBay's amount: `{"value":"12.99","currency":"USD"}` (two decimals, USD-style).
    static func amount(_ micros: Int64, _ currency: String) -> [String: Any] {
        ["value": Money(micros: micros, currency: .usd).fixedDecimalString, "currency": currency]
    }
}
