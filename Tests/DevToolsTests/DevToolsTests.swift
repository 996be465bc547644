import DevTools
import Foundation
import Logging
import MQTTClient
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Developer tooling: child processes, the development PKI and the local hub.
@Suite("dev tools: processes, PKI, local hub", .timeLimit(.minutes(2)))
struct DevToolsTests {
    let logger = Logger(label: "hub-tests")

    @Test("a spawned child honours SIGTERM even when spawned from async code")
    func childStops() async throws {
        let child = try ChildProcess.spawn("sleep", ["30"])
        #expect(child.isRunning)
        let status = try await withTimeout(.seconds(10), "stop") { await child.stop(grace: .seconds(5)) }
        #expect(status == 128 + SIGTERM)  // SIGTERM did it; SIGKILL would be 137
        #expect(!child.isRunning)
        #expect(await child.wait() == status)
    }

    @Test("a spawned child holds no descriptor of the parent besides its standard streams")
    func childInheritsNoDescriptors() async throws {
        // A pipe without close-on-exec, as libraries open their sockets (SwiftNIO's listeners).
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let child = try ChildProcess.spawn("sleep", ["30"])
        close(ends[1])
        // With the write end closed everywhere, the pipe reports end-of-file; `sleep` holding a
        // copy would keep it open for 30 s, as a child keeps a closed server's port bound. The
        // wait allows for other tests' children, which hold every descriptor for the instant
        // between their fork and their exec.
        var entry = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, 10_000)
        _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
        var byte: UInt8 = 0
        let count = read(ends[0], &byte, 1)
        #expect(count == 0, "read gave \(count) (errno \(errno)): the child holds the pipe's write end")
        _ = await child.stop(grace: .seconds(5))
    }

    @Test("a child whose handle goes away dies with it, also when it is stopped (SIGSTOP)", arguments: [false, true])
    func childDiesWithItsHandle(stopped: Bool) async throws {
        var child: ChildProcess? = try ChildProcess.spawn("sleep", ["30"])
        let identity = try #require(ProcessIdentity.children(of: getpid()).first { $0.pid == child?.pid })
        #expect(identity.isAlive)
        if stopped {
            // As the outbox test leaves the hub: SIGTERM would wait for a SIGCONT.
            child?.signal(SIGSTOP)
        }
        // What a test that throws does to the children it started: drops them.
        child = nil
        #expect(!identity.isAlive, "sleep \(identity.pid) outlived its handle")
    }

    @Test("killing a child with its descendants leaves none of them running, even in process groups of their own")
    func killTree() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // A shell that starts a grandchild in a process group of its own (as the demo starts
        // mosquitto) and waits.
        let child = try ChildProcess.spawn("sh", ["-c", "setsid sleep 30 & echo $! > \(dir.file("grandchild")); wait"])
        let grandchild = try await withTimeout(.seconds(10), "grandchild started") { () -> pid_t in
            while true {
                if let text = try? String(contentsOfFile: dir.file("grandchild"), encoding: .utf8),
                    let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
                {
                    return pid
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        let identity = try #require(ProcessIdentity.descendants(of: child.pid).first { $0.pid == grandchild })
        child.killWithDescendants()
        #expect(await child.wait() == 128 + SIGKILL)
        // SIGKILL is delivered when the process next runs: on a loaded machine, a moment later.
        let gone = ContinuousClock.now + .seconds(10)
        while identity.isAlive, ContinuousClock.now < gone { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!identity.isAlive)
    }

    @Test("run captures stdout and stderr and the exit status")
    func run() async throws {
        let (status, output) = try await ChildProcess.run("sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(status == 3)
        #expect(output.contains("out"))
        #expect(output.contains("err"))
        #expect(throws: ChildProcess.SpawnError.self) { try ChildProcess.spawn("/nonexistent/program", []) }
    }

    @Test("the dev PKI: files, 0600 keys, names and usages; a second call keeps it")
    func pki() async throws {
        let dir = try TemporaryDirectory(prefix: "edgegate-pki")
        defer { dir.remove() }
        let files = try await DevPKI.create(in: dir.path, gatewayID: "gw-7", logger: logger)
        #expect(files.created)
        for path in files.all {
            #expect(FileManager.default.fileExists(atPath: path), "\(path)")
        }
        for key in [files.caKey, files.hubKey, files.gatewayKey, files.operatorKey] {
            let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(key)")
        }
        let hub = try await TestProcess.run("openssl", ["x509", "-in", files.hubCert, "-noout", "-subject", "-ext", "subjectAltName,extendedKeyUsage"])
        #expect(hub.output.contains("CN = localhost"), "\(hub.output)")
        #expect(hub.output.contains("DNS:localhost"))
        #expect(hub.output.contains("IP Address:127.0.0.1"))
        #expect(hub.output.contains("TLS Web Server Authentication"))
        let gateway = try await TestProcess.run("openssl", ["x509", "-in", files.gatewayCert, "-noout", "-subject", "-ext", "extendedKeyUsage"])
        #expect(gateway.output.contains("CN = gw-7"), "\(gateway.output)")
        #expect(gateway.output.contains("TLS Web Client Authentication"))
        let ca = try await TestProcess.run("openssl", ["x509", "-in", files.caCert, "-noout", "-ext", "basicConstraints"])
        #expect(ca.output.contains("CA:TRUE"), "\(ca.output)")
        let verify = try await TestProcess.run("openssl", ["verify", "-CAfile", files.caCert, files.hubCert, files.gatewayCert, files.operatorCert])
        #expect(verify.status == 0, "\(verify.output)")

        let before = try String(contentsOfFile: files.gatewayCert, encoding: .utf8)
        let again = try await DevPKI.create(in: dir.path, gatewayID: "gw-7", logger: logger)
        #expect(!again.created)
        #expect(try String(contentsOfFile: files.gatewayCert, encoding: .utf8) == before)
        let forced = try await DevPKI.create(in: dir.path, gatewayID: "gw-7", force: true, logger: logger)
        #expect(forced.created)
        #expect(try String(contentsOfFile: files.gatewayCert, encoding: .utf8) != before)
        // No scratch folders left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty)
    }

    @Test("an expired client certificate is expired but chains to the CA")
    func expired() async throws {
        let dir = try TemporaryDirectory(prefix: "edgegate-pki")
        defer { dir.remove() }
        let files = try await DevPKI.create(in: dir.path, logger: logger)
        let (cert, key) = try await DevPKI.issueClientCertificate(
            commonName: "gw-old", in: dir.path, fileStem: "old", caCert: files.caCert, caKey: files.caKey,
            validity: .expired, logger: logger)
        #expect(FileManager.default.fileExists(atPath: key))
        let check = try await TestProcess.run("openssl", ["x509", "-in", cert, "-noout", "-checkend", "0"])
        #expect(check.status == 1, "\(check.output)")  // 1: expires within 0 s, i.e. expired
        let verify = try await TestProcess.run("openssl", ["verify", "-CAfile", files.caCert, cert])
        #expect(verify.output.contains("certificate has expired"), "\(verify.output)")
    }

    @Test("the local hub writes its config and ACL, listens, explains how to connect, and stops")
    func localHub() async throws {
        let hub = try await TestHub.start(logger: logger)
        let conf = try String(contentsOfFile: hub.hub.configuration.configPath, encoding: .utf8)
        for line in [
            "per_listener_settings true", "listener \(hub.port) 127.0.0.1", "require_certificate true",
            "use_identity_as_username true", "allow_anonymous false", "tls_version tlsv1.2",
        ] {
            #expect(conf.contains(line), "\(line)")
        }
        let acl = try String(contentsOfFile: hub.hub.configuration.aclPath, encoding: .utf8)
        #expect(acl.contains("pattern read edgegate/%u/commands"))
        #expect(hub.hub.connectHelp.contains("\(hub.port)"))
        #expect(hub.hub.connectHelp.contains("mosquitto_sub"))
        await hub.stop()
        #expect(!hub.hub.process.isRunning)
    }

    @Test("an independent client (mosquitto_pub) reaches our client through the hub as the operator")
    func mosquittoPubPeer() async throws {
        let hub = try await TestHub.start(logger: logger)
        defer { Task { await hub.stop() } }
        let gateway = try await MQTTConnection.connect(hub.options(identity: .gateway, clientID: TestHub.gatewayID), logger: logger)
        try await gateway.subscribe("edgegate/\(TestHub.gatewayID)/commands", qos: 1)
        let pki = hub.pki
        let pub = try await TestProcess.run(
            "mosquitto_pub",
            [
                "-h", "127.0.0.1", "-p", "\(hub.port)", "--cafile", pki.caCert, "--cert", pki.operatorCert, "--key", pki.operatorKey,
                "-i", "pub-peer", "-q", "1", "-t", "edgegate/\(TestHub.gatewayID)/commands", "-m", "{\"id\":\"c-1\"}",
            ])
        #expect(pub.status == 0, "\(pub.output)")
        let message = try await withTimeout(.seconds(10), "the command") {
            for await message in gateway.messages { return message }
            throw MQTTError.connectionLost("stream ended")
        }
        #expect(message.payload == Array("{\"id\":\"c-1\"}".utf8))
        await gateway.disconnect()
    }

    @Test("a hub that cannot start says why, with mosquitto's own words")
    func startFailure() async throws {
        // The port is taken by a plain listener: mosquitto exits at start-up.
        let listener = try HeldPort(listening: true)
        let port = listener.port
        defer { listener.close() }
        let pkiDir = try TemporaryDirectory(prefix: "edgegate-pki")
        defer { pkiDir.remove() }
        let pki = try await DevPKI.create(in: pkiDir.path, logger: logger)
        let run = try TemporaryDirectory(prefix: "edgegate-hub")
        defer { run.remove() }
        let error = await #expect(throws: LocalHubError.self) {
            _ = try await LocalHub.start(
                HubConfiguration(port: port, pki: pki, runDirectory: run.path),
                startTimeout: .seconds(5), logger: logger)
        }
        let text = error.map { "\($0)" } ?? ""
        // The cause first: mosquitto's warnings (ACL file permissions, running as root) after it.
        #expect(text.hasPrefix("port \(port) on 127.0.0.1 is already in use (another hub or program listens there); "), "\(text)")
        #expect(error?.busyPort == port)
        #expect(text.contains("mosquitto exited"), "\(text)")
        #expect(text.contains("Address already in use"), "\(text)")
    }
}
