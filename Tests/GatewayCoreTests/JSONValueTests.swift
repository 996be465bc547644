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
}
