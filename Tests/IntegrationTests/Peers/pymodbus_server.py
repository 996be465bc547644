"""An independent Modbus server for edgegate's tests: pymodbus 3.7, values encoded by
pymodbus's own payload builder, so a decoding mistake shared by edgegate's adapter and its
simulator cannot hide. Usage: pymodbus_server.py (PORT | --serial DEVICE) [--no-mask-write] [--holes A,B,...]
       pymodbus_server.py PORT --sparse [--ignore-missing-units]

With a PORT it is a Modbus TCP server on 127.0.0.1 answering every unit id from one register
space. With --serial it is a Modbus RTU bus on DEVICE (one end of a pseudo-terminal pair) with
two units: unit 1 holds the registers below, unit 2 registers of its own (holding 0: -421,
holding 1: 9), and every other unit id stays silent, as on a real bus.

Every write request is logged on stdout as `fc CODE address ADDRESS`, and every read request
as `read fc CODE address ADDRESS count COUNT`, so tests can tell which function codes and
requests the gateway used. With --no-mask-write the server answers FC 22 (mask write register)
with the exception "illegal function", as many devices do. With --holes, the holding registers
at those addresses do not exist (a sparse data block): any request touching one is answered
with exception 2, "illegal data address", as devices answer for registers they lack.
Holding registers 100-127 hold their own address, for tests that need a distinct value in
each register.

With --sparse the server has holes instead, for `modbus scan` (IntegrationTests/ScanTests.swift):
unit 1 only (another unit gets exception 11, "gateway target failed to respond", or no answer at
all with --ignore-missing-units).
  holding   0-16, 18-49, 53-599, 640-999 and 1500 alone; the value of address A is 10000 + A
  input     0-19; the value of A is 20000 + A
  coil      0-7 and 9-39; coil A is on when A is a multiple of 3
  discrete  0-15, but reading them fails: exception 4, device failure
Every other address answers exception 2, illegal data address."""
import asyncio
import struct
import sys

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.constants import Endian
from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext,
                                ModbusSparseDataBlock)
from pymodbus.framer import FramerType
from pymodbus.payload import BinaryPayloadBuilder
from pymodbus.pdu import ModbusExceptions
from pymodbus.pdu.register_write_message import MaskWriteRegisterRequest
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer

WRITE_CODES = {5, 6, 15, 16, 22}
READ_CODES = {1, 2, 3, 4}


class RefusedMaskWrite(MaskWriteRegisterRequest):
    """FC 22 as a device without it answers: exception 1, illegal function."""

    async def update_datastore(self, context):
        return self.doException(ModbusExceptions.IllegalFunction)


READ_CODES = {1, 2, 3, 4}


class FailingBlock(ModbusSparseDataBlock):
    """Addresses that exist but cannot be read: pymodbus answers exception 4, device failure."""

    def getValues(self, address, count=1):
        raise RuntimeError(f"sensor behind {address}-{address + count - 1} does not answer")


def trace(request, *_):
    if request.function_code in WRITE_CODES:
        print(f"fc {request.function_code} address {request.address}", flush=True)
    elif request.function_code in READ_CODES:
        print(f"read fc {request.function_code} address {request.address} count {request.count}", flush=True)


def option(name):
    """The value after `name` on the command line, or None."""
    args = sys.argv[2:]
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def sparse_context():
    holding = {a: 10000 + a for r in (range(0, 17), range(18, 50), range(53, 600), range(640, 1000)) for a in r}
    holding[1500] = 11500
    store = ModbusSlaveContext(
        di=FailingBlock({a: False for a in range(16)}),
        co=ModbusSparseDataBlock({a: a % 3 == 0 for a in range(40) if a != 8}),
        hr=ModbusSparseDataBlock(holding),
        ir=ModbusSparseDataBlock({a: 20000 + a for a in range(20)}),
        zero_mode=True,
    )
    return ModbusServerContext(slaves={1: store}, single=False)


def registers(value_adder, wordorder=Endian.BIG):
    builder = BinaryPayloadBuilder(byteorder=Endian.BIG, wordorder=wordorder)
    value_adder(builder)
    return builder.to_registers()


def holding_block(holding, holes):
    """Sequential, or sparse without the registers listed in `holes` ("104,110")."""
    if not holes:
        return ModbusSequentialDataBlock(0, holding)
    missing = {int(a) for a in holes.split(",")}
    return ModbusSparseDataBlock({a: v for a, v in enumerate(holding) if a not in missing})


def main():
    serial = sys.argv[2] if sys.argv[1] == "--serial" else None
    if serial is None and "--sparse" in sys.argv[2:]:
        asyncio.run(StartAsyncTcpServer(context=sparse_context(), address=("127.0.0.1", int(sys.argv[1])), request_tracer=trace,
                                        ignore_missing_slaves="--ignore-missing-units" in sys.argv[2:]))
        return
    holding = [0] * 128
    holding[0:1] = registers(lambda b: b.add_16bit_int(-125))            # temperature -12.5 (scale 0.1)
    holding[1:2] = registers(lambda b: b.add_16bit_int(400))             # setpoint 40.0 (scale 0.1)
    holding[20:22] = registers(lambda b: b.add_32bit_uint(70000))        # counter, big word order
    holding[30:32] = registers(lambda b: b.add_32bit_int(-100000))       # balance, big word order
    holding[40:42] = registers(lambda b: b.add_32bit_float(-3.75), Endian.LITTLE)  # trim, little word order
    # 64-bit, string and register-bit points (IntegrationTests/WideTypesTests.swift).
    holding[64:68] = registers(lambda b: b.add_64bit_float(12345.678))             # energy
    holding[68:72] = registers(lambda b: b.add_64bit_int(-(2**53 + 1)))           # balance
    holding[72:76] = registers(lambda b: b.add_64bit_uint(0x0102030405060708), Endian.LITTLE)  # total
    holding[76:80] = ModbusClientMixin.convert_to_registers("SN-42\0\0\0", ModbusClientMixin.DATATYPE.STRING)  # serial
    # tag, byte_order little: the first byte of each pair in the low half ('<H'). Not
    # BinaryPayloadBuilder.add_string, which packs len(text) characters as bytes and cuts é.
    holding[80:83] = list(struct.unpack("<3H", "h\u00e9llo".encode()))        # tag
    holding[90] = 0x2A51                                                          # status word
    holding[100:128] = list(range(100, 128))                                      # each its own address
    inputs = [0] * 64
    inputs[10:12] = registers(lambda b: b.add_32bit_float(12.5), Endian.LITTLE)    # flow 12.5
    inputs[12:13] = registers(lambda b: b.add_16bit_uint(65000))         # speed
    coils = [False] * 16
    coils[0] = True
    discrete = [False] * 16
    discrete[3] = True
    store = ModbusSlaveContext(
        di=ModbusSequentialDataBlock(0, discrete),
        co=ModbusSequentialDataBlock(0, coils),
        hr=holding_block(holding, option("--holes")),
        ir=ModbusSequentialDataBlock(0, inputs),
        zero_mode=True,
    )
    refuse = [RefusedMaskWrite] if "--no-mask-write" in sys.argv[2:] else []
    if serial is None:
        context = ModbusServerContext(slaves=store, single=True)
        asyncio.run(StartAsyncTcpServer(context=context, address=("127.0.0.1", int(sys.argv[1])),
                                        custom_functions=refuse, request_tracer=trace))
        return
    unit2 = ModbusSlaveContext(hr=ModbusSequentialDataBlock(0, registers(lambda b: b.add_16bit_int(-421)) + [9] + [0] * 14),
                               zero_mode=True)
    context = ModbusServerContext(slaves={1: store, 2: unit2}, single=False)
    # A pseudo-terminal ignores the line settings, and pyserial's parity setting fails on one
    # (EINVAL): no parity here, whatever the other end was opened with.
    asyncio.run(StartAsyncSerialServer(context=context, port=serial, framer=FramerType.RTU, baudrate=19200,
                                       parity="N", bytesize=8, stopbits=1, ignore_missing_slaves=True,
                                       custom_functions=refuse, request_tracer=trace))


if __name__ == "__main__":
    main()
