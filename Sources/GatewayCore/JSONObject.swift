/// The members of a JSON object in the order they were written or added, looked up like a
/// dictionary. A key written twice (which RFC 8259 allows) stays twice in the order, and the
/// last one counts on lookup; equality is that of the lookups, order aside.
public struct JSONObject: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    /// One member.
    public typealias Element = (key: String, value: JSONValue)

    private var members: [Element]

    /// An empty object.
    public init() {
        members = []
    }

    /// The members of `dictionary`, keys sorted (a dictionary has no order to keep).
    public init(_ dictionary: [String: JSONValue]) {
        members = dictionary.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
    }

    /// The members in literal order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        members = elements.map { (key: $0.0, value: $0.1) }
    }

    /// The first position.
    public var startIndex: Int { members.startIndex }
    /// Past the last position.
    public var endIndex: Int { members.endIndex }
    /// The member at `position`.
    public subscript(position: Int) -> Element { members[position] }

    /// The value of `key` (its last member); setting replaces that member's value in place,
    /// appends a new key, and nil removes every member of the key.
    public subscript(key: String) -> JSONValue? {
        get { members.last { $0.key == key }?.value }
        set {
            guard let newValue else { members.removeAll { $0.key == key }; return }
            guard let last = members.lastIndex(where: { $0.key == key }) else { members.append((key: key, value: newValue)); return }
            members[last].value = newValue
            members.removeSubrange(..<last, where: { $0.key == key })
        }
    }

    /// Adds a member at the end, even when the key is already there (as a parser must).
    public mutating func append(_ key: String, _ value: JSONValue) {
        members.append((key: key, value: value))
    }

    /// The keys, each once, in the order of their first member.
    public var keys: [String] {
        var seen = Set<String>()
        return members.compactMap { seen.insert($0.key).inserted ? $0.key : nil }
    }

    /// The lookups as a dictionary (for a key written twice, the last value).
    public var dictionary: [String: JSONValue] {
        Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }

    /// Same lookups, order aside.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.dictionary == rhs.dictionary
    }

    /// Hashes the lookups, order aside.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(dictionary)
    }
}

private extension Array {
    /// Removes the elements of `range` that match.
    mutating func removeSubrange(_ range: PartialRangeUpTo<Int>, where matches: (Element) -> Bool) {
        let kept = self[range].filter { !matches($0) }
        replaceSubrange(range, with: kept)
    }
}
