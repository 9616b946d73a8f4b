// MARK: - Building tables

/// A table while the document is being read. Tables opened by headers stay open for later
/// headers and dotted keys, so they are reference types until `freeze()`.
final class TableBuilder {
    var order: [String] = []
    var slots: [String: Slot] = [:]
    let position: TOMLPosition

    enum Slot {
        case value(TOMLNode, keyPosition: TOMLPosition)
        case table(TableBuilder, keyPosition: TOMLPosition)
        case tableArray(TableArrayBuilder, keyPosition: TOMLPosition)
    }

    init(position: TOMLPosition) {
        self.position = position
    }

    func set(_ key: String, _ slot: Slot) {
        if slots[key] == nil { order.append(key) }
        slots[key] = slot
    }

    func freeze() -> TOMLTable {
        var entries: [TOMLTable.Entry] = []
        entries.reserveCapacity(order.count)
        for key in order {
            switch slots[key]! {
            case .value(let node, let keyPosition):
                entries.append(.init(key: key, keyPosition: keyPosition, node: node))
            case .table(let table, let keyPosition):
                entries.append(.init(key: key, keyPosition: keyPosition,
                                     node: TOMLNode(value: .table(table.freeze()), position: table.position)))
            case .tableArray(let array, let keyPosition):
                let tables = array.tables
                let nodes = tables.map { TOMLNode(value: .table($0.freeze()), position: $0.position) }
                entries.append(.init(key: key, keyPosition: keyPosition,
                                     node: TOMLNode(value: .array(nodes), position: tables.first?.position ?? keyPosition)))
            }
        }
        return TOMLTable(entries: entries, position: position)
    }
}

/// The tables of an `[[array]]` so far. A reference, so appending one more never copies the
/// others (a file of many `[[x]]` headers stays linear).
final class TableArrayBuilder {
    var tables: [TableBuilder]

    init(_ first: TableBuilder) {
        tables = [first]
    }
}

/// Python `tomllib`'s bookkeeping of which key paths may still be opened, so that exactly the
/// same documents are accepted and refused.
final class Flags {
    /// Declared by a `[header]`, or (pending) a namespace made by dotted keys in this section.
    static let explicitNest: UInt8 = 1
    /// An inline table or array value: nothing may be added to it.
    static let frozen: UInt8 = 2

    final class Node {
        var flags: UInt8 = 0
        var recursiveFlags: UInt8 = 0
        var nested: [String: Node] = [:]
    }

    let root = Node()
    /// Key paths whose prefixes of lengths `lengths` get `flag` at the next header.
    var pending: [(key: [String], lengths: Range<Int>, flag: UInt8)] = []

    func set(_ key: [String], _ flag: UInt8, recursive: Bool) {
        var node = root
        for k in key {
            if let next = node.nested[k] { node = next } else {
                let next = Node()
                node.nested[k] = next
                node = next
            }
        }
        if recursive { node.recursiveFlags |= flag } else { node.flags |= flag }
    }

    func unsetAll(_ key: [String]) {
        var node = root
        for k in key.dropLast() {
            guard let next = node.nested[k] else { return }
            node = next
        }
        if let last = key.last { node.nested[last] = nil }
    }

    func isSet(_ key: [String], _ flag: UInt8) -> Bool {
        guard let last = key.last else { return false }
        var node = root
        for k in key.dropLast() {
            guard let next = node.nested[k] else { return false }
            if next.recursiveFlags & flag != 0 { return true }
            node = next
        }
        guard let target = node.nested[last] else { return false }
        return (target.flags | target.recursiveFlags) & flag != 0
    }

    /// `isSet(Array(key[0..<n]), flag)` for each `n` in `lengths`, in one walk: the first such
    /// length that is set, or nil.
    func firstSetPrefix(_ key: [String], lengths: Range<Int>, _ flag: UInt8) -> Int? {
        var node = root
        var ancestorRecursive: UInt8 = 0
        for n in 1..<max(1, lengths.upperBound) {
            guard let next = node.nested[key[n - 1]] else { return nil }
            if lengths.contains(n) && (ancestorRecursive | next.flags | next.recursiveFlags) & flag != 0 { return n }
            ancestorRecursive |= next.recursiveFlags
            node = next
        }
        return nil
    }

    /// `set(Array(key[0..<n]), flag, recursive: false)` for each `n` in `lengths`, at the next
    /// `finalizePending()`.
    func addPending(_ key: [String], lengths: Range<Int>, _ flag: UInt8) {
        if !lengths.isEmpty { pending.append((key, lengths, flag)) }
    }

    func finalizePending() {
        for (key, lengths, flag) in pending {
            var node = root
            for n in 1..<lengths.upperBound {
                if let next = node.nested[key[n - 1]] { node = next } else {
                    let next = Node()
                    node.nested[key[n - 1]] = next
                    node = next
                }
                if lengths.contains(n) { node.flags |= flag }
            }
        }
        pending.removeAll()
    }
}
