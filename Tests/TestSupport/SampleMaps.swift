/// A press read over Modbus: what the derived devices of the tests (and the derived template)
/// read. Its simulator is never started: the maps only load.
public let pressMapYAML = """
    devices:
      - id: press-1
        protocol: modbus
        connection: { host: 127.0.0.1 }
        points:
          voltage:     { table: input, address: 0, type: uint16, scale: 0.1, unit: V }
          current:     { table: input, address: 1, type: uint16, scale: 0.01, unit: A }
          state:       { table: input, address: 2, type: uint16 }
          part_count:  { table: input, address: 3, type: uint16 }
          good_count:  { table: input, address: 4, type: uint16 }
          temperature: { table: input, address: 5, type: int16, scale: 0.1, unit: "°C" }
          running:     { table: discrete, address: 0 }
    """
