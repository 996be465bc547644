/// A JSON number. A number parsed from text keeps that text when Swift would write it
/// differently (`21.50`, `1e3`, an integer beyond Int64), so that a device's reading is
/// judged and reported exactly as sent; integers within Int64 stay exact.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The exact value of a number written without fraction or exponent that fits in Int64.
    public let integer: Int64?
    /// The value as a double: the nearest one for long numbers, infinite past Double's range.
    public let double: Double
    /// The text as written, kept only where it differs from what ``text`` would otherwise
    /// give, so that `21.5` parsed equals `21.5` built.
    public let written: String?

    /// An integer.
    public init(_ integer: Int64) {
        self.integer = integer
        double = Double(integer)
        written = nil
    }

    /// A number that is not (known to be) an integer.
    public init(_ double: Double) {
        integer = nil
        self.double = double
        written = nil
    }

    /// The number written as `text`, which must be a JSON number (the parser checked it).
    init(written text: String) {
        let whole = !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        integer = whole ? Int64(text) : nil
        double = Double(text) ?? .nan
        let canonical = integer.map { String($0) } ?? "\(double)"
        written = canonical == text ? nil : text
    }

    /// The number's text: as written when it was parsed, else Int64 digits or Swift's
    /// shortest form of the double.
    public var text: String {
        written ?? integer.map { String($0) } ?? "\(double)"
    }

    /// The text.
    public var description: String { text }
}
