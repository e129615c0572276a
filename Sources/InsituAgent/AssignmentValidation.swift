import InsituAPI
import InsituExecutor
import InsituModel

/// The node's own check of an assignment before anything touches its disk.
///
/// Whatever the orchestrator validated, the node does not rely on it: an execution ID becomes a
/// directory name under the node's data directory, output names become directory names below
/// it, and sandbox paths become mounts. So every ID and name must be one plain path component of
/// a strict character set, and every sandbox path an absolute path of plain components. A
/// crafted ID such as `../../../victim` is refused here instead of naming a host directory.
enum AssignmentValidation {
    static let maxNameLength = 128
    static let maxPathLength = 1024
    static let maxTimeoutMillis: Int64 = 30 * 24 * 3600 * 1000

    /// Throws a reason for people when `assignment` cannot be run safely on this node.
    static func validate(_ assignment: ExecutionAssignment) throws(ExecutorError) {
        let spec = assignment.spec
        try name(assignment.executionID.rawValue, "execution ID")
        try name(assignment.jobID.rawValue, "job ID")
        guard assignment.partition >= 0 else { throw refused("partition \(assignment.partition) is negative") }

        var guestPaths: [String: String] = [:]
        func claim(_ path: String, by what: String) throws(ExecutorError) {
            if let other = guestPaths[path] {
                throw refused("sandbox path \(quote(path)) is used by both \(other) and \(what)")
            }
            guestPaths[path] = what
        }
        var inlineDirectories: Set<String> = []
        for (index, input) in spec.inputs.enumerated() {
            let what = "inputs[\(index)].target"
            try sandboxPath(input.target, what)
            switch input.source {
            case .dataset(let dataset):
                try name(dataset, "inputs[\(index)].dataset", allowDots: true)
                try claim(input.target, by: what)
            case .inline:
                // Inline files in the same directory share one mount.
                let directory = parent(of: input.target)
                if inlineDirectories.insert(directory).inserted { try claim(directory, by: what) }
            }
        }
        var outputNames: Set<String> = []
        for (index, output) in spec.outputs.enumerated() {
            try name(output.name, "outputs[\(index)].name")
            guard outputNames.insert(output.name).inserted else {
                throw refused("output name \(quote(output.name)) appears twice")
            }
            try sandboxPath(output.path, "outputs[\(index)].path")
            guard output.path != "/" else { throw refused("outputs[\(index)].path is the sandbox root") }
            try claim(output.path, by: "outputs[\(index)].path")
        }
        for argument in spec.args where argument.utf8.contains(0) {
            throw refused("an argument contains a NUL byte")
        }
        for (key, value) in spec.env {
            guard !key.isEmpty, !key.utf8.contains(UInt8(ascii: "=")), !key.utf8.contains(0), !value.utf8.contains(0) else {
                throw refused("environment variable \(quote(key)) is not a valid name=value pair")
            }
        }
        if let timeout = spec.timeoutMillis, !(1...maxTimeoutMillis).contains(timeout) {
            throw refused("timeout of \(timeout) ms is outside 1 ms to 30 days")
        }
        if let wasm = spec.engine.wasm {
            guard wasm.memoryLimitBytes > 0 else { throw refused("engine.memory must be positive") }
            guard !wasm.entrypoint.isEmpty, !wasm.entrypoint.utf8.contains(0) else {
                throw refused("engine.entrypoint \(quote(wasm.entrypoint)) is not a function name")
            }
        }
        if let container = spec.engine.container {
            if let problem = ImageReference.problem(in: container.image) { throw refused("engine.image: \(problem)") }
            guard container.command.allSatisfy({ !$0.utf8.contains(0) }) else { throw refused("engine.command contains a NUL byte") }
        }
        if let sql = spec.engine.sql {
            guard sql.memoryLimitBytes > 0 else { throw refused("engine.memory must be positive") }
            guard !sql.query.utf8.contains(0) else { throw refused("engine.query contains a NUL byte") }
            if let rows = sql.maxRows, rows < 1 { throw refused("engine.maxRows must be positive") }
        }
        if let process = spec.engine.process {
            guard !process.command.isEmpty, !process.command.utf8.contains(0) else {
                throw refused("engine.command \(quote(process.command)) is not a command")
            }
        }
    }

    /// One path component: `[A-Za-z0-9][A-Za-z0-9_-]*` (dots too when `allowDots`, never `..`),
    /// at most ``maxNameLength`` bytes.
    static func isName(_ text: String, allowDots: Bool = false) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= maxNameLength, isAlphanumeric(first) else { return false }
        if allowDots && text.contains("..") { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (allowDots && $0 == UInt8(ascii: ".")) }
    }

    /// An absolute sandbox path of plain components: no empty, `.` or `..` component, no NUL,
    /// at most ``maxPathLength`` bytes.
    static func isSandboxPath(_ text: String) -> Bool {
        guard text.hasPrefix("/"), text.utf8.count <= maxPathLength, !text.utf8.contains(0) else { return false }
        let components = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        return components.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && $0.utf8.count <= 255 }
    }

    private static func name(_ text: String, _ what: String, allowDots: Bool = false) throws(ExecutorError) {
        guard isName(text, allowDots: allowDots) else {
            throw refused(
                "\(what) \(quote(text)) is not a plain name (letters, digits, '-', '_'\(allowDots ? ", '.'" : ""); "
                    + "at most \(maxNameLength) characters)")
        }
    }

    private static func sandboxPath(_ text: String, _ what: String) throws(ExecutorError) {
        guard isSandboxPath(text) else {
            throw refused("\(what) \(quote(text)) is not an absolute sandbox path without '.', '..' or empty components")
        }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// Quotes untrusted text for a message, bounded and with control characters escaped.
    private static func quote(_ text: String) -> String {
        let shown = text.prefix(80).unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "\\u{\(String($0.value, radix: 16))}" : String($0) }
        return "\"" + shown.joined() + (text.count > 80 ? "…" : "") + "\""
    }

    private static func refused(_ problem: String) -> ExecutorError {
        ExecutorError("the node refused this assignment: \(problem); the orchestrator sent something no valid job spec produces")
    }
}
