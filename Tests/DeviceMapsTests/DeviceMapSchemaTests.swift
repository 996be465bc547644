import ModbusAdapter
import Testing

@testable import DeviceMaps

@Suite("Device-map JSON Schema")
struct DeviceMapSchemaTests {
    func properties(_ def: String) -> Set<String> {
        let defs = DeviceMapSchema.object(protocols: [ModbusSyntax.self])["$defs"] as! [String: Any]
        let object = defs[def] as! [String: Any]
        return Set((object["properties"] as! [String: Any]).keys)
    }

    @Test("the schema names exactly the keys the loader accepts")
    func keysMatchTheLoader() {
        #expect(properties("point") == Set(DeviceMapLoader.commonPointKeys + ModbusSyntax.pointKeys))
        #expect(properties("device") == Set(DeviceMapLoader.deviceKeys))
        #expect(properties("profile") == Set(DeviceMapLoader.profileKeys))
        #expect(properties("connection") == Set(ModbusSyntax.connectionKeys))
        #expect(properties("report") == Set(DeviceMapLoader.reportKeys))
        let top = DeviceMapSchema.object(protocols: [ModbusSyntax.self])["properties"] as! [String: Any]
        #expect(Set(top.keys) == Set(DeviceMapLoader.topKeys))
    }

    @Test("it is draft 2020-12 JSON")
    func header() {
        #expect(DeviceMapSchema.object(protocols: [ModbusSyntax.self])["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        #expect(DeviceMapSchema.json(protocols: [ModbusSyntax.self]).hasPrefix("{"))
    }
}
