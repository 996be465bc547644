import GatewayCore
import Testing

@testable import DerivedAdapter

/// The points the expressions below refer to: their kind, and the value they deliver unless a
/// test says otherwise.
private let points: [String: (kind: ValueKind, value: Value)] = [
    "a": (.number, .double(7.5)),
    "n": (.number, .double(-2.25)),
    "b": (.integer, .int(2)),
    "i": (.integer, .int(-7)),
    "z": (.integer, .int(0)),
    "s": (.string, .string("abc")),
    "t": (.string, .string("abd")),
    "on": (.bool, .bool(true)),
    "off": (.bool, .bool(false)),
    "press-1.voltage": (.number, .double(230)),
    "press-1.current": (.number, .double(12.5)),
    "press-1.state": (.integer, .int(1)),
    "press-2.voltage": (.number, .double(229)),
]

private func parsed(_ text: String) throws -> Expression {
    switch Expression.parse(text) {
    case .success(let e): return e
    case .failure(let error):
        Issue.record("\(text): \(error)")
        throw error
    }
}

private func kind(of reference: ExpressionReference) -> ValueKind {
    points[reference.name]?.kind ?? .bool
}

private func checked(_ text: String) throws -> (Expression, ValueKind) {
    var e = try parsed(text)
    switch e.check(kindOf: kind(of:)) {
    case .success(let k): return (e, k)
    case .failure(let errors):
        Issue.record("\(text): \(Array(errors))")
        throw errors
    }
}

/// Parses, checks and evaluates `text`; `values` overrides what the points deliver.
private func evaluated(_ text: String, _ values: [String: Value] = [:]) throws -> Result<Value, EvaluationError> {
    let (e, k) = try checked(text)
    let result = e.evaluate { values[e.references[$0].name] ?? points[e.references[$0].name]!.value }
    if case .success(let v) = result {
        #expect(isOf(v, kind: k), "\(text): \(v) is not of the checked kind \(k)")
    }
    return result
}

private func value(_ text: String, _ values: [String: Value] = [:]) throws -> Value {
    try evaluated(text, values).get()
}

private func isOf(_ v: Value, kind: ValueKind) -> Bool {
    switch (v, kind) {
    case (.int, .integer), (.double, .number), (.bool, .bool), (.string, .string): return true
    default: return false
    }
}

private func parseError(_ text: String) -> ExpressionError? {
    guard case .failure(let error) = Expression.parse(text) else { return nil }
    return error
}

private func checkErrors(_ text: String) throws -> [ExpressionError] {
    var e = try parsed(text)
    guard case .failure(let errors) = e.check(kindOf: kind(of:)) else { return [] }
    return Array(errors)
}

@Suite("expressions of derived points: parse, check, evaluate")
struct ExpressionTests {
    @Test("binary operators associate to the left and bind by precedence: * / % over + - over comparisons over == != over && over ||")
    func precedenceAndAssociativity() throws {
        #expect(try value("2 - 3 - 4") == .int(-5))
        #expect(try value("2 * 3 + 4") == .int(10))
        #expect(try value("2 + 3 * 4") == .int(14))
        #expect(try value("(2 + 3) * 4") == .int(20))
        #expect(try value("8 / 4 / 2") == .double(1))
        #expect(try value("100 % 7 % 4") == .int(2))
        #expect(try value("10 - 2 * 3 % 4") == .int(8))
        #expect(try value("-2 * -3 - -1") == .int(7))
        #expect(try value("1 + 2 == 3 && 4 > 3") == .bool(true))
        #expect(try value("2 < 3 == 1 < 0") == .bool(false))
        for a in [false, true] {
            for b in [false, true] {
                for c in [false, true] {
                    let values: [String: Value] = ["a": .bool(a), "b": .bool(b), "c": .bool(c)]
                    var e = try parsed("!a && b || c")
                    _ = e.check { _ in .bool }
                    #expect(e.evaluate { values[e.references[$0].name]! } == .success(.bool((!a && b) || c)), "a=\(a) b=\(b) c=\(c)")
                    var f = try parsed("a || b && !c")
                    _ = f.check { _ in .bool }
                    #expect(f.evaluate { values[f.references[$0].name]! } == .success(.bool(a || (b && !c))), "a=\(a) b=\(b) c=\(c)")
                }
            }
        }
    }

    @Test("+ - * % of two integers give an integer, with a number involved a number; / always a number; unary minus keeps the kind")
    func arithmeticKinds() throws {
        #expect(try checked("b + i").1 == .integer)
        #expect(try value("b + i") == .int(-5))
        #expect(try value("b - i") == .int(9))
        #expect(try value("b * i") == .int(-14))
        #expect(try value("i % b") == .int(-1))
        #expect(try value("i / b") == .double(-3.5))
        #expect(try checked("b / b").1 == .number)
        #expect(try value("b / b") == .double(1))
        #expect(try value("a + b") == .double(9.5))
        #expect(try value("a - b") == .double(5.5))
        #expect(try value("a * b") == .double(15))
        #expect(try value("a % b") == .double(1.5))
        #expect(try value("a / b") == .double(3.75))
        #expect(try value("-b") == .int(-2))
        #expect(try value("-a") == .double(-7.5))
        #expect(try value("1_000 * 3") == .int(3000))
        #expect(try value("1e3 + 0.5") == .double(1000.5))
        #expect(try checked("1e3").1 == .number)
        #expect(try value("2.5E-1") == .double(0.25))
        #expect(try value("-9223372036854775808") == .int(.min))
        #expect(try value("press-1.voltage * press-1.current / 1000") == .double(2.875))
    }

    @Test("an integer point may deliver a whole double and a number point an integer: each is taken as its point's kind")
    func referencesAsTheirKind() throws {
        #expect(try value("b + 1", ["b": .double(3.0)]) == .int(4))
        #expect(try value("a + 1", ["a": .int(3)]) == .double(4))
        #expect(try value("if(on, b, a)", ["b": .double(5)]) == .double(5))
        #expect(throws: EvaluationError(message: "'b' is not an integer: 3.5")) { try value("b + 1", ["b": .double(3.5)]) }
        #expect(throws: EvaluationError(message: "'a' is not a finite number: nan")) { try value("a + 1", ["a": .double(.nan)]) }
        #expect(throws: EvaluationError(message: "'on' is not a bool: 1")) { try value("!on", ["on": .int(1)]) }
        #expect(throws: EvaluationError(message: "'s' is not a string: 2")) { try value("s + t", ["s": .int(2)]) }
    }

    @Test("comparisons order numbers (integer and number mixed) and strings; == and != compare within a kind family")
    func comparisons() throws {
        #expect(try value("b < a") == .bool(true))
        #expect(try value("b <= 2") == .bool(true))
        #expect(try value("b > 2") == .bool(false))
        #expect(try value("a >= 7.5") == .bool(true))
        #expect(try value("b == 2.0") == .bool(true))
        #expect(try value("b != 2.5") == .bool(true))
        #expect(try value("s < t") == .bool(true))
        #expect(try value("s >= t") == .bool(false))
        #expect(try value("s == 'abc'") == .bool(true))
        #expect(try value("s != \"abc\"") == .bool(false))
        #expect(try value("on == off") == .bool(false))
        #expect(try value("on != off") == .bool(true))
        #expect(try value("\"B\" < \"a\"") == .bool(true))
    }

    @Test("strings: both quotes, backslash escapes, + joins two strings")
    func strings() throws {
        #expect(try value("s + '-' + t") == .string("abc-abd"))
        #expect(try checked("s + t").1 == .string)
        #expect(try value(#"'it\'s' + "\"q\"" + '\\' + "\n\t""#) == .string("it's\"q\"\\\n\t"))
        #expect(try value(#""it's""#) == .string("it's"))
    }

    @Test("&& || ! on bools, with && and || skipping their right side when the left decides")
    func logic() throws {
        #expect(try value("on && !off") == .bool(true))
        #expect(try value("off || on") == .bool(true))
        #expect(try value("off && on") == .bool(false))
        #expect(try value("!on || off") == .bool(false))
        // The right side would divide by zero: not evaluated.
        #expect(try value("z != 0 && b / z > 1") == .bool(false))
        #expect(try value("z == 0 || b / z > 1") == .bool(true))
        var asked: [Int] = []
        var e = try parsed("off && s == t")
        _ = e.check(kindOf: kind(of:))
        _ = e.evaluate {
            asked.append($0)
            return points[e.references[$0].name]!.value
        }
        #expect(asked == [0])
    }

    @Test("if(c, a, b) evaluates only the branch taken; an integer and a number branch make a number")
    func lazyIf() throws {
        #expect(try value("if(z == 0, 0, b / z)") == .double(0))
        #expect(try value("if(z != 0, b / z, -1)") == .double(-1))
        #expect(try value("if(on, s, t)") == .string("abc"))
        #expect(try value("if(off, on, off)") == .bool(false))
        #expect(try checked("if(on, 1, 2)").1 == .integer)
        #expect(try checked("if(on, 1, a)").1 == .number)
        #expect(try value("if(on, 1, a)") == .double(1))
        // The integer branch is a number before it is multiplied: no integer overflow.
        let big = Int64(1) << 62
        #expect(try value("if(on, b, a) * b", ["b": .int(big)]) == .double(Double(big) * Double(big)))
        #expect(try value("max(b, a) * b", ["b": .int(big)]) == .double(Double(big) * Double(big)))
        var asked: [String] = []
        var e = try parsed("if(on, b, i)")
        _ = e.check(kindOf: kind(of:))
        #expect(
            e.evaluate {
                asked.append(e.references[$0].name)
                return points[e.references[$0].name]!.value
            } == .success(.int(2)))
        #expect(asked == ["on", "b"])
    }

    @Test("min max clamp: integer when every argument is, else a number; abs keeps the kind; round gives an integer, or a number with digits")
    func functions() throws {
        #expect(try value("min(b, i, 5)") == .int(-7))
        #expect(try value("max(b, i, 5)") == .int(5))
        #expect(try value("min(b, a)") == .double(2))
        #expect(try value("max(b, a, n)") == .double(7.5))
        #expect(try checked("max(b, 1)").1 == .integer)
        #expect(try checked("max(b, 1.0)").1 == .number)
        #expect(try value("abs(i)") == .int(7))
        #expect(try value("abs(n)") == .double(2.25))
        #expect(try value("clamp(i, 0, 10)") == .int(0))
        #expect(try value("clamp(b, 0, 1)") == .int(1))
        #expect(try value("clamp(a, 0, 10)") == .double(7.5))
        #expect(try value("clamp(b, 0.5, 10)") == .double(2))
        #expect(try value("round(a)") == .int(8))
        #expect(try value("round(n)") == .int(-2))
        #expect(try value("round(-2.5)") == .int(-3))
        #expect(try value("round(b)") == .int(2))
        #expect(try checked("round(a)").1 == .integer)
        #expect(try value("round(2.346, 2)") == .double(2.35))
        #expect(try value("round(1234.5678, 1)") == .double(1234.6))
        #expect(try value("round(b, 3)") == .double(2))
        #expect(try value("round(n, 0)") == .double(-2))
        #expect(try checked("round(b, 3)").1 == .number)
        #expect(try value("round(1e300, 15)") == .double(1e300))
    }

    @Test("a device id with hyphens is one reference; spaces around - make a subtraction; offsets and lengths are in Characters")
    func references() throws {
        let e = try parsed("press-1.voltage - press-2.voltage")
        #expect(e.references.map(\.name) == ["press-1.voltage", "press-2.voltage"])
        #expect(e.references.map(\.device) == ["press-1", "press-2"])
        #expect(e.references.map(\.offset) == [0, 18])
        #expect(e.references.map(\.length) == [15, 15])
        #expect(try value("press-1.voltage - press-2.voltage") == .double(1))
        let f = try parsed("a - b-1 -i")
        #expect(f.references.map(\.name) == ["a", "b-1", "i"])
        #expect(f.references.map(\.device) == [nil, nil, nil])
        #expect(f.references.map(\.offset) == [0, 4, 9])
        let g = try parsed(#""🇩🇪 é" + x + x"#)
        #expect(g.references.map(\.offset) == [8, 12])
        #expect(g.references.map(\.length) == [1, 1])
        #expect(try parsed("_a_1 + x2").references.map(\.name) == ["_a_1", "x2"])
    }

    @Test("parse errors: the first, with its offset, message and hint")
    func parseErrors() throws {
        let cases: [(String, String, Int, String?)] = [
            ("", "empty expression", 0, nil),
            ("   ", "empty expression", 0, nil),
            ("a # b", "unexpected character '#'", 2, nil),
            ("a = b", "unexpected character '='", 2, "compare with '=='"),
            ("a & b", "unexpected character '&'", 2, "write '&&' for and"),
            ("'abc", "unterminated string", 0, "close it with '"),
            ("x + \"ab", "unterminated string", 4, "close it with \""),
            (#"'a\qb'"#, #"unknown escape '\q' in a string"#, 2, #"escapes: \\ \' \" \n \t"#),
            ("(a + b", "missing ')'", 6, "the '(' at character 1 is not closed"),
            ("max(a, (b + 1)", "missing ')'", 14, "the '(' at character 4 is not closed"),
            ("(a b)", "expected ')' or an operator, found 'b'", 3, "the '(' at character 1 is still open"),
            ("min(a b)", "expected ')' or ',', found 'b'", 6, "the '(' at character 4 is still open"),
            ("a b", "expected an operator, found 'b'", 2, nil),
            ("a + b)", "unexpected ')'", 5, "it closes no '('"),
            ("a +", "expected a value after '+', found the end of the expression", 3, nil),
            ("* 2", "expected a value, found '*'", 0, nil),
            ("min(a,)", "expected a value after ',', found ')'", 6, nil),
            ("a.", "expected a point name after 'a.'", 2, nil),
            ("press-1. voltage", "expected a point name after 'press-1.'", 8, "write device.point with no spaces around the '.'"),
            ("dev.5", "expected a point name after 'dev.'", 4, "a point name starts with a letter or '_'"),
            (".b", "a reference cannot start with '.'", 0, "write device.point with no spaces around the '.'"),
            ("a.b.c + 1", "'a.b.c' is not a reference: it has more than one '.'", 0, "a reference is device.point, or point for a point of the same device"),
            (".5", "a number cannot start with '.'", 0, "write 0.5"),
            ("x * .25", "a number cannot start with '.'", 4, "write 0.25"),
            ("1.", "'1.' needs a digit after the '.'", 2, "write 1.0 or 1"),
            ("1e+", "'1e+' needs digits in its exponent", 3, "for example 1e3 or 2.5e-3"),
            ("1_", "'_' in a number must stand between two digits", 1, nil),
            ("2x", "unexpected character 'x' after the number 2", 1, "put an operator between them, for example 2 * x"),
            ("99999999999999999999", "the integer 99999999999999999999 is too large (the largest is 9223372036854775807)", 0, nil),
            ("9223372036854775808", "the integer 9223372036854775808 is too large (the largest is 9223372036854775807)", 0, nil),
            ("1e999", "the number 1e999 is too large", 0, nil),
            ("press-1.min(1, 2)", "'press-1.min' is not a function", 0, "functions: abs, clamp, if, max, min, round"),
        ]
        for (text, message, offset, hint) in cases {
            #expect(parseError(text) == ExpressionError(message: message, offset: offset, hint: hint), "\(text)")
        }
        // The first error in the text, even when a later one is a lexical error.
        #expect(parseError("* 2 # 3")?.offset == 0)
        let deep = String(repeating: "(", count: 150) + "1" + String(repeating: ")", count: 150)
        #expect(
            parseError(deep)
                == ExpressionError(
                    message: "the expression is nested too deeply (more than 100 levels)", offset: 100, hint: "split it into several derived points"))
        let long = (0...120).map { "x\($0)" }.joined(separator: " + ")
        #expect(parseError(long)?.message == "the expression is nested too deeply (more than 100 levels)")
        #expect(parseError((0...90).map { "x\($0)" }.joined(separator: " + ")) == nil)
    }

    @Test("check errors: each with its offset, message and hint; every error of an expression, in text order")
    func checkErrorsAreReported() throws {
        let cases: [(String, String, Int, String?)] = [
            (
                "on && press-1.current", "'&&' needs bool operands, found number (press-1.current)", 6,
                "compare it to get a bool, for example press-1.current != 0"
            ),
            ("s || on", "'||' needs bool operands, found string (s)", 0, nil),
            ("on + 1", "'+' cannot add a bool (on)", 0, nil),
            ("s * 2", "'*' cannot multiply a string (s)", 0, nil),
            ("b % on", "'%' cannot take the remainder of a bool (on)", 4, nil),
            ("s + 1", "'+' adds two numbers or joins two strings, found string and integer", 2, "there is no conversion between numbers and strings"),
            ("-on", "'-' cannot negate a bool (on)", 1, nil),
            ("!a", "'!' needs a bool operand, found number (a)", 1, "compare it to get a bool, for example a != 0"),
            ("s < 1", "'<' compares two numbers or two strings, found string and integer", 2, nil),
            ("on < off", "'<' cannot order bools (on)", 0, "compare bools with '==' or '!='"),
            ("on == 1", "'==' compares values of the same kind, found bool and integer", 3, nil),
            ("a / 0", "division by zero", 4, nil),
            ("b % (3 - 3)", "division by zero", 4, "'3 - 3' is always 0"),
            ("a / (0.5 * 2 - 1)", "division by zero", 4, "'0.5 * 2 - 1' is always 0"),
            ("mni(a, b)", "unknown function 'mni'", 0, "did you mean 'min'? functions: abs, clamp, if, max, min, round"),
            ("sqrt(a)", "unknown function 'sqrt'", 0, "functions: abs, clamp, if, max, min, round"),
            ("abs(a, b)", "'abs' takes 1 argument, found 2", 0, nil),
            ("1 + max(a)", "'max' takes 2 or more arguments, found 1", 4, nil),
            ("clamp(a, 1)", "'clamp' takes 3 arguments (the number, the low and the high bound), found 2", 0, nil),
            ("if(on, 1)", "'if' takes 3 arguments (the condition, the value when true, the value when false), found 2", 0, nil),
            ("round()", "'round' takes 1 or 2 arguments (the number, and the digits to keep), found 0", 0, nil),
            ("round(a, b)", "'round' needs the number of digits as an integer from 0 to 15, found b", 9, "for example round(x, 2)"),
            ("round(a, 1.5)", "'round' needs the number of digits as an integer from 0 to 15, found 1.5", 9, "for example round(x, 2)"),
            ("round(a, 16)", "'round' keeps 0 to 15 digits, found 16", 9, nil),
            ("round(s)", "'round' needs a number, found string (s)", 6, nil),
            ("abs(on)", "'abs' needs a number, found bool (on)", 4, nil),
            ("if(a, 1, 2)", "'if' needs a bool condition, found number (a)", 3, "compare it to get a bool, for example a != 0"),
            ("if(on, 1, s)", "'if' needs both values of the same kind, found integer and string", 10, nil),
            ("clamp(a, 10, 5)", "'clamp' has its low bound above its high bound (10 > 5)", 9, nil),
            ("9223372036854775807 + 1 > b", "integer overflow in '9223372036854775807 + 1'", 0, nil),
            ("a * (1e300 * 1e300)", "non-finite result in '1e300 * 1e300'", 4, nil),
        ]
        for (text, message, offset, hint) in cases {
            #expect(try checkErrors(text) == [ExpressionError(message: message, offset: offset, hint: hint)], "\(text)")
        }
        #expect(
            try checkErrors("min(on, s) > 0")
                == [
                    ExpressionError(message: "'min' needs numbers, found bool (on)", offset: 4, hint: nil),
                    ExpressionError(message: "'min' needs numbers, found string (s)", offset: 8, hint: nil),
                ])
        // An operand in error hides the errors it would cause above it, not the others.
        #expect(
            try checkErrors("a && (on + 1) * 2 > 0")
                == [
                    ExpressionError(message: "'&&' needs bool operands, found number (a)", offset: 0, hint: "compare it to get a bool, for example a != 0"),
                    ExpressionError(message: "'+' cannot add a bool (on)", offset: 6, hint: nil),
                ])
        // A divisor that is not constant is left to evaluation.
        #expect(try checkErrors("a / (b - b)") == [])
        #expect(try checkErrors("if(on, 1, 2 / 0)") == [ExpressionError(message: "division by zero", offset: 14, hint: nil)])
    }

    @Test("DerivedExpression names the type where Foundation's Expression would make 'Expression' ambiguous")
    func alias() throws {
        #expect(try DerivedExpression.parse("a + 1").get().references.map(\.name) == ["a"])
    }

    @Test("a failed check leaves the expression unchecked; a later successful one checks it")
    func recheck() throws {
        var e = try parsed("x + 1")
        #expect(throws: ExpressionErrors.self) { try e.check { _ in .bool }.get() }
        #expect(e.kind == nil)
        #expect(try e.check { _ in .integer }.get() == .integer)
        #expect(e.kind == .integer)
        #expect(e.evaluate { _ in .double(4) } == .success(.int(5)))
    }

    @Test("evaluation: division by zero, integer overflow and non-finite results are errors naming the part that failed")
    func evaluationErrors() throws {
        #expect(throws: EvaluationError(message: "division by zero in 'a / z'")) { try value("a / z") }
        #expect(throws: EvaluationError(message: "division by zero in 'b % z'")) { try value("b % z") }
        #expect(throws: EvaluationError(message: "division by zero in 'a % (b - b)'")) { try value("1 + a % (b - b)") }
        #expect(throws: EvaluationError(message: "integer overflow in 'b * b'")) { try value("b * b", ["b": .int(.max / 2 + 1)]) }
        #expect(throws: EvaluationError(message: "integer overflow in 'b + 1'")) { try value("b + 1", ["b": .int(.max)]) }
        #expect(throws: EvaluationError(message: "integer overflow in 'i - 1'")) { try value("i - 1", ["i": .int(.min)]) }
        #expect(throws: EvaluationError(message: "integer overflow in '-i'")) { try value("-i", ["i": .int(.min)]) }
        #expect(throws: EvaluationError(message: "integer overflow in 'abs(i)'")) { try value("abs(i)", ["i": .int(.min)]) }
        #expect(throws: EvaluationError(message: "integer overflow in 'i % -1'")) { try value("i % -1", ["i": .int(.min)]) }
        #expect(throws: EvaluationError(message: "integer overflow in 'round(a)'")) { try value("round(a)", ["a": .double(1e19)]) }
        #expect(throws: EvaluationError(message: "non-finite result in 'a * a'")) { try value("a * a", ["a": .double(1e200)]) }
        #expect(try value("b * b", ["b": .int(3_037_000_499)]) == .int(9_223_372_030_926_249_001))
        #expect(try value("round(a)", ["a": .double(-9.2e18)]) == .int(-9_200_000_000_000_000_000))
    }

    @Test("an unchecked expression evaluates values as they come and reports a kind mismatch instead of crashing")
    func unchecked() throws {
        let e = try parsed("x + y")
        #expect(e.evaluate { $0 == 0 ? .int(1) : .int(2) } == .success(.int(3)))
        #expect(e.evaluate { $0 == 0 ? .int(1) : .double(2) } == .success(.double(3)))
        #expect(e.evaluate { $0 == 0 ? .int(1) : .bool(true) } == .failure(EvaluationError(message: "'+' cannot combine an integer with a bool in 'x + y'")))
        #expect(try parsed("!x").evaluate { _ in .int(1) } == .failure(EvaluationError(message: "'x' is an integer, not a bool")))
        #expect(try parsed("nope(x)").evaluate { _ in .int(1) } == .failure(EvaluationError(message: "unknown function 'nope'")))
        #expect(try parsed("abs(x, x)").evaluate { _ in .int(1) } == .failure(EvaluationError(message: "'abs' cannot take 2 arguments in 'abs(x, x)'")))
        #expect(try parsed("round(x, y)").evaluate { $0 == 0 ? .double(1.25) : .int(1) } == .success(.double(1.3)))
        #expect(
            try parsed("round(x, y)").evaluate { $0 == 0 ? .double(1.25) : .int(20) }
                == .failure(EvaluationError(message: "'round' needs 0 to 15 digits in 'round(x, y)'")))
        #expect(
            try parsed("x < y").evaluate { $0 == 0 ? .string("a") : .int(1) }
                == .failure(EvaluationError(message: "cannot compare a string with an integer in 'x < y'")))
    }

    @Test("a check folds the parts without references: the value is the same as before folding")
    func folding() throws {
        let text = "a * (2 + 3) - max(1, 4 / 2) + round(10 / 3, 2) + if(1 > 2, 1, 0.5)"
        let unchecked = try parsed(text)
        let (e, _) = try checked(text)
        func literal(at offset: Int, length: Int) -> Value? {
            guard let node = e.program.nodes.last(where: { $0.offset == offset && $0.length == length }),
                case .literal(let v) = node.kind
            else { return nil }
            return v
        }
        #expect(literal(at: 5, length: 5) == .int(5))
        #expect(literal(at: 14, length: 13) == .double(2))
        #expect(literal(at: 30, length: 16) == .double(3.33))
        #expect(literal(at: 49, length: 17) == .double(0.5))
        #expect(unchecked.program.nodes.contains { if case .call(.max, _, _) = $0.kind { true } else { false } })
        let expected = 7.5 * 5 - 2 + 3.33 + 0.5
        #expect(e.evaluate { _ in .double(7.5) } == .success(.double(expected)))
        #expect(unchecked.evaluate { _ in .double(7.5) } == .success(.double(expected)))
    }
}
