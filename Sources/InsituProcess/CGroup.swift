#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import InsituExecutor

/// Where this host's cgroup hierarchies are mounted, and which version limits resources.
///
/// v1 (and the hybrid layout, where a v2 mount exists but holds no resource controllers): one
/// hierarchy per controller, `memory`, `cpu` and `pids` each under its own mount point, and an
/// execution's group is a directory of the same name in each. v2: one unified hierarchy.
public struct CGroupLayout: Hashable, Sendable {
    public enum Version: String, Hashable, Sendable {
        case v1
        case v2
    }

    public var version: Version
    /// Controller → mount point (v1); for v2 the single entry `""` → the unified mount point.
    public var mounts: [String: String]

    public init(version: Version, mounts: [String: String]) {
        self.version = version
        self.mounts = mounts
    }

    /// Controllers whose limits the sandbox sets.
    public static let controllers = ["memory", "cpu", "pids"]

    /// Reads the layout from `/proc/self/mountinfo` text. v1 wins when it has a memory
    /// hierarchy: on a hybrid host the v2 mount has no resource controllers. Nil when neither a
    /// v1 memory hierarchy nor a v2 mount exists.
    public static func parse(mountinfo: String) -> CGroupLayout? {
        var v1: [String: String] = [:]
        var v2: String?
        for line in mountinfo.split(separator: "\n") {
            // id parent major:minor root mountpoint options [optional fields] - fstype source superoptions
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let before = halves[0].split(separator: " ")
            let after = halves[1].split(separator: " ")
            guard before.count >= 5, after.count >= 3 else { continue }
            let mountPoint = unescape(String(before[4]))
            switch after[0] {
            case "cgroup2":
                if v2 == nil { v2 = mountPoint }
            case "cgroup":
                for option in after[2].split(separator: ",") where controllers.contains(String(option)) {
                    if v1[String(option)] == nil { v1[String(option)] = mountPoint }
                }
            default:
                continue
            }
        }
        if v1["memory"] != nil { return CGroupLayout(version: .v1, mounts: v1) }
        if let v2 { return CGroupLayout(version: .v2, mounts: ["": v2]) }
        return nil
    }

    /// The layout of this host.
    public static func detect() -> CGroupLayout? {
        guard let text = readSmallFile("/proc/self/mountinfo", limit: 1 << 20) else { return nil }
        return parse(mountinfo: text)
    }

    /// mountinfo escapes space, tab, newline and backslash as three octal digits.
    static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The limits of one execution's group.
public struct CGroupLimits: Hashable, Sendable {
    public var memoryBytes: Int64?
    public var cpuMillis: Int?
    public var pids: Int?

    public init(memoryBytes: Int64? = nil, cpuMillis: Int? = nil, pids: Int? = nil) {
        self.memoryBytes = memoryBytes
        self.cpuMillis = cpuMillis
        self.pids = pids
    }

    /// The CFS period both versions use: 100 ms, the kernel's default.
    public static let cpuPeriodMicros = 100_000

    /// One control file to write.
    public struct Setting: Hashable, Sendable {
        public var controller: String
        public var file: String
        public var value: String
        /// Skipped when the kernel lacks the file (swap accounting is off on many hosts).
        public var optional: Bool
    }

    /// The control files that set these limits, in the order they must be written (v1 refuses a
    /// swap limit below the memory limit, so the memory limit goes first).
    public func settings(for version: CGroupLayout.Version) -> [Setting] {
        var settings: [Setting] = []
        let quota = cpuMillis.map { max(1000, $0.multipliedReportingOverflow(by: Self.cpuPeriodMicros / 1000).partialValue) }
        switch version {
        case .v1:
            if let memoryBytes {
                settings.append(Setting(controller: "memory", file: "memory.limit_in_bytes", value: "\(memoryBytes)", optional: false))
                // The same bound on memory plus swap: a job must not page out past its limit.
                settings.append(Setting(controller: "memory", file: "memory.memsw.limit_in_bytes", value: "\(memoryBytes)", optional: true))
            }
            if let quota {
                settings.append(Setting(controller: "cpu", file: "cpu.cfs_period_us", value: "\(Self.cpuPeriodMicros)", optional: false))
                settings.append(Setting(controller: "cpu", file: "cpu.cfs_quota_us", value: "\(quota)", optional: false))
            }
            if let pids { settings.append(Setting(controller: "pids", file: "pids.max", value: "\(pids)", optional: false)) }
        case .v2:
            if let memoryBytes {
                settings.append(Setting(controller: "", file: "memory.max", value: "\(memoryBytes)", optional: false))
                settings.append(Setting(controller: "", file: "memory.swap.max", value: "0", optional: true))
                // One out-of-memory kill takes the whole group, as v1's PID-namespace teardown does.
                settings.append(Setting(controller: "", file: "memory.oom.group", value: "1", optional: true))
            }
            if let quota { settings.append(Setting(controller: "", file: "cpu.max", value: "\(quota) \(Self.cpuPeriodMicros)", optional: false)) }
            if let pids { settings.append(Setting(controller: "", file: "pids.max", value: "\(pids)", optional: false)) }
        }
        return settings
    }
}

/// A configured parent group under which every execution gets its own group.
public struct CGroupParent: Hashable, Sendable {
    public var layout: CGroupLayout
    /// Path of the parent relative to each hierarchy's mount point, e.g. `insitu`.
    public var path: String

    /// Checks `path`, creates the parent in every hierarchy, enables the controllers for its
    /// children (v2). Throws a reason for people when the groups cannot be made (not root and no
    /// delegation, a read-only mount). Groups under it are not swept: agents may share a parent,
    /// and a group of a dead agent is empty anyway (bwrap dies with its parent, the agent).
    public static func prepare(layout: CGroupLayout, path: String) throws(ExecutorError) -> CGroupParent {
        let components = path.split(separator: "/").map(String.init)
        guard !components.isEmpty, !components.contains(where: { $0 == "." || $0 == ".." }), !path.utf8.contains(0) else {
            throw ExecutorError(
                "engines.process.cgroup_parent \"\(path)\" must be a relative path of plain components, like insitu")
        }
        let parent = CGroupParent(layout: layout, path: components.joined(separator: "/"))
        for (controller, mount) in layout.mounts.sorted(by: { $0.key < $1.key }) {
            var directory = mount
            for component in components {
                if layout.version == .v2 {
                    // Children of `directory` may use the controllers only once it delegates them.
                    try enableControllers(in: directory)
                }
                directory += "/" + component
                if mkdir(directory, 0o755) != 0 && errno != EEXIST {
                    throw ExecutorError(
                        "cannot create the cgroup \(directory)\(controller.isEmpty ? "" : " (\(controller))"): \(errorText(errno)); "
                            + "run the agent as root, delegate that cgroup to its user, or set engines.process.cgroup_parent: none "
                            + "to run jobs without memory and CPU limits")
                }
            }
            if layout.version == .v2 { try enableControllers(in: directory) }
        }
        return parent
    }

    func directories(for name: String) -> [(controller: String, path: String)] {
        layout.mounts.sorted(by: { $0.key < $1.key }).map { ($0.key, "\($0.value)/\(path)/\(name)") }
    }

    private static func enableControllers(in directory: String) throws(ExecutorError) {
        let available = (readSmallFile(directory + "/cgroup.controllers", limit: 4096) ?? "").split(whereSeparator: \.isWhitespace)
        let enabled = (readSmallFile(directory + "/cgroup.subtree_control", limit: 4096) ?? "").split(whereSeparator: \.isWhitespace)
        for controller in CGroupLayout.controllers where !enabled.contains(Substring(controller)) {
            guard available.contains(Substring(controller)) else {
                throw ExecutorError(
                    "the cgroup v2 group \(directory) does not offer the \(controller) controller (cgroup.controllers: "
                        + "\(available.joined(separator: " "))); enable it in the parent group or choose another engines.process.cgroup_parent")
            }
            if let failure = writeFile(directory + "/cgroup.subtree_control", "+\(controller)") {
                throw ExecutorError("cannot enable the \(controller) controller in \(directory): \(failure)")
            }
        }
    }
}

/// One execution's group, created with its limits before the job starts and destroyed after.
public final class ExecutionCGroup: Sendable {
    public let parent: CGroupParent
    public let name: String
    private let directories: [(controller: String, path: String)]

    init(parent: CGroupParent, name: String) {
        self.parent = parent
        self.name = name
        self.directories = parent.directories(for: name)
    }

    /// The group name of an execution: the ID with anything but `[A-Za-z0-9._-]` replaced.
    public static func name(for execution: String) -> String {
        let safe = execution.utf8.map { byte -> Character in
            let character = Character(UnicodeScalar(byte))
            return character.isASCII && (character.isLetter || character.isNumber || "._-".contains(character)) ? character : "_"
        }
        return "exec-" + String(safe)
    }

    /// Creates the group in every hierarchy and writes `limits`. A group of the same name left
    /// by an earlier attempt is destroyed first.
    public static func create(parent: CGroupParent, execution: String, limits: CGroupLimits) throws(ExecutorError) -> ExecutionCGroup {
        let group = ExecutionCGroup(parent: parent, name: name(for: execution))
        group.destroy()
        for (_, path) in group.directories where mkdir(path, 0o755) != 0 {
            let error = errno
            group.destroy()
            throw ExecutorError("cannot create the execution's cgroup \(path): \(errorText(error))")
        }
        for setting in limits.settings(for: parent.layout.version) {
            guard let directory = group.directories.first(where: { $0.controller == setting.controller })?.path else {
                if setting.optional { continue }
                group.destroy()
                throw ExecutorError("this host has no \(setting.controller) cgroup hierarchy to set \(setting.file) in")
            }
            let file = directory + "/" + setting.file
            if setting.optional && access(file, F_OK) != 0 { continue }
            if let failure = writeFile(file, setting.value) {
                group.destroy()
                throw ExecutorError("cannot set \(file) to \(setting.value): \(failure)")
            }
        }
        return group
    }

    /// The `cgroup.procs` files a process writes its PID into to join the group everywhere.
    public var procsFiles: [String] { directories.map { $0.path + "/cgroup.procs" } }

    /// Directory of the group in `controller`'s hierarchy (`""` for v2).
    public func directory(_ controller: String) -> String? {
        directories.first { $0.controller == controller }?.path
    }

    /// True when the kernel's out-of-memory killer killed a process of the group.
    public func outOfMemoryKills() -> Int {
        let file = parent.layout.version == .v1 ? "memory.oom_control" : "memory.events"
        guard let directory = directory(parent.layout.version == .v1 ? "memory" : ""),
            let text = readSmallFile(directory + "/" + file, limit: 4096)
        else { return 0 }
        return Self.oomKills(in: text)
    }

    /// The `oom_kill` count of `memory.oom_control` (v1) or `memory.events` (v2).
    public static func oomKills(in text: String) -> Int {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == "oom_kill", let count = Int(fields[1]) { return count }
        }
        return 0
    }

    /// PIDs in the group (as this agent's PID namespace numbers them).
    public func processes() -> [Int32] {
        guard let directory = directories.first?.path, let text = readSmallFile(directory + "/cgroup.procs", limit: 1 << 20) else {
            return []
        }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// SIGKILLs everything in the group (v2's `cgroup.kill` at once; v1 process by process until
    /// none is left) and removes the group from every hierarchy. Returns false when something
    /// was still there after two seconds.
    @discardableResult
    public func destroy() -> Bool {
        let deadline = monotonicNanoseconds() + 2_000_000_000
        if let unified = directory(""), access(unified + "/cgroup.kill", F_OK) == 0 {
            _ = writeFile(unified + "/cgroup.kill", "1")
        }
        var removed = false
        while !removed {
            for pid in processes() where pid > 0 { kill(pid, SIGKILL) }
            removed = true
            for (_, path) in directories.reversed() where rmdir(path) != 0 && errno != ENOENT {
                removed = false
            }
            if removed || monotonicNanoseconds() >= deadline { break }
            // Killed processes leave the group once they are reaped; look again shortly.
            usleep(5_000)
        }
        return removed
    }
}

func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Writes `text` to a (control) file that must already exist; nil on success, else the reason.
func writeFile(_ path: String, _ text: String) -> String? {
    let fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
    guard fd >= 0 else { return errorText(errno) }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    return written == bytes.count ? nil : errorText(errno)
}

/// Reads a file of at most `limit` bytes; nil when it cannot be read.
func readSmallFile(_ path: String, limit: Int) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while bytes.count < limit {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes.prefix(limit), as: UTF8.self)
}
