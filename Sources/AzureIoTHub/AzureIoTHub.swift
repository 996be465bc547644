import CCrypto
import Foundation

/// Azure IoT Hub's device protocol over MQTT: the names and credentials the `azure-iot-hub`
/// uplink profile uses (see Microsoft's "Communicate with an IoT hub using the MQTT protocol").
public enum AzureIoTHub {
    /// The REST API version IoT Hub expects in the MQTT user name.
    public static let apiVersion = "2021-04-12"

    /// Why a credential could not be made.
    public enum CredentialError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The device key is not valid base64 (as the portal and the CLI show it).
        case keyNotBase64
        /// OpenSSL refused to compute the HMAC.
        case signingFailed
        /// The device key could not be read: the sentence says which file and why.
        case keyFile(String)

        /// A sentence for the operator (never the key itself).
        public var description: String {
            switch self {
            case .keyNotBase64: return "the device key is not base64 (copy the primary key as the portal shows it)"
            case .signingFailed: return "HMAC-SHA256 signing failed in OpenSSL"
            case .keyFile(let problem): return problem
            }
        }
    }

    /// The resource a device's token grants: `{hub}/devices/{deviceId}`.
    public static func resourceURI(hub: String, deviceID: String) -> String {
        "\(hub)/devices/\(deviceID)"
    }

    /// The MQTT user name: `{hub}/{deviceId}/?api-version=2021-04-12`.
    public static func userName(hub: String, deviceID: String) -> String {
        "\(hub)/\(deviceID)/?api-version=\(apiVersion)"
    }

    /// A shared access signature for a device, valid until `expiry` (seconds since 1970):
    /// `SharedAccessSignature sr={uri}&sig={signature}&se={expiry}`, the signature being
    /// HMAC-SHA256, keyed with the base64-decoded device key, of the URL-encoded resource URI,
    /// a line feed and the expiry — the same string Microsoft's device SDKs make.
    public static func sasToken(hub: String, deviceID: String, key: String, expiry: UInt64) throws(CredentialError) -> String {
        guard let keyBytes = Data(base64Encoded: key) else { throw .keyNotBase64 }
        let resource = urlEncode(resourceURI(hub: hub, deviceID: deviceID))
        let message = Array("\(resource)\n\(expiry)".utf8)
        var digest = [UInt8](repeating: 0, count: 32)
        let length = keyBytes.withUnsafeBytes { key in
            CCrypto_hmac_sha256(key.baseAddress, Int32(key.count), message, message.count, &digest)
        }
        guard length == 32 else { throw .signingFailed }
        let signature = urlEncode(Data(digest).base64EncodedString())
        return "SharedAccessSignature sr=\(resource)&sig=\(signature)&se=\(expiry)"
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters (`A–Z a–z 0–9 - . _ ~`),
    /// as Python's `urllib.parse.quote(s, safe="")` does, byte by byte of the UTF-8 form.
    static func urlEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// Device-side topics of IoT Hub's MQTT protocol.
    public struct Topics: Sendable, Hashable {
        /// The device id.
        public let deviceID: String

        /// Creates the topics of one device.
        public init(deviceID: String) {
            self.deviceID = deviceID
        }

        /// Device-to-cloud messages, with a property bag appended: values URL-encoded, names
        /// as given, because IoT Hub's system properties are written `$.ct`, `$.ce` literally.
        public func events(properties: [(String, String)] = []) -> String {
            let bag = properties.map { "\($0.0)=\(urlEncode($0.1))" }.joined(separator: "&")
            return "devices/\(deviceID)/messages/events/" + bag
        }

        /// Cloud-to-device messages (subscribe).
        public var cloudToDevice: String { "devices/\(deviceID)/messages/devicebound/#" }
        /// Direct method calls (subscribe): `$iothub/methods/POST/{method}/?$rid={rid}`.
        public static let methods = "$iothub/methods/POST/#"
        /// Answers to twin requests (subscribe).
        public static let twinResponses = "$iothub/twin/res/#"

        /// The answer to a direct method call.
        public static func methodResponse(status: Int, requestID: String) -> String {
            "$iothub/methods/res/\(status)/?$rid=\(requestID)"
        }

        /// Updates the twin's reported properties.
        public static func reportedProperties(requestID: String) -> String {
            "$iothub/twin/PATCH/properties/reported/?$rid=\(requestID)"
        }
    }
}
