import Dispatch
import Foundation
public import GatewayCore

/// The v1 REST API of one Hue bridge, as one user (or as nobody, for pairing).
///
/// Requests to one bridge go one at a time, in order, on a dispatch queue of their own
/// (the socket calls block and must not hold a thread of Swift's cooperative pool; and a
/// bridge answers best one request at a time). Errors name the bridge and show the path
/// with `<user>` in place of the username.
public final class HueBridgeClient: Sendable {
    /// The bridge.
    public let bridge: HueBridge
    /// The limit of one request.
    public let timeout: Duration
    private let username: String?
    private let http: HTTPClient
    private let queue: DispatchQueue

    /// Creates a client; nothing connects until the first request.
    /// - Parameters:
    ///   - username: the whitelisted username; nil for the requests that need none (pairing,
    ///     `GET /api/config`).
    ///   - timeout: the limit of one request: connect, send and answer.
    public init(bridge: HueBridge, username: String?, timeout: Duration = .seconds(2)) {
        self.bridge = bridge
        self.timeout = timeout
        self.username = username
        self.http = HTTPClient(host: bridge.host, port: bridge.port, timeout: timeout)
        self.queue = DispatchQueue(label: "hue \(bridge)")
    }

    /// `GET /api/<user>/<resource>` (`lights`, `lights/1`, `sensors`).
    public func get(_ resource: String) async throws(HueError) -> JSONValue {
        try await request("GET", userPath(resource), body: nil)
    }

    /// `PUT /api/<user>/<resource>` with a JSON body; returns the answer array.
    public func put(_ resource: String, _ body: JSONValue) async throws(HueError) -> JSONValue {
        try await request("PUT", userPath(resource), body: body)
    }

    /// `POST /api` with `{"devicetype": ...}`: one pairing attempt. Returns the new username,
    /// or throws the bridge's error (101 while the link button is not pressed).
    public func createUser(devicetype: String) async throws(HueError) -> String {
        let answer = try await request("POST", ("/api", "/api"), body: .object(["devicetype": .string(devicetype)]))
        if let error = answer.apiErrors.first { throw .bridge(bridge, error) }
        guard let name = answer.successes["username"]?.string, !name.isEmpty else {
            throw .badAnswer(bridge, path: "POST /api", "no username in \(answer.text.prefix(200))")
        }
        return name
    }

    /// The wire path and the path as messages show it.
    private func userPath(_ resource: String) -> (wire: String, shown: String) {
        ("/api/\(username ?? "")/\(resource)", "/api/<user>/\(resource)")
    }

    /// Sends one request and parses the JSON answer; an answer that is a v1 error array with
    /// nothing else (unauthorized user, ...) is thrown as `.bridge`, except for `PUT`, whose
    /// answers mix successes and errors field by field.
    private func request(_ method: String, _ path: (wire: String, shown: String), body: JSONValue?) async throws(HueError) -> JSONValue {
        let response: HTTPClient.Response
        switch await send(method, path.wire, body: body.map { Data($0.text.utf8) }) {
        case .success(let r): response = r
        case .failure(let failure): throw .unreachable(bridge, failure.reason)
        }
        let shown = "\(method) \(path.shown)"
        guard response.status == 200 else {
            throw .badAnswer(bridge, path: shown, "HTTP status \(response.status)")
        }
        guard let json = JSONValue.parse(response.body) else {
            throw .badAnswer(bridge, path: shown, "an answer that is not JSON: \(String(decoding: response.body.prefix(80), as: UTF8.self))")
        }
        if method != "PUT", let errors = json.array, !errors.isEmpty, json.apiErrors.count == errors.count {
            throw .bridge(bridge, json.apiErrors[0])
        }
        return json
    }

    /// One request as it goes on the wire, on the client's queue (never on a thread of
    /// Swift's cooperative pool, which a bridge simulator in the same process may need to answer).
    func send(_ method: String, _ path: String, body: Data?) async -> Result<HTTPClient.Response, HTTPClient.Failure> {
        let http = self.http
        return await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(
                    returning: Result { () throws(HTTPClient.Failure) in
                        try http.send(method: method, path: path, body: body)
                    })
            }
        }
    }
}
