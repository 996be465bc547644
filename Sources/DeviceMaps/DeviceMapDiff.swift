/// What changed between two versions of the device maps, device by device.
///
/// Devices are matched by id. A device is *changed* when anything of its definition differs
/// except where it was written: moving a device or a point to other lines of a file, or to
/// another file, leaves it unchanged (see `DeviceDefinition.hasSameDefinition(as:)`).
public struct DeviceMapDiff: Sendable, Hashable, CustomStringConvertible {
    /// Devices only in the new version, in its order.
    public var added: [DeviceDefinition]
    /// Devices in both versions whose definitions differ: the new definitions, in the new
    /// version's order.
    public var changed: [DeviceDefinition]
    /// Ids of devices only in the old version, in its order.
    public var removed: [String]
    /// Ids of devices whose definitions are the same in both versions, in the new version's order.
    public var unchanged: [String]

    /// Compares two versions of the device maps.
    public init(from old: DeviceMap, to new: DeviceMap) {
        var before: [String: DeviceDefinition] = [:]
        for device in old.devices { before[device.id] = device }
        let after = Set(new.devices.map(\.id))
        added = []
        changed = []
        unchanged = []
        for device in new.devices {
            if let previous = before[device.id] {
                if previous.hasSameDefinition(as: device) {
                    unchanged.append(device.id)
                } else {
                    changed.append(device)
                }
            } else {
                added.append(device)
            }
        }
        removed = old.devices.map(\.id).filter { !after.contains($0) }
    }

    /// True when no device was added, changed or removed.
    public var isEmpty: Bool { added.isEmpty && changed.isEmpty && removed.isEmpty }

    /// `added 1 (c), changed 1 (a), removed 0, unchanged 1 (b)`, for logs.
    public var description: String {
        func part(_ name: String, _ ids: [String]) -> String {
            ids.isEmpty ? "\(name) 0" : "\(name) \(ids.count) (\(ids.joined(separator: ", ")))"
        }
        return [
            part("added", added.map(\.id)), part("changed", changed.map(\.id)),
            part("removed", removed), part("unchanged", unchanged),
        ].joined(separator: ", ")
    }
}

extension DeviceDefinition {
    /// True when both definitions poll and write the device alike: every field is equal once
    /// the source locations are cleared from both.
    ///
    /// The comparison is the model's own `==` on copies, so a field added to the model later
    /// takes part without a change here; only a new *location* field needs clearing in
    /// `withoutSourceLocations`.
    public func hasSameDefinition(as other: DeviceDefinition) -> Bool {
        withoutSourceLocations == other.withoutSourceLocations
    }

    /// A copy with the source locations of the device and of its points cleared.
    public var withoutSourceLocations: DeviceDefinition {
        var copy = self
        copy.location = nil
        for index in copy.points.indices {
            copy.points[index].location = nil
        }
        return copy
    }
}
