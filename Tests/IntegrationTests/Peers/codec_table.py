"""Register layouts computed by pymodbus 3.7.4 and Python's struct module, written as JSON to
the file given, for edgegate's codec table test (IntegrationTests/CodecTableTests.swift).
Usage: codec_table.py OUTPUT.json

Numbers: pymodbus's BinaryPayloadBuilder with explicit byteorder/wordorder (its default
byteorder is LITTLE, so both are always given), checked against
ModbusClientMixin.convert_to_registers for the big/big layout (3.7.4's convert_* helpers
have no word order) and against struct for every layout.
Strings: convert_to_registers(STRING) for big byte order; struct ('<H' per register) for
little, because BinaryPayloadBuilder.add_string packs len(text) characters as bytes and
cuts non-ASCII text. pymodbus pads odd-length text to whole registers; the padding up to the
point's `length` (NUL, or spaces for the decode-only rows) is added here.

Each row: type, byte_order, word_order (edgegate's names, "big"/"little"), value (a string:
decimal integer, Python repr of a float, or the text), registers, length (strings), and
encode (false when edgegate's encoder is not expected to produce these registers: space
padding, which it writes as NUL).
"""
import json
import struct
import sys

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.constants import Endian
from pymodbus.payload import BinaryPayloadBuilder

DATATYPE = ModbusClientMixin.DATATYPE
ORDERS = {"big": Endian.BIG, "little": Endian.LITTLE}

# type: (builder method, struct code, convert_* datatype, values)
NUMBERS = {
    "int16": ("add_16bit_int", "h", DATATYPE.INT16, [0, -1, -32768, 32767, 300]),
    "uint16": ("add_16bit_uint", "H", DATATYPE.UINT16, [0, 1, 65535, 4660]),
    "int32": ("add_32bit_int", "i", DATATYPE.INT32, [0, -1, -2**31, 2**31 - 1, -100000]),
    "uint32": ("add_32bit_uint", "I", DATATYPE.UINT32, [0, 2**32 - 1, 4000000000]),
    "int64": ("add_64bit_int", "q", DATATYPE.INT64,
              [0, -1, -2**63, 2**63 - 1, 2**53 + 1, -(2**53 + 1), 0x0102030405060708]),
    "uint64": ("add_64bit_uint", "Q", DATATYPE.UINT64,
               [0, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 0x0102030405060708]),
    # Written as the shortest decimals of the float32 they round to: edgegate reads a float32
    # register as that decimal.
    "float32": ("add_32bit_float", "f", DATATYPE.FLOAT32,
                [0.0, -1.5, 0.1, 21.5, 3.4028235e38, -3.4028235e38, 1.1754944e-38, 1e-45]),
    "float64": ("add_64bit_float", "d", DATATYPE.FLOAT64,
                [0.0, -0.0, 0.1, -1.5e300, 1.7976931348623157e308, 5e-324, 2.0**53 + 2]),
}

# (text, length in registers, padding byte)
STRINGS = [
    ("AB", 1, b"\x00"),
    ("AB", 4, b"\x00"),
    ("abc", 2, b"\x00"),       # odd length: pymodbus pads the last register with NUL
    ("abcde", 4, b"\x00"),
    ("h\u00e9llo", 3, b"\x00"),  # é is two UTF-8 bytes: 6 bytes, exactly 3 registers
    ("h\u00e9llo", 5, b"\x00"),
    ("\u20ac1", 2, b"\x00"),     # € is three bytes, then '1': 4 bytes
    ("", 2, b"\x00"),
    ("AB", 4, b" "),            # space padded, as some devices do
    ("x y", 3, b" "),
]


def layout(kind, value, byte_order, word_order):
    method, code, datatype, _ = NUMBERS[kind]
    builder = BinaryPayloadBuilder(byteorder=ORDERS[byte_order], wordorder=ORDERS[word_order])
    getattr(builder, method)(value)
    registers = builder.to_registers()
    # Independent check with struct: big-endian bytes, words reversed for little word order,
    # each word byte-swapped for little byte order.
    words = list(struct.unpack(f">{struct.calcsize(code) // 2}H", struct.pack(f">{code}", value)))
    if word_order == "little":
        words.reverse()
    if byte_order == "little":
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    assert registers == words, (kind, value, byte_order, word_order, registers, words)
    if byte_order == word_order == "big":
        converted = ModbusClientMixin.convert_to_registers(value, datatype)
        assert registers == converted, (kind, value, registers, converted)
    return registers


def string_layout(text, length, pad, byte_order):
    data = text.encode("utf-8")
    data += pad * (2 * length - len(data))
    if byte_order == "big":
        registers = ModbusClientMixin.convert_to_registers(data.decode("utf-8"), DATATYPE.STRING)
        assert registers == list(struct.unpack(f">{length}H", data))
    else:
        registers = list(struct.unpack(f"<{length}H", data))
    assert len(registers) == length
    return registers


def main():
    rows = []
    for byte_order in ORDERS:
        for word_order in ORDERS:
            for kind, (_, _, _, values) in NUMBERS.items():
                for value in values:
                    rows.append({
                        "type": kind, "byte_order": byte_order, "word_order": word_order,
                        "value": repr(value) if isinstance(value, float) else str(value),
                        "registers": layout(kind, value, byte_order, word_order), "encode": True,
                    })
            for text, length, pad in STRINGS:
                rows.append({
                    "type": "string", "byte_order": byte_order, "word_order": word_order,
                    "value": text, "length": length,
                    "registers": string_layout(text, length, pad, byte_order), "encode": pad == b"\x00",
                })
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(rows, out, ensure_ascii=False)


if __name__ == "__main__":
    main()
