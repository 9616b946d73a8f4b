import FlipSyncTestKit
import Foundation
import Testing

/// README.md's architecture table ("What each module may import") is the contract a reader
/// trusts: every module under `Sources/` has a row, and every module its sources import is named
/// in that row (by its short name, Core for FlipSyncCore, or in full).
@Suite("README's architecture table names every import", .timeLimit(.minutes(1)))
struct ArchitectureTableTests {
    static let root = URL(fileURLWithPath: packageRoot)

    /// The toolchain's own modules, which any module may import.
    static let toolchain: Set<String> = ["Foundation", "FoundationEssentials", "Dispatch", "Synchronization", "Glibc", "Musl", "Darwin",
                                         "_Concurrency"]

    /// The table's rows: module name → the names its cell mentions (words of it, short FlipSync
    /// names expanded: `Core` → `FlipSyncCore`).
    static func table() throws -> [String: Set<String>] {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "What each module may import") else {
            Issue.record("README.md has no architecture table")
            return [:]
        }
        var rows: [String: Set<String>] = [:]
        var inTable = false
        for line in readme[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("|") else {
                if inTable { break }
                continue
            }
            inTable = true
            let cells = text.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, cells[0] != "Module", !cells[0].hasPrefix("-") else { continue }
            var names: Set<String> = []
            var word = ""
            for character in cells[1] + " " {
                if character.isLetter || character.isNumber || character == "_" {
                    word.append(character)
                } else if !word.isEmpty {
                    names.insert(word)
                    names.insert("FlipSync" + word)
                    word = ""
                }
            }
            rows[cells[0]] = names
        }
        return rows
    }

    /// The modules `source` imports (any `import` form: attributes, access levels, `import struct M.T`).
    static func imports(_ source: String) -> Set<String> {
        let kinds: Set<String> = ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"]
        var found: Set<String> = []
        for line in source.split(separator: "\n") {
            var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            while let first = words.first, first.hasPrefix("@") || ["public", "internal", "private", "fileprivate", "package"].contains(first) {
                words.removeFirst()
            }
            guard words.first == "import", words.count >= 2 else { continue }
            let path = kinds.contains(words[1]) && words.count >= 3 ? words[2] : words[1]
            found.insert(String(path.split(separator: ".")[0]))
        }
        return found
    }

    @Test("every module has a row, and every import of its sources is named in it")
    func tableMatchesSources() throws {
        let rows = try Self.table()
        try #require(!rows.isEmpty)
        let sources = Self.root.appendingPathComponent("Sources")
        let fm = FileManager.default
        var checked = 0
        for module in try fm.contentsOfDirectory(atPath: sources.path).sorted() {
            let directory = sources.appendingPathComponent(module)
            let files = (fm.enumerator(atPath: directory.path)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".swift") }
            guard !files.isEmpty else { continue }  // a C or system-library target
            guard let named = rows[module] else {
                Issue.record("README's architecture table has no row for \(module)")
                continue
            }
            var imported: Set<String> = []
            for file in files {
                imported.formUnion(Self.imports(try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)))
            }
            let unnamed = imported.subtracting(Self.toolchain).subtracting(named).subtracting([module])
            #expect(unnamed.isEmpty, "\(module) imports \(unnamed.sorted()), which its row in README's architecture table does not name")
            checked += 1
        }
        #expect(checked >= 14, "only \(checked) modules checked")
    }

    @Test("the import reader finds every form of import, and nothing else")
    func importReader() {
        let source = """
            import Foundation
            @testable import FlipSyncCore
            @preconcurrency import NIOCore
            public import struct PostgresNIO.PostgresClient
            // import Commented
            let important = "import Quoted"
            """
        #expect(Self.imports(source) == ["Foundation", "FlipSyncCore", "NIOCore", "PostgresNIO"])
    }
}
