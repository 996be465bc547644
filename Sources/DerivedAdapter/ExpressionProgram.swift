import GatewayCore

/// A binary operator, lowest precedence first.
enum ExpressionOperator: String, Sendable, Hashable {
    case or = "||"
    case and = "&&"
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessEqual = "<="
    case greater = ">"
    case greaterEqual = ">="
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case remainder = "%"
}

/// The functions an expression can call.
enum ExpressionFunction: String, Sendable, Hashable, CaseIterable {
    case abs, clamp, `if`, max, min, round
}

/// One node of the flat tree; children are indices into the program's nodes.
struct ExpressionNode: Sendable {
    enum Kind: Sendable {
        case literal(Value)
        /// An index into the expression's references.
        case reference(Int)
        case not(Int)
        case negate(Int)
        case binary(ExpressionOperator, Int, Int)
        /// `function` nil: a name that is no function (an error `check` reports); `arguments`
        /// indexes the program's argument list.
        case call(ExpressionFunction?, name: String, arguments: Range<Int>)
    }

    var kind: Kind
    /// The span of the node in the text, in Characters.
    var offset: Int
    var length: Int
    /// The span with the parentheses around the node, if any.
    var outerOffset: Int
    var outerEnd: Int
    /// Where the operator (or the function name) is, for errors about the operation itself.
    var operatorOffset: Int
    /// True when no reference is below it: its value never changes.
    var isConstant: Bool
}

/// An expression compiled to a flat array of nodes, the root last.
struct ExpressionProgram: Sendable {
    var text: String
    var nodes: [ExpressionNode]
    /// The argument lists of calls, each contiguous.
    var arguments: [Int]
    /// The kind of each node once checked; empty before.
    var kinds: [ValueKind] = []

    var root: Int { nodes.count - 1 }

    /// The source text of node `i`, for messages.
    func source(_ i: Int) -> String {
        let node = nodes[i]
        return String(text.dropFirst(node.offset).prefix(node.length))
    }

    func evaluate(_ value: (Int) -> Value) throws(EvaluationError) -> Value {
        let result = try evaluate(root, value)
        return kinds.isEmpty ? result : promoted(result, to: kinds[root])
    }

    /// `if(c, 1, 2.5)` is a number whichever branch runs; everywhere else the dynamic rules (an
    /// integer with an integer stays integer, anything with a number is a number) already give
    /// the checked kind, because references are loaded as their checked kind.
    private func promoted(_ v: Value, to kind: ValueKind) -> Value {
        if kind == .number, case .int(let i) = v { return .double(Double(i)) }
        return v
    }

    func evaluate(_ i: Int, _ value: (Int) -> Value) throws(EvaluationError) -> Value {
        switch nodes[i].kind {
        case .literal(let v):
            return v
        case .reference(let r):
            return try load(value(r), node: i)
        case .not(let a):
            return .bool(!(try bool(a, value)))
        case .negate(let a):
            switch try evaluate(a, value) {
            case .int(let x):
                let (r, overflow) = Int64(0).subtractingReportingOverflow(x)
                if overflow { throw failure("integer overflow in", i) }
                return .int(r)
            case .double(let x): return .double(-x)
            case let v: throw failure("'-' cannot negate \(describe(v)) in", i)
            }
        case .binary(let op, let a, let b):
            switch op {
            case .and:
                // Not `&&`: its autoclosure would turn the typed throw into `any Error`.
                if try !bool(a, value) { return .bool(false) }
                return .bool(try bool(b, value))
            case .or:
                if try bool(a, value) { return .bool(true) }
                return .bool(try bool(b, value))
            case .equal, .notEqual:
                let same = try equal(try evaluate(a, value), try evaluate(b, value), i)
                return .bool(op == .equal ? same : !same)
            case .less, .lessEqual, .greater, .greaterEqual:
                return .bool(try compare(op, try evaluate(a, value), try evaluate(b, value), i))
            case .add, .subtract, .multiply, .divide, .remainder:
                return try arithmetic(op, try evaluate(a, value), try evaluate(b, value), i)
            }
        case .call(let function, let name, let arguments):
            guard let function else { throw EvaluationError(message: "unknown function '\(name)'") }
            return try call(function, arguments, i, value)
        }
    }

    private func bool(_ i: Int, _ value: (Int) -> Value) throws(EvaluationError) -> Bool {
        let v = try evaluate(i, value)
        guard case .bool(let b) = v else { throw EvaluationError(message: "'\(source(i))' is \(describe(v)), not a bool") }
        return b
    }

    /// The value of a reference as its checked kind: a whole double from an integer point is an
    /// integer, an integer from a number point a number; anything else is not this point's value.
    private func load(_ v: Value, node i: Int) throws(EvaluationError) -> Value {
        guard !kinds.isEmpty else {
            if case .double(let d) = v, !d.isFinite { throw failure("is not a finite number:", i, after: v) }
            return v
        }
        switch (kinds[i], v) {
        case (.integer, .int), (.bool, .bool), (.string, .string):
            return v
        case (.integer, .double(let d)):
            if d == d.rounded(), let x = Int64(exactly: d) { return .int(x) }
        case (.number, .double(let d)):
            if d.isFinite { return v }
            throw failure("is not a finite number:", i, after: v)
        case (.number, .int(let x)):
            return .double(Double(x))
        default:
            break
        }
        let expected = kinds[i] == .integer ? "an integer" : kinds[i] == .number ? "a number" : "a \(kinds[i].rawValue)"
        throw failure("is not \(expected):", i, after: v)
    }

    private func equal(_ a: Value, _ b: Value, _ i: Int) throws(EvaluationError) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        default:
            guard let x = a.numeric, let y = b.numeric else {
                throw failure("cannot compare \(describe(a)) with \(describe(b)) in", i)
            }
            return x == y
        }
    }

    private func compare(_ op: ExpressionOperator, _ a: Value, _ b: Value, _ i: Int) throws(EvaluationError) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return ordered(op, x, y)
        case (.string(let x), .string(let y)): return ordered(op, x, y)
        default:
            guard let x = a.numeric, let y = b.numeric else {
                throw failure("cannot compare \(describe(a)) with \(describe(b)) in", i)
            }
            return ordered(op, x, y)
        }
    }

    private func ordered<T: Comparable>(_ op: ExpressionOperator, _ x: T, _ y: T) -> Bool {
        switch op {
        case .less: return x < y
        case .lessEqual: return x <= y
        case .greater: return x > y
        default: return x >= y
        }
    }

    private func arithmetic(_ op: ExpressionOperator, _ a: Value, _ b: Value, _ i: Int) throws(EvaluationError) -> Value {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            let result: (partialValue: Int64, overflow: Bool)
            switch op {
            case .add: result = x.addingReportingOverflow(y)
            case .subtract: result = x.subtractingReportingOverflow(y)
            case .multiply: result = x.multipliedReportingOverflow(by: y)
            case .remainder:
                if y == 0 { throw failure("division by zero in", i) }
                result = x.remainderReportingOverflow(dividingBy: y)
            default:
                if y == 0 { throw failure("division by zero in", i) }
                return try finite(Double(x) / Double(y), i)
            }
            if result.overflow { throw failure("integer overflow in", i) }
            return .int(result.partialValue)
        case (.string(let x), .string(let y)) where op == .add:
            return .string(x + y)
        default:
            guard let x = a.numeric, let y = b.numeric else {
                throw failure("'\(op.rawValue)' cannot combine \(describe(a)) with \(describe(b)) in", i)
            }
            switch op {
            case .add: return try finite(x + y, i)
            case .subtract: return try finite(x - y, i)
            case .multiply: return try finite(x * y, i)
            case .remainder:
                if y == 0 { throw failure("division by zero in", i) }
                return try finite(x.truncatingRemainder(dividingBy: y), i)
            default:
                if y == 0 { throw failure("division by zero in", i) }
                return try finite(x / y, i)
            }
        }
    }

    private func finite(_ d: Double, _ i: Int) throws(EvaluationError) -> Value {
        guard d.isFinite else { throw failure("non-finite result in", i) }
        return .double(d)
    }

    private func call(
        _ function: ExpressionFunction, _ arguments: Range<Int>, _ i: Int, _ value: (Int) -> Value
    ) throws(EvaluationError) -> Value {
        let count = arguments.count
        switch (function, count) {
        case (.if, 3):
            let a = self.arguments[arguments.lowerBound]
            let chosen = try bool(a, value) ? self.arguments[arguments.lowerBound + 1] : self.arguments[arguments.lowerBound + 2]
            let v = try evaluate(chosen, value)
            return kinds.isEmpty ? v : promoted(v, to: kinds[i])
        case (.abs, 1):
            switch try number(arguments.lowerBound, value) {
            case .int(let x):
                if x == .min { throw failure("integer overflow in", i) }
                return .int(Swift.abs(x))
            case let v: return .double(Swift.abs(v.numeric ?? 0))
            }
        case (.min, 2...), (.max, 2...):
            var best = try number(arguments.lowerBound, value)
            for k in arguments.dropFirst() {
                let v = try number(k, value)
                switch (best, v) {
                case (.int(let x), .int(let y)):
                    best = .int(function == .min ? Swift.min(x, y) : Swift.max(x, y))
                default:
                    let x = best.numeric ?? 0
                    let y = v.numeric ?? 0
                    best = .double(function == .min ? Swift.min(x, y) : Swift.max(x, y))
                }
            }
            return best
        case (.clamp, 3):
            let x = try number(arguments.lowerBound, value)
            let lo = try number(arguments.lowerBound + 1, value)
            let hi = try number(arguments.lowerBound + 2, value)
            if case .int(let x) = x, case .int(let lo) = lo, case .int(let hi) = hi {
                return .int(Swift.min(Swift.max(x, lo), hi))
            }
            return .double(Swift.min(Swift.max(x.numeric ?? 0, lo.numeric ?? 0), hi.numeric ?? 0))
        case (.round, 1):
            switch try number(arguments.lowerBound, value) {
            case .int(let x): return .int(x)
            case let v:
                let r = (v.numeric ?? 0).rounded()
                guard let x = Int64(exactly: r) else { throw failure("integer overflow in", i) }
                return .int(x)
            }
        case (.round, 2):
            let x = try number(arguments.lowerBound, value).numeric ?? 0
            let digitsNode = self.arguments[arguments.lowerBound + 1]
            guard case .int(let digits) = try evaluate(digitsNode, value), (0...15).contains(digits) else {
                throw failure("'round' needs 0 to 15 digits in", i)
            }
            return .double(Self.round(x, digits: Int(digits)))
        default:
            throw failure("'\(function.rawValue)' cannot take \(count) arguments in", i)
        }
    }

    static let powersOfTen: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]

    /// `x` rounded to `digits` decimals, half away from zero.
    static func round(_ x: Double, digits: Int) -> Double {
        let p = powersOfTen[digits]
        // From 2^52 up every double is whole at this scale: nothing to round, and x * p could
        // overflow.
        if Swift.abs(x) * p >= 4_503_599_627_370_496 { return x }
        return (x * p).rounded() / p
    }

    private func number(_ argument: Int, _ value: (Int) -> Value) throws(EvaluationError) -> Value {
        let i = arguments[argument]
        let v = try evaluate(i, value)
        switch v {
        case .int, .double: return v
        default: throw EvaluationError(message: "'\(source(i))' is \(describe(v)), not a number")
        }
    }

    private func describe(_ v: Value) -> String {
        switch v {
        case .bool: return "a bool"
        case .int: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        }
    }

    /// `message 'source'`, or with a value: `'source' message value`.
    private func failure(_ message: String, _ i: Int, after value: Value? = nil) -> EvaluationError {
        if let value { return EvaluationError(message: "'\(source(i))' \(message) \(value)") }
        return EvaluationError(message: "\(message) '\(source(i))'")
    }
}
