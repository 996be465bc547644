import CModbus
import DeviceMaps
import Testing

@testable import ModbusAdapter

#if canImport(Glibc)
import Glibc
#endif

@Suite("Error texts an operator can act on")
struct ModbusTextTests {
    private func text(
        _ code: Int32, function: UInt8? = 3, table: ModbusTable? = .holding, start: Int = 101, count: Int = 1,
        endpoint: String = "127.0.0.1:502"
    ) -> String {
        ModbusText.describe(
            ModbusFailure(code: code, function: function), endpoint: endpoint, device: "meter-7", unit: 7,
            timeout: .milliseconds(1500), table: table, start: start, count: count)
    }

    @Test("Modbus exceptions name the device, the reference number and the exception")
    func exceptions() {
        #expect(text(CModbus_EMBXILADD) == "illegal data address 40102 (holding register 101) on meter-7 (Modbus exception 2)")
        #expect(
            text(CModbus_EMBXILADD, table: .input, start: 0, count: 2)
                == "illegal data address 30001–30002 (input registers 0–1) on meter-7 (Modbus exception 2)")
        #expect(text(CModbus_EMBXILADD, table: .coil, start: 15, count: 1) == "illegal data address 00016 (coil 15) on meter-7 (Modbus exception 2)")
        #expect(
            text(CModbus_EMBXILADD, table: .holding, start: 12000, count: 2)
                == "illegal data address 412001–412002 (holding registers 12000–12001) on meter-7 (Modbus exception 2)")
        #expect(
            text(CModbus_EMBXILFUN, function: 22)
                == "illegal function: meter-7 does not support FC 22 (mask write register) (Modbus exception 1)")
        #expect(text(CModbus_EMBXILFUN, function: nil) == "illegal function: meter-7 does not support the request it was sent (Modbus exception 1)")
        #expect(
            text(CModbus_EMBXSFAIL)
                == "device failure on meter-7 at 40102 (holding register 101): the device could not carry out the request (Modbus exception 4)")
        #expect(text(CModbus_EMBXSBUSY) == "meter-7 is busy with a long operation (Modbus exception 6)")
        #expect(text(CModbus_EMBXACK) == "meter-7 accepted the request but is still working on it (long operation in progress) (Modbus exception 5)")
        #expect(text(CModbus_EMBXMEMPAR) == "memory parity error 40102 (holding register 101) on meter-7 (Modbus exception 8)")
    }

    @Test("illegal data value: a long read hints at max_registers_per_request, a write says the value was refused")
    func illegalValue() {
        #expect(
            text(CModbus_EMBXILVAL, start: 100, count: 120)
                == "illegal data value for 40101–40220 (holding registers 100–219) on meter-7 (Modbus exception 3): "
                + "the device may take fewer registers per request (set max_registers_per_request)")
        #expect(text(CModbus_EMBXILVAL, function: 1, table: .coil, start: 0, count: 64).contains("fewer bits per request"))
        #expect(
            text(CModbus_EMBXILVAL, function: 6)
                == "illegal data value for 40102 (holding register 101) on meter-7 (Modbus exception 3): the device refused the value")
    }

    @Test("gateway exceptions name the unit and the gateway, not an address")
    func gateways() {
        #expect(text(CModbus_EMBXGTAR) == "gateway target failed to respond (unit 7 behind 127.0.0.1:502) (Modbus exception 11)")
        #expect(
            text(CModbus_EMBXGPATH)
                == "gateway path unavailable (unit 7 behind 127.0.0.1:502): the gateway has no route to that unit (Modbus exception 10)")
    }

    @Test("libmodbus and system errors: timeouts name the timeout, bad frames what to check")
    func libmodbusErrors() {
        #expect(text(ETIMEDOUT) == "no response from 127.0.0.1:502 (unit 7) within 1.5s")
        #expect(text(CModbus_EMBBADSLAVE) == "127.0.0.1:502 answered for another unit id than 7")
        #expect(
            text(CModbus_EMBBADCRC, endpoint: "/dev/ttyUSB0")
                == "corrupted response from /dev/ttyUSB0 (unit 7): CRC error (check baud rate, parity and wiring)")
        #expect(
            text(CModbus_EMBBADDATA, count: 2)
                == "malformed response from 127.0.0.1:502 (unit 7): its data does not match the request 40102–40103 (holding registers 101–102)")
        #expect(text(CModbus_EMBBADEXC) == "malformed response from 127.0.0.1:502 (unit 7): an exception code Modbus does not define")
        #expect(text(CModbus_EMBMDATA, count: 200).hasPrefix("too many registers or bits for one Modbus request 40102–40301"))
        #expect(text(ECONNRESET) == "connection to 127.0.0.1:502 lost (Connection reset by peer)")
        #expect(text(ECONNREFUSED) == "connection refused by 127.0.0.1:502")
    }

    @Test("function codes are named")
    func functions() {
        #expect(ModbusText.function(15) == "FC 15 (write multiple coils)")
        #expect(ModbusText.function(4) == "FC 4 (read input registers)")
        #expect(ModbusText.function(43) == "FC 43")
    }
}
