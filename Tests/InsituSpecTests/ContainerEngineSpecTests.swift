import InsituModel
import InsituSpec
import Testing

/// `engine: {type: container, image, command}` in a job spec.
@Suite struct ContainerEngineSpecTests {
    @Test func containerEngineParsesImageCommandAndTheJobsArgs() throws {
        let spec = try parse(
            """
            version: v1
            name: in-a-box
            engine: {type: container, image: "localhost/tools:1", command: [sh, -c, "echo hi"]}
            args: [one, two]
            env: {MODE: fast}
            """
        ).get()
        #expect(spec.engine.kind == .container)
        #expect(spec.engine.container == ContainerSettings(image: "localhost/tools:1", command: ["sh", "-c", "echo hi"]))
        #expect(spec.engine.wasm == nil && spec.engine.process == nil)
        #expect(spec.args == ["one", "two"])
        #expect(spec.env == ["MODE": "fast"])
    }

    @Test func theCommandIsOptional() throws {
        let spec = try parse("version: v1\nname: plain\nengine: {type: container, image: busybox}\n").get()
        #expect(spec.engine.container == ContainerSettings(image: "busybox", command: []))
    }

    @Test func aContainerEngineNeedsAnImageThatIsAReference() {
        let missing = problems("version: v1\nname: x\nengine: {type: container, command: [true]}\n")
        expectProblem(missing, at: "engine.image", "missing required field", hint: "image")

        let bad = problems("version: v1\nname: x\nengine: {type: container, image: \"Not An Image!\"}\n")
        expectProblem(bad, at: "engine.image", "is not an image reference", hint: "name:tag")

        let badDigest = problems("version: v1\nname: x\nengine: {type: container, image: \"busybox@sha256:abc\"}\n")
        expectProblem(badDigest, at: "engine.image", "64 lowercase hex")
    }

    @Test func theCommandIsAListWithAProgram() {
        let scalar = problems("version: v1\nname: x\nengine: {type: container, image: busybox, command: \"echo hi\"}\n")
        expectProblem(scalar, at: "engine.command", "expected a list", hint: "command: [")

        let empty = problems("version: v1\nname: x\nengine: {type: container, image: busybox, command: [\"\", a]}\n")
        expectProblem(empty, at: "engine.command[0]", "program is empty")
    }

    @Test func keysOfOtherEnginesAreNamedAsSuch() {
        let wasmKey = problems("version: v1\nname: x\nengine: {type: container, image: busybox, module: ./count.wasm}\n")
        expectProblem(wasmKey, at: "engine.module", "applies only to the wasm engine")

        let containerKey = problems("version: v1\nname: x\nengine: {type: process, command: /bin/true, image: busybox}\n")
        expectProblem(containerKey, at: "engine.image", "applies only to the container engine")

        let unknownType = problems("version: v1\nname: x\nengine: {type: contaner, image: busybox}\n")
        expectProblem(unknownType, at: "engine.type", "unknown engine type", hint: "did you mean container?")
    }
}
