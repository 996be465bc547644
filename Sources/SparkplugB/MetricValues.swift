import Foundation
import GatewayCore

/// How a point becomes a Sparkplug metric and back: its datatype, its value, its quality.
enum MetricValues {
    /// The Sparkplug datatype of a point: bool → Boolean, text → String, a number with
    /// scale, offset or a float register → Double, and an integer register the integer
    /// type of its width and sign (`int16` → Int16); other integers Int64.
    static func dataType(of point: PointDescriptor) -> SparkplugDataType {
        switch point.kind {
        case .bool: return .boolean
        case .string: return .string
        case .number: return .double
        case .integer:
            switch point.typeName {
            case "int8": return .int8
            case "int16": return .int16
            case "int32": return .int32
            case "int64": return .int64
            case "uint8": return .uint8
            case "uint16": return .uint16
            case "uint32": return .uint32
            case "uint64": return .uint64
            default: return .int64
            }
        }
    }

    /// The datatype of a value whose point is not known (a reading of a device that a reload
    /// removed before it was delivered).
    static func dataType(of value: Value?) -> SparkplugDataType {
        switch value {
        case .bool?: return .boolean
        case .int?: return .int64
        case .double?, nil: return .double
        case .string?: return .string
        }
    }

    /// Sets `metric`'s value from `value` as `type` carries it (Int8…UInt32 in `int_value`,
    /// the signed ones as two's complement; Int64 and UInt64 in `long_value`); false when the
    /// value does not fit the type (nothing set).
    static func set(_ value: Value, as type: SparkplugDataType, on metric: inout SparkplugMetric) -> Bool {
        switch (type, value) {
        case (.boolean, .bool(let b)):
            metric.booleanValue = b
        case (.string, .string(let s)), (.text, .string(let s)):
            metric.stringValue = s
        case (.double, _):
            guard let d = value.numeric else { return false }
            metric.doubleValue = d
        case (.float, _):
            guard let d = value.numeric else { return false }
            metric.floatValue = Float(d)
        case (.int8, _), (.int16, _), (.int32, _):
            guard let i = integer(value), let i32 = Int32(exactly: i), range(of: type).contains(Int64(i32)) else { return false }
            metric.intValue = UInt32(bitPattern: i32)
        case (.uint8, _), (.uint16, _), (.uint32, _):
            guard let i = integer(value), range(of: type).contains(i) else { return false }
            metric.intValue = UInt32(i)
        case (.int64, _):
            guard let i = integer(value) else { return false }
            metric.longValue = UInt64(bitPattern: i)
        case (.uint64, _):
            guard let i = integer(value), i >= 0 else { return false }
            metric.longValue = UInt64(i)
        default:
            return false
        }
        return true
    }

    /// The whole number a value holds, if any (a double only when integral).
    private static func integer(_ value: Value) -> Int64? {
        switch value {
        case .int(let i): return i
        case .double(let d): return d.rounded() == d ? Int64(exactly: d) : nil
        case .bool, .string: return nil
        }
    }

    /// What an integer datatype holds.
    private static func range(of type: SparkplugDataType) -> ClosedRange<Int64> {
        switch type {
        case .int8: return -128...127
        case .int16: return -32768...32767
        case .int32: return Int64(Int32.min)...Int64(Int32.max)
        case .uint8: return 0...255
        case .uint16: return 0...65535
        case .uint32: return 0...Int64(UInt32.max)
        default: return Int64.min...Int64.max
        }
    }

    /// Why a metric of a command cannot be written.
    enum DecodingError: Error, Equatable, CustomStringConvertible {
        /// `is_null`, or no value at all.
        case noValue
        /// A value that the point's datatype cannot carry (a string for an Int16).
        case wrongType(String)

        var description: String {
            switch self {
            case .noValue: return "the metric carries no value"
            case .wrongType(let text): return text
            }
        }
    }

    /// The value a command's metric asks to write, read as the point's `type` says (signed
    /// integers from two's complement); a double for an integer point only when integral.
    static func value(of metric: SparkplugMetric, as type: SparkplugDataType) -> Result<Value, DecodingError> {
        guard !metric.isNull, let carried = metric.value else { return .failure(.noValue) }
        switch carried {
        case .booleanValue(let b):
            return type == .boolean ? .success(.bool(b)) : .failure(.wrongType("a boolean for a \(name(of: type)) metric"))
        case .stringValue(let s):
            return type == .string || type == .text ? .success(.string(s)) : .failure(.wrongType("a string for a \(name(of: type)) metric"))
        case .intValue(let u):
            switch type {
            case .int8, .int16, .int32: return .success(.int(Int64(Int32(bitPattern: u))))
            case .boolean, .string, .text: return .failure(.wrongType("an integer for a \(name(of: type)) metric"))
            default: return .success(.int(Int64(u)))
            }
        case .longValue(let u):
            switch type {
            case .int64: return .success(.int(Int64(bitPattern: u)))
            case .boolean, .string, .text: return .failure(.wrongType("an integer for a \(name(of: type)) metric"))
            default:
                guard let i = Int64(exactly: u) else { return .failure(.wrongType("\(u) is out of range")) }
                return .success(.int(i))
            }
        case .floatValue(let f):
            return number(Double(f), type: type)
        case .doubleValue(let d):
            return number(d, type: type)
        default:
            return .failure(.wrongType("a value of a kind edgegate does not write (bytes, dataset, template)"))
        }
    }

    private static func number(_ d: Double, type: SparkplugDataType) -> Result<Value, DecodingError> {
        let integerType: Bool
        switch type {
        case .boolean, .string, .text: return .failure(.wrongType("a number for a \(name(of: type)) metric"))
        case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64: integerType = true
        default: integerType = false
        }
        guard d.isFinite else { return .failure(.wrongType("\(d) is not a finite number")) }
        if integerType {
            guard d.rounded() == d, let i = Int64(exactly: d) else { return .failure(.wrongType("\(d) is not a whole number")) }
            return .success(.int(i))
        }
        return .success(.double(d))
    }

    /// The datatype's name as the specification writes it (`Int16`, `Double`).
    static func name(of type: SparkplugDataType) -> String {
        switch type {
        case .int8: return "Int8"
        case .int16: return "Int16"
        case .int32: return "Int32"
        case .int64: return "Int64"
        case .uint8: return "UInt8"
        case .uint16: return "UInt16"
        case .uint32: return "UInt32"
        case .uint64: return "UInt64"
        case .float: return "Float"
        case .double: return "Double"
        case .boolean: return "Boolean"
        case .string: return "String"
        case .text: return "Text"
        default: return "datatype \(type.rawValue)"
        }
    }

    /// A property value of type Int32 (the `Quality` code).
    static func int32Property(_ v: Int32) -> Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue {
        var p = Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue()
        p.type = UInt32(SparkplugDataType.int32.rawValue)
        p.intValue = UInt32(bitPattern: v)
        return p
    }

    /// A property value of type String.
    static func stringProperty(_ s: String) -> Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue {
        var p = Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue()
        p.type = UInt32(SparkplugDataType.string.rawValue)
        p.stringValue = s
        return p
    }

    /// A property value of type Double.
    static func doubleProperty(_ d: Double) -> Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue {
        var p = Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue()
        p.type = UInt32(SparkplugDataType.double.rawValue)
        p.doubleValue = d
        return p
    }

    /// A metric for a reading: its timestamp, its value as `type` carries it, and for a
    /// reading that is not good the `Quality` property (uncertain → 500 STALE with the value,
    /// bad → 0 BAD with `is_null`) and the reason. A value that does not fit the type is sent
    /// as bad, saying so.
    static func metric(_ reading: Reading, type: SparkplugDataType) -> SparkplugMetric {
        var m = SparkplugMetric()
        m.timestamp = Sparkplug.milliseconds(reading.timestamp)
        apply(reading.quality, value: reading.value, type: type, to: &m)
        return m
    }

    /// Sets the value, `is_null` and the quality properties of a metric.
    static func apply(_ quality: Quality, value: Value?, type: SparkplugDataType, to m: inout SparkplugMetric) {
        var quality = quality
        if case .bad = quality {
        } else if let value, !set(value, as: type, on: &m) {
            quality = .bad("the value \(value) does not fit the metric's datatype \(name(of: type))")
        } else if value == nil {
            quality = .bad("no value")
        }
        switch quality {
        case .good:
            break
        case .uncertain(let reason):
            addProperty(Sparkplug.quality, int32Property(Sparkplug.stale), to: &m)
            addProperty(Sparkplug.reason, stringProperty(reason), to: &m)
        case .bad(let reason):
            m.value = nil
            m.isNull = true
            addProperty(Sparkplug.quality, int32Property(Sparkplug.bad), to: &m)
            addProperty(Sparkplug.reason, stringProperty(reason), to: &m)
        }
    }

    /// Adds a property to a metric's property set.
    static func addProperty(_ key: String, _ value: Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue, to m: inout SparkplugMetric) {
        m.properties.keys.append(key)
        m.properties.values.append(value)
    }
}
