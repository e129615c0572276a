import WasmKit
import WASI
import WasmKitWASI

/// Read-only mounts for WASI guests.
///
/// WasmKit 0.4.2's preopens carry full rights: `WASIBridgeToHost.Preopen` has no read-only flag
/// and the rights a guest asks for are not checked against the directory's. So the read-only
/// rule is enforced here, in front of WasmKit's own host functions, by tracking which guest
/// descriptors descend from a read-only preopen:
/// - `path_open` on such a directory is refused with `EROFS` when it asks to create or truncate,
///   or for write, allocate or resize rights; what it does open (files read-only at the host
///   level, since WasmKit derives the host open mode from the rights) joins the read-only set;
/// - `path_create_directory`, `path_remove_directory`, `path_unlink_file`, `path_rename`,
///   `path_link`, `path_symlink` and `path_filestat_set_times` touching such a directory fail
///   with `EROFS`; `fd_write`/`fd_pwrite` on such a descriptor fail with `EBADF`, and
///   `fd_allocate`, `fd_filestat_set_size`, `fd_filestat_set_times` with `EROFS`;
/// - `fd_renumber` and `fd_close` keep the set current.
/// Escaping a preopen with `..` or a symlink is already refused by WasmKit's path resolution.
/// The host files' own permissions still apply underneath (the agent SHOULD also keep datasets
/// unwritable by its user, as defence in depth).
///
/// Only the WASI functions the module imports are linked, which keeps instantiation cheap.
/// Accessed only from the thread running the guest.
final class ReadOnlyDescriptors: @unchecked Sendable {
    private var descriptors: Set<UInt32>

    init(_ preopens: [UInt32]) { descriptors = Set(preopens) }

    private static let EBADF: UInt32 = 8
    private static let EROFS: UInt32 = 69
    private static let oflagsCreateOrTruncate: UInt32 = 1 | 8  // CREAT | TRUNC
    // FD_WRITE | FD_ALLOCATE | FD_FILESTAT_SET_SIZE
    private static let writeRights: UInt64 = (1 << 6) | (1 << 8) | (1 << 22)

    func link(_ bridge: WASIBridgeToHost, into module: Module, store: Store) -> Imports {
        let all = bridge.hostFunctions(capabilities: WASICapability.all)
        var imports = Imports()
        for entry in module.imports where entry.module == "wasi_snapshot_preview1" {
            guard let function = all[entry.name] else { continue }
            let implementation = descriptors.isEmpty ? function.implementation : guarded(entry.name, function.implementation)
            imports.define(
                module: entry.module, name: entry.name,
                Function(store: store, type: function.type) { caller, arguments in
                    guard case .memory(let memory) = caller.instance?.export("memory") else {
                        throw WASIError(description: "Missing required \"memory\" export")
                    }
                    return try implementation(memory, arguments)
                })
        }
        return imports
    }

    typealias Implementation = @Sendable (Memory, [Value]) throws -> [Value]

    private func guarded(_ name: String, _ original: @escaping Implementation) -> Implementation {
        func refuse(_ errno: UInt32, ifAnyOf positions: [Int]) -> Implementation {
            { [self] memory, arguments in
                if positions.contains(where: { self.descriptors.contains(arguments[$0].i32) }) {
                    return [.i32(errno)]
                }
                return try original(memory, arguments)
            }
        }
        switch name {
        case "path_open":
            return { [self] memory, arguments in
                let directory = arguments[0].i32
                let fromReadOnly = self.descriptors.contains(directory)
                if fromReadOnly,
                    arguments[4].i32 & Self.oflagsCreateOrTruncate != 0 || arguments[5].i64 & Self.writeRights != 0
                {
                    return [.i32(Self.EROFS)]
                }
                let result = try original(memory, arguments)
                if result.first?.i32 == 0, let opened = Self.readU32(memory, at: arguments[8].i32) {
                    if fromReadOnly { self.descriptors.insert(opened) } else { self.descriptors.remove(opened) }
                }
                return result
            }
        case "fd_close":
            return { [self] memory, arguments in
                let result = try original(memory, arguments)
                if result.first?.i32 == 0 { self.descriptors.remove(arguments[0].i32) }
                return result
            }
        case "fd_renumber":
            return { [self] memory, arguments in
                let result = try original(memory, arguments)
                if result.first?.i32 == 0 {
                    let (from, to) = (arguments[0].i32, arguments[1].i32)
                    if self.descriptors.remove(from) != nil { self.descriptors.insert(to) } else { self.descriptors.remove(to) }
                }
                return result
            }
        case "path_create_directory", "path_remove_directory", "path_unlink_file", "path_filestat_set_times":
            return refuse(Self.EROFS, ifAnyOf: [0])
        case "path_rename": return refuse(Self.EROFS, ifAnyOf: [0, 3])
        case "path_link": return refuse(Self.EROFS, ifAnyOf: [0, 4])
        case "path_symlink": return refuse(Self.EROFS, ifAnyOf: [2])
        case "fd_write", "fd_pwrite": return refuse(Self.EBADF, ifAnyOf: [0])
        case "fd_allocate", "fd_filestat_set_size", "fd_filestat_set_times": return refuse(Self.EROFS, ifAnyOf: [0])
        default: return original
        }
    }

    private static func readU32(_ memory: Memory, at offset: UInt32) -> UInt32? {
        guard Int(offset) + 4 <= memory.byteCount else { return nil }
        return memory.withUnsafeBufferPointer(offset: UInt(offset), count: 4) { $0.loadUnaligned(as: UInt32.self) }
    }
}
