import GatewayCore
import Testing

@testable import MQTTDevicesAdapter

@Suite("JSON paths and payload templates")
struct JSONPathTests {
    func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try JSONValue(parsing: Array(text.utf8))
    }

    @Test(
        "paths parse into steps and find values; a missing step is reported",
        arguments: [
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

    @Test(
        "path errors give the character offset",
        arguments: [
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
        #expect(try JSONPath.parse("$.a.b[0]").evaluate(root).get() == .integer(10))
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
        #expect(
            MQTTDevicesAdapter.merged([#"{"state": "ON"}"#, #"{"brightness": 200, "state": "OFF"}"#])
                == [#"{"brightness":200,"state":"OFF"}"#])
        #expect(MQTTDevicesAdapter.merged(["350", #"{"a": 1}"#]) == ["350", #"{"a": 1}"#])
        #expect(MQTTDevicesAdapter.merged([#"{"a": 1}"#]) == [#"{"a": 1}"#])
    }
}
