import DeviceMaps
import GatewayCore
import Testing

@testable import ModbusAdapter

@Suite("Write requests")
struct WritePlanTests {
    private func item(_ name: String, _ table: ModbusTable, _ offset: Int, _ payload: ModbusPayload) -> WriteItem {
        let type: ModbusDataType
        switch payload {
        case .bit, .registerBit: type = .bool
        case .registers(let words): type = words.count == 1 ? .uint16 : words.count == 2 ? .uint32 : .uint64
        }
        return WriteItem(
            point: PointDefinition(
                name: name, address: ModbusAddress(table: table, offset: offset, type: type),
                access: .readwrite),
            payload: payload)
    }

    /// `FC 16 @10 [1, 2] a,b`, with `#i/n` for a register of a value written one at a time.
    private func describe(_ steps: [WriteStep]) -> [String] {
        steps.map { step in
            let names = step.points.map(\.name).joined(separator: ",")
            let part = step.part.map { " #\($0.index + 1)/\($0.count)" } ?? ""
            switch step.request {
            case .coil(let a, let v): return "FC 5 @\(a) \(v) \(names)"
            case .coils(let a, let v): return "FC 15 @\(a) \(v) \(names)"
            case .register(let a, let v): return "FC 6 @\(a) \(v) \(names)\(part)"
            case .registers(let a, let v): return "FC 16 @\(a) \(v) \(names)"
            case .registerBit(let a, let bit, let v): return "FC 22 @\(a) bit \(bit) \(v) \(names)"
            }
        }
    }

    @Test("each point gets the function code it needs")
    func functionCodes() {
        let steps = WritePlan.steps(
            for: [
                item("pump", .coil, 0, .bit(true)),
                item("setpoint", .holding, 1, .registers([555])),
                item("energy", .holding, 20, .registers([1, 2])),
                item("total", .holding, 30, .registers([1, 2, 3, 4])),
                item("remote", .holding, 40, .registerBit(3, true)),
            ], writeMultiple: true)
        #expect(
            describe(steps) == [
                "FC 5 @0 true pump", "FC 6 @1 555 setpoint", "FC 16 @20 [1, 2] energy", "FC 16 @30 [1, 2, 3, 4] total",
                "FC 22 @40 bit 3 true remote",
            ])
    }

    @Test("adjacent points of one command share a request: FC 15 for coils, FC 16 for registers")
    func adjacent() {
        let steps = WritePlan.steps(
            for: [
                item("fan", .coil, 4, .bit(true)), item("light", .coil, 5, .bit(false)), item("horn", .coil, 6, .bit(true)),
                item("far", .coil, 9, .bit(true)),
                item("low", .holding, 10, .registers([7])), item("high", .holding, 11, .registers([8])),
                item("wide", .holding, 12, .registers([9, 10])),
                item("alone", .holding, 20, .registers([11])),
                // A bit of a register is never merged: it keeps the register's other bits.
                item("bit", .holding, 21, .registerBit(0, true)), item("next", .holding, 22, .registers([12])),
            ], writeMultiple: true)
        #expect(
            describe(steps) == [
                "FC 15 @4 [true, false, true] fan,light,horn", "FC 5 @9 true far",
                "FC 16 @10 [7, 8, 9, 10] low,high,wide", "FC 6 @20 11 alone",
                "FC 22 @21 bit 0 true bit", "FC 6 @22 12 next",
            ])
    }

    @Test("merged writes keep max_registers_per_request")
    func cap() {
        let items = (0..<5).map { item("r\($0)", .holding, $0, .registers([UInt16($0)])) }
        #expect(
            describe(WritePlan.steps(for: items, writeMultiple: true, maxRegistersPerRequest: 2)) == [
                "FC 16 @0 [0, 1] r0,r1", "FC 16 @2 [2, 3] r2,r3", "FC 6 @4 4 r4",
            ])
        let coils = (0..<40).map { item("c\($0)", .coil, $0, .bit(true)) }
        #expect(WritePlan.steps(for: coils, writeMultiple: true, maxRegistersPerRequest: 2).map(\.points.count) == [32, 8])
    }

    @Test("write_multiple: false writes coils with FC 5 and every register with FC 6, lowest address first")
    func singleWrites() {
        let steps = WritePlan.steps(
            for: [
                item("fan", .coil, 4, .bit(true)), item("light", .coil, 5, .bit(false)),
                item("energy", .holding, 20, .registers([0xAAAA, 0xBBBB])),
                item("next", .holding, 22, .registers([5])),
            ], writeMultiple: false)
        #expect(
            describe(steps) == [
                "FC 5 @4 true fan", "FC 5 @5 false light",
                "FC 6 @20 43690 energy #1/2", "FC 6 @21 48059 energy #2/2", "FC 6 @22 5 next",
            ])
        #expect(steps.map(\.completesPoints) == [true, true, false, true, true])
    }
}
