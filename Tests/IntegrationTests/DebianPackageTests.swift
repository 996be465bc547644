import DevTools
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// scripts/package-deb and the package it builds, installed on this very machine with dpkg (the
/// tests run as root, here and in CI) and removed again.
///
/// Only this test installs the package, and a lock file keeps two test runs on one machine from
/// installing it at once. An edgegate package, user or folder that was on the machine before is
/// someone's install: the test stops with a message instead of touching it. Whatever happens
/// after `dpkg -i`, the package is purged before the test ends.
@Suite("the Debian package", .serialized, .timeLimit(.minutes(40)))
struct DebianPackageTests {
    /// Held across test processes while a run has the package on the machine.
    static let lockFile = "/run/lock/edgegate-package-test.lock"

    @Test(
        "scripts/package-deb builds a package that dpkg -i installs (runnable, valid maps and configuration, user, conffiles), upgrades to a newer one keeping the conffile the operator changed, dpkg -r removes keeping the configuration, and dpkg -P purges"
    )
    func installRemovePurge() async throws {
        let lock = try await MachineLock.acquire(Self.lockFile, waiting: .seconds(1800))
        defer { lock.release() }
        try await Self.refuseSomeonesInstall()

        let scratch = try TemporaryDirectory(prefix: "edgegate-deb")
        defer { scratch.remove() }
        let version = try await Self.run(try edgegateExecutable(), ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let deb = try await Self.build(into: scratch)
        let arch = try await Self.run("/usr/bin/dpkg", ["--print-architecture"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect((deb as NSString).lastPathComponent == "edgegate_\(version)_\(arch).deb")
        try await Self.checkContents(of: deb)

        let newer = try await Self.newerPackage(deb, version: version, in: scratch)
        do {
            try await Self.installRemovePurge(deb, version: version, newer: newer)
        } catch {
            await Self.purgeQuietly()
            throw error
        }
        await Self.purgeQuietly()
    }

    /// Stops the test when an edgegate package (in any state), user or folder is already here.
    static func refuseSomeonesInstall() async throws {
        let status = try await TestProcess.run("/usr/bin/dpkg-query", ["-W", "-f=${Status}", "edgegate"])
        let user = try await TestProcess.run("/usr/bin/getent", ["passwd", "edgegate"])
        let folders = ["/etc/edgegate", "/var/lib/edgegate", "/usr/bin/edgegate"].filter { FileManager.default.fileExists(atPath: $0) }
        let found = (status.status == 0 ? ["the package edgegate (\(status.output))"] : []) + (user.status == 0 ? ["the user edgegate"] : []) + folders
        try #require(
            found.isEmpty,
            "edgegate is already on this machine (\(found.joined(separator: ", "))): this test installs and purges its own package and will not touch another install; remove it (dpkg -P edgegate) to run the test"
        )
    }

    /// Runs scripts/package-deb (a release build: minutes) and returns the .deb's path; or,
    /// when `EDGEGATE_TEST_DEB` names one (scripts/test builds it with the same script before
    /// the tests, so that the release build does not take the cores from the suites that run
    /// beside this one), that package.
    static func build(into scratch: TemporaryDirectory) async throws -> String {
        if let built = ProcessInfo.processInfo.environment["EDGEGATE_TEST_DEB"], !built.isEmpty {
            try #require(FileManager.default.fileExists(atPath: built), "EDGEGATE_TEST_DEB names no file: \(built)")
            return built
        }
        let script = DocumentationSamples.repositoryRoot + "/scripts/package-deb"
        // At the lowest priority: the release build and the compression would take both cores
        // for minutes from the tests that run beside this one and wait on time limits.
        let built = try await withTimeout(.seconds(1800), "scripts/package-deb") {
            try await TestProcess.run("/usr/bin/nice", ["-n", "19", script, "--output", scratch.path])
        }
        try #require(built.status == 0, "scripts/package-deb failed: \(built.output)")
        let deb = try #require(built.output.split(separator: "\n").last.map(String.init), "scripts/package-deb printed nothing")
        try #require(FileManager.default.fileExists(atPath: deb), "scripts/package-deb's last line is not the package: \(built.output)")
        return deb
    }

    /// The package's control fields and files, before it is installed.
    static func checkContents(of deb: String) async throws {
        let depends = try await run("/usr/bin/dpkg-deb", ["--field", deb, "Depends"])
        let packages = Set(
            depends.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").first.map(String.init) ?? "" })
        // What the issue names, found by the script from the binary's own NEEDED entries.
        for runtime in ["libmodbus5", "libmosquitto1", "libssl3", "libsqlite3-0", "libc6", "adduser"] {
            #expect(packages.contains(runtime), "Depends: \(depends)")
        }
        #expect(!depends.lowercased().contains("swift"), "Depends: \(depends)")
        let files = try await run("/usr/bin/dpkg-deb", ["--contents", deb])
        for path in [
            "./usr/bin/edgegate", "./lib/systemd/system/edgegate.service", "./etc/edgegate/gateway.yaml", "./etc/edgegate/certs/",
            "./usr/share/doc/edgegate/copyright", "./usr/share/doc/edgegate/README.md", "./usr/share/doc/edgegate/docs/operations.md",
        ] {
            #expect(files.contains(" \(path)\n"), "\(path) is not in the package:\n\(files)")
        }
        // dpkg-deb --root-owner-group: nothing belongs to the user who built it.
        let owners = Set(
            files.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.map(String.init) ?? "" })
        #expect(owners == ["root/root"], "\(owners)")
    }

    /// A line the newer package adds to two of its conffiles.
    static let newerLine = "# changed by the newer package\n"

    /// `deb` repacked as the next version (`version`+1), its gateway.yaml and first model
    /// profile with `newerLine` appended: an upgrade that changes conffiles.
    static func newerPackage(_ deb: String, version: String, in scratch: TemporaryDirectory) async throws -> (path: String, version: String) {
        let tree = scratch.file("newer")
        _ = try await run("/usr/bin/dpkg-deb", ["--raw-extract", deb, tree])
        let newer = version + "+1"
        let control = tree + "/DEBIAN/control"
        let fields = try String(contentsOfFile: control, encoding: .utf8)
        try #require(fields.contains("Version: \(version)\n"), "\(fields)")
        try fields.replacingOccurrences(of: "Version: \(version)\n", with: "Version: \(newer)\n").write(toFile: control, atomically: true, encoding: .utf8)
        for file in ["/etc/edgegate/gateway.yaml", try firstModel()] {
            let handle = try #require(FileHandle(forWritingAtPath: tree + file))
            handle.seekToEndOfFile()
            handle.write(Data(newerLine.utf8))
            handle.closeFile()
        }
        let path = scratch.file("edgegate_\(newer).deb")
        // gzip, quickly: this package exists only for the test.
        _ = try await withTimeout(.seconds(600), "dpkg-deb --build") {
            try await run("/usr/bin/dpkg-deb", ["--root-owner-group", "-Zgzip", "-z1", "--build", tree, path])
        }
        return (path, newer)
    }

    /// The packaged path of the first model profile, by name.
    static func firstModel() throws -> String {
        let models = try FileManager.default.contentsOfDirectory(atPath: DocumentationSamples.repositoryRoot + "/devicemaps/models")
        return "/etc/edgegate/devicemaps/" + (try #require(models.filter { $0.hasSuffix(".yaml") }.sorted().first))
    }

    /// The package's life on the machine: install, run, upgrade, remove, purge.
    static func installRemovePurge(_ deb: String, version: String, newer: (path: String, version: String)) async throws {
        let fm = FileManager.default
        let installed = try await TestProcess.run("/usr/bin/dpkg", ["-i", deb])
        try #require(installed.status == 0, "dpkg -i: \(installed.output)")
        #expect(try await run("/usr/bin/edgegate", ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines) == version)
        // No Swift toolchain at run time: every library the binary loads is the system's.
        let libraries = try await run("/usr/bin/ldd", ["/usr/bin/edgegate"])
        #expect(!libraries.contains("swift") && !libraries.contains("Foundation") && !libraries.contains("not found"), "\(libraries)")

        // The fresh install's maps and configuration pass the checks `run` makes before it starts
        // (`config validate` opens no TLS file: the certificates are the operator's to add).
        let maps = try await TestProcess.run("/usr/bin/edgegate", ["map", "validate", "/etc/edgegate/devicemaps"])
        #expect(maps.status == 0, "map validate: \(maps.output)")
        let config = try await TestProcess.run("/usr/bin/edgegate", ["config", "validate", "/etc/edgegate/gateway.yaml"])
        #expect(config.status == 0, "config validate: \(config.output)")

        let groups = try await run("/usr/bin/id", ["-nG", "edgegate"]).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(groups.contains("edgegate") && groups.contains("dialout"), "\(groups)")
        let state = try fm.attributesOfItem(atPath: "/var/lib/edgegate")
        #expect(state[.ownerAccountName] as? String == "edgegate")
        #expect((state[.posixPermissions] as? Int) == 0o700)
        let certs = try fm.attributesOfItem(atPath: "/etc/edgegate/certs")
        #expect(certs[.groupOwnerAccountName] as? String == "edgegate")
        #expect((certs[.posixPermissions] as? Int) == 0o750)

        let models = try fm.contentsOfDirectory(atPath: DocumentationSamples.repositoryRoot + "/devicemaps/models").filter { $0.hasSuffix(".yaml") }
        let expectedConffiles = ["/etc/edgegate/gateway.yaml"] + models.map { "/etc/edgegate/devicemaps/\($0)" }
        let conffiles = try await run("/usr/bin/dpkg-query", ["-W", "-f=${Conffiles}", "edgegate"])
        let listed = Set(conffiles.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        #expect(!models.isEmpty && listed == Set(expectedConffiles), "conffiles: \(conffiles)")

        // An operator's change to a conffile, and state the daemon made, survive a removal.
        let edited = "\n# changed by the operator\n"
        let handle = try #require(FileHandle(forWritingAtPath: "/etc/edgegate/gateway.yaml"))
        handle.seekToEndOfFile()
        handle.write(Data(edited.utf8))
        handle.closeFile()
        #expect(fm.createFile(atPath: "/var/lib/edgegate/outbox.sqlite", contents: Data()))

        // An upgrade, unattended as docs/operations.md shows it: the conffile the operator changed
        // stays theirs (the package's new one beside it), one they did not change is replaced,
        // the state stays, and the postinst finds its user and folders already there.
        let upgraded = try await TestProcess.run("/usr/bin/dpkg", ["--force-confold", "-i", newer.path])
        try #require(upgraded.status == 0, "dpkg -i of the newer package: \(upgraded.output)")
        #expect(try await run("/usr/bin/dpkg-query", ["-W", "-f=${Version}", "edgegate"]) == newer.version)
        #expect(try String(contentsOfFile: "/etc/edgegate/gateway.yaml", encoding: .utf8).hasSuffix(edited))
        #expect(try String(contentsOfFile: "/etc/edgegate/gateway.yaml.dpkg-dist", encoding: .utf8).hasSuffix(newerLine))
        #expect(try String(contentsOfFile: try firstModel(), encoding: .utf8).hasSuffix(newerLine))
        #expect(fm.fileExists(atPath: "/var/lib/edgegate/outbox.sqlite"))
        #expect(try await TestProcess.run("/usr/bin/edgegate", ["map", "validate", "/etc/edgegate/devicemaps"]).status == 0)

        let removed = try await TestProcess.run("/usr/bin/dpkg", ["-r", "edgegate"])
        try #require(removed.status == 0, "dpkg -r: \(removed.output)")
        #expect(!fm.fileExists(atPath: "/usr/bin/edgegate"))
        #expect(!fm.fileExists(atPath: "/lib/systemd/system/edgegate.service"))
        for file in expectedConffiles { #expect(fm.fileExists(atPath: file), "\(file) went with dpkg -r") }
        #expect(try String(contentsOfFile: "/etc/edgegate/gateway.yaml", encoding: .utf8).hasSuffix(edited))
        #expect(fm.fileExists(atPath: "/var/lib/edgegate/outbox.sqlite"))
        #expect(try await run("/usr/bin/dpkg-query", ["-W", "-f=${Status}", "edgegate"]) == "deinstall ok config-files")

        let purged = try await TestProcess.run("/usr/bin/dpkg", ["-P", "edgegate"])
        try #require(purged.status == 0, "dpkg -P: \(purged.output)")
        for path in ["/etc/edgegate", "/var/lib/edgegate"] { #expect(!fm.fileExists(atPath: path), "\(path) is left after dpkg -P") }
        #expect(try await TestProcess.run("/usr/bin/getent", ["passwd", "edgegate"]).status == 2, "the user edgegate is left")
        #expect(try await TestProcess.run("/usr/bin/getent", ["group", "edgegate"]).status == 2, "the group edgegate is left")
        #expect(try await TestProcess.run("/usr/bin/dpkg-query", ["-W", "edgegate"]).status != 0, "dpkg still knows edgegate")
    }

    /// Purges the package if it is here (this test installed it: it refuses to start otherwise).
    static func purgeQuietly() async {
        guard let known = try? await TestProcess.run("/usr/bin/dpkg-query", ["-W", "edgegate"]), known.status == 0 else { return }
        _ = try? await TestProcess.run("/usr/bin/dpkg", ["--purge", "--force-all", "edgegate"])
    }

    /// The output of a command that must succeed.
    static func run(_ executable: String, _ arguments: [String]) async throws -> String {
        let result = try await TestProcess.run(executable, arguments)
        try #require(result.status == 0, "\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.output)")
        return result.output
    }
}

/// An exclusive lock on a file (`flock`), shared by every process on the machine.
struct MachineLock: Sendable {
    let fd: Int32

    /// Takes the lock, waiting up to `timeout` for another holder to let go.
    static func acquire(_ path: String, waiting timeout: Duration) async throws -> MachineLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ProbeError("cannot open \(path): \(String(cString: strerror(errno)))") }
        do {
            _ = try await waitFor("the lock \(path) (another test run has the package installed)", timeout: timeout) {
                flock(fd, LOCK_EX | LOCK_NB) == 0 ? true : nil
            }
        } catch {
            close(fd)
            throw error
        }
        return MachineLock(fd: fd)
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
