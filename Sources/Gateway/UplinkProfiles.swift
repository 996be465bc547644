import DeviceMaps
import Foundation
import Logging
import Uplink

extension Gateway {
    /// The uplink profile a configuration asks for; nil for `mqtt`, which the uplink makes
    /// itself from the gateway id and prefix.
    /// - Parameter now: the wall clock SAS token expiries are counted from (tests pin it).
    /// - Throws: `GatewayError` for an unknown profile or settings that contradict it (a
    ///   configuration built in code can; the loader refuses them with diagnostics).
    public static func uplinkProfile(for configuration: GatewayConfiguration, logger: Logger,
                                     now: @escaping @Sendable () -> Date = { Date() }) throws(GatewayError) -> (any UplinkProfile)? {
        let settings = configuration.uplink
        switch settings.profile {
        case "mqtt":
            return nil
        case AzureIoTHubSettings.profile:
            guard let azure = settings.azure else {
                throw .invalidConfiguration("uplink: profile \(settings.profile) needs the hub, the device id and how to authenticate")
            }
            guard settings.useTLS, let tls = settings.tls else {
                throw .invalidConfiguration("uplink: profile \(settings.profile) needs TLS with a CA file (tls.ca)")
            }
            let authentication: AzureIoTHubProfile.Authentication
            switch azure.authentication {
            case .x509:
                guard tls.cert != nil, tls.key != nil else {
                    throw .invalidConfiguration("uplink: `auth: x509` needs tls.cert and tls.key")
                }
                authentication = .x509
            case .sas(let keyFile, let ttl):
                guard ttl >= .seconds(1) else { throw .invalidConfiguration("uplink: sas_ttl must be at least 1s") }
                // Read at every connection attempt: a key rotated in the file is used from the
                // next renewal on, and a file that became unreadable is reported, not fatal.
                authentication = .sas(key: { () throws(AzureIoTHub.CredentialError) -> String in
                    switch DeviceKeyFile.read(keyFile) {
                    case .key(let key): return key
                    case .problem(let problem): throw .keyFile(problem)
                    }
                }, ttl: ttl)
            }
            return AzureIoTHubProfile(hub: azure.hub, deviceID: azure.deviceID, gatewayID: configuration.gatewayID,
                                      authentication: authentication, logger: logger, now: now)
        default:
            throw .unsupported("unknown uplink profile '\(settings.profile)'; known: mqtt, \(AzureIoTHubSettings.profile)")
        }
    }
}
