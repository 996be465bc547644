import DevTools
import Foundation
import GatewayCore
import HueAdapter
import Logging
import ModbusAdapter
import TestSupport
import Testing

/// A real `edgegate run` daemon with the boiler on the libmodbus simulator and a lamp on the Hue
/// bridge simulator, its admin listener on a free loopback port with a private token file, and
/// a headless chromium to open its console.
struct ConsoleSite {
    static let token = "console-token-0123456789abcdef"
    /// The environment variable that names the folder for the screenshots (relative to the
    /// repository's root): `EDGEGATE_CONSOLE_SCREENSHOTS=docs/console` makes docs/console.md's.
    static let screenshotsVariable = "EDGEGATE_CONSOLE_SCREENSHOTS"
    /// The size of every screenshot: the browser's fixed viewport.
    static let screenshotSize = (width: 1280, height: 800)

    let plant: Plant
    let bridge: HueBridgeSimulator
    let daemon: Daemon
    let adminPort: Int
    let directory: TemporaryDirectory
    let browser: ConsoleBrowser
    /// Where `screenshot` saves.
    let screenshots: String
    /// Whether the screenshots go where `EDGEGATE_CONSOLE_SCREENSHOTS` says (the docs' pictures).
    var forDocumentation: Bool { !screenshots.hasPrefix(directory.path) }

    /// The console's address: the admin listener's root.
    var url: String { "http://127.0.0.1:\(adminPort)" }
    var modbusPort: Int { plant.modbusPort }

    /// Starts the Hue bridge (lamp 1 on at brightness 200), the browser, the plant (hub and
    /// Modbus simulator, temperature 21.5 °C) and the daemon; runs `body`; stops everything
    /// whatever happens.
    static func run(_ body: (ConsoleSite) async throws -> Void) async throws {
        let directory = try TemporaryDirectory(prefix: "edgegate-console")
        defer { directory.remove() }
        var lamp = HueBridgeSimulator.defaultLights[0]
        lamp.on = true
        lamp.bri = 200
        let bridge = HueBridgeSimulator(lights: [lamp], usernames: [MixedMaps.hueUsername], animated: false, logger: Logger(label: "hue-sim"))
        try await bridge.start()
        do {
            let browser = try await ConsoleBrowser.start(in: directory.file("browser"))
            do {
                try await Plant.run(mapYAML: boilerMapYAML + "\n" + MixedMaps.lamp.replacingOccurrences(of: "BRIDGE", with: bridge.url)) { plant in
                    try await run(plant: plant, bridge: bridge, browser: browser, in: directory, body)
                }
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
        } catch {
            await bridge.stop()
            throw error
        }
        await bridge.stop()
    }

    private static func run(
        plant: Plant, bridge: HueBridgeSimulator, browser: ConsoleBrowser, in directory: TemporaryDirectory, _ body: (ConsoleSite) async throws -> Void
    ) async throws {
        let map = (boilerMapYAML + "\n" + MixedMaps.lamp)
            .replacingOccurrences(of: "PORT", with: "\(plant.modbusPort)")
            .replacingOccurrences(of: "BRIDGE", with: bridge.url)
        try directory.write("site.yaml", map)
        try directory.write("admin.token", token + "\n")
        chmod(directory.file("admin.token"), 0o600)
        let adminPort = try freeLoopbackPort()
        let configuration = try Daemon.writeConfiguration(
            for: plant, devicemaps: "site.yaml", in: directory, extra: "admin: { listen: 127.0.0.1:\(adminPort), token_file: admin.token }")
        // Set by the independent client before the daemon reads it: the page's first value.
        try await browser.modbusWrite(port: plant.modbusPort, 0, 215)
        let daemon = try await Daemon.start(
            configuration: configuration, in: directory, environment: [MixedMaps.hueUsernameVariable: MixedMaps.hueUsername])
        let screenshots: String
        if let named = ProcessInfo.processInfo.environment[screenshotsVariable], !named.isEmpty {
            screenshots = named.hasPrefix("/") ? named : DocumentationSamples.repositoryRoot + "/" + named
        } else {
            screenshots = directory.file("screenshots")
        }
        try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)
        let site = ConsoleSite(
            plant: plant, bridge: bridge, daemon: daemon, adminPort: adminPort, directory: directory, browser: browser, screenshots: screenshots)
        do {
            _ = try await waitForAsync("readyz 200", timeout: .seconds(30)) { () async throws -> Bool? in
                try await HTTPProbe.request(port: adminPort, "/readyz").status == 200 ? true : nil
            }
            try await body(site)
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
        #expect(try await daemon.stop() == 0)
        #expect(!daemon.log.contains(token))
    }

    /// Saves the browser's window as `name`.png in `screenshots` and checks that it is a PNG
    /// of the viewport's size.
    func screenshot(_ name: String) async throws {
        let path = screenshots + "/\(name).png"
        try await browser.screenshot(path)
        let size = pngSize(path)
        #expect(size?.width == Self.screenshotSize.width && size?.height == Self.screenshotSize.height, "\(path): \(String(describing: size))")
    }

    /// The daemon's command history (`GET /api/v1/commands`), newest first.
    func commands() async throws -> [[String: Any]] {
        let answer = try await HTTPProbe.request(port: adminPort, "/api/v1/commands")
        guard answer.status == 200, let list = try answer.json()["commands"] as? [[String: Any]] else {
            throw ProbeError("GET /api/v1/commands: \(answer)")
        }
        return list
    }

    /// One point of the device as the API shows it (`GET /api/v1/devices/ID`).
    func point(_ name: String, of device: String) async throws -> [String: Any]? {
        let answer = try await HTTPProbe.request(port: adminPort, "/api/v1/devices/\(device)")
        guard answer.status == 200, let points = try answer.json()["points"] as? [[String: Any]] else {
            throw ProbeError("GET /api/v1/devices/\(device): \(answer)")
        }
        return points.first { $0["point"] as? String == name }
    }

    /// Posts a command to the API with the token (and `headers`) as a script would.
    func post(_ json: String, token: String? = ConsoleSite.token, headers: [String] = []) async throws -> HTTPProbe.Answer {
        try await HTTPProbe.request("POST", port: adminPort, "/api/v1/commands", token: token, body: Array(json.utf8), headers: headers)
    }
}

/// The console (issue 15) in Debian's headless chromium, driven by Selenium, against a real
/// daemon: what an operator sees and does, checked against what the simulators hold (read and
/// written by pymodbus, independent of the gateway) and what the API answers.
@Suite("console in a real browser", .serialized, .timeLimit(.minutes(4)))
struct ConsoleBrowserTests {
    /// Every point of the boiler the simulator serves (the device page's rows).
    static let boilerPoints = ["temperature", "setpoint", "flow", "pump", "alarm", "counter", "mode", "burner", "level"]

    /// The vertices of the temperature's trend lines on the device page.
    func trendVertices(_ browser: ConsoleBrowser) async throws -> Int {
        let count = try await browser.script(
            "return [...document.querySelectorAll('svg[data-trend=temperature] polyline')].reduce((n, l) => n + l.points.numberOfItems, 0);")
        return Int(count.integer ?? 0)
    }

    @Test(
        "the overview shows the uplink connected; the device page follows the register without a reload; stopping the simulator turns its points bad with the reason"
    )
    func overviewLiveValuesAndBadQuality() async throws {
        try await ConsoleSite.run { site in
            let browser = site.browser
            try await browser.open(site.url + "/#/")
            try await browser.wait("main[data-page=overview]", .present)
            #expect(try await browser.wait("[data-testid=uplink-state]", .text("connected")) == "connected")
            #expect(try await browser.text("[data-testid=gateway-id]") == TestHub.gatewayID)
            let hub = try await browser.text("[data-testid=hub-address]")
            #expect(hub.hasPrefix("127.0.0.1:\(site.plant.hub.port)"), "\(hub)")
            #expect(try await browser.wait("[data-testid=connection]", .text("live")) == "live")
            try await site.screenshot("overview")

            // Set once on this document: still there after the live update means no reload.
            let marker = UUID().uuidString
            try await browser.script("window.edgegateTestMarker = arguments[0];", [.string(marker)])

            try await browser.click("a[data-testid=nav-devices]")
            try await browser.wait("main[data-page=devices]", .present)
            #expect(try await browser.wait("tr[data-device='boiler-1'] td[data-field=state]", .text("up")) == "up")
            #expect(try await browser.text("tr[data-device='boiler-1'] td[data-field=protocol]") == "modbus")
            #expect(try await browser.wait("tr[data-device='living-room-lamp'] td[data-field=state]", .text("up")) == "up")
            #expect(try await browser.text("tr[data-device='living-room-lamp'] td[data-field=protocol]") == "hue")
            try await site.screenshot("devices")

            try await browser.click("tr[data-device='boiler-1'] a[data-testid=device-link]")
            try await browser.wait("main[data-page=device]", .present)
            #expect(try await browser.text("[data-testid=device-id]") == "boiler-1")
            let temperature = "tr[data-point=temperature]"
            #expect(try await browser.wait("\(temperature) td[data-field=value]", .text("21.5")) == "21.5")
            #expect(try await browser.text("\(temperature) td[data-field=unit]") == "°C")
            #expect(try await browser.text("\(temperature) td[data-field=quality]") == "good")

            // The register changes in the simulator, written by pymodbus: the page follows.
            try await site.browser.modbusWrite(port: site.modbusPort, 0, 234)
            #expect(try await browser.wait("\(temperature) td[data-field=value]", .text("23.4")) == "23.4")
            #expect(try await browser.script("return window.edgegateTestMarker;") == .string(marker), "the page was reloaded")
            try await browser.wait("svg[data-trend=temperature] polyline", .present)
            if site.forDocumentation {
                // The docs' picture shows a trend of a few buckets (5 s each), the register
                // changing between them; a plain run does not wait for them.
                var drawn = try await trendVertices(browser)
                for value in [229, 241, 236, 247] {
                    try await site.browser.modbusWrite(port: site.modbusPort, 0, value)
                    drawn = try await waitForAsync("another bucket of the temperature trend", timeout: .seconds(60)) { () async throws -> Int? in
                        let now = try await trendVertices(browser)
                        return now > drawn ? now : nil
                    }
                }
            }
            try await site.screenshot("device")

            // The simulator stops: every point of the boiler turns bad, with the daemon's reason.
            site.plant.simulator.stop()
            #expect(try await browser.wait("[data-testid=device-state]", .text("down")) == "down")
            for point in Self.boilerPoints {
                let row = "tr[data-point=\(point)]"
                #expect(try await browser.wait("\(row) td[data-field=quality]", .text("bad")) == "bad", "\(point)")
                try await browser.wait(row, .hasClass("q-bad"))
                #expect(try await browser.text("\(row) td[data-field=value]") == "—", "\(point)")
                // The same sentence as the API's (both change together should the reason change).
                let reason = try await waitForAsync("\(point)'s reason on the page as in the API", timeout: .seconds(30)) {
                    () async throws -> String? in
                    let api = try await site.point(point, of: "boiler-1")?["reason"] as? String
                    let shown = try await browser.text("\(row) td[data-field=reason]")
                    return api == shown ? api : nil
                }
                #expect(!reason.isEmpty, "\(point)")
            }
            #expect(try await browser.script("return window.edgegateTestMarker;") == .string(marker), "the page was reloaded")
            let errors = try await browser.severeEntries()
            #expect(errors.isEmpty, "\(errors)")
        }
    }

    @Test(
        "a write from the form changes the register and shows ok with the value read back; out of range is refused by the form and, forced through the API, by the router; no token: 401; another origin: 403"
    )
    func writes() async throws {
        try await ConsoleSite.run { site in
            let browser = site.browser
            let form = "form[data-write=setpoint]"
            let dialog = "dialog[data-testid=token-dialog]"
            func register() async throws -> [Int] { try await browser.modbusHolding(port: site.modbusPort, 1) }
            func storedToken() async throws -> JSONValue { try await browser.script("return sessionStorage.getItem('edgegate.token');") }

            try await browser.open(site.url + "/#/commands/boiler-1")
            try await browser.wait("main[data-page=commands]", .present)
            try await browser.wait(form, .present)
            let before = try await register()
            #expect(before != [425], "the simulator starts with the value the test writes")

            // The first write asks for the token and sends nothing before it has one.
            try await browser.type("\(form) [name=value]", "42.5")
            try await browser.click("\(form) button[type=submit]")
            try await browser.wait(dialog, .displayed)
            #expect(try await site.commands().isEmpty)
            #expect(try await register() == before)

            // With the token: written, read back, shown as the router answered.
            try await browser.type("[data-testid=token-input]", ConsoleSite.token)
            try await browser.click("[data-testid=token-save]")
            try await browser.wait(dialog, .hidden)
            let result = "[data-testid=command-result]"
            #expect(try await browser.wait("\(result) [data-field=status]", .text("ok")) == "ok")
            #expect(try await browser.text("\(result) [data-field=values]").contains("setpoint = 42.5"))
            #expect(try await register() == [425])
            #expect(try await storedToken() == .string(ConsoleSite.token))
            let history = try await site.commands()
            #expect(history.count == 1 && history.first?["status"] as? String == "ok", "\(history)")
            let first = try #require(history.first?["id"] as? String)
            #expect(history.first?["by"] as? String == "admin:127.0.0.1")
            let row = "tr[data-command-id='\(first)']"
            #expect(try await browser.wait("\(row) td[data-field=status]", .text("ok")) == "ok")
            try await site.screenshot("commands")

            // Out of range (max 90): the form says why and sends nothing.
            try await browser.type("\(form) [name=value]", "95")
            try await browser.click("\(form) button[type=submit]")
            let why = try await browser.wait("\(form) [data-field=error]", .textOtherThan(""))
            #expect(why.contains("90"), "\(why)")
            // Forced through the API: the router refuses it before writing anything.
            let forced = try await site.post(#"{"id":"console-range-1","device":"boiler-1","write":{"setpoint":95}}"#)
            #expect(forced.status == 200, "\(forced)")
            #expect(try forced.json()["status"] as? String == "rejected", "\(forced)")
            #expect(try await register() == [425])
            // The form's 95 was never sent: the history holds the write and the forced one only.
            let afterRange = try await site.commands()
            #expect(afterRange.map { $0["status"] as? String } == ["rejected", "ok"], "\(afterRange)")
            #expect(afterRange.first?["id"] as? String == "console-range-1")
            // The page hears of the router's refusal through the event stream.
            #expect(try await browser.wait("tr[data-command-id='console-range-1'] td[data-field=status]", .text("rejected")) == "rejected")

            // A wrong token: the API answers 401, the page forgets it and asks again; nothing written.
            try await browser.script("sessionStorage.setItem('edgegate.token', arguments[0]);", [.string("wrong-" + ConsoleSite.token)])
            try await browser.type("\(form) [name=value]", "50")
            try await browser.click("\(form) button[type=submit]")
            #expect(try await browser.wait(dialog, .contains("401")).contains("401"))
            _ = try await waitForAsync("the page's token forgotten after the 401", timeout: .seconds(30)) { () async throws -> Bool? in
                try await storedToken() == .null ? true : nil
            }
            let refused = try await browser.severeEntries().filter { $0.message.contains("/api/v1/commands") && $0.message.contains("401") }
            #expect(refused.count == 1, "the page's request with the wrong token: \(browser.console)")
            #expect(try await register() == [425])
            #expect(try await site.commands().count == 2)

            // The API: no token, or a wrong one, 401; another site's page, even with the token, 403.
            let good = #"{"id":"console-token-1","device":"boiler-1","write":{"setpoint":50}}"#
            let noToken = try await site.post(good, token: nil)
            #expect(noToken.status == 401, "\(noToken)")
            let wrongToken = try await site.post(good, token: "wrong-" + ConsoleSite.token)
            #expect(wrongToken.status == 401, "\(wrongToken)")
            let crossOrigin = try await site.post(good, headers: ["Origin: http://evil.example"])
            #expect(crossOrigin.status == 403, "\(crossOrigin)")
            let crossSite = try await site.post(good, headers: ["Sec-Fetch-Site: cross-site"])
            #expect(crossSite.status == 403, "\(crossSite)")
            #expect(try await register() == [425])
            #expect(try await site.commands().count == 2)
            // The console's own origin passes: the refusals above were for the origin, not the header.
            let sameOrigin = try await site.post(good, headers: ["Origin: \(site.url)", "Sec-Fetch-Site: same-origin"])
            #expect(sameOrigin.status == 200 && (try? sameOrigin.json()["status"] as? String) == "ok", "\(sameOrigin)")
            #expect(try await register() == [500])
        }
    }

    @Test("no page of the console writes an error to the browser's console")
    func noJavaScriptErrors() async throws {
        try await ConsoleSite.run { site in
            let browser = site.browser
            try await browser.open(site.url + "/#/")
            try await browser.wait("[data-testid=uplink-state]", .text("connected"))
            let pages: [(route: String, page: String, shows: String)] = [
                ("#/devices", "devices", "tr[data-device='living-room-lamp']"),
                ("#/devices/boiler-1", "device", "tr[data-point=temperature]"),
                ("#/devices/living-room-lamp", "device", "tr[data-point=brightness]"),
                ("#/commands", "commands", "[data-testid=command-history]"),
                ("#/commands/boiler-1", "commands", "form[data-write=setpoint]"),
                ("#/commands/living-room-lamp", "commands", "form[data-command=dim]"),
                ("#/", "overview", "[data-testid=uplink-state]"),
            ]
            for (route, page, shows) in pages {
                try await browser.script("location.hash = arguments[0];", [.string(route)])
                try await browser.wait("main[data-page=\(page)]", .present)
                try await browser.wait(shows, .present)
            }
            try await browser.script("location.hash = '#/devices';")
            try await browser.wait("tr[data-device='boiler-1']", .present)
            try await browser.type("input[data-testid=device-filter]", "lamp")
            try await browser.wait("tr[data-device='boiler-1']", .absent)
            try await browser.wait("tr[data-device='living-room-lamp']", .present)
            try await browser.wait("[data-testid=connection]", .text("live"))
            let errors = try await browser.severeEntries()
            #expect(errors.isEmpty, "\(errors)")
        }
    }
}
