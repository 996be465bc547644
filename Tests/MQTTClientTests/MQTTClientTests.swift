import DevTools
import Foundation
import Logging
import MQTTClient
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The MQTT client against a real mosquitto with mutual TLS and the edgegate ACL.
@Suite("MQTT client against a real hub", .timeLimit(.minutes(2)))
struct MQTTClientTests {
    let logger = Logger(label: "mqtt-client-tests")
    let prefix = TestHub.prefix
    let gw = TestHub.gatewayID

    /// Runs `body` with a fresh hub and always stops it.
    func withHub(_ body: @escaping @Sendable (TestHub) async throws -> Void) async throws {
        let hub = try await TestHub.start(logger: logger)
        do {
            try await withTimeout(.seconds(30), "test body") { try await body(hub) }
        } catch {
            Issue.record("hub log:\(hub.hub.logTail())")
            await hub.stop()
            throw error
        }
        await hub.stop()
    }

    func connect(
        _ hub: TestHub, _ identity: HubIdentity, _ clientID: String,
        configure: (inout MQTTOptions) -> Void = { _ in }
    ) async throws -> MQTTConnection {
        var options = hub.options(identity: identity, clientID: clientID)
        configure(&options)
        return try await MQTTConnection.connect(options, logger: logger)
    }

    /// The error a connect attempt fails with (the test fails if it succeeds).
    func connectError(_ options: MQTTOptions) async -> MQTTError? {
        do {
            let connection = try await MQTTConnection.connect(options, logger: logger)
            await connection.disconnect()
            return nil
        } catch {
            logger.info("connect failed as expected: \(error)")
            return error
        }
    }

    func next(_ connection: MQTTConnection, within limit: Duration = .seconds(10)) async throws -> MQTTMessage {
        try await withTimeout(limit, "waiting for a message") {
            for await message in connection.messages { return message }
            throw MQTTError.connectionLost("message stream ended")
        }
    }

    @Test("QoS 1 round trip: the gateway publishes, the operator receives the same bytes")
    func roundTrip() async throws {
        try await withHub { hub in
            let op = try await connect(hub, .operator, "op")
            try await op.subscribe("\(prefix)/\(gw)/#", qos: 1)
            let gateway = try await connect(hub, .gateway, gw)
            let payload = Array("{\"temperature\":21.5}".utf8) + [0, 255, 10]
            try await gateway.publish("\(prefix)/\(gw)/telemetry", payload: payload, qos: 1, retain: false)
            let message = try await next(op)
            #expect(message.topic == "\(prefix)/\(gw)/telemetry")
            #expect(message.payload == payload)
            #expect(message.qos == 1)
            #expect(!message.retain)
            await gateway.disconnect()
            await op.disconnect()
        }
    }

    @Test("a window of QoS 1 messages arrives complete and in order; every acknowledgement returns")
    func orderedWindow() async throws {
        try await withHub { hub in
            let op = try await connect(hub, .operator, "op")
            try await op.subscribe("\(prefix)/\(gw)/telemetry", qos: 1)
            let gateway = try await connect(hub, .gateway, gw) { $0.maxInflight = 20 }
            let count = 500
            var ids: [Int32] = []
            for i in 0..<count {
                ids.append(try gateway.send("\(prefix)/\(gw)/telemetry", payload: Array("\(i)".utf8), qos: 1, retain: false))
            }
            // Many PUBACKs arrive before anyone waits for them: they must still count.
            try await Task.sleep(for: .milliseconds(200))
            for id in ids { try await gateway.acknowledgement(of: id) }
            // QoS 0 acknowledgements (written to the socket) are remembered the same way.
            let zero = try gateway.send("\(prefix)/\(gw)/telemetry", payload: Array("\(count)".utf8), qos: 0, retain: false)
            try await gateway.acknowledgement(of: zero)
            let received = try await withTimeout(.seconds(20), "receiving \(count + 1) messages") {
                var received: [String] = []
                for await message in op.messages {
                    received.append(String(decoding: message.payload, as: UTF8.self))
                    if received.count == count + 1 { break }
                }
                return received
            }
            #expect(received == (0...count).map(String.init))
            await gateway.disconnect()
            await op.disconnect()
        }
    }

    @Test("a retained message is delivered to a later subscriber, flagged retained")
    func retained() async throws {
        try await withHub { hub in
            let gateway = try await connect(hub, .gateway, gw)
            try await gateway.publish("\(prefix)/\(gw)/status", payload: Array("online".utf8), qos: 1, retain: true)
            await gateway.disconnect()
            let op = try await connect(hub, .operator, "op")
            try await op.subscribe("\(prefix)/+/status", qos: 1)
            let message = try await next(op)
            #expect(message.topic == "\(prefix)/\(gw)/status")
            #expect(message.payload == Array("online".utf8))
            #expect(message.retain)
            await op.disconnect()
        }
    }

    @Test("the will is published when the connection drops without DISCONNECT, not after disconnect()")
    func will() async throws {
        try await withHub { hub in
            let statusTopic = "\(prefix)/\(gw)/status"
            let will = MQTTMessage(topic: statusTopic, payload: Array("offline".utf8), qos: 1, retain: true)
            let op = try await connect(hub, .operator, "op")
            try await op.subscribe(statusTopic, qos: 1)

            // A clean disconnect: no will. The retained "online" is what a later subscriber sees.
            let first = try await connect(hub, .gateway, gw) {
                $0.will = will; $0.keepAlive = 5
            }
            try await first.publish(statusTopic, payload: Array("online".utf8), qos: 1, retain: true)
            #expect(try await next(op).payload == Array("online".utf8))
            await first.disconnect()
            #expect(await first.closed() == nil)
            let late = try await connect(hub, .operator, "late")
            try await late.subscribe(statusTopic, qos: 1)
            #expect(try await next(late).payload == Array("online".utf8))
            await late.disconnect()

            // The socket closes under the client as in a network failure: the broker publishes the will.
            let second = try await connect(hub, .gateway, gw) {
                $0.will = will; $0.keepAlive = 5
            }
            second.simulateConnectionDrop()
            let message = try await next(op)
            #expect(message.topic == statusTopic)
            #expect(message.payload == Array("offline".utf8))
            let ended = try await withTimeout(.seconds(5), "closed()") { await second.closed() }
            guard case .connectionLost? = ended else {
                Issue.record("expected connectionLost, got \(String(describing: ended))")
                return
            }
            #expect(throws: MQTTError.self) {
                _ = try second.send(statusTopic, payload: [], qos: 1, retain: false)
            }
            await second.disconnect()
            await op.disconnect()
        }
    }

    @Test("after disconnect(), closed() is nil, messages finishes and send fails")
    func disconnectEnds() async throws {
        try await withHub { hub in
            let gateway = try await connect(hub, .gateway, gw)
            await gateway.disconnect()
            #expect(await gateway.closed() == nil)
            let drained = try await withTimeout(.seconds(5), "messages to finish") {
                var count = 0
                for await _ in gateway.messages { count += 1 }
                return count
            }
            #expect(drained == 0)
            do throws(MQTTError) {
                _ = try gateway.send("\(prefix)/\(gw)/telemetry", payload: [1], qos: 1, retain: false)
                Issue.record("send after disconnect succeeded")
            } catch {
                guard case .connectionLost = error else { Issue.record("unexpected \(error)"); return }
            }
            await gateway.disconnect()  // twice is fine
        }
    }

    @Test("the hub refuses a client without a certificate, with a TLS error naming the hub")
    func noClientCertificate() async throws {
        try await withHub { hub in
            var options = hub.options(identity: .gateway, clientID: gw)
            options.tls = MQTTTLS(caFile: hub.pki.caCert)
            let error = try #require(await connectError(options))
            switch error {
            case .tls(let message), .connectionLost(let message):
                #expect(message.contains("127.0.0.1:\(hub.port)"), "\(message)")
                #expect(message.contains("handshake"), "\(message)")
            default:
                Issue.record("expected .tls or .connectionLost, got \(error)")
            }
        }
    }

    @Test("a client trusting another CA refuses the hub: certificate verify failed")
    func wrongCA() async throws {
        let other = try TemporaryDirectory(prefix: "edgegate-other-pki")
        defer { other.remove() }
        let otherPKI = try await DevPKI.create(in: other.path, logger: logger)
        try await withHub { hub in
            var options = hub.options(identity: .gateway, clientID: gw)
            options.tls?.caFile = otherPKI.caCert
            let error = try #require(await connectError(options))
            guard case .tls(let message) = error else {
                Issue.record("expected .tls, got \(error)")
                return
            }
            #expect(message.contains("certificate verify failed"), "\(message)")
        }
    }

    @Test("hostname verification accepts 127.0.0.1 and localhost (the hub certificate's SAN)")
    func hostnameVerified() async throws {
        try await withHub { hub in
            for host in ["127.0.0.1", "localhost"] {
                var options = hub.options(identity: .gateway, clientID: gw)
                options.host = host
                #expect(options.tls?.verifyHostname == true)
                let connection = try await MQTTConnection.connect(options, logger: logger)
                await connection.disconnect()
            }
        }
    }

    @Test("a hub certificate for another name is refused unless hostname verification is off")
    func hostnameMismatch() async throws {
        let shared = try await TestHub.start(logger: logger)
        let pki = shared.pki
        await shared.stop()
        let dir = try TemporaryDirectory(prefix: "edgegate-other-name")
        defer { dir.remove() }
        // A server certificate from the right CA, for a name that is not the one we dial.
        let key = dir.file("hub.key"), csr = dir.file("hub.csr"), cert = dir.file("hub.pem"), ext = dir.file("ext.cnf")
        try "subjectAltName = DNS:other.example\nextendedKeyUsage = serverAuth\n".write(toFile: ext, atomically: true, encoding: .utf8)
        for arguments in [
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
            ["req", "-new", "-key", key, "-subj", "/CN=other.example", "-out", csr],
            [
                "x509", "-req", "-in", csr, "-CA", pki.caCert, "-CAkey", pki.caKey, "-set_serial", "4242",
                "-days", "2", "-extfile", ext, "-out", cert,
            ],
        ] {
            let result = try await TestProcess.run("openssl", arguments)
            try #require(result.status == 0, "\(result.output)")
        }
        let hub = try await LocalHub.start(
            HubConfiguration(
                port: try freeLoopbackPort(), caFile: pki.caCert, certFile: cert,
                keyFile: key, runDirectory: dir.file("run")), logger: logger)
        do {
            var options = MQTTOptions(
                host: "127.0.0.1", port: hub.port, clientID: gw,
                tls: MQTTTLS(caFile: pki.caCert, certFile: pki.gatewayCert, keyFile: pki.gatewayKey),
                connectTimeout: .seconds(5))
            let error = await connectError(options)
            guard case .tls(let message)? = error else {
                Issue.record("expected .tls, got \(String(describing: error))")
                await hub.stop()
                return
            }
            #expect(message.contains("127.0.0.1:\(hub.port)"), "\(message)")
            #expect(message.contains("hostname mismatch"), "\(message)")
            options.tls?.verifyHostname = false
            let connection = try await MQTTConnection.connect(options, logger: logger)
            await connection.disconnect()
        } catch {
            await hub.stop()
            throw error
        }
        await hub.stop()
    }

    @Test("an unreadable CA file is a TLS error naming the file")
    func missingCAFile() async throws {
        let options = MQTTOptions(
            host: "127.0.0.1", port: 1, clientID: "x",
            tls: MQTTTLS(caFile: "/nonexistent/ca.pem"))
        let error = try #require(await connectError(options))
        guard case .tls(let message) = error else { Issue.record("expected .tls, got \(error)"); return }
        #expect(message.contains("/nonexistent/ca.pem"))
    }

    @Test("an expired client certificate is refused")
    func expiredCertificate() async throws {
        try await withHub { hub in
            let dir = try TemporaryDirectory(prefix: "edgegate-expired")
            defer { dir.remove() }
            let (cert, key) = try await DevPKI.issueClientCertificate(
                commonName: gw, in: dir.path, fileStem: "expired", caCert: hub.pki.caCert, caKey: hub.pki.caKey,
                validity: .expired, logger: logger)
            var options = hub.options(identity: .gateway, clientID: gw)
            options.tls?.certFile = cert
            options.tls?.keyFile = key
            // With TLS 1.3 the hub checks our certificate after our CONNECT is already on
            // its way; closing with it unread, the hub's kernel may send a reset that
            // overtakes its alert. Then nobody can know why, and the message says what is
            // likely. Every attempt must be refused as a TLS failure naming the hub; the
            // exact reason must come through at least once in five.
            var messages: [String] = []
            for _ in 0..<5 {
                let error = try #require(await connectError(options))
                guard case .tls(let message) = error else {
                    Issue.record("expected .tls, got \(error)")
                    return
                }
                #expect(message.contains("127.0.0.1:\(hub.port)"), "\(message)")
                #expect(
                    message.contains("refused our client certificate") || message.contains("it may require a valid client certificate"),
                    "\(message)")
                messages.append(message)
                if message.contains("refused our client certificate") { break }
            }
            #expect(messages.contains { $0.contains("refused our client certificate") && $0.contains("expired") }, "\(messages)")
        }
    }

    @Test("an expired hub certificate is refused, and the message says it is the hub's and that it expired")
    func expiredHubCertificate() async throws {
        let shared = try await TestHub.start(logger: logger)
        let pki = shared.pki
        await shared.stop()
        let dir = try TemporaryDirectory(prefix: "edgegate-expired-hub")
        defer { dir.remove() }
        let (cert, key) = try await DevPKI.issueServerCertificate(
            in: dir.path, fileStem: "hub", caCert: pki.caCert, caKey: pki.caKey,
            validity: .expired, logger: logger)
        let hub = try await LocalHub.start(
            HubConfiguration(
                port: try freeLoopbackPort(), caFile: pki.caCert, certFile: cert,
                keyFile: key, runDirectory: dir.file("run")), logger: logger)
        let options = MQTTOptions(
            host: "127.0.0.1", port: hub.port, clientID: gw,
            tls: MQTTTLS(caFile: pki.caCert, certFile: pki.gatewayCert, keyFile: pki.gatewayKey),
            connectTimeout: .seconds(5))
        let error = await connectError(options)
        await hub.stop()
        guard case .tls(let message)? = error else {
            Issue.record("expected .tls, got \(String(describing: error))")
            return
        }
        #expect(message.contains("127.0.0.1:\(hub.port)"), "\(message)")
        #expect(message.contains("hub's certificate"), "\(message)")
        #expect(message.contains("expired"), "\(message)")
    }

    @Test("plain MQTT to the hub's TLS port is refused with a message that says the port expects TLS")
    func plaintextToTLSPort() async throws {
        try await withHub { hub in
            var options = hub.options(identity: .gateway, clientID: gw)
            options.tls = nil
            let error = try #require(await connectError(options))
            #expect(error.message.contains("127.0.0.1:\(hub.port)"), "\(error)")
            #expect(error.message.contains("TLS"), "\(error)")
        }
    }

    @Test("ACL: a gateway reads only its own commands; the operator's command to it arrives")
    func acl() async throws {
        try await withHub { hub in
            let gateway = try await connect(hub, .gateway, gw)
            try await gateway.subscribe("\(prefix)/\(gw)/commands", qos: 1)
            do throws(MQTTError) {
                try await gateway.subscribe("\(prefix)/gw-2/commands", qos: 1)
            } catch {
                guard case .failed = error else { throw error }  // denied outright is fine too
            }
            let op = try await connect(hub, .operator, "op")
            // Sent first, so if the ACL let it through it would arrive first.
            try await op.publish("\(prefix)/gw-2/commands", payload: Array("not yours".utf8), qos: 1, retain: false)
            try await op.publish("\(prefix)/\(gw)/commands", payload: Array("yours".utf8), qos: 1, retain: false)
            let message = try await next(gateway)
            #expect(message.topic == "\(prefix)/\(gw)/commands")
            #expect(message.payload == Array("yours".utf8))

            // A gateway cannot write another gateway's telemetry; the broker drops it silently.
            try await op.subscribe("\(prefix)/#", qos: 1)
            try await gateway.publish("\(prefix)/gw-2/telemetry", payload: Array("forged".utf8), qos: 1, retain: false)
            try await gateway.publish("\(prefix)/\(gw)/telemetry", payload: Array("real".utf8), qos: 1, retain: false)
            let seen = try await next(op)
            #expect(seen.topic == "\(prefix)/\(gw)/telemetry")
            #expect(seen.payload == Array("real".utf8))
            await gateway.disconnect()
            await op.disconnect()
        }
    }

    @Test("a CONNACK refusal is .refused with the broker's reason")
    func connackRefused() async throws {
        // mosquitto with certificate identities has no reason to refuse a CONNECT, so a
        // minimal broker answers any CONNECT with CONNACK 5 (not authorised) on plain TCP.
        let listener = try HeldPort(listening: true)
        let port = listener.port
        defer { listener.close() }
        let server = Thread {
            let client = accept(listener.fd, nil, nil)
            guard client >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 256)
            _ = read(client, &buffer, buffer.count)
            let connack: [UInt8] = [0x20, 0x02, 0x00, 0x05]
            _ = write(client, connack, connack.count)
            Thread.sleep(forTimeInterval: 1)
            close(client)
        }
        server.start()
        let options = MQTTOptions(host: "127.0.0.1", port: port, clientID: "x", connectTimeout: .seconds(5))
        let error = try #require(await connectError(options))
        guard case .refused(let message) = error else { Issue.record("expected .refused, got \(error)"); return }
        #expect(message.contains("not authori"), "\(message)")
        #expect(message.contains("127.0.0.1:\(port)"), "\(message)")
    }

    @Test("nothing listening: unreachable, connection refused")
    func unreachable() async throws {
        let held = try HeldPort()
        defer { held.close() }
        let port = held.port
        let options = MQTTOptions(host: "127.0.0.1", port: port, clientID: "x", connectTimeout: .seconds(5))
        let error = try #require(await connectError(options))
        #expect(error == .unreachable("broker 127.0.0.1:\(port) unreachable: connection refused"))
    }

    @Test("a server that accepts TCP but never answers: timeout")
    func timeout() async throws {
        // A listening socket that never accepts: the kernel completes the TCP handshake, nothing speaks.
        let listener = try HeldPort(listening: true)
        let port = listener.port
        defer { listener.close() }
        let options = MQTTOptions(host: "127.0.0.1", port: port, clientID: "x", connectTimeout: .milliseconds(500))
        let started = ContinuousClock.now
        let error = try #require(await connectError(options))
        guard case .timeout = error else { Issue.record("expected .timeout, got \(error)"); return }
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
