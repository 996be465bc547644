import GatewayCore

/// A token of the expression language.
enum ExpressionToken: Sendable, Hashable {
    /// An integer literal's magnitude (a leading `-` is an operator; `-9223372036854775808` is
    /// the one literal that needs it).
    case integer(UInt64)
    case number(Double)
    case string(String)
    /// `point`, `device.point`, or a function name, `true` or `false`.
    case name(device: String?, point: String)
    case symbol(String)
    case end
}

/// A token at its place in the text (Characters).
struct ExpressionLexeme: Sendable {
    var token: ExpressionToken
    var offset: Int
    var length: Int
}

/// Splits the text into tokens on demand, so that the first error in the text is the one reported.
struct ExpressionLexer {
    let chars: [Character]
    private var position = 0

    init(_ text: String) { chars = Array(text) }

    static func isNameStart(_ c: Character) -> Bool { c == "_" || c.isLetter }
    static func isNameCharacter(_ c: Character) -> Bool { isNameStart(c) || isDigit(c) }
    static func isDigit(_ c: Character) -> Bool { c.isASCII && c.isWholeNumber }

    private func at(_ i: Int) -> Character? { i < chars.count ? chars[i] : nil }

    func text(_ offset: Int, _ length: Int) -> String { String(chars[offset..<Swift.min(chars.count, offset + length)]) }

    mutating func next() throws(ExpressionError) -> ExpressionLexeme {
        while let c = at(position), c.isWhitespace { position += 1 }
        let start = position
        guard let c = at(position) else { return ExpressionLexeme(token: .end, offset: start, length: 0) }
        let token: ExpressionToken
        if Self.isNameStart(c) {
            token = try name()
        } else if Self.isDigit(c) {
            token = try number()
        } else if c == "\"" || c == "'" {
            token = .string(try string(quote: c))
        } else {
            token = .symbol(try symbol())
        }
        return ExpressionLexeme(token: token, offset: start, length: position - start)
    }

    /// Letters, digits and `_`, with a `-` only directly between two of them: `press-1` is one
    /// name, `a - 1` a subtraction.
    private mutating func identifier() -> String {
        let start = position
        position += 1
        while let c = at(position) {
            if Self.isNameCharacter(c) {
                position += 1
            } else if c == "-", let d = at(position + 1), Self.isNameCharacter(d) {
                position += 2
            } else {
                break
            }
        }
        return String(chars[start..<position])
    }

    private mutating func name() throws(ExpressionError) -> ExpressionToken {
        let start = position
        let first = identifier()
        guard at(position) == "." else { return .name(device: nil, point: first) }
        position += 1
        guard let c = at(position), Self.isNameStart(c) else {
            let hint: String? =
                switch at(position) {
                case .some(let c) where c.isWhitespace: "write device.point with no spaces around the '.'"
                case .some(let c) where Self.isDigit(c): "a point name starts with a letter or '_'"
                default: nil
                }
            throw ExpressionError(message: "expected a point name after '\(first).'", offset: position, hint: hint)
        }
        let second = identifier()
        if at(position) == "." {
            while let c = at(position), c == "." || Self.isNameCharacter(c) || c == "-" { position += 1 }
            throw ExpressionError(
                message: "'\(text(start, position - start))' is not a reference: it has more than one '.'", offset: start,
                hint: "a reference is device.point, or point for a point of the same device")
        }
        return .name(device: first, point: second)
    }

    /// Digits with `_` between them, an optional fraction and exponent.
    private mutating func number() throws(ExpressionError) -> ExpressionToken {
        let start = position
        var digits = ""
        var isInteger = true
        func scanDigits(_ lexer: inout ExpressionLexer) throws(ExpressionError) {
            while let c = lexer.at(lexer.position) {
                if Self.isDigit(c) {
                    digits.append(c)
                } else if c == "_" {
                    guard let p = lexer.at(lexer.position - 1), Self.isDigit(p), let n = lexer.at(lexer.position + 1), Self.isDigit(n) else {
                        throw ExpressionError(message: "'_' in a number must stand between two digits", offset: lexer.position, hint: nil)
                    }
                } else {
                    break
                }
                lexer.position += 1
            }
        }
        try scanDigits(&self)
        if at(position) == "." {
            guard let d = at(position + 1), Self.isDigit(d) else {
                let written = text(start, position - start)
                throw ExpressionError(
                    message: "'\(written).' needs a digit after the '.'", offset: position + 1, hint: "write \(written).0 or \(written)")
            }
            isInteger = false
            digits.append(".")
            position += 1
            try scanDigits(&self)
        }
        if let e = at(position), e == "e" || e == "E" {
            var p = position + 1
            var exponent = "e"
            if let sign = at(p), sign == "+" || sign == "-" {
                exponent.append(sign)
                p += 1
            }
            guard let d = at(p), Self.isDigit(d) else {
                throw ExpressionError(message: "'\(text(start, p - start))' needs digits in its exponent", offset: p, hint: "for example 1e3 or 2.5e-3")
            }
            isInteger = false
            digits += exponent
            position = p
            try scanDigits(&self)
        }
        if let c = at(position), Self.isNameCharacter(c) {
            throw ExpressionError(
                message: "unexpected character '\(c)' after the number \(text(start, position - start))", offset: position,
                hint: "put an operator between them, for example \(text(start, position - start)) * \(c)")
        }
        if isInteger {
            guard let magnitude = UInt64(digits), magnitude <= UInt64(Int64.max) + 1 else {
                throw ExpressionError(
                    message: "the integer \(text(start, position - start)) is too large (the largest is 9223372036854775807)", offset: start,
                    hint: nil)
            }
            return .integer(magnitude)
        }
        guard let value = Double(digits), value.isFinite else {
            throw ExpressionError(message: "the number \(text(start, position - start)) is too large", offset: start, hint: nil)
        }
        return .number(value)
    }

    private mutating func string(quote: Character) throws(ExpressionError) -> String {
        let start = position
        position += 1
        var s = ""
        while let c = at(position) {
            position += 1
            if c == quote { return s }
            guard c == "\\" else {
                s.append(c)
                continue
            }
            switch at(position) {
            case "\\": s.append("\\")
            case "'": s.append("'")
            case "\"": s.append("\"")
            case "n": s.append("\n")
            case "t": s.append("\t")
            case .none: continue
            case .some(let e):
                throw ExpressionError(
                    message: "unknown escape '\\\(e)' in a string", offset: position - 1, hint: "escapes: \\\\ \\' \\\" \\n \\t")
            }
            position += 1
        }
        throw ExpressionError(message: "unterminated string", offset: start, hint: "close it with \(quote)")
    }

    private mutating func symbol() throws(ExpressionError) -> String {
        let c = chars[position]
        let pair = at(position + 1).map { String(c) + String($0) }
        if let pair, ["&&", "||", "==", "!=", "<=", ">="].contains(pair) {
            position += 2
            return pair
        }
        if "()+-*/%!<>,".contains(c) {
            position += 1
            return String(c)
        }
        let hint: String?
        switch c {
        case "=": hint = "compare with '=='"
        case "&": hint = "write '&&' for and"
        case "|": hint = "write '||' for or"
        case ".":
            var end = position + 1
            while let d = at(end), Self.isDigit(d) { end += 1 }
            if end > position + 1 {
                throw ExpressionError(
                    message: "a number cannot start with '.'", offset: position, hint: "write 0\(text(position, end - position))")
            }
            throw ExpressionError(
                message: "a reference cannot start with '.'", offset: position, hint: "write device.point with no spaces around the '.'")
        default: hint = nil
        }
        throw ExpressionError(message: "unexpected character '\(c)'", offset: position, hint: hint)
    }
}

/// Recursive descent, one function per precedence level, into a flat array of nodes.
struct ExpressionParser {
    /// Deeper trees are refused: the checker and the evaluator recurse, and derived points are
    /// evaluated on threads with small stacks.
    static let maximumDepth = 100

    private var lexer: ExpressionLexer
    private let text: String
    private var current: ExpressionLexeme
    private var previous: ExpressionLexeme?
    private var nodes: [ExpressionNode] = []
    private var heights: [Int] = []
    private var arguments: [Int] = []
    private var references: [ExpressionReference] = []
    private var nesting = 0
    private var started = false

    init(_ text: String) {
        self.text = text
        lexer = ExpressionLexer(text)
        current = ExpressionLexeme(token: .end, offset: 0, length: 0)
    }

    mutating func parseExpression() throws(ExpressionError) -> Expression {
        current = try lexer.next()
        if current.token == .end {
            throw ExpressionError(message: "empty expression", offset: 0, hint: nil)
        }
        _ = try parseOr()
        switch current.token {
        case .end:
            break
        case .symbol(")"):
            throw ExpressionError(message: "unexpected ')'", offset: current.offset, hint: "it closes no '('")
        default:
            throw ExpressionError(message: "expected an operator, found \(describe(current))", offset: current.offset, hint: nil)
        }
        return Expression(text: text, references: references, program: ExpressionProgram(text: text, nodes: nodes, arguments: arguments))
    }

    private mutating func advance() throws(ExpressionError) {
        previous = current
        current = try lexer.next()
    }

    private func describe(_ lexeme: ExpressionLexeme) -> String {
        if lexeme.token == .end { return "the end of the expression" }
        let s = lexer.text(lexeme.offset, lexeme.length)
        return "'\(s.count > 30 ? s.prefix(29) + "…" : s)'"
    }

    private func symbol(_ lexeme: ExpressionLexeme) -> String? {
        if case .symbol(let s) = lexeme.token { return s }
        return nil
    }

    @discardableResult
    private mutating func add(_ kind: ExpressionNode.Kind, from start: Int, operatorAt: Int, children: [Int]) throws(ExpressionError) -> Int {
        let end = children.map { nodes[$0].outerEnd }.max() ?? current.offset
        let height = 1 + (children.map { heights[$0] }.max() ?? 0)
        if height > Self.maximumDepth {
            throw ExpressionError(
                message: "the expression is nested too deeply (more than \(Self.maximumDepth) levels)", offset: operatorAt,
                hint: "split it into several derived points")
        }
        let constant = children.allSatisfy { nodes[$0].isConstant }
        nodes.append(
            ExpressionNode(kind: kind, offset: start, length: end - start, outerOffset: start, outerEnd: end, operatorOffset: operatorAt, isConstant: constant))
        heights.append(height)
        return nodes.count - 1
    }

    private mutating func leaf(_ kind: ExpressionNode.Kind, _ lexeme: ExpressionLexeme, constant: Bool) -> Int {
        nodes.append(
            ExpressionNode(
                kind: kind, offset: lexeme.offset, length: lexeme.length, outerOffset: lexeme.offset, outerEnd: lexeme.offset + lexeme.length,
                operatorOffset: lexeme.offset, isConstant: constant))
        heights.append(1)
        return nodes.count - 1
    }

    /// Left-associative binary levels, from `||` down to `* / %`.
    private static let levels: [[ExpressionOperator]] = [
        [.or], [.and], [.equal, .notEqual], [.less, .lessEqual, .greater, .greaterEqual], [.add, .subtract],
        [.multiply, .divide, .remainder],
    ]

    private mutating func parseOr() throws(ExpressionError) -> Int { try parseBinary(level: 0) }

    private mutating func parseBinary(level: Int) throws(ExpressionError) -> Int {
        guard level < Self.levels.count else { return try parseUnary() }
        var left = try parseBinary(level: level + 1)
        while let s = symbol(current), let op = ExpressionOperator(rawValue: s), Self.levels[level].contains(op) {
            let at = current.offset
            try advance()
            let right = try parseBinary(level: level + 1)
            left = try add(.binary(op, left, right), from: nodes[left].outerOffset, operatorAt: at, children: [left, right])
        }
        return left
    }

    private mutating func enter() throws(ExpressionError) {
        nesting += 1
        if nesting > Self.maximumDepth {
            throw ExpressionError(
                message: "the expression is nested too deeply (more than \(Self.maximumDepth) levels)", offset: current.offset,
                hint: "split it into several derived points")
        }
    }

    private mutating func parseUnary() throws(ExpressionError) -> Int {
        guard let s = symbol(current), s == "!" || s == "-" else { return try parsePrimary() }
        let op = current
        try enter()
        defer { nesting -= 1 }
        try advance()
        if s == "-", case .integer(let magnitude) = current.token, magnitude == UInt64(Int64.max) + 1 {
            let literal = current
            try advance()
            let span = ExpressionLexeme(token: literal.token, offset: op.offset, length: literal.offset + literal.length - op.offset)
            return leaf(.literal(.int(.min)), span, constant: true)
        }
        let operand = try parseUnary()
        return try add(s == "!" ? .not(operand) : .negate(operand), from: op.offset, operatorAt: op.offset, children: [operand])
    }

    private mutating func parsePrimary() throws(ExpressionError) -> Int {
        let lexeme = current
        switch lexeme.token {
        case .integer(let magnitude):
            guard let value = Int64(exactly: magnitude) else {
                throw ExpressionError(
                    message: "the integer \(lexer.text(lexeme.offset, lexeme.length)) is too large (the largest is 9223372036854775807)",
                    offset: lexeme.offset, hint: nil)
            }
            try advance()
            return leaf(.literal(.int(value)), lexeme, constant: true)
        case .number(let value):
            try advance()
            return leaf(.literal(.double(value)), lexeme, constant: true)
        case .string(let value):
            try advance()
            return leaf(.literal(.string(value)), lexeme, constant: true)
        case .name(let device, let point):
            try advance()
            if symbol(current) == "(" {
                guard device == nil, point != "true", point != "false" else {
                    throw ExpressionError(
                        message: "'\(lexer.text(lexeme.offset, lexeme.length))' is not a function", offset: lexeme.offset,
                        hint: "functions: " + ExpressionFunction.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return try parseCall(name: point, lexeme)
            }
            if device == nil, point == "true" || point == "false" {
                return leaf(.literal(.bool(point == "true")), lexeme, constant: true)
            }
            references.append(ExpressionReference(device: device, point: point, offset: lexeme.offset, length: lexeme.length))
            return leaf(.reference(references.count - 1), lexeme, constant: false)
        case .symbol("("):
            try enter()
            defer { nesting -= 1 }
            try advance()
            let inner = try parseOr()
            let closing = current
            try close(lexeme, what: "an operator")
            nodes[inner].outerOffset = lexeme.offset
            nodes[inner].outerEnd = closing.offset + closing.length
            return inner
        default:
            if let previous, let s = symbol(previous), s != ")" {
                throw ExpressionError(message: "expected a value after '\(s)', found \(describe(lexeme))", offset: lexeme.offset, hint: nil)
            }
            throw ExpressionError(message: "expected a value, found \(describe(lexeme))", offset: lexeme.offset, hint: nil)
        }
    }

    /// Consumes the `)` that closes `open`.
    private mutating func close(_ open: ExpressionLexeme, what: String) throws(ExpressionError) {
        switch current.token {
        case .symbol(")"):
            try advance()
        case .end:
            throw ExpressionError(
                message: "missing ')'", offset: current.offset, hint: "the '(' at character \(open.offset + 1) is not closed")
        default:
            throw ExpressionError(
                message: "expected ')' or \(what), found \(describe(current))", offset: current.offset,
                hint: "the '(' at character \(open.offset + 1) is still open")
        }
    }

    private mutating func parseCall(name: String, _ nameLexeme: ExpressionLexeme) throws(ExpressionError) -> Int {
        let open = current
        try enter()
        defer { nesting -= 1 }
        try advance()
        var list: [Int] = []
        if symbol(current) != ")" {
            while true {
                list.append(try parseOr())
                guard symbol(current) == "," else { break }
                try advance()
            }
        }
        let closing = current
        try close(open, what: "','")
        let first = arguments.count
        arguments += list
        let kind = ExpressionNode.Kind.call(ExpressionFunction(rawValue: name), name: name, arguments: first..<arguments.count)
        let index = try add(kind, from: nameLexeme.offset, operatorAt: nameLexeme.offset, children: list)
        // The span includes the closing parenthesis, which is no node.
        nodes[index].outerEnd = closing.offset + closing.length
        nodes[index].length = nodes[index].outerEnd - nameLexeme.offset
        return index
    }
}
