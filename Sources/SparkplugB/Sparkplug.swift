import Foundation
import GatewayCore

/// The generated protobuf types of `Protocol/sparkplug_b.proto`, by shorter names.
typealias SparkplugPayload = Org_Eclipse_Tahu_Protobuf_Payload
typealias SparkplugMetric = Org_Eclipse_Tahu_Protobuf_Payload.Metric
typealias SparkplugDataType = Org_Eclipse_Tahu_Protobuf_DataType

/// Names and numbers the Sparkplug B 3.0 specification fixes.
enum Sparkplug {
    /// The first topic level of every Sparkplug B message.
    static let namespace = "spBv1.0"
    /// The node metric that pairs an NBIRTH with its NDEATH.
    static let bdSeq = "bdSeq"
    /// The node metric a host writes `true` to for a new birth sequence.
    static let rebirth = "Node Control/Rebirth"
    /// The metric property that says how good a value is (an Int32).
    static let quality = "Quality"
    /// The property that says why a value is not good (edgegate's own, a String).
    static let reason = "Quality Reason"
    /// The property of the engineering unit (a String).
    static let engUnit = "engUnit"
    /// The properties of the lowest and highest value a write may set (Doubles).
    static let engLow = "engLow"
    static let engHigh = "engHigh"
    /// The spec's quality codes.
    static let bad: Int32 = 0
    static let good: Int32 = 192
    static let stale: Int32 = 500
    /// A device whose polls came back all bad this many times in a row is declared dead
    /// (DDEATH): one failed poll is a glitch, three are an outage.
    static let deathAfterBadPolls = 3

    /// Milliseconds since 1970, as Sparkplug's timestamps count.
    static func milliseconds(_ date: Date) -> UInt64 {
        let ms = (date.timeIntervalSince1970 * 1000).rounded()
        return ms > 0 ? UInt64(ms) : 0
    }

    /// What a Sparkplug group, edge node or device id must not contain: MQTT's level separator
    /// and wildcards.
    static func invalidCharacter(in id: String) -> Character? {
        id.first { $0 == "/" || $0 == "+" || $0 == "#" }
    }
}

/// The topics of one edge node: `spBv1.0/{group}/{type}/{node}[/{device}]`.
struct SparkplugTopics: Sendable, Hashable {
    /// The group id.
    let group: String
    /// The edge node id (the gateway id).
    let node: String

    private func topic(_ type: String) -> String { "\(Sparkplug.namespace)/\(group)/\(type)/\(node)" }

    var nbirth: String { topic("NBIRTH") }
    var ndeath: String { topic("NDEATH") }
    var ncmd: String { topic("NCMD") }
    func dbirth(_ device: String) -> String { topic("DBIRTH") + "/" + device }
    func ddata(_ device: String) -> String { topic("DDATA") + "/" + device }
    func ddeath(_ device: String) -> String { topic("DDEATH") + "/" + device }
    /// Every device's commands (subscribe).
    var dcmdFilter: String { topic("DCMD") + "/+" }
    /// `spBv1.0/{group}/DCMD/{node}/`: what a device's command topic starts with.
    var dcmdPrefix: String { topic("DCMD") + "/" }
    /// A host application's state (Sparkplug 3.0): `spBv1.0/STATE/{host}`.
    static func state(_ host: String) -> String { "\(Sparkplug.namespace)/STATE/\(host)" }
}
