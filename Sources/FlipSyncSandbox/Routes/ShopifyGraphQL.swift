import Foundation

// A small GraphQL engine for the sandbox's Shopify Admin API: a parser for the documents
// FlipSync sends (one operation, variables, aliases, arguments, inline fragments), a static
// schema of exactly the types and fields the sandbox serves, validation against it (an unknown
// field or argument is a GraphQL error, as Shopify gives), Shopify's calculated query cost, and
// projection of resolved values onto the selection.
//
// Reference: GraphQL spec, "Language" and "Validation" (https://spec.graphql.org/October2021/);
// Shopify's cost rules: scalars and enums 0, objects 1, connections 2 + `first` × the node's
// cost, mutations 10, and a single query may request at most 1,000 points
// (https://shopify.dev/docs/api/usage/limits#graphql-admin-api-rate-limits).

/// A value in a document: literals, variables, lists and input objects.
indirect enum GQLValue: Sendable {
    case variable(String)
    case int(Int64)
    case float(Double)
    case string(String)
    case bool(Bool)
    case null
    case enumValue(String)
    case list([GQLValue])
    case object([(String, GQLValue)])

    /// The value as JSON-like `Any`, variables substituted (absent ones are `NSNull`).
    func resolved(_ variables: [String: Any]) -> Any {
        switch self {
        case .variable(let name): return variables[name] ?? NSNull()
        case .int(let value): return value
        case .float(let value): return value
        case .string(let value), .enumValue(let value): return value
        case .bool(let value): return value
        case .null: return NSNull()
        case .list(let values): return values.map { $0.resolved(variables) }
        case .object(let fields): return Dictionary(fields.map { ($0.0, $0.1.resolved(variables)) }, uniquingKeysWith: { _, last in last })
        }
    }
}

struct GQLField: Sendable {
    var alias: String?
    var name: String
    var arguments: [(String, GQLValue)]
    var selections: [GQLSelection]
    var line: Int
    var column: Int
    var key: String { alias ?? name }

    func argument(_ name: String, _ variables: [String: Any]) -> Any? {
        guard let value = arguments.first(where: { $0.0 == name })?.1.resolved(variables), !(value is NSNull) else { return nil }
        return value
    }
}

indirect enum GQLSelection: Sendable {
    case field(GQLField)
    case inline(typeCondition: String?, selections: [GQLSelection])
}

struct GQLDocument: Sendable {
    /// `query` or `mutation`.
    var kind: String
    var name: String?
    var variableDefaults: [String: GQLValue]
    var selections: [GQLSelection]

    var rootFields: [GQLField] {
        selections.compactMap { if case .field(let field) = $0 { return field } else { return nil } }
    }
}

struct GQLSyntaxError: Error, Sendable {
    var message: String
    var line: Int
    var column: Int
}

/// A Shopify GraphQL request body (`{"query": …, "variables": …}`), its document parsed once:
/// by `SandboxFaultMiddleware` (which needs its first root field for the request's route) and
/// handed on to `ShopifyRoutes.graphQL` through `current`, which parses only when nothing did.
struct ShopifyGraphQLRequest: Sendable {
    private struct Body: Decodable {
        var query: String
        var operationName: String?
    }

    /// The document, or why it does not parse; nil when the body is not `{"query": "…"}`.
    let document: Result<GQLDocument, any Error>?

    /// Parses `body`, counting the parse in `state` (`SandboxState.shopifyGraphQLParseCount`).
    init(body: [UInt8], state: SandboxState) {
        state.countShopifyGraphQLParse()
        guard let decoded = JSON.decode(Body.self, body) else {
            document = nil
            return
        }
        document = Result { try GQLParser.parse(decoded.query) }
    }

    /// `shopify.<first root field>`; `shopify.graphql` for a body that does not parse.
    var route: SandboxRoute {
        guard case .success(let document)? = document, let first = document.rootFields.first else { return .shopifyGraphQL }
        return SandboxRoute("shopify.\(first.name)")
    }

    /// The request being handled, as the middleware parsed it.
    @TaskLocal static var current: ShopifyGraphQLRequest?
}

/// Recursive-descent parser for one executable operation.
struct GQLParser {
    private enum Token: Equatable {
        case punct(String), name(String), int(Int64), float(Double), string(String), end
    }

    private var tokens: [(token: Token, line: Int, column: Int)] = []
    private var index = 0

    static func parse(_ text: String) throws -> GQLDocument {
        var parser = GQLParser()
        try parser.tokenize(Array(text.unicodeScalars))
        return try parser.document()
    }

    private mutating func tokenize(_ chars: [Unicode.Scalar]) throws {
        var i = 0, line = 1, lineStart = 0
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") }
        func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
        while i < chars.count {
            let c = chars[i]
            let column = i - lineStart + 1
            if c == "\n" { line += 1; i += 1; lineStart = i; continue }
            if c == " " || c == "\t" || c == "\r" || c == "," || c == "\u{FEFF}" { i += 1; continue }
            if c == "#" { while i < chars.count, chars[i] != "\n" { i += 1 }; continue }
            if "!$():=@[]{}|".unicodeScalars.contains(c) { tokens.append((.punct(String(c)), line, column)); i += 1; continue }
            if c == ".", i + 2 < chars.count, chars[i + 1] == ".", chars[i + 2] == "." {
                tokens.append((.punct("..."), line, column)); i += 3; continue
            }
            if isNameStart(c) {
                var name = ""
                while i < chars.count, isNameStart(chars[i]) || isDigit(chars[i]) { name.unicodeScalars.append(chars[i]); i += 1 }
                tokens.append((.name(name), line, column)); continue
            }
            if c == "-" || isDigit(c) {
                var text = String(c); i += 1
                var isFloat = false
                while i < chars.count, isDigit(chars[i]) || ".eE+-".unicodeScalars.contains(chars[i]) {
                    if !isDigit(chars[i]) { isFloat = true }
                    text.unicodeScalars.append(chars[i]); i += 1
                }
                if !isFloat, let value = Int64(text) { tokens.append((.int(value), line, column)) }
                else if let value = Double(text) { tokens.append((.float(value), line, column)) }
                else { throw GQLSyntaxError(message: "Parse error on \"\(text)\" (invalid number)", line: line, column: column) }
                continue
            }
            if c == "\"" {
                i += 1
                var text = ""
                while true {
                    guard i < chars.count, chars[i] != "\n" else {
                        throw GQLSyntaxError(message: "Parse error: unterminated string", line: line, column: column)
                    }
                    let s = chars[i]
                    if s == "\"" { i += 1; break }
                    if s == "\\", i + 1 < chars.count {
                        let e = chars[i + 1]
                        i += 2
                        switch e {
                        case "n": text += "\n"
                        case "t": text += "\t"
                        case "r": text += "\r"
                        case "b": text += "\u{08}"
                        case "f": text += "\u{0C}"
                        case "u":
                            guard i + 4 <= chars.count, let code = UInt32(String(String.UnicodeScalarView(chars[i..<i + 4])), radix: 16),
                                  let scalar = Unicode.Scalar(code) else {
                                throw GQLSyntaxError(message: "Parse error: bad unicode escape", line: line, column: column)
                            }
                            text.unicodeScalars.append(scalar); i += 4
                        default: text.unicodeScalars.append(e)
                        }
                        continue
                    }
                    text.unicodeScalars.append(s); i += 1
                }
                tokens.append((.string(text), line, column)); continue
            }
            throw GQLSyntaxError(message: "Parse error on \"\(c)\"", line: line, column: column)
        }
        tokens.append((.end, line, i - lineStart + 1))
    }

    private var current: (token: Token, line: Int, column: Int) { tokens[index] }

    private func error(_ what: String) -> GQLSyntaxError {
        let shown: String
        switch current.token {
        case .punct(let p): shown = p
        case .name(let n): shown = n
        case .int(let v): shown = String(v)
        case .float(let v): shown = String(v)
        case .string(let s): shown = "\"\(s)\""
        case .end: shown = "end of file"
        }
        return GQLSyntaxError(message: "Parse error on \"\(shown)\" (expected \(what))", line: current.line, column: current.column)
    }

    private mutating func expect(_ punct: String) throws {
        guard current.token == .punct(punct) else { throw error("\"\(punct)\"") }
        index += 1
    }

    private mutating func accept(_ punct: String) -> Bool {
        guard current.token == .punct(punct) else { return false }
        index += 1
        return true
    }

    private mutating func name() throws -> String {
        guard case .name(let name) = current.token else { throw error("a name") }
        index += 1
        return name
    }

    private mutating func document() throws -> GQLDocument {
        var kind = "query", operationName: String?
        var defaults: [String: GQLValue] = [:]
        if case .name(let word) = current.token {
            guard word == "query" || word == "mutation" else {
                throw GQLSyntaxError(message: "Parse error on \"\(word)\": only one query or mutation operation is supported",
                                     line: current.line, column: current.column)
            }
            kind = word
            index += 1
            if case .name(let n) = current.token { operationName = n; index += 1 }
            if accept("(") {
                while !accept(")") {
                    try expect("$")
                    let variable = try name()
                    try expect(":")
                    try type()
                    if accept("=") { defaults[variable] = try value() }
                }
            }
        }
        let selections = try selectionSet()
        guard current.token == .end else { throw error("one operation only") }
        return GQLDocument(kind: kind, name: operationName, variableDefaults: defaults, selections: selections)
    }

    private mutating func type() throws {
        if accept("[") {
            try type()
            try expect("]")
        } else {
            _ = try name()
        }
        _ = accept("!")
    }

    private mutating func selectionSet() throws -> [GQLSelection] {
        try expect("{")
        var selections: [GQLSelection] = []
        while !accept("}") {
            if accept("...") {
                var condition: String?
                if case .name("on") = current.token {
                    index += 1
                    condition = try name()
                }
                selections.append(.inline(typeCondition: condition, selections: try selectionSet()))
                continue
            }
            let (line, column) = (current.line, current.column)
            var fieldName = try name()
            var alias: String?
            if accept(":") {
                alias = fieldName
                fieldName = try name()
            }
            var arguments: [(String, GQLValue)] = []
            if accept("(") {
                while !accept(")") {
                    let argument = try name()
                    try expect(":")
                    arguments.append((argument, try value()))
                }
            }
            if current.token == .punct("@") { throw error("no directives (the sandbox does not support them)") }
            let children = current.token == .punct("{") ? try selectionSet() : []
            selections.append(.field(GQLField(alias: alias, name: fieldName, arguments: arguments, selections: children,
                                              line: line, column: column)))
        }
        guard !selections.isEmpty else { throw error("a selection") }
        return selections
    }

    private mutating func value() throws -> GQLValue {
        let token = current.token
        switch token {
        case .punct("$"):
            index += 1
            return .variable(try name())
        case .int(let v): index += 1; return .int(v)
        case .float(let v): index += 1; return .float(v)
        case .string(let s): index += 1; return .string(s)
        case .name("true"): index += 1; return .bool(true)
        case .name("false"): index += 1; return .bool(false)
        case .name("null"): index += 1; return .null
        case .name(let n): index += 1; return .enumValue(n)
        case .punct("["):
            index += 1
            var values: [GQLValue] = []
            while !accept("]") { values.append(try value()) }
            return .list(values)
        case .punct("{"):
            index += 1
            var fields: [(String, GQLValue)] = []
            while !accept("}") {
                let key = try name()
                try expect(":")
                fields.append((key, try value()))
            }
            return .object(fields)
        default: throw error("a value")
        }
    }
}

/// What a field returns.
enum GQLFieldType {
    case scalar
    case object(String)
    /// A plain list of objects (costs nothing of its own, as Shopify counts them).
    case list(String)
    /// A connection of nodes of this type, sized by `first`.
    case connection(String)
}

struct GQLSchemaField {
    var type: GQLFieldType
    var arguments: Set<String>
}

/// An error in Shopify's shape: message, locations, path, and `extensions.code`.
struct GQLError: Error, @unchecked Sendable {
    var message: String
    var code: String
    var line: Int?
    var column: Int?
    var path: [String] = []
    var extra: [String: Any] = [:]

    var json: [String: Any] {
        var out: [String: Any] = ["message": message]
        if let line, let column { out["locations"] = [["line": line, "column": column]] }
        if !path.isEmpty { out["path"] = path }
        var extensions = extra
        extensions["code"] = code
        out["extensions"] = extensions
        return out
    }
}

/// A field whose value depends on its arguments (e.g. `inventoryLevel(locationId:)`); a
/// `GQLError` it throws (e.g. a bad cursor) is the root field's error.
struct GQLResolver {
    let resolve: ([String: Any]) throws -> Any?
}

struct GQLSchema {
    /// Type name → field name → field.
    var types: [String: [String: GQLSchemaField]]
    /// Union name → its member types. A value of a union type names its member in `__typename`.
    var unions: [String: Set<String>] = [:]
    let queryType = "QueryRoot"
    let mutationType = "Mutation"

    /// Validates the whole document: every error found (none when it is valid).
    /// `bulk`: a bulk operation's query, whose connections take no `first`.
    func validate(_ document: GQLDocument, bulk: Bool = false) -> [GQLError] {
        var errors: [GQLError] = []
        let root = document.kind == "mutation" ? mutationType : queryType
        let operationPath = "\(document.kind)\(document.name.map { " \($0)" } ?? "")"
        let cost = walk(document.selections, on: root, path: [operationPath], variables: [:], errors: &errors, isRoot: true,
                        defaults: document.variableDefaults, bulk: bulk)
        _ = cost
        return errors
    }

    /// The requested cost with variables, once validation passed.
    func cost(_ document: GQLDocument, variables: [String: Any]) -> Int {
        var errors: [GQLError] = []
        let root = document.kind == "mutation" ? mutationType : queryType
        return walk(document.selections, on: root, path: [], variables: variables, errors: &errors, isRoot: true,
                    defaults: document.variableDefaults)
    }

    private func walk(_ selections: [GQLSelection], on typeName: String, path: [String], variables: [String: Any],
                      errors: inout [GQLError], isRoot: Bool = false, defaults: [String: GQLValue], bulk: Bool = false) -> Int {
        var cost = 0
        let fields = types[typeName] ?? [:]
        for selection in selections {
            switch selection {
            case .inline(let condition, let children):
                if let condition, condition != typeName, unions[typeName]?.contains(condition) == true {
                    cost += walk(children, on: condition, path: path, variables: variables, errors: &errors, defaults: defaults, bulk: bulk)
                    continue
                }
                if let condition, condition != typeName {
                    errors.append(GQLError(message: "Fragment on \(condition) can't be spread inside \(typeName)", code: "cannotSpreadFragment",
                                           path: path))
                    continue
                }
                cost += walk(children, on: typeName, path: path, variables: variables, errors: &errors, isRoot: isRoot, defaults: defaults,
                             bulk: bulk)
            case .field(let field):
                let here = path + [field.key]
                if field.name == "__typename" { continue }
                guard let schemaField = fields[field.name] else {
                    errors.append(GQLError(message: "Field '\(field.name)' doesn't exist on type '\(typeName)'", code: "undefinedField",
                                           line: field.line, column: field.column, path: here,
                                           extra: ["typeName": typeName, "fieldName": field.name]))
                    continue
                }
                for (argument, _) in field.arguments where !schemaField.arguments.contains(argument) {
                    errors.append(GQLError(message: "Field '\(field.name)' doesn't accept argument '\(argument)'", code: "argumentNotAccepted",
                                           line: field.line, column: field.column, path: here,
                                           extra: ["name": field.name, "typeName": "Field", "argumentName": argument]))
                }
                var selfCost = 0
                switch schemaField.type {
                case .scalar:
                    if !field.selections.isEmpty {
                        errors.append(GQLError(message: "Selections can't be made on scalars (field '\(field.name)')",
                                               code: "selectionMismatch", line: field.line, column: field.column, path: here))
                    }
                case .object(let child), .list(let child), .connection(let child):
                    if field.selections.isEmpty {
                        errors.append(GQLError(message: "Field must have selections (field '\(field.name)' returns \(child) but has no selections.)",
                                               code: "selectionMismatch", line: field.line, column: field.column, path: here))
                        continue
                    }
                    if case .connection = schemaField.type {
                        let nodeType = child
                        let connectionType = nodeType + "Connection"
                        var mergedVariables = variables
                        for (name, value) in defaults where mergedVariables[name] == nil { mergedVariables[name] = value.resolved([:]) }
                        let firstValue = field.argument("first", mergedVariables) ?? field.argument("last", mergedVariables)
                        let first = (firstValue as? Int64).map(Int.init) ?? (firstValue as? Int) ?? 0
                        if !bulk, field.arguments.allSatisfy({ $0.0 != "first" && $0.0 != "last" }) {
                            errors.append(GQLError(message: "you must provide one of first or last", code: "BAD_REQUEST",
                                                   line: field.line, column: field.column, path: here))
                        }
                        let nodeCost = walk(field.selections, on: connectionType, path: here, variables: variables, errors: &errors,
                                            defaults: defaults, bulk: bulk)
                        selfCost = 2 + max(first, 1) * (1 + nodeCost)
                    } else {
                        let childCost = walk(field.selections, on: child, path: here, variables: variables, errors: &errors, defaults: defaults,
                                             bulk: bulk)
                        if case .list = schemaField.type { selfCost = childCost } else { selfCost = child == "PageInfo" ? 0 : 1 + childCost }
                    }
                }
                cost += isRoot && typeName == mutationType ? 10 : selfCost
            }
        }
        return cost
    }

    /// `value` (a dictionary of field name → value, a list of them, or a scalar) shaped as `selections` ask.
    func project(_ selections: [GQLSelection], _ value: Any, typeName: String, variables: [String: Any]) throws -> Any {
        if value is NSNull { return NSNull() }
        if let list = value as? [Any] { return try list.map { try project(selections, $0, typeName: typeName, variables: variables) } }
        guard let object = value as? [String: Any] else { return value }
        var out: [String: Any] = [:]
        // A union's value is one of its members, named by the value's `__typename`.
        let concrete = unions[typeName] != nil ? object["__typename"] as? String ?? typeName : typeName
        let fields = types[concrete] ?? [:]
        for selection in selections {
            switch selection {
            case .inline(let condition, let children):
                if let condition, condition != concrete { continue }
                let inner = try project(children, object, typeName: concrete, variables: variables)
                if let inner = inner as? [String: Any] { out.merge(inner) { _, new in new } }
            case .field(let field):
                if field.name == "__typename" { out[field.key] = concrete; continue }
                var raw: Any = object[field.name] ?? NSNull()
                if let resolver = raw as? GQLResolver {
                    var arguments: [String: Any] = [:]
                    for (name, _) in field.arguments { arguments[name] = field.argument(name, variables) }
                    raw = try resolver.resolve(arguments) ?? NSNull()
                }
                switch fields[field.name]?.type {
                case .object(let child)?, .list(let child)?: out[field.key] = try project(field.selections, raw, typeName: child, variables: variables)
                case .connection(let child)?:
                    out[field.key] = try project(field.selections, raw, typeName: child + "Connection", variables: variables)
                default: out[field.key] = raw
                }
            }
        }
        return out
    }

    /// Adds `<Node>Connection`, `<Node>Edge` and `PageInfo` for every connection's node type.
    static func build(_ types: [String: [String: GQLSchemaField]], unions: [String: Set<String>] = [:]) -> GQLSchema {
        var all = types
        all["PageInfo"] = ["hasNextPage": .init(type: .scalar, arguments: []), "hasPreviousPage": .init(type: .scalar, arguments: []),
                           "startCursor": .init(type: .scalar, arguments: []), "endCursor": .init(type: .scalar, arguments: [])]
        for fields in types.values {
            for field in fields.values {
                guard case .connection(let node) = field.type else { continue }
                all[node + "Connection"] = ["nodes": .init(type: .list(node), arguments: []), "edges": .init(type: .list(node + "Edge"), arguments: []),
                                            "pageInfo": .init(type: .object("PageInfo"), arguments: [])]
                all[node + "Edge"] = ["node": .init(type: .object(node), arguments: []), "cursor": .init(type: .scalar, arguments: [])]
            }
        }
        return GQLSchema(types: all, unions: unions)
    }

    /// A connection's value: `nodes`, `edges` (with `cursor`s) and `pageInfo`.
    static func connection(_ nodes: [(cursor: String, node: [String: Any])], hasNextPage: Bool, hasPreviousPage: Bool = false) -> [String: Any] {
        [
            "nodes": nodes.map(\.node),
            "edges": nodes.map { ["node": $0.node, "cursor": $0.cursor] as [String: Any] },
            "pageInfo": ["hasNextPage": hasNextPage, "hasPreviousPage": hasPreviousPage,
                         "startCursor": nodes.first.map { $0.cursor as Any } ?? NSNull(),
                         "endCursor": nodes.last.map { $0.cursor as Any } ?? NSNull()] as [String: Any],
        ]
    }
}
