import DeviceMaps
import Foundation
import GatewayCore

/// Field values out of a bridge's JSON, and values into it: the conversions the adapter
/// shares between polling and reading back after a write.
enum HueReadout {
    /// The raw value of `field` in one light's or sensor's JSON (temperature already in °C,
    /// lux computed from the light level), or why there is none (`HueError.unreadable`).
    static func raw(_ field: HueField, of address: HuePointAddress, in resource: JSONValue) -> Result<Value, HueError> {
        let what = "\(address.resource.rawValue) \(address.id)"
        let state = resource["state"]
        let config = resource["config"]
        func missing() -> Result<Value, HueError> {
            let type = resource["type"]?.string.map { " (\($0))" } ?? ""
            return .failure(.unreadable("\(what)\(type) has no \(field.rawValue)"))
        }
        func garbage(_ found: JSONValue, _ expected: String) -> Result<Value, HueError> {
            .failure(.unreadable("\(what) \(field.rawValue): the bridge sent \(found.text.prefix(40)), not \(expected)"))
        }
        func bool(_ json: JSONValue?) -> Result<Value, HueError> {
            guard let json else { return missing() }
            guard let b = json.bool else { return garbage(json, "true or false") }
            return .success(.bool(b))
        }
        func integer(_ json: JSONValue?) -> Result<Value, HueError> {
            guard let json else { return missing() }
            guard let n = json.number, n == n.rounded(), abs(n) < 1e15 else { return garbage(json, "a whole number") }
            return .success(.int(Int64(n)))
        }
        func text(_ json: JSONValue?) -> Result<Value, HueError> {
            guard let json else { return missing() }
            guard let s = json.string else { return garbage(json, "text") }
            return .success(.string(s))
        }
        switch field {
        case .on, .presence, .dark, .daylight, .open: return bool(state?[field.rawValue])
        case .reachable: return bool(address.resource == .light ? state?["reachable"] : config?["reachable"])
        case .bri, .hue, .sat, .ct, .lightlevel: return integer(state?[field.rawValue])
        case .battery: return integer(config?["battery"])
        case .alert, .effect, .colormode, .lastupdated: return text(state?[field.rawValue])
        case .x, .y:
            guard let xy = state?["xy"] else { return missing() }
            guard let pair = xy.array, pair.count == 2, let x = pair[0].number, let y = pair[1].number else {
                return garbage(xy, "two numbers")
            }
            return .success(.double(field == .x ? x : y))
        case .temperature:
            guard let json = state?["temperature"] else { return missing() }
            guard let hundredths = json.number else { return garbage(json, "a number") }
            return .success(.double(hundredths / 100))
        case .lux:
            guard case .success(.int(let level)) = integer(state?["lightlevel"]) else { return raw(.lightlevel, of: address, in: resource) }
            return .success(.double(pow(10, (Double(level) - 1) / 10000)))
        case .transitiontime: return .failure(.unreadable("\(what) transitiontime is write-only"))
        }
    }

    /// The engineering value of `point` (scale and offset applied), or why there is none.
    static func value(of point: PointDefinition, in resource: JSONValue) -> Result<Value, HueError> {
        raw(point.hue.field, of: point.hue, in: resource).map { engineering($0, point) }
    }

    /// raw × scale + offset for numbers; bools and text as they are.
    static func engineering(_ raw: Value, _ point: PointDefinition) -> Value {
        guard point.isScaled, let n = raw.numeric else { return raw }
        return .double(n * point.scale + point.offset)
    }

    /// The JSON the bridge takes for an engineering value of `point`, or why it cannot be
    /// sent. Ranges are the bridge's to check (and the router's, through the point's limits).
    static func wire(_ value: Value, for point: PointDefinition, device: String) throws(WriteError) -> JSONValue {
        let field = point.hue.field
        let name = "\(device).\(point.name)"
        switch field.kind {
        case .bool:
            guard case .bool(let b) = value else { throw .rejected("\(name) takes true or false, not \(value)") }
            return .bool(b)
        case .string:
            guard case .string(let s) = value else { throw .rejected("\(name) takes text, not \(value)") }
            if let options = field.options, !options.contains(s) {
                throw .rejected("\(name): the bridge takes \(field.rawValue) \(options.joined(separator: ", ")), not \"\(s)\"")
            }
            return .string(s)
        case .integer, .number:
            guard let n = value.numeric else { throw .rejected("\(name) takes a number, not \(value)") }
            let raw = (n - point.offset) / point.scale
            guard field.kind == .integer else { return .number(raw) }
            let whole = raw.rounded()
            guard abs(raw - whole) < 1e-6 else {
                throw .rejected("\(name) = \(value) is \(Value.format(raw)) for the bridge, which takes whole numbers for \(field.rawValue)")
            }
            return .number(whole)
        }
    }
}
