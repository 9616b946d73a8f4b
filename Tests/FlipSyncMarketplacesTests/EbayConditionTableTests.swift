import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncTestKit
import Foundation
import Testing

/// README's eBay condition table (under "Conditions") is the code's `EbayCondition.table`: every
/// `ConditionEnum` and `conditionId` in the row of the condition it is, and nothing else.
@Suite("README's eBay condition table is the one the clients use", .timeLimit(.minutes(1)))
struct EbayConditionTableTests {
    static let readme = URL(fileURLWithPath: packageRoot).appendingPathComponent("README.md")

    /// condition → (ConditionEnum values, conditionIds), from README's table.
    static func readmeTable() throws -> [ItemCondition: (enums: Set<String>, ids: Set<Int>)] {
        let text = try String(contentsOf: readme, encoding: .utf8)
        guard let header = text.range(of: "| condition | `ConditionEnum` (our listing) | `conditionId` (a Browse result) |") else { return [:] }
        let names: [String: ItemCondition] = ["new": .new, "new other": .newOther, "refurbished": .refurbished, "used": .used,
                                              "for parts": .forParts]
        var table: [ItemCondition: (enums: Set<String>, ids: Set<Int>)] = [:]
        for line in text[header.upperBound...].split(separator: "\n").dropFirst() {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 3, let condition = names[cells[0]] else {
                Issue.record("unexpected row: \(line)")
                continue
            }
            let enums = Set(cells[1].split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) })
            let ids = Set(cells[2].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
            table[condition] = (enums, ids)
        }
        return table
    }

    @Test("every entry of the code's table is in README's row of its condition, and README names no other")
    func sameTable() throws {
        let documented = try Self.readmeTable()
        try #require(documented.count == 5, "README's eBay condition table has \(documented.count) rows")
        var expected: [ItemCondition: (enums: Set<String>, ids: Set<Int>)] = [:]
        for entry in EbayCondition.table {
            expected[entry.condition, default: ([], [])].enums.insert(entry.inventoryEnum)
            expected[entry.condition, default: ([], [])].ids.insert(entry.id)
        }
        for condition in ItemCondition.allCases {
            #expect(documented[condition]?.enums == expected[condition]?.enums, "\(condition): README \(documented[condition]?.enums.sorted() ?? []), code \(expected[condition]?.enums.sorted() ?? [])")
            #expect(documented[condition]?.ids == expected[condition]?.ids, "\(condition): README \(documented[condition]?.ids.sorted() ?? []), code \(expected[condition]?.ids.sorted() ?? [])")
        }
    }
}
