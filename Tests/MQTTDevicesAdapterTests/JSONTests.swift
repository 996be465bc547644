@testable import MQTTDevicesAdapter
import Testing

@Suite("JSON parser, paths and payload templates")
struct JSONTests {
    func parse(_ text: String) throws(JSONSyntaxError) -> JSON {
        try JSONParser.parse(Array(text.utf8))
    }

    @Test("valid JSON parses, numbers keep their text, escapes and surrogate pairs decode")
    func valid() throws {
        #expect(try parse(#" {"a": [1, -2.5e3, true, null], "b": "x\"\u00e9\ud83d\ude00"} "#)
                == .object([.init("a", .array([.number("1"), .number("-2.5e3"), .bool(true), .null])),
                            .init("b", .string("x\"é😀"))]))
        #expect(try parse("123456789012345678901234567890") == .number("123456789012345678901234567890"))
    }

    @Test("broken input is an error with the place, never a crash", arguments: [
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
            try JSONParser.parse([0x22, 0xC3, 0x28, 0x22])
        }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError(problem: "nested deeper than 64 levels", offset: 64)) { try parse(deep) }
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try parse(ok) }
    }

    @Test("paths parse into steps and find values; a missing step is reported", arguments: [
        ("$", [JSONPath.Step]()),
        ("$.a.b", [.key("a"), .key("b")]),
        ("$.a[0]", [.key("a"), .index(0)]),
        ("$.a.b[2].c", [.key("a"), .key("b"), .index(2), .key("c")]),
        (#"$["key with space"]"#, [.key("key with space")]),
        (#"$['it\'s']"#, [.key("it's")]),
        ("$.battery_low-2", [.key("battery_low-2")]),
    ])
    func paths(_ text: String, _ steps: [JSONPath.Step]) throws {
        let path = try JSONPath.parse(text)
        #expect(path.steps == steps)
        #expect(path.description == text)
    }

    @Test("path errors give the character offset", arguments: [
        ("a.b", 0), ("$.", 2), ("$..a", 2), ("$[x]", 2), ("$.a[1", 5), (#"$["a"#, 2), ("$ a", 1), ("$[-1]", 2),
    ])
    func pathErrors(_ text: String, _ offset: Int) {
        do {
            _ = try JSONPath.parse(text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.offset == offset, "\(text): \(error.problem)")
        }
    }

    @Test("evaluate follows members and elements, and names the path that found nothing")
    func evaluate() throws {
        let root = try parse(#"{"a": {"b": [10, {"c": "x"}]}}"#)
        #expect(try JSONPath.parse("$.a.b[1].c").evaluate(root).get() == .string("x"))
        #expect(try JSONPath.parse("$.a.b[0]").evaluate(root).get() == .number("10"))
        #expect(throws: (any Error).self) { try JSONPath.parse("$.a.b[5]").evaluate(root).get() }
        #expect(throws: (any Error).self) { try JSONPath.parse("$.a.b.c").evaluate(root).get() }
    }

    @Test("templates put text inside strings escaped and literals where the placeholder stands alone")
    func templates() {
        let t = PayloadTemplate(#"{"state": "{value}", "raw": {value}, "note": "\"{value}\""}"#)
        #expect(t.placeholders == 3)
        #expect(t.render(literal: #""O\"N""#, text: #"O"N"#) == #"{"state": "O\"N", "raw": "O\"N", "note": "\"O\"N\""}"#)
        #expect(PayloadTemplate.field("brightness").render(literal: "200", text: "200") == #"{"brightness": 200}"#)
    }

    @Test("payloads of one topic merge into one object only when all are objects")
    func merging() {
        #expect(MQTTDevicesAdapter.merged([#"{"state": "ON"}"#, #"{"brightness": 200, "state": "OFF"}"#])
                == [#"{"brightness":200,"state":"OFF"}"#])
        #expect(MQTTDevicesAdapter.merged(["350", #"{"a": 1}"#]) == ["350", #"{"a": 1}"#])
        #expect(MQTTDevicesAdapter.merged([#"{"a": 1}"#]) == [#"{"a": 1}"#])
    }
}
