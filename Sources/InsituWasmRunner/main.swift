// insitu-wasm-runner: runs one WebAssembly module for an agent that uses child-process isolation.
// See `WasmRunnerCommand` for the protocol.
import InsituWasm

#if canImport(Glibc)
import Glibc
#endif

exit(WasmRunnerCommand.main(arguments: CommandLine.arguments))
