import Foundation

/// What MQTT allows in the topic levels edgegate builds from settings (the gateway id, the
/// prefix), for every parser of such settings: the gateway configuration, the uplink's section
/// and the operator's CLI settings.
package enum TopicRules {
    /// C0 and C1 control characters and DEL, which MQTT client libraries refuse in topics.
    package static func isControl(_ c: Character) -> Bool {
        c.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// The characters of `level` that cannot be in one topic level (a gateway id).
    package static func badCharacters(inLevel level: String) -> String {
        level.filter { "/+#".contains($0) || $0.isWhitespace || isControl($0) }
    }

    package static let levelHint = "it must not contain '/', '+', '#', spaces or control characters"

    /// Whether `prefix` is one or more topic levels without wildcards or empty levels.
    package static func isValidPrefix(_ prefix: String) -> Bool {
        !prefix.contains(where: { "+#".contains($0) || $0.isWhitespace || isControl($0) })
            && !prefix.split(separator: "/", omittingEmptySubsequences: false).contains(where: \.isEmpty)
    }

    package static let prefixHint = "use levels separated by single '/', without '+', '#', spaces, control characters or a leading or trailing '/'"
}
