import ArgumentParser
import Foundation
import InsituModel

/// The filter flags of `job list` and `node list`, checked when the command line is parsed so a
/// typo is refused before anything is asked of the orchestrator (which checks them again).
enum ListFlags {
    static let maxLimit = 10_000

    /// `--state` values: each repeated flag may hold a comma-separated list.
    static func jobStates(_ values: [String]) throws -> [JobState] {
        try choices(values, flag: "--state", what: "job state")
    }

    /// `--status` values of `node list`.
    static func nodeStatuses(_ values: [String]) throws -> [NodeLiveness] {
        try choices(values, flag: "--status", what: "node status")
    }

    /// `--label key=value` selectors, each with a non-empty key.
    static func labels(_ values: [String]) throws -> [String] {
        for value in values {
            guard let equals = value.firstIndex(of: "="), equals != value.startIndex else {
                throw ValidationError("--label \(value) is not a selector: write key=value, such as --label site=lyon")
            }
        }
        return values
    }

    static func limit(_ value: Int) throws {
        guard (1...maxLimit).contains(value) else { throw ValidationError("--limit \(value) is out of range: give 1 to \(maxLimit)") }
    }

    private static func choices<Value: RawRepresentable & CaseIterable & Equatable>(
        _ values: [String], flag: String, what: String
    ) throws -> [Value] where Value.RawValue == String {
        var result: [Value] = []
        for item in values.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            let text = item.trimmingCharacters(in: .whitespaces)
            guard let value = Value(rawValue: text) else {
                throw ValidationError(
                    "\(flag) \(text.isEmpty ? "\"\"" : text) is not a \(what); use one or more of "
                        + Value.allCases.map(\.rawValue).joined(separator: ", ") + " (repeat the flag or separate them with commas)")
            }
            if !result.contains(value) { result.append(value) }
        }
        return result
    }
}
