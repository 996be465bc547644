import DeviceMaps
import Yams

/// The lights, sensors and usernames of `edgegate sim hue --config FILE`:
///
/// ```
/// lights:
///   - { id: 1, name: Kitchen }                          # type: Extended color light
///   - { id: 2, name: Hall, type: Dimmable light }
/// sensors:
///   - { id: 10, type: ZLLTemperature, name: Hall temperature }
///   - { id: 11, type: CLIPOpenClose, name: Front door }
/// usernames: [devuser]                                  # whitelisted from the start
/// ```
///
/// A missing `lights` or `sensors` key keeps the simulator's defaults; an empty list means none.
public struct HueSimConfiguration: Sendable, Hashable {
    /// The lights.
    public var lights: [HueSimLight] = HueBridgeSimulator.defaultLights
    /// The sensors.
    public var sensors: [HueSimSensor] = HueBridgeSimulator.defaultSensors
    /// Usernames whitelisted from the start.
    public var usernames: [String] = []

    /// The light types the simulator knows.
    public static let lightTypes = ["Extended color light", "Color temperature light", "Dimmable light"]
    /// The sensor types the simulator knows.
    public static let sensorTypes = ["ZLLTemperature", "ZLLPresence", "ZLLLightLevel", "CLIPOpenClose"]

    /// The defaults.
    public init() {}

    /// Reads a configuration.
    /// - Throws: `SimulatorError.invalidConfiguration` naming the entry and what is wrong.
    public init(yaml: String) throws {
        let root: Any?
        do {
            root = try Yams.load(yaml: yaml)
        } catch {
            throw SimulatorError.invalidConfiguration("not YAML: \(error)")
        }
        guard let top = root as? [String: Any] else { throw SimulatorError.invalidConfiguration("expected a mapping with lights, sensors, usernames") }
        if let unknown = top.keys.sorted().first(where: { !["lights", "sensors", "usernames"].contains($0) }) {
            throw SimulatorError.invalidConfiguration("unknown key '\(unknown)' (keys: lights, sensors, usernames)")
        }
        if let list = top["lights"] {
            lights = try Self.entries(list, "lights").enumerated().map { index, entry in
                let id = try Self.id(entry, "lights", index)
                let type = entry["type"].map { "\($0)" } ?? "Extended color light"
                guard Self.lightTypes.contains(type) else {
                    throw SimulatorError.invalidConfiguration("light \(id): unknown type '\(type)' (types: \(Self.lightTypes.joined(separator: ", ")))")
                }
                return HueSimLight(id: id, name: entry["name"].map { "\($0)" }, type: type)
            }
        }
        if let list = top["sensors"] {
            sensors = try Self.entries(list, "sensors").enumerated().map { index, entry in
                let id = try Self.id(entry, "sensors", index)
                guard let type = entry["type"].map({ "\($0)" }), Self.sensorTypes.contains(type) else {
                    throw SimulatorError.invalidConfiguration("sensor \(id): 'type' must be one of \(Self.sensorTypes.joined(separator: ", "))")
                }
                return HueSimSensor(id: id, type: type, name: entry["name"].map { "\($0)" })
            }
        }
        if let names = top["usernames"] {
            guard let names = names as? [Any] else { throw SimulatorError.invalidConfiguration("'usernames' must be a list") }
            usernames = names.map { "\($0)" }
        }
        let ids = lights.map { "light \($0.id)" } + sensors.map { "sensor \($0.id)" }
        if let twice = ids.first(where: { id in ids.filter { $0 == id }.count > 1 }) {
            throw SimulatorError.invalidConfiguration("\(twice) is listed twice")
        }
    }

    private static func entries(_ list: Any, _ key: String) throws -> [[String: Any]] {
        guard let items = list as? [Any] else { throw SimulatorError.invalidConfiguration("'\(key)' must be a list") }
        return try items.enumerated().map { index, item in
            guard let entry = item as? [String: Any] else {
                throw SimulatorError.invalidConfiguration("\(key) entry \(index + 1) must be a mapping such as { id: 1, name: Kitchen }")
            }
            return entry
        }
    }

    private static func id(_ entry: [String: Any], _ key: String, _ index: Int) throws -> String {
        guard let id = entry["id"].map({ "\($0)" }), !id.isEmpty else {
            throw SimulatorError.invalidConfiguration("\(key) entry \(index + 1) needs an 'id'")
        }
        return id
    }
}
