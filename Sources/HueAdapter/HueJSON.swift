import Foundation
public import GatewayCore

/// The Hue v1 API's reading of JSON answers.
extension JSONValue {
    /// The error objects of a v1 answer (`[{"error": {...}}, ...]`); empty when there are none.
    public var apiErrors: [HueAPIError] {
        (array ?? []).compactMap { item in
            guard let e = item["error"] else { return nil }
            return HueAPIError(
                type: Int(e["type"]?.number ?? 0), address: e["address"]?.string ?? "",
                description: e["description"]?.string ?? "")
        }
    }

    /// The `success` objects of a v1 answer, merged: `["/lights/1/state/bri": 200, ...]`.
    public var successes: [String: JSONValue] {
        var merged: [String: JSONValue] = [:]
        for item in array ?? [] {
            for (key, value) in item["success"]?.object ?? [:] { merged[key] = value }
        }
        return merged
    }
}
