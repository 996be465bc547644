import ArgumentParser

/// Output format of `map show` and `map plan`.
enum ShowFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}
