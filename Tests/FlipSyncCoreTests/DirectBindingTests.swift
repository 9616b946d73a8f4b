import Foundation
import GRDB
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore
import FlipSyncTestKit

/// `Statement.executeBound`: the hot writes' values bound through SQLite's C API. What it stores
/// must be what `execute(arguments:)` stores for the same values, on the same cached statement,
/// in either order.
@Suite("Ledger: values bound directly store what GRDB's arguments store", .timeLimit(.minutes(1)))
struct DirectBindingTests {
    static let insert = "INSERT INTO t (i, n, b, s, o) VALUES (?, ?, ?, ?, ?)"

    func database() throws -> (DatabaseQueue, Scratch) {
        let scratch = Scratch()
        let db = try DatabaseQueue(path: scratch.path + "/bound.sqlite")
        try db.write { db in
            try db.execute(sql: "CREATE TABLE t (k INTEGER PRIMARY KEY, i INTEGER, n INTEGER, b INTEGER, s TEXT NOT NULL, o TEXT)")
        }
        return (db, scratch)
    }

    /// Every column of every row, as stored (type and value).
    func rows(_ db: DatabaseQueue) throws -> [[DatabaseValue]] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT i, n, b, s, o FROM t ORDER BY k").map { row in (0..<5).map { row[$0] as DatabaseValue } }
        }
    }

    @Test("each kind of value (Int64, Int, Bool, text, nil and a value of an optional) is stored as execute(arguments:) stores it, alternating on one cached statement")
    func sameAsArguments() throws {
        let (direct, s1) = try database(), (grdb, s2) = try database()
        defer { _ = (s1, s2) }
        let values: [(Int64, Int?, Bool, String, String?)] = [
            (Int64.min, 0, true, "", nil), (Int64.max, -7, false, "é ✓ 𝄞", "x"), (42, nil, true, "a\u{0}b", "tail\u{0}"),
            (-1, Int.max, false, String(repeating: "long ", count: 1_000), ""),
            (0, 1, true, "\u{0}lead", "short\u{0}but not this, and long enough not to be stored inline"),
        ]
        try direct.write { db in
            for (index, v) in values.enumerated() {
                let statement = try db.cachedStatement(sql: Self.insert)
                // Every other row through GRDB's arguments on the same statement: neither way
                // may leave bindings or state that the other picks up.
                if index % 2 == 0 {
                    try statement.executeBound(v.0, v.1, v.2, v.3, v.4)
                } else {
                    try statement.execute(arguments: [v.0, v.1, v.2, v.3, v.4])
                }
            }
        }
        try grdb.write { db in
            for v in values { try db.cachedStatement(sql: Self.insert).execute(arguments: [v.0, v.1, v.2, v.3, v.4]) }
        }
        let stored = try rows(direct)
        #expect(stored == (try rows(grdb)))
        #expect(stored.count == values.count)
        // Text as GRDB binds it: up to a NUL.
        #expect(stored[2][3] == "a".databaseValue)
        #expect(stored[0][4] == .null && stored[1][1] == (-7).databaseValue)
        #expect(stored[4][3] == "".databaseValue && stored[4][4] == "short".databaseValue)
    }

    @Test("a cursor over a statement bound directly reads what one with GRDB's arguments reads, alternating on one cached statement")
    func boundRead() throws {
        let (queue, scratch) = try database()
        defer { _ = scratch }
        try queue.write { db in
            for k in 0..<20 { try db.execute(sql: Self.insert, arguments: [k % 4, k, k % 2 == 0, "s\(k % 3)", nil]) }
        }
        try queue.read { db in
            let sql = "SELECT n FROM t WHERE i = ? AND s = ? ORDER BY n"
            for round in 0..<12 {
                let (i, s) = (Int64(round % 4), "s\(round % 3)")
                let reference = try Int.fetchAll(db.cachedStatement(sql: sql), arguments: [i, s])
                var direct: [Int] = []
                let rows = try Row.fetchCursor(db.cachedStatement(sql: sql).bound(i, s))
                while let row = try rows.next() { direct.append(row[0]) }
                #expect(direct == reference, "round \(round)")
                #expect(!reference.isEmpty)
            }
            #expect(throws: DatabaseError.self) { _ = try db.cachedStatement(sql: sql).bound(Int64(1)) }
        }
    }

    @Test("a count of values other than the statement's parameters is an error, and nothing is written")
    func wrongCount() throws {
        let (queue, scratch) = try database()
        defer { _ = scratch }
        try queue.write { db in
            let statement = try db.cachedStatement(sql: Self.insert)
            #expect(throws: DatabaseError.self) { try statement.executeBound(Int64(1), 2, true, "four") }
            #expect(throws: DatabaseError.self) { try statement.executeBound(Int64(1), 2, true, "four", "five", "six") }
        }
        #expect(try rows(queue).isEmpty)
    }

    @Test("a failed execution (a constraint) is SQLite's error, and the next write on the statement's SQL succeeds")
    func failureThenReuse() throws {
        let (queue, scratch) = try database()
        defer { _ = scratch }
        try queue.write { db in
            let missing: String? = nil
            let error = #expect(throws: DatabaseError.self) {
                try db.cachedStatement(sql: "INSERT INTO t (i, n, b, s, o) VALUES (?, ?, ?, ?, ?)").executeBound(Int64(1), 2, true, missing, missing)
            }
            #expect(error?.resultCode == .SQLITE_CONSTRAINT)
            #expect(error?.extendedResultCode == .SQLITE_CONSTRAINT_NOTNULL)
            #expect(error?.message?.contains("NOT NULL constraint failed: t.s") == true)
            #expect(error?.sql == Self.insert)
            try db.cachedStatement(sql: Self.insert).executeBound(Int64(3), 4, false, "ok", missing)
            // GRDB's own execution of the same cached statement after a failed direct one.
            #expect(throws: DatabaseError.self) { try db.cachedStatement(sql: Self.insert).executeBound(Int64(5), 6, true, missing, missing) }
            try db.cachedStatement(sql: Self.insert).execute(arguments: [7, 8, true, "grdb", nil])
        }
        #expect(try rows(queue) == [[3.databaseValue, 4.databaseValue, 0.databaseValue, "ok".databaseValue, .null],
                                    [7.databaseValue, 8.databaseValue, 1.databaseValue, "grdb".databaseValue, .null]])
    }
}

/// `JSONText.array`: the list parameter `json_each(?)` reads. SQLite must read back exactly the
/// strings given, as it does from `JSONEncoder`'s text.
@Suite("Ledger: a list of strings as json_each's JSON text", .timeLimit(.minutes(1)))
struct JSONTextArrayTests {
    @Test("json_each reads back every string as given (quotes, backslashes, every control character, slashes, non-ASCII), in order, as from JSONEncoder's text")
    func roundTrip() throws {
        let scratch = Scratch()
        defer { _ = scratch }
        let queue = try DatabaseQueue(path: scratch.path + "/list.sqlite")
        let controls = (1..<0x20).map { String(UnicodeScalar(UInt8($0))) }
        let lists: [[String]] = [
            [], [""], ["SKU-1", "SKU-2"], ["a\"b", "c\\d", "\\\"", "e/f", "</script>"], controls, [controls.joined()],
            ["é", "日本語", "𝄞 clef", "\u{7f}", "\u{2028}\u{2029}"], Array(repeating: "same", count: 3),
        ]
        for list in lists {
            let text = JSONText.array(list)
            let reference = String(decoding: try JSONEncoder().encode(list), as: UTF8.self)
            let (read, fromEncoder) = try queue.read { db in
                (try String.fetchAll(db, sql: "SELECT value FROM json_each(?) ORDER BY key", arguments: [text]),
                 try String.fetchAll(db, sql: "SELECT value FROM json_each(?) ORDER BY key", arguments: [reference]))
            }
            #expect(read == list, "\(text)")
            #expect(read == fromEncoder)
            #expect(try JSONDecoder().decode([String].self, from: Data(text.utf8)) == list)
        }
    }
}

/// The reads on a decide task's path go by primary key, whatever the table's size.
@Suite("Ledger: a task's reads by primary key", .timeLimit(.minutes(1)))
struct TaskPathQueryPlanTests {
    @Test("a task's remembered offers: the SKUs' list outside, one primary-key lookup each, never a walk of the marketplace's offers")
    func offersOfSKUs() async throws {
        let scratch = Scratch()
        defer { _ = scratch }
        let store = try RunStore(path: scratch.path + "/plan.sqlite")
        let offers = (0..<300).map { RememberedOffer(sku: "SKU-\($0)", offerID: "O\($0)", marketplaceID: "EBAY_US", price: nil, availableQuantity: 1, domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: 1) }
        try await store.rememberOffers(marketplace: .ebay, offers)
        let plan = try await store.reader.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + ListingOfferRow.offersOfSKUs, arguments: [#"["SKU-1"]"#, "ebay"])
                .map { $0["detail"] as String }
        }
        #expect(plan.count == 2)
        #expect(plan.first?.hasPrefix("SCAN j") == true, "\(plan)")
        #expect(plan.last == "SEARCH o USING PRIMARY KEY (marketplace=? AND sku=?)", "\(plan)")
        let read = try store.rememberedOffers(marketplace: .ebay, skus: ["SKU-7", "SKU-7", "missing", "SKU-299"])
        #expect(read.keys.sorted() == ["SKU-299", "SKU-7"])
        #expect(read["SKU-7"]?.offerID == "O7")
        // More than one statement's SKUs (500 each), read in one transaction.
        let many = try store.rememberedOffers(marketplace: .ebay, skus: (0..<1_200).map { "SKU-\($0 % 400)" })
        #expect(many.count == 300 && many["SKU-299"]?.offerID == "O299")
    }
}
