/// A secret value (an API token, a client secret) that does not show itself by accident.
///
/// `description`, `debugDescription` and the mirror (`dump`, `String(reflecting:)`, the default
/// description of a struct holding one) are all `<redacted>`, so interpolating a `Secret` — or a
/// value containing one — into a log or an error message never leaks it. Only ``reveal()``
/// gives the text; call it where the secret is used (an `Authorization` header), nowhere else.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let text: String

    public init(_ text: String) {
        self.text = text
    }

    /// The secret itself.
    public func reveal() -> String { text }

    /// The secret itself; the same as ``reveal()``.
    public var value: String { text }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
