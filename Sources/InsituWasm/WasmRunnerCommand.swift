#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials
import InsituExecutor
import WasmKit

/// What `insitu-wasm-runner` reads: the run, and where to write its result.
public struct WasmRunnerRequest: Codable, Hashable, Sendable {
    public var spec: WasmRunSpec
    /// The runner writes one JSON line (a ``WasmRunResult``) here when the run ends.
    public var resultPath: String

    public init(spec: WasmRunSpec, resultPath: String) {
        self.spec = spec
        self.resultPath = resultPath
    }
}

/// The body of `insitu-wasm-runner`:
///
///     insitu-wasm-runner [REQUEST.json]      (the request is read from stdin without an argument)
///
/// Runs the module in this process with the same code as in-process isolation; the guest's stdout
/// and stderr are this process's stdout and stderr. Writes the result to `resultPath` and exits 0;
/// exits 2 with a message on stderr when the request itself is unusable. Timeouts are the
/// parent's job: it kills this process group.
public enum WasmRunnerCommand {
    public static func main(arguments: [String]) -> Int32 {
        let requestBytes: [UInt8]
        do {
            if arguments.count > 1 {
                requestBytes = try readFile(arguments[1])
            } else {
                requestBytes = try readFile("/dev/stdin")
            }
        } catch {
            return fail("insitu-wasm-runner: \(error)")
        }
        let request: WasmRunnerRequest
        do {
            request = try JSONDecoder().decode(WasmRunnerRequest.self, from: Data(requestBytes))
        } catch {
            return fail("insitu-wasm-runner: the request is not valid JSON for a run: \(error)")
        }

        let result: WasmRunResult
        do {
            let module = try parse(try readFile(request.spec.modulePath), path: request.spec.modulePath)
            let engine = Engine(configuration: EngineConfiguration(fuelMetering: request.spec.fuel != nil))
            result = WasmModuleRunner.run(request.spec, module: module, engine: engine, stdin: 0, stdout: 1, stderr: 2)
        } catch {
            result = WasmRunResult(status: .failed, reason: error.description)
        }
        do {
            var line = Array(try JSONEncoder().encode(result))
            line.append(UInt8(ascii: "\n"))
            try writeFile(request.resultPath, line)
        } catch {
            return fail("insitu-wasm-runner: could not write the result to \(request.resultPath): \(error)")
        }
        return 0
    }

    private static func fail(_ message: String) -> Int32 {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        return 2
    }
}
