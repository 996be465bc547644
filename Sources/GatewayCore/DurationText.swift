extension Duration {
    /// The duration as a map writes it, in the largest whole unit (`2h`, `10m`, `30s`,
    /// `250ms`), else in seconds with their fraction (`1.5s`, `60.25s`).
    /// The one printer for durations that people read (`map new`, `map show`, `map plan`,
    /// reasons, logs): the text parses back to the same duration wherever a map or an option
    /// takes one. Sub-millisecond parts round to the nearest millisecond.
    public var mapText: String {
        let ms = components.seconds * 1000 + (components.attoseconds + 500_000_000_000_000) / 1_000_000_000_000_000
        if ms != 0, ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms != 0, ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        if ms < 1000 { return "\(ms)ms" }
        return "\(Value.format(Double(ms) / 1000))s"
    }
}
