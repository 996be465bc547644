import AzureIoTHub
import SparkplugB
public import Uplink

/// The uplink profiles this build has: the one list that names them. The configuration's
/// `uplink.profile` picks one by name (the first is the default); everything else about a
/// profile — its keys, its checks, the profile it makes — is its descriptor's.
public enum UplinkProfiles {
    /// `mqtt` (the default), `azure-iot-hub` and `sparkplug-b`.
    public static let standard: [UplinkProfileDescriptor] = [MQTTProfile.descriptor, AzureIoTHubProfile.descriptor, SparkplugProfile.descriptor]
}
