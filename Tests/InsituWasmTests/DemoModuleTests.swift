import Foundation
import InsituExecutor
import InsituModel
import InsituWasm
import Testing

/// The committed demo module, examples/count-conditions/count_conditions.wasm.
private let demoModule: String = {
    var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/InsituWasmTests/<file> → repository root
    return url.appendingPathComponent("examples/count-conditions/count_conditions.wasm").path
}()

@Suite("count-conditions demo module")
struct DemoModuleTests {
    @Test(arguments: Mode.available)
    func countsConditionsInAGeneratedCSV(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let data = try dir.subdirectory("data")
        let outputs = try dir.subdirectory("outputs")
        let conditions = ["diabetes", "asthma", "copd", "asthma", "hypertension", "asthma", "diabetes"]
        var csv = "patient_id,age,sex,condition,admitted\n"
        for (index, condition) in conditions.enumerated() {
            csv += "p\(index),\(30 + index),\(index % 2 == 0 ? "F" : "M"),\(condition),2026-0\(1 + index % 9)-01\n"
        }
        try csv.write(toFile: data + "/patients.csv", atomically: true, encoding: .utf8)

        let request = wasmRequest(
            module: demoModule, workDirectory: dir.path, env: ["INSITU_LABEL_SITE": "hospital-a"],
            mounts: [
                Mount(hostPath: data, guestPath: "/data", readOnly: true),
                Mount(hostPath: outputs, guestPath: "/outputs", readOnly: false),
            ])
        let outcome = try await mode.executor().run(request, onOutput: { _, _ in })
        let expected = #"{"site":"hospital-a","rows":7,"counts":{"asthma":3,"copd":1,"diabetes":2,"hypertension":1}}"# + "\n"
        #expect(outcome.status == .succeeded, "\(outcome.reason ?? "") \(String(decoding: outcome.stderr, as: UTF8.self))")
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == expected)
        #expect(try String(contentsOfFile: outputs + "/counts.json", encoding: .utf8) == expected)
    }

    @Test(arguments: Mode.available)
    func aMissingFileFailsWithAMessage(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let data = try dir.subdirectory("data")
        let outputs = try dir.subdirectory("outputs")
        let outcome = try await mode.executor().run(
            wasmRequest(
                module: demoModule, workDirectory: dir.path,
                mounts: [
                    Mount(hostPath: data, guestPath: "/data", readOnly: true),
                    Mount(hostPath: outputs, guestPath: "/outputs", readOnly: false),
                ]),
            onOutput: { _, _ in })
        #expect(outcome.status == .failed)
        #expect(outcome.exitCode == 1)
        #expect(String(decoding: outcome.stderr, as: UTF8.self).contains("cannot open /data/patients.csv"))
    }

    @Test(arguments: Mode.available)
    func aCSVWithoutAConditionColumnFails(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let data = try dir.subdirectory("data")
        try "patient_id,age\np1,40\n".write(toFile: data + "/patients.csv", atomically: true, encoding: .utf8)
        let outcome = try await mode.executor().run(
            wasmRequest(module: demoModule, workDirectory: dir.path, mounts: [Mount(hostPath: data, guestPath: "/data", readOnly: true)]),
            onOutput: { _, _ in })
        #expect(outcome.status == .failed)
        #expect(String(decoding: outcome.stderr, as: UTF8.self).contains("no \"condition\" column"))
    }

    @Test(arguments: Mode.available)
    func aSmallMemoryLimitIsReportedAsOutOfMemory(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        // The module's initial memory alone exceeds 64 KiB.
        let outcome = try await mode.executor().run(
            wasmRequest(module: demoModule, workDirectory: dir.path, memoryLimitBytes: 64 << 10), onOutput: { _, _ in })
        #expect(outcome.status == .outOfMemory, "\(outcome)")
        #expect(outcome.reason?.contains("raise engine.memory in the job spec") == true)
    }
}
