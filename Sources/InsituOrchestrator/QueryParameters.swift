import Hummingbird

/// Numeric query parameters, parsed strictly and range-checked.
///
/// Hummingbird's `get(_:as:)` turns text that does not parse into nil, which silently falls back
/// to the default, and a `Double` such as `nan` or `-1e300` parses fine but traps when converted
/// to an integer later. Every numeric parameter goes through here instead: anything that is not
/// a plain number in range is a 400 naming the parameter, its value and what is allowed.
struct QueryParameters {
    let parameters: Parameters

    init(_ request: Request) {
        self.parameters = request.uri.queryParameters
    }

    /// An integer in `range`, or `defaultValue` when the parameter is absent.
    func integer(_ name: String, in range: ClosedRange<Int64>, default defaultValue: Int64) throws -> Int64 {
        guard let text = parameters.get(name) else { return defaultValue }
        guard let value = Int64(text), range.contains(value) else {
            throw APIError.badRequest(
                "query parameter \(name)=\(Self.shown(text)) is not allowed: it must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A number of seconds in `range` (fractions allowed), as a `Duration`, or `defaultValue`
    /// when the parameter is absent.
    func seconds(_ name: String, in range: ClosedRange<Double>, default defaultValue: Double) throws -> Duration {
        let seconds: Double
        if let text = parameters.get(name) {
            // `Double(_:)` also accepts "nan", "inf" and hex floats: only finite values get through.
            guard let value = Double(text), value.isFinite, range.contains(value) else {
                throw APIError.badRequest(
                    "query parameter \(name)=\(Self.shown(text)) is not allowed: it must be a number of seconds from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))")
            }
            seconds = value
        } else {
            seconds = defaultValue
        }
        // In range and finite, so the product is a small finite number and the conversion exact enough.
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The value as written, cut short so an error message stays small.
    static func shown(_ text: String) -> String {
        text.count <= 40 ? text : String(text.prefix(40)) + "…"
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(value)
    }
}
