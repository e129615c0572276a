#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the running executable is, to find the programs shipped beside it
/// (`insitu-wasm-runner`, `insitu-sql-runner`, or `insitu` itself for the processes it starts).
/// `argv[0]` is not an answer: run through `$PATH` it is a bare `insitu`, which resolves against
/// the current directory. The kernel's `/proc/self/exe` names the file that was executed.
/// A target of its own: the statically linked runners must not link it (their static link of
/// Foundation breaks with it in `InsituProcess`, for reasons not understood yet).
public enum OwnExecutable {
    public static var path: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0, buffer[0] == CChar(UInt8(ascii: "/")) {
            return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        if let argument = CommandLine.arguments.first, realpath(argument, &resolved) != nil {
            return String(cString: resolved)
        }
        return CommandLine.arguments.first ?? "insitu"
    }

    /// A program in the executable's directory.
    public static func sibling(_ name: String) -> String {
        let own = path
        guard let slash = own.lastIndex(of: "/") else { return name }
        return String(own[...slash]) + name
    }
}
