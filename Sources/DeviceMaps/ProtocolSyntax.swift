import ConfigSyntax
public import GatewayCore
import Yams

/// One setting of a connection or a point as `edgegate map show` prints it: the map's key and
/// its resolved value.
public struct MapField: Sendable, Hashable {
    /// The key as the device map spells it: `unit_id`, `word_order`.
    public var key: String
    /// The value, defaults filled in.
    public var value: Value

    /// Creates a field.
    public init(_ key: String, _ value: Value) {
        self.key = key
        self.value = value
    }

    /// The value as a table cell: text without quotes.
    public var text: String {
        if case .string(let s) = value { return s }
        return value.description
    }
}

/// How to reach one device, typed by its protocol (Modbus TCP: host, port, unit id, ...).
public protocol DeviceConnection: Sendable, CustomStringConvertible {
    /// True when `other` is the same connection; a reload keeps such a device running.
    func isSame(as other: any DeviceConnection) -> Bool
    /// The settings `map show --format json` lists at the device (`host`, `port`, `unit_id`);
    /// secrets never appear here.
    var fields: [MapField] { get }
}

extension DeviceConnection where Self: Equatable {
    /// Equal values of the same type.
    public func isSame(as other: any DeviceConnection) -> Bool { (other as? Self) == self }
}

/// Where and how a point lives on its device, typed by its protocol (Modbus: table, address,
/// encoding).
public protocol PointAddress: Sendable, CustomStringConvertible {
    /// The type as people read it: `int16`, `string[10]`, `bool (bit 3)`.
    var typeName: String { get }
    /// The kind of the raw value, before `scale` and `offset`.
    var rawKind: ValueKind { get }
    /// True when `other` is the same address.
    func isSame(as other: any PointAddress) -> Bool
    /// The point's protocol settings for `map show --format json`, keys as the map spells them.
    var fields: [MapField] { get }
    /// The same for `map show`'s table, in column order (`table`, `address`, `type`, `order`).
    var columns: [MapField] { get }
    /// The raw values (before `scale` and `offset`) the device itself accepts in a write, when
    /// the protocol fixes them (a Hue light's `bri` is 1…254). The loader makes them a
    /// writable point's default `min`/`max` and refuses map limits outside them.
    var writeLimits: ClosedRange<Double>? { get }
    /// The raw values the address can hold at all (an `int16` register: -32768…32767): a write
    /// outside is refused whatever the map's limits say. Shown to the console, so that it never
    /// offers such a write; nil when the protocol does not fix one.
    var rawRange: ClosedRange<Double>? { get }
}

extension PointAddress {
    /// The JSON fields, unless a protocol condenses them for the table.
    public var columns: [MapField] { fields }
    /// No limits of the protocol's own: the map's `min`/`max` alone limit writes.
    public var writeLimits: ClosedRange<Double>? { nil }
    /// What the device accepts, when the protocol says so.
    public var rawRange: ClosedRange<Double>? { writeLimits }
}

extension PointAddress where Self: Equatable {
    /// Equal values of the same type.
    public func isSame(as other: any PointAddress) -> Bool { (other as? Self) == self }
}

/// One protocol's part of the device-map format: the keys of a device's `connection` and of
/// its points, checked and turned into that protocol's own typed configuration.
///
/// The loader owns everything protocols share (ids, profiles, poll, `unit`, `scale`,
/// `access`, limits, `enum`, commands, report policies) and hands each device's protocol
/// section to the syntax its `protocol:` names. Adding a protocol means one type conforming
/// to this in the adapter's target and one entry in the list the loader is created with.
public protocol ProtocolSyntax: Sendable {
    /// The `protocol:` value that selects it: `modbus`.
    static var name: String { get }
    /// Keys of `connection:`.
    static var connectionKeys: [String] { get }
    /// An example `connection:` for the hint when one is missing.
    static var connectionExample: String { get }
    /// The point keys the protocol adds to the shared ones.
    static var pointKeys: [String] { get }

    /// Reads a device's `connection:`; nil after reporting what is wrong.
    static func connection(_ section: MapSection) -> (any DeviceConnection)?

    /// Reads the protocol's keys of one point; nil after reporting what is wrong.
    /// - Parameter access: the point's access, for checks such as writes to read-only tables.
    static func point(_ section: MapSection, access: Access) -> (any PointAddress)?

    /// Checks that look at all points of a device together (overlapping registers) and at
    /// its connection (nil when it did not parse), such as a request limit below a point's width.
    static func check(
        points: [PointDefinition], connection: (any DeviceConnection)?, of device: String,
        at location: SourceLocation, reporter: MapReporter)

    /// Checks that look at all devices of the protocol together, across every file loaded at
    /// once (devices sharing a serial bus must agree on its settings). Gets the devices that
    /// loaded without errors, in file order.
    static func check(devices: [DeviceDefinition], reporter: MapReporter)

    /// Resolves what this protocol's devices refer to among every device loaded at once, of
    /// every protocol (a derived device's references to other devices' points, and the kinds
    /// of value they compute), reporting what does not resolve. Gets the devices that loaded
    /// without errors, and the ids of those that did not (a reference to one of them is not
    /// an unknown device); returns its devices as resolved, in the same order.
    static func resolve(
        devices: [DeviceDefinition], among all: [DeviceDefinition], withErrors: Set<String>, reporter: MapReporter
    ) -> [DeviceDefinition]
    /// The connection of a device whose map has no `connection:`, for protocols whose devices
    /// connect to nothing (points computed inside the gateway); nil when `connection:` is
    /// required.
    static var defaultConnection: (any DeviceConnection)? { get }
    /// JSON Schema properties of `connection:`, with its `required` keys.
    static var connectionSchema: [String: Any] { get }
    /// JSON Schema properties of the protocol's point keys.
    static var pointSchema: [String: Any] { get }
    /// JSON Schema rules of a point beyond its properties (`required`, `if`/`then`), merged
    /// into the point's schema.
    static var pointSchemaRules: [String: Any] { get }
}

extension ProtocolSyntax {
    /// Nothing to check across devices, for protocols whose devices share nothing.
    public static func check(devices: [DeviceDefinition], reporter: MapReporter) {}

    /// Nothing refers to other devices: the devices as they are.
    public static func resolve(
        devices: [DeviceDefinition], among all: [DeviceDefinition], withErrors: Set<String>, reporter: MapReporter
    ) -> [DeviceDefinition] { devices }

    /// `connection:` is required.
    public static var defaultConnection: (any DeviceConnection)? { nil }
}

/// A mapping of a device map (a `connection:` or a point) as a protocol syntax sees it:
/// typed accessors that report what they find wrong, compiler style, and return nil.
public struct MapSection {
    let mapping: YAMLMapping

    init(_ mapping: YAMLMapping) {
        self.mapping = mapping
    }

    /// Who the section describes, as messages name it: `device 'boiler-1', point 'flow'`.
    public var context: String { mapping.context }
    /// The keys present, in file order.
    public var keys: [String] { mapping.entries.map(\.key) }
    /// True when `key` is present.
    public func has(_ key: String) -> Bool { mapping.has(key) }

    /// A non-empty text value.
    public func name(_ key: String, required: Bool = false, hint: String? = nil) -> String? {
        mapping.name(key, required: required, hint: hint)
    }

    /// An integer within `range`.
    public func integer(_ key: String, in range: ClosedRange<Int>, required: Bool = false) -> Int? {
        mapping.integer(key, in: range, required: required)
    }

    /// A finite number.
    public func number(_ key: String) -> Double? { mapping.number(key) }

    /// `true` or `false`.
    public func bool(_ key: String) -> Bool? { mapping.bool(key) }

    /// A positive duration: `500ms`, `2s`.
    public func duration(_ key: String) -> Duration? { mapping.duration(key) }

    /// The text of `key` when its value is a scalar, reporting nothing: for a key that takes a
    /// word besides a typed value (`stale_after: never`), the word is read here and anything
    /// else is left to the typed accessor and its messages.
    public func scalar(_ key: String) -> String? {
        guard let e = mapping.entry(key), case .scalar(let s) = e.value else { return nil }
        return s.string
    }

    /// One of an enumeration's raw values, with the allowed ones as the hint.
    public func choice<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type, required: Bool = false) -> E?
    where E.RawValue == String {
        mapping.choice(key, type, required: required)
    }

    /// Reports an error at the value of `key` (at the section when the key is absent).
    public func error(_ text: String, atValueOf key: String, hint: String? = nil) {
        if let e = mapping.entry(key) { mapping.error(text, at: e.value, hint: hint) } else { error(text, hint: hint) }
    }

    /// Reports an error inside the text value of `key`, `characterOffset` characters into it
    /// (a parse error in a small language such as a JSON path), counting past an opening quote.
    public func error(_ text: String, atValueOf key: String, characterOffset: Int, hint: String? = nil) {
        guard let e = mapping.entry(key), case .scalar(let s) = e.value else {
            error(text, atValueOf: key, hint: hint)
            return
        }
        // Only a one-line value maps offsets to columns; a folded one points at its start.
        let quoted = s.style == .singleQuoted || s.style == .doubleQuoted
        let shift = s.string.contains("\n") ? 0 : characterOffset + (quoted ? 1 : 0)
        var at = mapping.location(of: e.value)
        at.column += shift
        mapping.error(text, at: at, hint: hint)
    }

    /// A file path, relative paths resolved against the folder of the map file (as the
    /// gateway configuration resolves its files), so a map works from any working directory.
    public func path(_ key: String, hint: String? = nil) -> String? {
        mapping.name(key, hint: hint).map { resolve($0, relativeToFolderOf: mapping.file) }
    }

    /// Reports an error at `key` itself.
    public func error(_ text: String, atKey key: String, hint: String? = nil) {
        if let e = mapping.entry(key) { mapping.error(text, at: e.keyNode, hint: hint) } else { error(text, hint: hint) }
    }

    /// Reports an error at the section.
    public func error(_ text: String, hint: String? = nil) {
        mapping.error(text, at: mapping.node, hint: hint)
    }

    /// Reports a warning at `key` itself.
    public func warning(_ text: String, atKey key: String, hint: String? = nil) {
        if let e = mapping.entry(key) { mapping.warning(text, at: e.keyNode, hint: hint) }
    }

    /// The number of errors reported so far in this load, to tell whether a part added any.
    public var errorCount: Int { mapping.sink.errorCount }

    /// The mapping itself, for a syntax in this package whose points nest mappings and lists
    /// (a derived point's `window:` and `oee:`).
    package var yaml: YAMLMapping { mapping }
}

/// Reports problems found across points, for `ProtocolSyntax.check`.
public struct MapReporter {
    let sink: DiagnosticSink

    /// Reports a warning.
    public func warning(_ text: String, at location: SourceLocation, hint: String? = nil) {
        sink.warning(text, at: location, hint: hint)
    }

    /// Reports an error.
    public func error(_ text: String, at location: SourceLocation, hint: String? = nil) {
        sink.error(text, at: location, hint: hint)
    }
}
