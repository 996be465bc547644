/// TLS settings for an MQTT connection: the CA that signs the broker's certificate and,
/// for mutual TLS, this client's certificate and private key (PEM files).
public struct MQTTTLS: Sendable, Equatable {
    /// PEM file with the CA certificate(s) the broker's certificate must chain to.
    public var caFile: String
    /// PEM client certificate; nil when the broker does not require one.
    public var certFile: String?
    /// PEM private key of `certFile`; never logged.
    public var keyFile: String?
    /// Whether the broker's certificate must name the host we connect to (SAN DNS or IP).
    /// Turning it off keeps chain verification but accepts any name.
    public var verifyHostname: Bool

    /// Creates TLS settings; hostname verification is on unless asked otherwise.
    public init(caFile: String, certFile: String? = nil, keyFile: String? = nil, verifyHostname: Bool = true) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.verifyHostname = verifyHostname
    }
}

/// Everything needed to open one MQTT 3.1.1 connection.
public struct MQTTOptions: Sendable {
    /// Broker host name or IP address.
    public var host: String
    /// Broker TCP port.
    public var port: Int
    /// MQTT client identifier; a second connection with the same id takes the session over.
    public var clientID: String
    /// Optional user name (brokers using certificate identities ignore it).
    public var username: String?
    /// Optional password; never logged.
    public var password: String?
    /// TLS settings; nil means plain TCP, which callers only allow with an explicit insecure flag.
    public var tls: MQTTTLS?
    /// Keepalive in seconds; libmosquitto rejects values between 1 and 4.
    public var keepAlive: Int = 30
    /// Last will, published by the broker if the connection drops uncleanly.
    public var will: MQTTMessage?
    /// Whether the broker discards any previous session for this client id.
    public var cleanSession: Bool = true
    /// Outgoing QoS 1/2 messages awaiting acknowledgement at once. Never unlimited:
    /// libmosquitto's throughput collapses with 0 (unlimited) and a large backlog.
    public var maxInflight: Int = 50
    /// How long `connect` waits for TCP, the TLS handshake and CONNACK together.
    public var connectTimeout: Duration = .seconds(10)

    /// Creates connection options; everything after `clientID` has a default.
    public init(
        host: String, port: Int, clientID: String, username: String? = nil, password: String? = nil,
        tls: MQTTTLS? = nil, keepAlive: Int = 30, will: MQTTMessage? = nil, cleanSession: Bool = true,
        maxInflight: Int = 50, connectTimeout: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.username = username
        self.password = password
        self.tls = tls
        self.keepAlive = keepAlive
        self.will = will
        self.cleanSession = cleanSession
        self.maxInflight = maxInflight
        self.connectTimeout = connectTimeout
    }
}

extension MQTTOptions: CustomStringConvertible {
    /// A loggable summary; the password is never part of it.
    public var description: String {
        var parts = ["\(tls == nil ? "mqtt" : "mqtts")://\(host):\(port)", "client_id=\(clientID)"]
        if let username { parts.append("username=\(username)") }
        if password != nil { parts.append("password=<redacted>") }
        if let tls {
            parts.append("ca=\(tls.caFile)")
            if let cert = tls.certFile { parts.append("cert=\(cert)") }
            if !tls.verifyHostname { parts.append("verify_hostname=false") }
        }
        return parts.joined(separator: " ")
    }
}

/// An MQTT message: one received on a subscription, one to publish, or a connection's will
/// (what the broker publishes on our behalf when the connection dies without a clean
/// DISCONNECT). The uplink, the MQTT devices and the simulators all speak in this one type.
public struct MQTTMessage: Sendable, Hashable {
    /// The topic it was (or is to be) published to.
    public var topic: String
    /// The payload bytes.
    public var payload: [UInt8]
    /// The QoS (0, 1 or 2) it is published or was delivered with.
    public var qos: Int
    /// Whether the broker retains it; on a received message, whether it came from the broker's
    /// retained store (a subscription's first delivery).
    public var retain: Bool

    /// Creates a message value (incoming messages are created by the connection).
    public init(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

/// Why an MQTT operation failed. Each case carries a complete human sentence naming the
/// broker and the underlying reason, so callers can log or print it as is.
public enum MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    /// TCP level: connection refused, host unknown, network unreachable.
    case unreachable(String)
    /// TLS: a file that failed to load, the handshake or certificate verification failed
    /// (with OpenSSL's reason, e.g. "certificate verify failed").
    case tls(String)
    /// The broker answered CONNACK with a refusal ("not authorised", "bad user name or password").
    case refused(String)
    /// Nothing happened in time (connect timeout).
    case timeout(String)
    /// An established connection ended (or ended before the awaited event).
    case connectionLost(String)
    /// A publish or subscribe was rejected: subscription denied, payload too large, invalid topic.
    case failed(String)

    /// The message carried by the case.
    public var message: String {
        switch self {
        case .unreachable(let m), .tls(let m), .refused(let m), .timeout(let m), .connectionLost(let m), .failed(let m):
            return m
        }
    }

    /// The complete human message.
    public var description: String { message }
}
