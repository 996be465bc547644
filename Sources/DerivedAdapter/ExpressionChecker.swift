import GatewayCore

/// Gives every node its kind, collects every type error, catches what can only fail (a constant
/// zero divisor, a constant that overflows) and folds the parts without references into literals.
struct ExpressionChecker {
    private(set) var program: ExpressionProgram
    private let referenceKinds: [ValueKind]
    private var kinds: [ValueKind?]
    /// True when checking the node's subtree found no error.
    private var clean: [Bool]
    private var errors: [ExpressionError] = []

    init(program: ExpressionProgram, referenceKinds: [ValueKind]) {
        self.program = program
        self.referenceKinds = referenceKinds
        kinds = Array(repeating: nil, count: program.nodes.count)
        clean = Array(repeating: false, count: program.nodes.count)
    }

    mutating func run() -> Result<ValueKind, ExpressionErrors> {
        let root = program.root
        let kind = check(root)
        if errors.isEmpty, let kind {
            program.kinds = kinds.map { $0 ?? kind }
            fold(root)
        }
        if errors.isEmpty, let kind { return .success(kind) }
        // Errors in text order, as a reader goes through them; the sort is stable, so the
        // errors at one place keep the order in which they were found (outer after inner).
        return .failure(ExpressionErrors(errors.enumerated().sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }.map(\.element)))
    }

    // MARK: - Kinds

    private mutating func check(_ i: Int) -> ValueKind? {
        let before = errors.count
        let kind = kindOf(i)
        kinds[i] = kind
        clean[i] = errors.count == before && kind != nil
        return kind
    }

    private mutating func error(_ message: String, at offset: Int, hint: String? = nil) {
        errors.append(ExpressionError(message: message, offset: offset, hint: hint))
    }

    private func isNumeric(_ kind: ValueKind?) -> Bool { kind == .integer || kind == .number }

    /// `number (press-1.current)`: the kind, and what has it when that is short enough to show.
    private func found(_ kind: ValueKind, _ i: Int) -> String {
        let source = program.source(i)
        return source.count <= 40 ? "\(kind.rawValue) (\(source))" : kind.rawValue
    }

    /// The hint for a number where a bool is needed.
    private func compareHint(_ kind: ValueKind, _ i: Int) -> String? {
        let source = program.source(i)
        guard isNumeric(kind), source.count <= 40 else { return nil }
        return "compare it to get a bool, for example \(source) != 0"
    }

    private func numericResult(_ a: ValueKind, _ b: ValueKind) -> ValueKind {
        a == .integer && b == .integer ? .integer : .number
    }

    private mutating func kindOf(_ i: Int) -> ValueKind? {
        let node = program.nodes[i]
        switch node.kind {
        case .literal(let v):
            switch v {
            case .bool: return .bool
            case .int: return .integer
            case .double: return .number
            case .string: return .string
            }
        case .reference(let r):
            return referenceKinds[r]
        case .not(let a):
            guard let k = check(a) else { return nil }
            if k != .bool {
                error("'!' needs a bool operand, found \(found(k, a))", at: program.nodes[a].outerOffset, hint: compareHint(k, a))
                return nil
            }
            return .bool
        case .negate(let a):
            guard let k = check(a) else { return nil }
            if !isNumeric(k) {
                error("'-' cannot negate a \(k.rawValue) (\(program.source(a)))", at: program.nodes[a].outerOffset)
                return nil
            }
            return k
        case .binary(let op, let a, let b):
            let ka = check(a)
            let kb = check(b)
            return binary(op, a, ka, b, kb, node)
        case .call(let function, let name, let arguments):
            let kinds = arguments.map { check(program.arguments[$0]) }
            let nodes = arguments.map { program.arguments[$0] }
            guard let function else {
                let names = ExpressionFunction.allCases.map(\.rawValue)
                let list = "functions: " + names.joined(separator: ", ")
                let hint = Self.nearest(name, in: names).map { "did you mean '\($0)'? \(list)" } ?? list
                error("unknown function '\(name)'", at: node.offset, hint: hint)
                return nil
            }
            return call(function, nodes, kinds, node)
        }
    }

    private mutating func binary(
        _ op: ExpressionOperator, _ a: Int, _ ka: ValueKind?, _ b: Int, _ kb: ValueKind?, _ node: ExpressionNode
    ) -> ValueKind? {
        let symbol = op.rawValue
        switch op {
        case .and, .or:
            var ok = true
            for (i, k) in [(a, ka), (b, kb)] {
                guard let k else {
                    ok = false
                    continue
                }
                if k != .bool {
                    error("'\(symbol)' needs bool operands, found \(found(k, i))", at: program.nodes[i].outerOffset, hint: compareHint(k, i))
                    ok = false
                }
            }
            return ok ? .bool : nil
        case .equal, .notEqual:
            guard let ka, let kb else { return nil }
            if ka == kb || (isNumeric(ka) && isNumeric(kb)) { return .bool }
            error("'\(symbol)' compares values of the same kind, found \(ka.rawValue) and \(kb.rawValue)", at: node.operatorOffset)
            return nil
        case .less, .lessEqual, .greater, .greaterEqual:
            guard let ka, let kb else { return nil }
            if (isNumeric(ka) && isNumeric(kb)) || (ka == .string && kb == .string) { return .bool }
            for (i, k) in [(a, ka), (b, kb)] where k == .bool {
                error("'\(symbol)' cannot order bools (\(program.source(i)))", at: program.nodes[i].outerOffset, hint: "compare bools with '==' or '!='")
                return nil
            }
            error("'\(symbol)' compares two numbers or two strings, found \(ka.rawValue) and \(kb.rawValue)", at: node.operatorOffset)
            return nil
        case .add, .subtract, .multiply, .divide, .remainder:
            guard let ka, let kb else { return nil }
            if op == .add, ka == .string, kb == .string { return .string }
            if isNumeric(ka), isNumeric(kb) {
                if op == .divide || op == .remainder { checkDivisor(b) }
                return op == .divide ? .number : numericResult(ka, kb)
            }
            let verb: String =
                switch op {
                case .add: "add"
                case .subtract: "subtract"
                case .multiply: "multiply"
                case .divide: "divide"
                default: "take the remainder of"
                }
            for (i, k) in [(a, ka), (b, kb)] where k == .bool || (k == .string && op != .add) {
                error("'\(symbol)' cannot \(verb) a \(k.rawValue) (\(program.source(i)))", at: program.nodes[i].outerOffset)
                return nil
            }
            error(
                "'+' adds two numbers or joins two strings, found \(ka.rawValue) and \(kb.rawValue)", at: node.operatorOffset,
                hint: "there is no conversion between numbers and strings")
            return nil
        }
    }

    /// A constant divisor that is zero fails on every evaluation: say so now.
    private mutating func checkDivisor(_ b: Int) {
        guard program.nodes[b].isConstant, clean[b], let v = constant(b) else { return }
        guard v.numeric == 0 else { return }
        let hint: String? =
            if case .literal = program.nodes[b].kind { nil } else { "'\(program.source(b))' is always 0" }
        error("division by zero", at: program.nodes[b].outerOffset, hint: hint)
    }

    /// The value of a constant node checked without error, nil when evaluating it fails (the
    /// fold at the end reports that).
    private func constant(_ i: Int) -> Value? {
        var folding = program
        folding.kinds = kinds.map { $0 ?? .bool }
        return try? folding.evaluate(i) { _ in .bool(false) }
    }

    private mutating func call(_ function: ExpressionFunction, _ args: [Int], _ kinds: [ValueKind?], _ node: ExpressionNode) -> ValueKind? {
        let name = function.rawValue
        let count = args.count
        let counts: String? =
            switch function {
            case .abs: count == 1 ? nil : "'abs' takes 1 argument"
            case .min, .max: count >= 2 ? nil : "'\(name)' takes 2 or more arguments"
            case .round: count == 1 || count == 2 ? nil : "'round' takes 1 or 2 arguments (the number, and the digits to keep)"
            case .clamp: count == 3 ? nil : "'clamp' takes 3 arguments (the number, the low and the high bound)"
            case .if: count == 3 ? nil : "'if' takes 3 arguments (the condition, the value when true, the value when false)"
            }
        if let counts {
            error("\(counts), found \(count)", at: node.offset)
            return nil
        }
        guard kinds.allSatisfy({ $0 != nil }) else { return nil }
        let kinds = kinds.map { $0! }
        switch function {
        case .if:
            if kinds[0] != .bool {
                error(
                    "'if' needs a bool condition, found \(found(kinds[0], args[0]))", at: program.nodes[args[0]].outerOffset,
                    hint: compareHint(kinds[0], args[0]))
                return nil
            }
            if kinds[1] == kinds[2] { return kinds[1] }
            if isNumeric(kinds[1]), isNumeric(kinds[2]) { return .number }
            error("'if' needs both values of the same kind, found \(kinds[1].rawValue) and \(kinds[2].rawValue)", at: program.nodes[args[2]].outerOffset)
            return nil
        case .round:
            guard isNumeric(kinds[0]) else {
                error("'round' needs a number, found \(found(kinds[0], args[0]))", at: program.nodes[args[0]].outerOffset)
                return nil
            }
            guard count == 2 else { return .integer }
            guard case .literal(.int(let digits)) = program.nodes[args[1]].kind else {
                error(
                    "'round' needs the number of digits as an integer from 0 to 15, found \(program.source(args[1]))",
                    at: program.nodes[args[1]].outerOffset, hint: "for example round(x, 2)")
                return nil
            }
            guard (0...15).contains(digits) else {
                error("'round' keeps 0 to 15 digits, found \(digits)", at: program.nodes[args[1]].outerOffset)
                return nil
            }
            return .number
        case .abs, .min, .max, .clamp:
            var ok = true
            for (i, k) in zip(args, kinds) where !isNumeric(k) {
                error("'\(name)' needs \(count == 1 ? "a number" : "numbers"), found \(found(k, i))", at: program.nodes[i].outerOffset)
                ok = false
            }
            guard ok else { return nil }
            if function == .clamp, program.nodes[args[1]].isConstant, program.nodes[args[2]].isConstant,
                let lo = constant(args[1])?.numeric, let hi = constant(args[2])?.numeric, lo > hi
            {
                error(
                    "'clamp' has its low bound above its high bound (\(program.source(args[1])) > \(program.source(args[2])))",
                    at: program.nodes[args[1]].outerOffset)
                return nil
            }
            return kinds.allSatisfy { $0 == .integer } ? .integer : .number
        }
    }

    // MARK: - Folding

    /// Replaces each largest part without references by its value, or reports why it has none
    /// (an integer overflow happens on every evaluation just the same).
    private mutating func fold(_ i: Int) {
        let node = program.nodes[i]
        guard node.isConstant else {
            switch node.kind {
            case .literal, .reference: break
            case .not(let a), .negate(let a): fold(a)
            case .binary(_, let a, let b):
                fold(a)
                fold(b)
            case .call(_, _, let arguments):
                for k in arguments { fold(program.arguments[k]) }
            }
            return
        }
        if case .literal = node.kind { return }
        do {
            program.nodes[i].kind = .literal(try program.evaluate(i) { _ in .bool(false) })
        } catch {
            self.error(error.message, at: node.outerOffset)
        }
    }

    // MARK: - Did you mean

    /// The candidate within a small edit distance of `word` (a swap of two neighbours counts
    /// once), for a likely typo.
    static func nearest(_ word: String, in candidates: [String]) -> String? {
        let x = Array(word)
        guard !x.isEmpty, x.count <= 100 else { return nil }
        let limit = Swift.max(1, Swift.min(3, x.count / 3))
        var best: (String, Int)?
        for candidate in candidates {
            let y = Array(candidate)
            guard !y.isEmpty else { continue }
            var d = Array(repeating: Array(repeating: 0, count: y.count + 1), count: x.count + 1)
            for i in 0...x.count { d[i][0] = i }
            for j in 0...y.count { d[0][j] = j }
            for i in 1...x.count {
                for j in 1...y.count {
                    d[i][j] = Swift.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
                    if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] { d[i][j] = Swift.min(d[i][j], d[i - 2][j - 2] + 1) }
                }
            }
            let distance = d[x.count][y.count]
            if distance <= limit, best.map({ distance < $0.1 }) ?? true { best = (candidate, distance) }
        }
        return best?.0
    }
}
