import Foundation
import GatewayCore
import HueAdapter
import Logging
import TestSupport
import Testing

/// `sim hue` is only as good as its fidelity: Home Assistant's Hue library runs its v1 flow
/// against it (Peers/aiohue_flow.py), as it would against a bridge.
@Suite("sim hue against Home Assistant's Hue library (aiohue, v1 API)")
struct AiohueTests {
    @Test(
        "aiohue pairs, initializes (config with bridge id and mac, the new key in the whitelist), lists lights and sensors, sets a light's state and reads it back, and gets the invalid-value and unauthorized errors"
    )
    func v1Flow() async throws {
        let bridge = HueBridgeSimulator(port: 0, animated: false, logger: Logger(label: "sim"))
        try await bridge.start()
        do {
            bridge.pressLinkButton()
            let (status, output) = try await TestProcess.run(try peerPython(), [peerScript("aiohue_flow.py"), "127.0.0.1:\(bridge.port)"])
            #expect(status == 0, "\(output)")
            let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(output)")
            guard case .object(let result)? = try? JSONValue(parsing: Array(line.utf8)) else {
                Issue.record("no JSON from aiohue: \(output)")
                await bridge.stop()
                return
            }
            #expect(result["steps"]?.array?.compactMap(\.string) == ["paired", "initialized", "set_state", "invalid value", "unauthorized"], "\(result)")
            let config = result["config"]?.object
            #expect(config?["bridge_id"] == .string("001788FFFE000000"))
            #expect(config?["mac"] == .string("00:17:88:00:00:00"))
            #expect(config?["model_id"] == .string("BSB002") && config?["apiversion"] == .string("1.60.0"))
            #expect(result["whitelisted"] == .bool(true), "the key aiohue paired for is in the whitelist")
            #expect(result["whitelist_entry"]?.object?["name"] == .string("aiohue#edgegate-test"))
            #expect(result["lights"]?.object?.count == 3 && result["sensors"]?.object?.count == 4, "\(result)")
            #expect(result["lights"]?.object?["1"]?.object?["name"] == .string("Hue color lamp 1"))
            #expect(result["sensors"]?.object?["4"]?.object?["type"] == .string("ZLLTemperature"))
            let after = result["after_set_state"]?.object
            #expect(after?["on"] == .bool(true) && after?["bri"]?.integer == 200, "\(result)")
            #expect(bridge.light("1")?.on == true && bridge.light("1")?.bri == 200, "the simulator's own state")
            let invalid = result["invalid_value_error"]?.object
            #expect(invalid?["class"] == .string("AiohueException"))
            #expect(invalid?["text"]?.string == "invalid value, 300, for parameter, bri", "\(result)")
            let unauthorized = result["unauthorized_error"]?.object
            #expect(unauthorized?["class"] == .string("Unauthorized"), "\(result)")
            #expect(unauthorized?["text"]?.string == "unauthorized user")
        } catch {
            await bridge.stop()
            throw error
        }
        await bridge.stop()
    }
}
