import GatewayCore

/// A reference in an expression: `device.point`, or `point` within the same device (device nil).
struct ExpressionReference: Sendable, Hashable {
    /// The device id, when the reference names one.
    var device: String?
    /// The point name.
    var point: String
    /// Where the reference starts in the expression text, in Characters.
    var offset: Int
    /// How long it is, in Characters.
    var length: Int

    /// The reference as written: `press-1.voltage` or `voltage`.
    var name: String { device.map { "\($0).\(point)" } ?? point }
}

/// A problem at a place in the expression text.
struct ExpressionError: Error, Sendable, Hashable {
    /// What is wrong, lower-case, without a trailing period.
    var message: String
    /// Where, in Characters from the start of the expression text.
    var offset: Int
    /// How to fix it, when there is something to say.
    var hint: String?
}

/// The errors `Expression.check` found, in text order. (A collection rather than
/// `[ExpressionError]`: the failure of a `Result` must be an `Error`, which an array is not.)
struct ExpressionErrors: Error, Sendable, Hashable, RandomAccessCollection {
    var errors: [ExpressionError]

    init(_ errors: [ExpressionError]) { self.errors = errors }

    var startIndex: Int { errors.startIndex }
    var endIndex: Int { errors.endIndex }
    subscript(position: Int) -> ExpressionError { errors[position] }
}

/// Why an evaluation gave no value: division by zero at run time, integer overflow, a result that
/// is not finite, or an input that does not fit the kind it was checked with.
struct EvaluationError: Error, Sendable, Hashable {
    /// For example `division by zero in 'a / b'`.
    var message: String
}

/// `Expression` under a name of its own: a file that also imports Foundation (which has an
/// `Expression` of its own since Swift 6.1) finds `Expression` ambiguous outside this module.
typealias DerivedExpression = Expression

/// An expression of a derived point (`press-1.voltage * press-1.current / 1000`): parsed once into a
/// flat tree, type-checked once against the kinds of the points it references, then evaluated for
/// every input reading without parsing or String work (except where the expression itself works on
/// strings).
struct Expression: Sendable {
    /// The source text.
    let text: String
    /// Every reference in order of appearance (a point named twice appears twice).
    let references: [ExpressionReference]
    /// The kind of the result, once `check` has succeeded.
    private(set) var kind: ValueKind?
    var program: ExpressionProgram

    init(text: String, references: [ExpressionReference], program: ExpressionProgram) {
        self.text = text
        self.references = references
        self.program = program
    }

    /// Parses `text`; the first error only.
    static func parse(_ text: String) -> Result<Expression, ExpressionError> {
        var parser = ExpressionParser(text)
        do {
            return .success(try parser.parseExpression())
        } catch {
            return .failure(error)
        }
    }

    /// Type-checks, given the kind of every reference (the caller has already reported unknown ones
    /// and passes a kind for each). All errors found, or the result kind.
    ///
    /// Mutating: evaluation needs the kinds (an integer point delivering `3.0` is the integer 3,
    /// `if(c, 1, 2.5)` is a number on both branches), so a successful check keeps them, and folds
    /// the parts without references into constants. A failed check leaves the expression unchecked.
    mutating func check(kindOf: (ExpressionReference) -> ValueKind) -> Result<ValueKind, ExpressionErrors> {
        program.kinds = []
        kind = nil
        var checker = ExpressionChecker(program: program, referenceKinds: references.map(kindOf))
        let result = checker.run()
        guard case .success(let kind) = result else { return result }
        program = checker.program
        self.kind = kind
        return .success(kind)
    }

    /// Evaluates with the current value of each reference; `value(i)` is the value of
    /// `references[i]`, asked for only when the evaluation needs it (`&&`, `||` and `if` skip what
    /// they do not need). After a successful `check` the result is a value of the checked kind:
    /// integers as `.int`, numbers as `.double`. Unchecked, values are taken as they come.
    func evaluate(_ value: (Int) -> Value) -> Result<Value, EvaluationError> {
        do {
            return .success(try program.evaluate(value))
        } catch {
            return .failure(error)
        }
    }
}
