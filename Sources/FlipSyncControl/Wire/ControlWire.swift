import Foundation

/// Encodes and decodes the control socket's lines: JSON objects with sorted keys, each followed
/// by one newline. JSON escapes control characters inside strings, so an encoded value never
/// contains a newline of its own.
enum ControlWire {
    /// The longest response line a client reads, newline excluded. A `list` of thousands of jobs
    /// fits easily; this only stops a confused peer from filling memory.
    static let maxResponseBytes = 16 * 1024 * 1024

    static func line(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            var bytes = [UInt8](try encoder.encode(value))
            bytes.append(UInt8(ascii: "\n"))
            return bytes
        } catch {
            // Requests and responses hold strings, integers and booleans: nothing JSON cannot say.
            preconditionFailure("cannot encode a control message: \(error)")
        }
    }

    static func request(from line: [UInt8]) throws(ControlError) -> ControlRequest {
        do {
            return try JSONDecoder().decode(ControlRequest.self, from: Data(line))
        } catch {
            throw .malformedRequest(reason(error))
        }
    }

    static func response(from line: [UInt8]) throws(ControlError) -> ControlResponse {
        do {
            return try JSONDecoder().decode(ControlResponse.self, from: Data(line))
        } catch {
            throw .malformedResponse(reason(error))
        }
    }

    /// What was wrong with a line, in a few words — not Foundation's paragraph.
    static func reason(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func key(_ path: [any CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let missing, let context):
            return "missing \"\(key(context.codingPath + [missing]))\""
        case .valueNotFound(_, let context):
            return "\"\(key(context.codingPath))\" is null"
        case .typeMismatch(let type, let context):
            return context.codingPath.isEmpty
                ? "expected a JSON object"
                : "\"\(key(context.codingPath))\" is not \(type == Bool.self ? "true or false" : "a \(type)")"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : context.debugDescription
        @unknown default:
            return "\(error)"
        }
    }
}
