import DeviceMaps
import GatewayCore
import Testing

@testable import ModbusAdapter

/// What a point's descriptor tells the console about writable values (`range`, `step`) is
/// exactly what the register codec accepts: a console that keeps to it never offers a write
/// the adapter refuses.
@Suite struct DescriptorRangeTests {
    static let cases: [(ModbusDataType, Double, Double)] = [
        (.int16, 1, 0), (.uint16, 1, 0), (.int32, 1, 0), (.uint32, 1, 0),
        (.int16, 0.1, 0), (.uint16, 0.01, -40), (.int16, -0.5, 10), (.int32, 0.25, 3),
    ]

    @Test(arguments: cases)
    func integerRegisters(type: ModbusDataType, scale: Double, offset: Double) throws {
        let point = PointDefinition(
            name: "p", address: ModbusAddress(table: .holding, offset: 0, type: type), scale: scale, offset: offset, access: .readwrite)
        let descriptor = point.descriptor
        let range = try #require(descriptor.range)
        let step = try #require(descriptor.step)
        #expect(step == abs(scale) && descriptor.stepOrigin == offset)
        func accepts(_ value: Double) -> Bool {
            let v: Value = descriptor.kind == .integer ? .int(Int64(value)) : .double(value)
            return (try? RegisterCodec.encode(v, for: point, device: "d")) != nil
        }
        #expect(accepts(range.lowerBound) && accepts(range.upperBound), "\(range)")
        #expect(!accepts(range.lowerBound - step) && !accepts(range.upperBound + step), "\(range)")
        if descriptor.kind == .number {
            // Between two steps: refused; on a step near the origin: accepted.
            #expect(!accepts(offset + 3 * step + step / 2))
            #expect(accepts(offset + 3 * step))
        }
    }

    @Test func floatAndOtherRegisters() throws {
        let float = PointDefinition(name: "f", address: ModbusAddress(table: .holding, offset: 0, type: .float32), access: .readwrite)
        let range = try #require(float.descriptor.range)
        #expect(float.descriptor.step == nil)
        #expect((try? RegisterCodec.encode(.double(range.upperBound), for: float, device: "d")) != nil)
        #expect((try? RegisterCodec.encode(.double(range.upperBound * 1.001), for: float, device: "d")) == nil)
        let text = PointDefinition(name: "s", address: ModbusAddress(table: .holding, offset: 0, type: .string, length: 4), access: .readwrite)
        #expect(text.descriptor.range == nil && text.descriptor.step == nil)
        let coil = PointDefinition(name: "c", address: ModbusAddress(table: .coil, offset: 0, type: .bool), access: .readwrite)
        #expect(coil.descriptor.range == nil && coil.descriptor.step == nil)
    }
}
