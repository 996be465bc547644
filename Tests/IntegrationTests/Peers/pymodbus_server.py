"""An independent Modbus TCP server for edgegate's tests: pymodbus 3.7, values encoded by
pymodbus's own payload builder, so a decoding mistake shared by edgegate's adapter and its
simulator cannot hide. Usage: pymodbus_server.py PORT"""
import asyncio
import sys

from pymodbus.constants import Endian
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.payload import BinaryPayloadBuilder
from pymodbus.server import StartAsyncTcpServer


def registers(value_adder, wordorder=Endian.BIG):
    builder = BinaryPayloadBuilder(byteorder=Endian.BIG, wordorder=wordorder)
    value_adder(builder)
    return builder.to_registers()


def main():
    port = int(sys.argv[1])
    holding = [0] * 64
    holding[0:1] = registers(lambda b: b.add_16bit_int(-125))            # temperature -12.5 (scale 0.1)
    holding[1:2] = registers(lambda b: b.add_16bit_int(400))             # setpoint 40.0 (scale 0.1)
    holding[20:22] = registers(lambda b: b.add_32bit_uint(70000))        # counter, big word order
    holding[30:32] = registers(lambda b: b.add_32bit_int(-100000))       # balance, big word order
    holding[40:42] = registers(lambda b: b.add_32bit_float(-3.75), Endian.LITTLE)  # trim, little word order
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
        hr=ModbusSequentialDataBlock(0, holding),
        ir=ModbusSequentialDataBlock(0, inputs),
        zero_mode=True,
    )
    context = ModbusServerContext(slaves=store, single=True)
    asyncio.run(StartAsyncTcpServer(context=context, address=("127.0.0.1", port)))


if __name__ == "__main__":
    main()
