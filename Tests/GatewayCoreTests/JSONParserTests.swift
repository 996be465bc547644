import Testing

@testable import GatewayCore

@Suite("JSON parser")
struct JSONParserTests {
    func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try JSONValue(parsing: Array(text.utf8))
    }

    @Test("valid JSON parses, numbers keep their text, escapes and surrogate pairs decode")
    func valid() throws {
        let parsed = try parse(#" {"b": "x\"\u00e9\ud83d\ude00", "a": [1, -2.5e3, true, null]} "#)
        #expect(
            parsed
                == .object([
                    "a": .array([.integer(1), .number(JSONNumber(written: "-2.5e3")), .bool(true), .null]),
                    "b": .string("x\"é😀"),
                ]))
        // Members in payload order, numbers as written.
        #expect(parsed.compactText == #"{"b":"x\"é😀","a":[1,-2.5e3,true,null]}"#)
        #expect(parsed["a"]?.array?[1].number == -2500)
        let long = try parse("123456789012345678901234567890")
        #expect(long == .number(JSONNumber(written: "123456789012345678901234567890")))
        #expect(long.compactText == "123456789012345678901234567890")
        #expect(long.integer == nil)
    }

    @Test(
        "broken input is an error with the place, never a crash",
        arguments: [
            ("", "empty payload at byte 0"),
            (#"{"a": 1"#, "unexpected end at byte 7"),
            (#"{"a": 1} x"#, "unexpected 'x' after the value at byte 9"),
            ("[01]", "unexpected '1' where ',' or ']' was expected at byte 2"),
            (#"{"a": "\x"}"#, "unexpected 'x' after '\\' at byte 8"),
            ("\"a\u{1}\"", "control character in a string at byte 2"),
            (#""\ud800""#, "unpaired surrogate at byte 7"),
            ("1.", "unexpected end at byte 2"),
        ])
    func invalid(_ text: String, _ expected: String) {
        #expect(throws: JSONSyntaxError.self) { try parse(text) }
        do { _ = try parse(text) } catch { #expect(error.description == expected) }
    }

    @Test("invalid UTF-8 inside a string and nesting past the limit are refused")
    func hostile() {
        #expect(throws: JSONSyntaxError(problem: "invalid UTF-8 in a string", offset: 0)) {
            try JSONValue(parsing: [0x22, 0xC3, 0x28, 0x22])
        }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError(problem: "nested deeper than 64 levels", offset: 64)) { try parse(deep) }
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try parse(ok) }
    }
}
