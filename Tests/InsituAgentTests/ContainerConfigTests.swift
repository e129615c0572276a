import InsituAgent
import Testing

/// `engines.container` in the node config: off unless a socket is named; images normalised.
@Suite struct ContainerConfigTests {
    let base = "name: a\norchestrator: http://127.0.0.1:1\ndata_dir: /tmp/x\n"

    @Test func theContainerEngineIsOffUnlessConfigured() throws {
        #expect(try AgentConfig.parse(base, file: "a.yaml", baseDirectory: "/tmp").container == nil)
    }

    @Test func socketAllowListAndPidsLimitAreRead() throws {
        let config = try AgentConfig.parse(
            base + "engines: {container: {socket: run/podman.sock, allowed_images: [busybox:1.36, \"localhost/tool:2\"], pids_limit: 64}}",
            file: "a.yaml", baseDirectory: "/srv")
        let container = try #require(config.container)
        #expect(container.socket == "/srv/run/podman.sock")
        #expect(container.allowedImages == ["docker.io/library/busybox:1.36", "localhost/tool:2"])
        #expect(container.pidsLimit == 64)
        #expect(try AgentConfig.parse(base + "engines: {container: {socket: /s, allowed_images: [a]}}", file: "a.yaml", baseDirectory: "/")
            .container?.pidsLimit == 256)
    }

    @Test func mistakesNameTheirKey() {
        let cases = [
            "engines: {container: {allowed_images: [busybox]}}": "engines.container.socket",
            "engines: {container: {socket: /s}}": "engines.container.allowed_images",
            "engines: {container: {socket: /s, allowed_images: []}}": "engines.container.allowed_images",
            "engines: {container: {socket: /s, allowed_images: [\"Bad Image\"]}}": "engines.container.allowed_images[0]",
            "engines: {container: {socket: /s, allowed_images: [a], pids_limit: 0}}": "engines.container.pids_limit",
            "engines: {container: {socket: /s, allowed_images: [a], privileged: true}}": "unknown key \"privileged\"",
            "engines: {container: yes}": "engines.container",
        ]
        for (yaml, key) in cases {
            do {
                _ = try AgentConfig.parse(base + yaml, file: "a.yaml", baseDirectory: "/tmp")
                Issue.record("accepted: \(yaml)")
            } catch let error as AgentConfig.Invalid {
                #expect(error.problems.contains { $0.contains(key) }, "\(yaml): \(error.problems)")
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}
