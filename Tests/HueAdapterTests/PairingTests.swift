import Foundation
import GatewayCore
import Synchronization
import TestSupport
import Testing

@testable import HueAdapter

@Suite("Hue pairing and the simulated bridge's answers", .serialized, .timeLimit(.minutes(1)))
struct PairingTests {
    @Test("pairing gives up with a clear error when nobody presses the link button")
    func timeout() async throws {
        try await withBridge { bridge in
            let told = Atomic<Int>(0)
            let target = HueBridge(host: "127.0.0.1", port: bridge.port)
            await #expect(throws: HueError.pairingTimedOut(target, .seconds(1))) {
                // A loaded runner may take seconds to answer a request: that wait is not what
                // this test is about, the link button's is.
                try await HuePairing.pair(
                    bridge: target, devicetype: "edgegate#test", timeout: .seconds(1), interval: .milliseconds(100),
                    requestTimeout: .seconds(20)
                ) {
                    told.add(1, ordering: .relaxed)
                }
            }
            #expect(told.load(ordering: .relaxed) == 1)
            #expect(bridge.requestCount("POST /api") >= 1)
            #expect(HueError.pairingTimedOut(target, .seconds(1)).description == "bridge 127.0.0.1:\(bridge.port): the link button was not pressed within 1s")
        }
    }

    @Test("pressing the link button while pairing waits gives a username that works for reading")
    func pairs() async throws {
        try await withBridge { bridge in
            let target = HueBridge(host: "127.0.0.1", port: bridge.port)
            // A loaded runner may take seconds to answer one request (the whole suite shares
            // two cores): a request's own wait is not what this test is about.
            let username = try await HuePairing.pair(
                bridge: target, devicetype: "edgegate#test", timeout: .seconds(20),
                interval: .milliseconds(100), requestTimeout: .seconds(20)
            ) { bridge.pressLinkButton() }
            #expect(bridge.isWhitelisted(username))
            let lights = try await HueBridgeClient(bridge: target, username: username).get("lights")
            #expect(lights.object?.keys.sorted() == ["1", "2", "3"])
        }
    }

    @Test("an authorized user presses the link button with PUT /config {\"linkbutton\": true}, as the v1 API allows")
    func linkButtonByAPI() async throws {
        try await withBridge { bridge in
            let target = HueBridge(host: "127.0.0.1", port: bridge.port)
            let answer = try await HueBridgeClient(bridge: target, username: testUser).put("config", .object(["linkbutton": .bool(true)]))
            #expect(answer.successes == ["/config/linkbutton": .bool(true)])
            let username = try await HueBridgeClient(bridge: target, username: nil).createUser(devicetype: "edgegate#api")
            #expect(bridge.isWhitelisted(username))
        }
    }

    @Test("pairing with a bridge that does not answer fails at once, naming the bridge")
    func unreachable() async throws {
        let port = try await withBridge { $0.port }
        let target = HueBridge(host: "127.0.0.1", port: port)
        do {
            _ = try await HuePairing.pair(bridge: target, devicetype: "edgegate#test", timeout: .seconds(30))
            Issue.record("paired with nothing")
        } catch {
            guard case .unreachable(let named, _) = error else { Issue.record("\(error)"); return }
            #expect(named == target)
        }
    }

    @Test("the simulator answers like a bridge: unknown user (1), invalid JSON (2), unknown resource (3), the public config")
    func simulatorErrors() async throws {
        try await withBridge { bridge in
            // Raw requests, on the client's queue: a blocking call here would hold a thread the
            // simulator in this process needs to answer.
            let client = HueBridgeClient(bridge: HueBridge(host: "127.0.0.1", port: bridge.port), username: nil, timeout: .seconds(5))
            func call(_ method: String, _ path: String, _ body: String? = nil) async throws -> JSONValue? {
                JSONValue.parse(try await client.send(method, path, body: body.map { Data($0.utf8) }).get().body)
            }
            #expect(try await call("GET", "/api/nobody/lights")?.apiErrors == [HueAPIError(type: 1, address: "/lights", description: "unauthorized user")])
            #expect(try await call("GET", "/api/nobody")?.apiErrors == [HueAPIError(type: 1, address: "/", description: "unauthorized user")])
            #expect(try await call("PUT", "/api/\(testUser)/lights/1/state", "{on: true")?.apiErrors.first?.type == 2)
            #expect(
                try await call("GET", "/api/\(testUser)/lights/42")?.apiErrors
                    == [HueAPIError(type: 3, address: "/lights/42", description: "resource, /lights/42, not available")])
            #expect(
                try await call("POST", "/api", #"{"devicetype":"edgegate#x"}"#)?.apiErrors
                    == [HueAPIError(type: 101, address: "", description: "link button not pressed")])
            let config = try #require(try await call("GET", "/api/config"))
            #expect(config["apiversion"]?.string?.hasPrefix("1.") == true && config["bridgeid"] != nil && config["whitelist"] == nil)
            let all = try #require(try await call("GET", "/api/\(testUser)"))
            #expect(all["lights"]?["1"]?["state"]?["on"] == .bool(false) && all["sensors"]?["4"]?["type"] == .string("ZLLTemperature"))
        }
    }

    @Test("animated sensors change over time; lights keep what was written")
    func animation() async throws {
        let bridge = HueBridgeSimulator(port: 0, usernames: [testUser], animated: true, logger: quietLogger)
        try await bridge.start()
        defer { Task { await bridge.stop() } }
        let client = HueBridgeClient(bridge: HueBridge(host: "127.0.0.1", port: bridge.port), username: testUser)
        let first = try await client.get("sensors/6")["state"]?["lightlevel"]
        var changed = false
        let deadline = ContinuousClock.now + .seconds(20)
        while !changed, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            changed = try await client.get("sensors/6")["state"]?["lightlevel"] != first
        }
        #expect(changed)
        #expect(try await client.get("sensors/6")["state"]?["lastupdated"]?.string != "none")
        await bridge.stop()
    }

    @Test("the simulator's request log shows /api/<user>/..., never the username")
    func simulatorLogHidesUsernames() async throws {
        let log = LogCapture()
        let bridge = HueBridgeSimulator(port: 0, usernames: [testUser], animated: false, logger: log.logger)
        try await bridge.start()
        let client = HueBridgeClient(bridge: HueBridge(host: "127.0.0.1", port: bridge.port), username: testUser)
        _ = try await client.get("lights")
        _ = try await HueBridgeClient(bridge: client.bridge, username: nil).send("GET", "/api/config", body: nil).get()
        await bridge.stop()
        #expect(log.contains("GET /api/<user>/lights"), "\(log.lines)")
        #expect(log.contains("GET /api/config"), "\(log.lines)")
        #expect(!log.lines.joined().contains(testUser))
    }

    @Test("the HTTP client reads chunked and close-delimited bodies")
    func httpBodies() throws {
        #expect(try HTTPClient.dechunk(Data("4\r\n[{\"a\r\n3\r\n\":1\r\n2\r\n}]\r\n0\r\n\r\n".utf8)) == Data(#"[{"a":1}]"#.utf8))
        #expect(try HTTPClient.dechunk(Data("4\r\n[{".utf8)) == nil)
        #expect(try HTTPClient.completeBody(Data("abc".utf8), headers: [:], closed: false) == nil)
        #expect(try HTTPClient.completeBody(Data("abc".utf8), headers: [:], closed: true) == Data("abc".utf8))
        #expect(try HTTPClient.completeBody(Data("abcdef".utf8), headers: ["content-length": "3"], closed: false) == Data("abc".utf8))
    }

    @Test("the client cache makes a new client for a new timeout and forgets bridges no device uses")
    func clientCache() throws {
        let cache = ClientCache()
        let key = BridgeKey(bridge: HueBridge(host: "192.0.2.20"), username: .literal("u"))
        let other = BridgeKey(bridge: HueBridge(host: "192.0.2.21"), username: .literal("u"))
        let first = try cache.client(for: key, timeout: .seconds(2)).get()
        #expect(try cache.client(for: key, timeout: .seconds(2)).get() === first)
        let longer = try cache.client(for: key, timeout: .seconds(5)).get()
        #expect(longer !== first && longer.timeout == .seconds(5))
        let kept = try cache.client(for: other, timeout: .seconds(2)).get()
        cache.retain([other])
        #expect(try cache.client(for: other, timeout: .seconds(2)).get() === kept)
        #expect(try cache.client(for: key, timeout: .seconds(5)).get() !== longer)
    }

    @Test("a hostile chunk size (the largest Int, beyond Int, negative) is refused with a reason, never trapped on")
    func hostileChunkSizes() throws {
        for size in ["7fffffffffffffff", "ffffffffffffffffff", "-1", "1000001"] {
            #expect(throws: HTTPClient.Failure.self, "\(size)") { try HTTPClient.dechunk(Data("\(size)\r\nabc".utf8)) }
        }
        // 16 MiB exactly is still an answer that is merely incomplete.
        #expect(try HTTPClient.dechunk(Data("1000000\r\nabc".utf8)) == nil)
    }
}
