/// Just enough JSON writing where `Codable` is not the tool: the readiness scan's flat evidence
/// and its report (the other workflows' task values are `Codable`; these two keep their field
/// order, which the report's `headline` reads), and the lists SQLite's `json_each(?)` reads as a
/// statement's list parameter (SKUs, search keys, subjects, agents), written once per decide task
/// of a sweep, where `JSONEncoder` was 0.4 % of its CPU samples.
public enum JSONText {
    /// `s` as a JSON string: `"` and `\` escaped with a backslash, newline, carriage return and
    /// tab as `\n`, `\r`, `\t`, other characters below U+0020 as `\u00XX`, the rest as they are.
    public static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// `strings` as a JSON array of strings, in order.
    public static func array(_ strings: some Sequence<String>) -> String {
        "[" + strings.map(string).joined(separator: ",") + "]"
    }
}
