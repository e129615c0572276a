@testable import InsituAgent
import Testing

/// `engines.process` in the node config: secure by default, every setting checked at load.
@Suite struct AgentConfigProcessTests {
    let base = "name: a\norchestrator: http://127.0.0.1:1\ndata_dir: /tmp/x\n"

    func parse(_ process: String) throws -> AgentConfig {
        try AgentConfig.parse(base + "engines:\n  process:\n" + process, file: "a.yaml", baseDirectory: "/etc/insitu")
    }

    func problems(_ process: String) -> [String] {
        do {
            _ = try parse(process)
            return []
        } catch let invalid as AgentConfig.Invalid {
            return invalid.problems
        } catch {
            return ["\(error)"]
        }
    }

    @Test func theSandboxIsOnUnlessTheOperatorWritesNone() throws {
        let enabled = try parse("    enabled: true\n")
        #expect(enabled.processEngineEnabled)
        #expect(enabled.processEngine.sandbox == .bubblewrap)
        #expect(enabled.processEngine == ProcessEngineConfig())
        #expect(enabled.processEngine.configuration.cgroupParent == "insitu")
        #expect(try parse("    enabled: true\n    sandbox: none\n").processEngine.sandbox == ProcessEngineConfig.Sandbox.none)
        #expect(problems("    sandbox: off\n").contains { $0.contains("must be bubblewrap (the default) or none") })
    }

    @Test func everySettingIsRead() throws {
        let config = try parse(
            "    enabled: true\n    user: 1000:1001\n    cgroup_parent: system.slice/insitu\n    bwrap: bin/bwrap\n    system_paths: [/usr, /lib]\n"
        ).processEngine.configuration
        #expect(config.user?.uid == 1000 && config.user?.gid == 1001)
        #expect(config.cgroupParent == "system.slice/insitu")
        #expect(config.bwrap == "/etc/insitu/bin/bwrap")
        #expect(config.systemPaths == ["/usr", "/lib"])
        #expect(try parse("    cgroup_parent: none\n").processEngine.configuration.cgroupParent == nil)
        #expect(try parse("    user: nobody\n").processEngine.configuration.user?.uid == 65534)
    }

    @Test func rootIsNeverTheSandboxUser() {
        for user in ["0", "0:0", "1000:0", "root"] {
            #expect(problems("    user: \"\(user)\"\n").contains { $0.hasPrefix("engines.process.user:") }, "user \(user) was accepted")
        }
    }

    @Test func badSettingsAreProblems() {
        #expect(problems("    cgroup_parent: /sys/fs/cgroup/x\n").contains { $0.hasPrefix("engines.process.cgroup_parent:") })
        #expect(problems("    cgroup_parent: ../escape\n").contains { $0.hasPrefix("engines.process.cgroup_parent:") })
        #expect(problems("    system_paths: [usr]\n").contains { $0.hasPrefix("engines.process.system_paths:") })
        #expect(problems("    sandbx: none\n").contains { $0.contains("unknown key \"sandbx\"") })
        #expect(problems("    enabled: maybe\n").contains { $0.hasPrefix("engines.process.enabled:") })
    }
}
