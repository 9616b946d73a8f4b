import FlipSyncCore
import FlipSyncStore

/// `flipsyncctl report --html`: one self-contained HTML file, its charts inline SVG drawn here.
/// No script, no stylesheet, font or image from anywhere else (the page's CSP forbids them), so
/// it opens the same offline, from a mail attachment or a file share.
///
/// Every piece of text from the ledger (SKUs, titles, job names, errors, summaries) is untrusted:
/// it goes through `HTML.escape` before it reaches the page, in text and in attributes alike.
public enum HTML {
    /// `&`, `<`, `>`, `"` and `'` as entities: safe in element text and in quoted attributes.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters (other than tab and newline) never reach the page.
                if c.value < 0x20 && c != "\n" && c != "\t" { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    /// A round tick step for an axis spanning `span` micros: 1, 2 or 5 × 10^k micros, about
    /// five ticks across.
    static func niceStep(_ span: Int64) -> Int64 {
        var step: Int64 = 1
        while true {
            for m: Int64 in [1, 2, 5] where span / (step * m) <= 6 { return step * m }
            step *= 10
        }
    }

    /// A number for an SVG attribute: one decimal, no exponent.
    static func n(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let tenths = (value * 10).rounded()
        let whole = Int64(tenths) / 10, frac = abs(Int64(tenths) % 10)
        return (tenths < 0 && whole == 0 ? "-" : "") + "\(whole)" + (frac == 0 ? "" : ".\(frac)")
    }

    public static func page(title: String, body: String,
                            footer: String = "Drawn by FlipSync from the run ledger. No script, nothing loaded from the network.") -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
        <title>\(escape(title))</title>
        <style>
        body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; max-width: 1150px; }
        h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; }
        .meta { color: #555; } table { border-collapse: collapse; margin: 8px 0; }
        td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; } th { background: #f3f3f3; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .verdict { padding: 10px 14px; border-radius: 6px; font-weight: bold; margin: 8px 0; }
        .verdict.ok { background: #e6f4ea; border: 2px solid #1e8e3e; color: #0d5223; }
        .verdict.bad { background: #fde7e7; border: 3px solid #c5221f; color: #8c1111; font-size: 16px; }
        .verdict.info { background: #eef3fb; border: 2px solid #4a6fa5; color: #23395d; }
        svg { background: #fff; border: 1px solid #ddd; } svg text { font: 11px sans-serif; fill: #333; }
        .legend span { display: inline-block; margin-right: 14px; } .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
        </style>
        </head>
        <body>
        \(body)
        <p class="meta">\(escape(footer))</p>
        </body>
        </html>

        """
    }

    static let statusColors: [String: String] = [
        "succeeded": "#1e8e3e", "failed": "#c5221f", "timed_out": "#e8710a", "cancelled": "#80868b", "skipped": "#bdc1c6",
        "interrupted": "#9334e6", "budget_exhausted": "#8d6e63", "running": "#1a73e8", "queued": "#8ab4f8",
    ]
    static let palette = ["#1a73e8", "#e8710a", "#1e8e3e", "#9334e6", "#c5221f", "#12b5cb", "#f9ab00", "#5f6368"]

    /// A horizontal bar chart: one `<rect class="CLASS">` per row, labelled on the left.
    static func horizontalBars(_ rows: [(label: String, value: Int, color: String)], cssClass: String, width: Int = 900) -> String {
        let rowHeight = 22, left = 260, height = max(1, rows.count) * rowHeight + 20
        let top = rows.map(\.value).max() ?? 1
        var svg = "<svg class=\"\(cssClass)-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\">"
        for (i, row) in rows.enumerated() {
            let y = 10 + i * rowHeight
            let w = Double(width - left - 60) * Double(row.value) / Double(max(1, top))
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 14)\" text-anchor=\"end\">\(escape(row.label))</text>"
            svg += "<rect class=\"\(cssClass)\" data-count=\"\(row.value)\" x=\"\(left)\" y=\"\(y + 2)\" width=\"\(n(max(1, w)))\" height=\"\(rowHeight - 6)\" fill=\"\(row.color)\"><title>\(escape(row.label)): \(row.value)</title></rect>"
            svg += "<text x=\"\(n(Double(left) + max(1, w) + 4))\" y=\"\(y + 14)\">\(row.value)</text>"
        }
        return svg + "</svg>"
    }
}

/// Why a report could not be made: no such run, or a run of a kind the report is not for.
public struct ReportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
