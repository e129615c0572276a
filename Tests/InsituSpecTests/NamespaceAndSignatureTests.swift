import Foundation
import InsituModel
import InsituSpec
import Testing

/// Issue 8, item 4: `namespace` and `engine.signature` in the job spec.
@Suite struct NamespaceAndSignatureTests {
    static let base = "version: v1\nname: job\nengine: {type: wasm, module: ./count.wasm}\n"
    static let signature = "ed25519:" + Data(repeating: 7, count: 64).base64EncodedString()

    @Test func theNamespaceDefaultsToDefaultAndIsKeptWhenGiven() throws {
        #expect(try parse(Self.base).get().namespace == "default")
        #expect(try parse(Self.base + "namespace: clinical-research\n").get().namespace == "clinical-research")
    }

    @Test func anInvalidNamespaceIsAProblemAtItsPath() {
        expectProblem(problems(Self.base + "namespace: Clinical\n"), at: "namespace", "invalid namespace \"Clinical\"", hint: "lowercase letters")
        expectProblem(problems(Self.base + "namespace: \(String(repeating: "a", count: 64))\n"), at: "namespace", "at most 63")
        expectProblem(problems(Self.base + "namespace: [a]\n"), at: "namespace", "expected a string")
    }

    @Test func aModuleSignatureIsKeptWhenWellFormed() throws {
        let text = "version: v1\nname: job\nengine: {type: wasm, module: ./count.wasm, signature: \"\(Self.signature)\"}\n"
        #expect(try parse(text).get().engine.wasm?.signature == Self.signature)
        #expect(try parse(Self.base).get().engine.wasm?.signature == nil)
    }

    @Test func aMalformedSignatureIsAProblemAtItsPath() {
        let text = "version: v1\nname: job\nengine: {type: wasm, module: ./count.wasm, signature: \"ed25519:abc\"}\n"
        expectProblem(problems(text), at: "engine.signature", "is not a module signature", hint: "Ed25519")
        let process = "version: v1\nname: job\nengine: {type: process, command: /bin/true, signature: \"\(Self.signature)\"}\n"
        expectProblem(problems(process), at: "engine.signature", "applies only to the wasm engine")
    }
}
