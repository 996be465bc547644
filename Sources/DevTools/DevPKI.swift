public import Foundation
public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The files of a development PKI, all in one folder.
public struct DevPKIFiles: Sendable, Equatable {
    /// The folder holding the files.
    public var directory: String
    /// Whether this call created files (false: an existing, complete PKI was kept).
    public var created: Bool

    /// The CA certificate every party trusts.
    public var caCert: String { path("ca.pem") }
    /// The CA private key (signs new certificates; 0600).
    public var caKey: String { path("ca.key") }
    /// The hub's server certificate (CN=localhost, SAN DNS:localhost, IP:127.0.0.1).
    public var hubCert: String { path("hub.pem") }
    /// The hub's private key (0600).
    public var hubKey: String { path("hub.key") }
    /// The gateway's client certificate (CN = gateway id).
    public var gatewayCert: String { path("gateway.pem") }
    /// The gateway's private key (0600).
    public var gatewayKey: String { path("gateway.key") }
    /// The operator's client certificate (CN = operator id).
    public var operatorCert: String { path("operator.pem") }
    /// The operator's private key (0600).
    public var operatorKey: String { path("operator.key") }

    /// Every file, in a stable order.
    public var all: [String] { [caCert, caKey, hubCert, hubKey, gatewayCert, gatewayKey, operatorCert, operatorKey] }

    /// The files of a PKI in `directory` (nothing is read or created).
    public init(directory: String, created: Bool = false) {
        self.directory = directory
        self.created = created
    }

    func path(_ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }
}

/// How long a certificate is valid.
public enum CertificateValidity: Sendable, Equatable {
    /// From now for this many days.
    case days(Int)
    /// An explicit window (may lie in the past, to test expiry).
    case window(notBefore: Date, notAfter: Date)

    /// A certificate that expired yesterday (valid for the nine days before).
    public static var expired: CertificateValidity {
        let now = Date()
        return .window(notBefore: now.addingTimeInterval(-10 * 86_400), notAfter: now.addingTimeInterval(-86_400))
    }

    /// Log fields: `valid_days`, or `not_before` and `not_after` (RFC 3339).
    var logMetadata: Logger.Metadata {
        switch self {
        case .days(let days): return ["valid_days": "\(days)"]
        case .window(let notBefore, let notAfter):
            let format = ISO8601DateFormatter()
            return ["not_before": "\(format.string(from: notBefore))", "not_after": "\(format.string(from: notAfter))"]
        }
    }
}

/// Why the development PKI could not be created.
public enum DevPKIError: Error, CustomStringConvertible, Sendable {
    /// An `openssl` command failed; its output says why.
    case openssl(command: String, status: Int32, output: String)
    /// Some files exist but not the CA that signed them.
    case incomplete(directory: String, missing: [String])
    /// A file could not be written.
    case io(String)

    /// A human sentence.
    public var description: String {
        switch self {
        case .openssl(let command, let status, let output):
            return "openssl \(command) failed (exit \(status)): \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
        case .incomplete(let directory, let missing):
            return "\(directory) holds an incomplete PKI without its CA (missing \(missing.joined(separator: ", "))); use --force to create a new one"
        case .io(let message):
            return message
        }
    }
}

/// A development PKI made with the `openssl` CLI: a CA, the hub's server certificate and
/// client certificates for a gateway and an operator, all EC P-256.
///
/// For development and tests only: the CA key sits next to the certificates it signs.
public enum DevPKI {
    enum Kind {
        case server
        case client
    }

    /// Creates the PKI in `directory` (created if missing). With existing files and no
    /// `force`, a complete PKI is kept as is (`created == false`) and missing leaf
    /// certificates are issued from the existing CA; `force` replaces everything.
    public static func create(
        in directory: String, gatewayID: String = "gw-1", operatorID: String = "operator",
        validityDays: Int = 825, force: Bool = false, logger: Logger
    ) async throws -> DevPKIFiles {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var files = DevPKIFiles(directory: directory)
        let exists = { (path: String) in FileManager.default.fileExists(atPath: path) }
        let missing = files.all.filter { !exists($0) }
        if !force && missing.isEmpty {
            logger.info("development PKI exists, kept", metadata: ["directory": "\(directory)"])
            return files
        }
        let haveCA = exists(files.caCert) && exists(files.caKey)
        if !force && !haveCA && missing.count < files.all.count {
            throw DevPKIError.incomplete(directory: directory, missing: missing.map { ($0 as NSString).lastPathComponent })
        }
        if force || !haveCA {
            try await createCA(cert: files.caCert, key: files.caKey, days: validityDays, in: directory)
            logger.info("created development CA", metadata: ["cert": "\(files.caCert)"])
        }
        let leaves: [(Kind, String, String, String)] = [
            (.server, "localhost", files.hubCert, files.hubKey),
            (.client, gatewayID, files.gatewayCert, files.gatewayKey),
            (.client, operatorID, files.operatorCert, files.operatorKey),
        ]
        let replaceAll = force || !haveCA
        for (kind, name, cert, key) in leaves where replaceAll || !exists(cert) || !exists(key) {
            try await issue(
                kind, commonName: name, cert: cert, key: key, caCert: files.caCert, caKey: files.caKey,
                validity: .days(validityDays), scratch: directory)
            logger.info(
                "issued \(kind == .server ? "server" : "client") certificate",
                metadata: ["cn": "\(name)", "cert": "\(cert)"])
        }
        files.created = true
        return files
    }

    /// Issues a client certificate (extendedKeyUsage clientAuth) signed by the given CA into
    /// `directory/fileStem.pem` and `.key`, with any validity, including an expired one.
    public static func issueClientCertificate(
        commonName: String, in directory: String, fileStem: String,
        caCert: String, caKey: String,
        validity: CertificateValidity = .days(825),
        logger: Logger
    ) async throws -> (cert: String, key: String) {
        try await issueCertificate(
            .client, commonName: commonName, in: directory, fileStem: fileStem,
            caCert: caCert, caKey: caKey, validity: validity, logger: logger)
    }

    /// Issues a hub (server) certificate for `localhost` and 127.0.0.1, like the one `create`
    /// makes, with any validity: an expired hub is how tests check the gateway refuses one.
    public static func issueServerCertificate(
        in directory: String, fileStem: String, caCert: String, caKey: String,
        validity: CertificateValidity = .days(825),
        logger: Logger
    ) async throws -> (cert: String, key: String) {
        try await issueCertificate(
            .server, commonName: "localhost", in: directory, fileStem: fileStem,
            caCert: caCert, caKey: caKey, validity: validity, logger: logger)
    }

    private static func issueCertificate(
        _ kind: Kind, commonName: String, in directory: String, fileStem: String,
        caCert: String, caKey: String, validity: CertificateValidity,
        logger: Logger
    ) async throws -> (cert: String, key: String) {
        let cert = (directory as NSString).appendingPathComponent("\(fileStem).pem")
        let key = (directory as NSString).appendingPathComponent("\(fileStem).key")
        try await issue(
            kind, commonName: commonName, cert: cert, key: key, caCert: caCert, caKey: caKey,
            validity: validity, scratch: directory)
        logger.info(
            "issued \(kind == .server ? "server" : "client") certificate",
            metadata: ["cn": "\(commonName)", "cert": "\(cert)"].merging(validity.logMetadata) { $1 })
        return (cert, key)
    }

    // MARK: - openssl

    static func openssl(_ arguments: [String]) async throws {
        let (status, output) = try await ChildProcess.run("openssl", arguments)
        guard status == 0 else {
            throw DevPKIError.openssl(command: arguments.prefix(1).joined(), status: status, output: output)
        }
    }

    /// Creates the key file empty with mode 0600 first, so the key is never readable by
    /// others, not even for the moment before a chmod.
    static func generateKey(_ path: String) async throws {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw DevPKIError.io("cannot create \(path): \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o600)
        close(fd)
        try await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path])
        chmod(path, 0o600)
    }

    static func createCA(cert: String, key: String, days: Int, in directory: String) async throws {
        try await withScratch(in: directory) { scratch in
            let config = (scratch as NSString).appendingPathComponent("ca-req.cnf")
            try write(
                """
                [ req ]
                distinguished_name = dn
                prompt = no
                x509_extensions = v3_ca
                [ dn ]
                CN = edgegate development CA
                [ v3_ca ]
                basicConstraints = critical, CA:true
                keyUsage = critical, keyCertSign, cRLSign
                subjectKeyIdentifier = hash
                authorityKeyIdentifier = keyid:always

                """, to: config)
            try await generateKey(key)
            try await openssl([
                "req", "-x509", "-new", "-config", config, "-key", key, "-sha256",
                "-days", "\(days)", "-out", cert,
            ])
        }
    }

    /// Signs with `openssl ca`, which (unlike `x509 -req` in OpenSSL 3.0) accepts explicit
    /// start and end dates, so one path serves normal and expired certificates.
    static func issue(
        _ kind: Kind, commonName: String, cert: String, key: String, caCert: String, caKey: String,
        validity: CertificateValidity, scratch directory: String
    ) async throws {
        try await withScratch(in: directory) { scratch in
            let s = { (name: String) in (scratch as NSString).appendingPathComponent(name) }
            try write("", to: s("index.txt"))
            try write(String(format: "%016llX\n", UInt64.random(in: 1...UInt64(Int64.max))), to: s("serial"))
            try write(
                """
                [ req ]
                distinguished_name = dn
                prompt = no
                [ dn ]
                CN = \(commonName)
                [ ca ]
                default_ca = dev
                [ dev ]
                database = \(s("index.txt"))
                new_certs_dir = \(scratch)
                certificate = \(caCert)
                private_key = \(caKey)
                serial = \(s("serial"))
                default_md = sha256
                policy = any
                email_in_dn = no
                unique_subject = no
                copy_extensions = none
                [ any ]
                commonName = supplied
                [ server ]
                basicConstraints = critical, CA:false
                keyUsage = critical, digitalSignature, keyAgreement
                extendedKeyUsage = serverAuth
                subjectAltName = DNS:localhost, IP:127.0.0.1
                subjectKeyIdentifier = hash
                authorityKeyIdentifier = keyid
                [ client ]
                basicConstraints = critical, CA:false
                keyUsage = critical, digitalSignature, keyAgreement
                extendedKeyUsage = clientAuth
                subjectKeyIdentifier = hash
                authorityKeyIdentifier = keyid

                """, to: s("openssl.cnf"))
            try await generateKey(key)
            try await openssl(["req", "-new", "-config", s("openssl.cnf"), "-key", key, "-out", s("request.csr")])
            var arguments = [
                "ca", "-batch", "-notext", "-config", s("openssl.cnf"),
                "-extensions", kind == .server ? "server" : "client",
                "-in", s("request.csr"), "-out", cert,
            ]
            switch validity {
            case .days(let days):
                arguments += ["-days", "\(days)"]
            case .window(let notBefore, let notAfter):
                arguments += ["-startdate", asn1Time(notBefore), "-enddate", asn1Time(notAfter)]
            }
            try await openssl(arguments)
        }
    }

    static func asn1Time(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'Z'"
        return formatter.string(from: date)
    }

    static func write(_ text: String, to path: String) throws {
        do {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
        } catch {
            throw DevPKIError.io("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// A private scratch folder for configs, CSRs and the CA database, removed afterwards.
    static func withScratch(in directory: String, _ body: (String) async throws -> Void) async throws {
        let scratch = (directory as NSString).appendingPathComponent(".openssl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try await body(scratch)
    }
}
