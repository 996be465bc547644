import Foundation
import GatewayCore
import SwiftProtobuf
import Testing

@testable import SparkplugB

@Suite("points as Sparkplug metrics")
struct MetricValuesTests {
    func point(_ kind: ValueKind, _ type: String) -> PointDescriptor { PointDescriptor(name: "p", kind: kind, typeName: type) }

    @Test("datatypes: integers by width and sign, scaled and float registers Double, bool Boolean, text String")
    func dataTypes() {
        let cases: [(PointDescriptor, SparkplugDataType)] = [
            (point(.integer, "int8"), .int8), (point(.integer, "int16"), .int16), (point(.integer, "int32"), .int32),
            (point(.integer, "int64"), .int64), (point(.integer, "uint8"), .uint8), (point(.integer, "uint16"), .uint16),
            (point(.integer, "uint32"), .uint32), (point(.integer, "uint64"), .uint64), (point(.integer, "integer"), .int64),
            (point(.number, "int16"), .double), (point(.number, "float32"), .double), (point(.bool, "bool"), .boolean),
            (point(.string, "string"), .string),
        ]
        for (p, type) in cases { #expect(MetricValues.dataType(of: p) == type, "\(p.kind) \(p.typeName)") }
    }

    @Test("values round-trip through their metric field: signed integers as two's complement, Int64 and UInt64 in long_value")
    func roundTrip() throws {
        let cases: [(SparkplugDataType, Value)] = [
            (.int8, .int(-128)), (.int16, .int(-2)), (.int32, .int(Int64(Int32.min))), (.int64, .int(Int64.min)),
            (.uint8, .int(255)), (.uint16, .int(65535)), (.uint32, .int(Int64(UInt32.max))), (.uint64, .int(Int64.max)),
            (.double, .double(21.5)), (.float, .double(0.5)), (.boolean, .bool(true)), (.string, .string("auto")),
        ]
        for (type, value) in cases {
            var metric = SparkplugMetric()
            #expect(MetricValues.set(value, as: type, on: &metric), "\(type) \(value)")
            let back = try SparkplugMetric(serializedBytes: try metric.serializedBytes() as [UInt8])
            #expect(try MetricValues.value(of: back, as: type).get() == value, "\(type) \(value)")
        }
        var negative = SparkplugMetric()
        #expect(MetricValues.set(.int(-2), as: .int16, on: &negative))
        #expect(negative.intValue == 0xFFFF_FFFE, "Int16 -2 in int_value, as Tahu writes it")
    }

    @Test("a value that does not fit its datatype is not set, and a bad reading is null with quality BAD and its reason")
    func doesNotFit() {
        var metric = SparkplugMetric()
        #expect(!MetricValues.set(.int(256), as: .uint8, on: &metric))
        #expect(!MetricValues.set(.int(-1), as: .uint16, on: &metric))
        #expect(!MetricValues.set(.double(1.5), as: .int32, on: &metric))
        #expect(!MetricValues.set(.string("x"), as: .double, on: &metric))
        #expect(metric.value == nil)

        let date = Date(timeIntervalSince1970: 1_796_000_000.123)
        let bad = MetricValues.metric(
            Reading(device: "d", point: "p", value: nil, unit: nil, quality: .bad("timeout after 300 ms"), timestamp: date), type: .double)
        #expect(bad.isNull && bad.value == nil)
        #expect(bad.timestamp == 1_796_000_000_123)
        #expect(bad.properties.keys == ["Quality", "Quality Reason"])
        #expect(bad.properties.values.map { $0.intValue } == [0, 0] && bad.properties.values[0].type == 3)
        #expect(bad.properties.values[1].stringValue == "timeout after 300 ms")

        let uncertain = MetricValues.metric(
            Reading(device: "d", point: "p", value: .int(7), unit: nil, quality: .uncertain("stale"), timestamp: date), type: .uint16)
        #expect(!uncertain.isNull && uncertain.intValue == 7)
        #expect(uncertain.properties.values.first?.intValue == 500, "uncertain is STALE, with its value")

        let overflow = MetricValues.metric(Reading(device: "d", point: "p", value: .int(70000), unit: nil, quality: .good, timestamp: date), type: .uint16)
        #expect(overflow.isNull && overflow.properties.values.first?.intValue == 0, "a value its type cannot carry is sent as bad")
    }

    @Test("a command's value is read as the point's datatype: wrong kinds and fractions for integers are refused")
    func commandValues() throws {
        func metric(_ set: (inout SparkplugMetric) -> Void) -> SparkplugMetric {
            var m = SparkplugMetric()
            set(&m)
            return m
        }
        #expect(try MetricValues.value(of: metric { $0.doubleValue = 42 }, as: .int16).get() == .int(42))
        #expect(throws: MetricValues.DecodingError.self) { try MetricValues.value(of: metric { $0.doubleValue = 4.5 }, as: .int16).get() }
        #expect(throws: MetricValues.DecodingError.self) { try MetricValues.value(of: metric { $0.stringValue = "hot" }, as: .double).get() }
        #expect(throws: MetricValues.DecodingError.self) { try MetricValues.value(of: metric { $0.booleanValue = true }, as: .uint16).get() }
        #expect(throws: MetricValues.DecodingError.self) { try MetricValues.value(of: metric { $0.isNull = true }, as: .double).get() }
        #expect(try MetricValues.value(of: metric { $0.intValue = 3 }, as: .double).get() == .int(3))
        #expect(try MetricValues.value(of: metric { $0.longValue = UInt64.max }, as: .int64).get() == .int(-1))
    }
}
