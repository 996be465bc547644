public import DeviceMaps
import Foundation

/// What `edgegate map new` prints: a protocol's commented template (`ProtocolPlugin.template`)
/// as a whole device map, optionally with its points as a reusable profile, which validates as
/// printed.
public enum MapNew {
    /// The map for `plugin`'s template.
    /// - Parameters:
    ///   - profile: also write the points as a profile of this name, and a device using it.
    ///   - id: the device's id (see `defaultID(protocol:profile:)`).
    public static func text(of plugin: ProtocolPlugin, profile: String?, id: String) -> String {
        let template = plugin.template
        var lines =
            [
                "# A device map for edgegate: docs/devicemaps.md is the reference.",
                "# Check it with: edgegate map validate FILE    See it resolved: edgegate map show FILE",
            ] + template.header
        if let profile {
            lines +=
                [
                    "profiles:", "  \(profile):                          # a device model, reusable by many devices",
                    "    protocol: \(plugin.name)",
                ] + template.body
        }
        lines +=
            [
                "devices:",
                "  - id: \(id)".padding(toLength: max(39, 9 + id.count), withPad: " ", startingAt: 0)
                    + "# unique across all maps of the gateway (map new --id)",
            ] + template.device + template.deviceExtras
        if let profile {
            lines += ["    profile: \(profile)                # a device may add or override points and commands"]
        } else {
            lines += ["    protocol: \(plugin.name)"] + template.body
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// An id that needs no quoting in YAML and fits every protocol's topics and messages.
    public static func isPlainID(_ id: String) -> Bool {
        guard let first = id.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII else { return false }
        return id.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
    }

    /// `chiller-1` for `--profile chiller`, else `modbus-1`: templates of different models or
    /// protocols saved into one folder do not collide.
    public static func defaultID(protocol name: String, profile: String?) -> String {
        if let profile, isPlainID(profile + "-1") { return profile + "-1" }
        return name + "-1"
    }
}
