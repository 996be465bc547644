import AzureIoTHub
import DevTools
import Foundation
import TestSupport
import Testing
import Uplink

@Suite("Azure IoT Hub device protocol")
struct AzureProtocolTests {
    struct Case: Codable {
        var hub: String
        var device: String
        var key: String
        var expiry: UInt64
    }

    static let cases = [
        Case(hub: "myhub.azure-devices.net", device: "gw-1", key: "c2VjcmV0LWtleS0xMjM0NTY3ODkw", expiry: 1_800_000_000),
        // Device ids may hold characters that URL encoding must escape.
        Case(
            hub: "plant-7.azure-devices.net", device: "line:3/gw 1@site=a", key: Data((0..<32).map { UInt8($0 * 7 % 256) }).base64EncodedString(),
            expiry: 1_700_000_123),
        Case(hub: "h.azure-devices.net", device: "gateway_ü~x.y-z", key: Data(repeating: 0xFF, count: 64).base64EncodedString(), expiry: 4_102_444_800),
    ]

    /// SAS tokens made by Microsoft's Python device SDK (Peers/azure_sas.py), in the order of `cases`.
    static func microsoftTokens(_ cases: [Case]) async throws -> [String] {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try JSONEncoder().encode(cases).write(to: URL(fileURLWithPath: dir.file("cases.json")))
        let out = dir.file("tokens.json")
        let peer = try TestProcess.spawn(
            try peerPython(), [peerScript("azure_sas.py"), dir.file("cases.json")],
            stdout: .file(out), stderr: .file(dir.file("err.txt")))
        let status = await peer.wait()
        guard status == 0 else {
            throw ProbeError("azure_sas.py exited with \(status): \((try? String(contentsOfFile: dir.file("err.txt"), encoding: .utf8)) ?? "")")
        }
        let tokens = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        guard tokens.count == cases.count else { throw ProbeError("azure_sas.py made \(tokens.count) tokens for \(cases.count) cases") }
        return tokens
    }

    @Test("SAS tokens equal those of Microsoft's Python device SDK for the same hub, device, key and expiry")
    func sasTokens() async throws {
        let expected = try await Self.microsoftTokens(Self.cases)
        let ours = try Self.cases.map { try AzureIoTHub.sasToken(hub: $0.hub, deviceID: $0.device, key: $0.key, expiry: $0.expiry) }
        #expect(ours == expected)
    }

    @Test("a key that is not base64 is refused without echoing it")
    func badKey() {
        #expect(throws: AzureIoTHub.CredentialError.keyNotBase64) {
            try AzureIoTHub.sasToken(hub: "h", deviceID: "d", key: "not base64!", expiry: 1)
        }
        #expect(!AzureIoTHub.CredentialError.keyNotBase64.description.contains("not base64!"))
    }

    @Test("user name and topics follow IoT Hub's MQTT protocol")
    func names() {
        #expect(AzureIoTHub.userName(hub: "myhub.azure-devices.net", deviceID: "gw-1") == "myhub.azure-devices.net/gw-1/?api-version=2021-04-12")
        let topics = AzureIoTHub.Topics(deviceID: "gw-1")
        #expect(
            topics.events(properties: [("$.ct", "application/json"), ("$.ce", "utf-8")])
                == "devices/gw-1/messages/events/$.ct=application%2Fjson&$.ce=utf-8")
        #expect(topics.cloudToDevice == "devices/gw-1/messages/devicebound/#")
        #expect(AzureIoTHub.Topics.methodResponse(status: 200, requestID: "7") == "$iothub/methods/res/200/?$rid=7")
        #expect(AzureIoTHub.Topics.reportedProperties(requestID: "42") == "$iothub/twin/PATCH/properties/reported/?$rid=42")
    }
}
