import Foundation
import GatewayCore
import Testing

@Suite("JSON value")
struct JSONValueTests {
    @Test("JSON keeps booleans and numbers apart and writes whole numbers as integers")
    func json() throws {
        #expect(JSONValue.parse(Data("[true, 1, 1.5]".utf8)) == .array([.bool(true), .integer(1), .number(1.5)]))
        #expect(JSONValue.object(["bri": .number(254), "xy": .array([.number(0.25), .number(0.5)])]).text == #"{"bri":254,"xy":[0.25,0.5]}"#)
    }

    @Test("Integers above 2^53 stay exact through parsing and writing")
    func exactInt64() throws {
        let parsed = try #require(JSONValue.parse(Data("[9007199254740993, 9223372036854775807, -9223372036854775808]".utf8)))
        #expect(parsed == .array([.integer(9_007_199_254_740_993), .integer(.max), .integer(.min)]))
        #expect(parsed.text == "[9007199254740993,9223372036854775807,-9223372036854775808]")
    }

    @Test("Objects keep member order, look up the last of a repeated key, and compare by lookups")
    func objects() throws {
        let parsed = try JSONValue(parsing: Array(#"{"z": 1, "a": 2, "z": 3}"#.utf8))
        #expect(parsed["z"] == .integer(3))
        #expect(parsed.object?.keys == ["z", "a"])
        #expect(parsed.compactText == #"{"z":1,"a":2,"z":3}"#)
        #expect(parsed == .object(["a": .integer(2), "z": .integer(3)]))
        #expect(parsed != .object(["a": .integer(2), "z": .integer(1)]))
        var object = try #require(parsed.object)
        object["z"] = .bool(true)
        object["m"] = .null
        #expect(JSONValue.object(object).compactText == #"{"a":2,"z":true,"m":null}"#)
        object["a"] = nil
        #expect(JSONValue.object(object).text == #"{"m":null,"z":true}"#)
    }

    @Test("Numbers parsed from bytes keep their text; equal to built ones where Swift writes them alike")
    func numberText() throws {
        let parsed = try JSONValue(parsing: Array("[21.5, 21.50, 1e3, 9223372036854775808, -0]".utf8))
        #expect(parsed.compactText == "[21.5,21.50,1e3,9223372036854775808,-0]")
        let items = try #require(parsed.array)
        #expect(items[0] == .number(21.5))
        #expect(items[1] != .number(21.5) && items[1].number == 21.5)
        #expect(items[2].integer == nil && items[2].number == 1000)
        #expect(items[3].integer == nil && items[3].value == .double(9.223372036854775808e18))
        #expect(items[4].integer == 0)
    }
}
