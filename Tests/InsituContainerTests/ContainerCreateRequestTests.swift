import Foundation
@testable import InsituContainer
import InsituExecutor
import InsituModel
import Testing

private func request(
    command: [String] = ["sh", "-c"], args: [String] = ["echo hi"], mounts: [Mount] = [],
    resources: Resources = Resources(cpuMillis: 500, memoryBytes: 64 << 20)
) -> ExecutionRequest {
    ExecutionRequest(
        executionID: ExecutionID(rawValue: "j-1-p0-a1"), engine: EngineSpec(container: ContainerSettings(image: "busybox:1.36", command: command)),
        args: args, env: ["B": "2", "A": "1"], mounts: mounts, workDirectory: "/var/lib/insitu/executions/j-1-p0-a1",
        timeout: .seconds(5), resources: resources)
}

/// The create body as the engine receives it.
private func body(_ request: ExecutionRequest, policy: ContainerPolicy = ContainerPolicy()) throws -> [String: Any] {
    let create = try ContainerCreateRequest(request, image: ImageReference("busybox:1.36")!, policy: policy)
    return try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(create)) as? [String: Any])
}

@Suite struct ContainerCreateRequestTests {
    @Test func theContainerIsIsolatedWhateverTheJobAsks() throws {
        let mounts = [
            Mount(hostPath: "/srv/data/patients", guestPath: "/data", readOnly: true),
            Mount(hostPath: "/var/lib/insitu/executions/j-1-p0-a1/outputs/results", guestPath: "/out", readOnly: false),
        ]
        let json = try body(request(mounts: mounts), policy: ContainerPolicy(pidsLimit: 99, openFiles: 512, labels: ["insitu.agent": "/state"]))
        #expect(json["Image"] as? String == "docker.io/library/busybox:1.36")
        #expect(json["NetworkDisabled"] as? Bool == true)
        #expect(json["StopTimeout"] as? Int == 0)
        #expect(json["Tty"] as? Bool == false)
        #expect(json["Labels"] as? [String: String] == ["insitu.agent": "/state", "insitu.execution": "j-1-p0-a1"])
        let host = try #require(json["HostConfig"] as? [String: Any])
        #expect(host["NetworkMode"] as? String == "none")
        #expect(host["Privileged"] as? Bool == false)
        #expect(host["CapDrop"] as? [String] == ["ALL"])
        #expect(host["SecurityOpt"] as? [String] == ["no-new-privileges"])
        #expect(host["ReadonlyRootfs"] as? Bool == true)
        #expect(host["Memory"] as? Int == 64 << 20)
        #expect(host["MemorySwap"] as? Int == 64 << 20)
        #expect(host["NanoCpus"] as? Int == 500_000_000)
        #expect(host["PidsLimit"] as? Int == 99)
        #expect(host["AutoRemove"] as? Bool == false)
        #expect(host["Tmpfs"] as? [String: String] == ["/tmp": "rw,nosuid,nodev,size=\(64 << 20)"])
        let ulimits = try #require(host["Ulimits"] as? [[String: Any]])
        #expect(ulimits.first { $0["Name"] as? String == "nofile" }?["Hard"] as? Int == 512)
        #expect((ulimits.first { $0["Name"] as? String == "nproc" }?["Hard"] as? Int ?? 0) >= 99)
        let binds = try #require(host["Mounts"] as? [[String: Any]])
        #expect(binds.count == 2)
        #expect(binds[0]["Type"] as? String == "bind" && binds[0]["Source"] as? String == "/srv/data/patients")
        #expect(binds[0]["Target"] as? String == "/data" && binds[0]["ReadOnly"] as? Bool == true)
        #expect(binds[1]["Target"] as? String == "/out" && binds[1]["ReadOnly"] as? Bool == false)
        // Only the job's mounts: no Binds, Devices, volumes or host namespaces of any kind.
        #expect(Set(host.keys) == [
            "NetworkMode", "Privileged", "CapDrop", "SecurityOpt", "ReadonlyRootfs", "Tmpfs", "Memory", "MemorySwap", "NanoCpus",
            "PidsLimit", "Ulimits", "Mounts", "AutoRemove",
        ])
    }

    @Test func theCommandReplacesTheEntrypointAndArgsFollow() throws {
        let json = try body(request(command: ["sh", "-c"], args: ["echo $A"]))
        #expect(json["Entrypoint"] as? [String] == ["sh", "-c"])
        #expect(json["Cmd"] as? [String] == ["echo $A"])
        #expect(json["Env"] as? [String] == ["A=1", "B=2"])

        let imageDefault = try body(request(command: [], args: []))
        #expect(imageDefault["Entrypoint"] == nil && imageDefault["Cmd"] == nil)
        let argsOnly = try body(request(command: [], args: ["--fast"]))
        #expect(argsOnly["Entrypoint"] == nil && argsOnly["Cmd"] as? [String] == ["--fast"])
    }

    @Test func aJobMountingTmpGetsNoTmpfsOverIt() throws {
        let json = try body(request(mounts: [Mount(hostPath: "/h/out", guestPath: "/tmp/out", readOnly: false)]))
        #expect((json["HostConfig"] as? [String: Any])?["Tmpfs"] == nil)
    }

    @Test func resourcesTheEngineCannotEnforceAreRefused() {
        #expect(throws: ExecutorError.self) { try body(request(resources: Resources(cpuMillis: 100, memoryBytes: 1 << 20))) }
        #expect(throws: ExecutorError.self) { try body(request(resources: Resources(cpuMillis: 0, memoryBytes: 64 << 20))) }
        #expect(throws: ExecutorError.self) { try body(request(resources: Resources(cpuMillis: .max, memoryBytes: 64 << 20))) }
    }
}

@Suite struct ContainerOutcomeTests {
    @Test func exitStatusesMapToOutcomes() {
        #expect(ContainerExecutor.outcome(exitStatus: 0, oomKilled: false, memoryLimit: 32 << 20).status == .succeeded)
        let failed = ContainerExecutor.outcome(exitStatus: 3, oomKilled: false, memoryLimit: 32 << 20)
        #expect(failed.status == .failed && failed.exitCode == 3 && failed.reason == "exited with status 3")
        let oom = ContainerExecutor.outcome(exitStatus: 137, oomKilled: true, memoryLimit: 32 << 20)
        #expect(oom.status == .outOfMemory && oom.reason?.contains("memory limit of 32Mi") == true)
        let killed = ContainerExecutor.outcome(exitStatus: 137, oomKilled: false, memoryLimit: 32 << 20)
        #expect(killed.status == .outOfMemory && killed.reason?.contains("SIGKILL") == true)
    }

    /// Engine messages quote bind-mount sources; what reaches the job's author names the mount.
    @Test func engineMessagesDoNotRevealNodePaths() {
        let request = request(mounts: [Mount(hostPath: "/srv/data/patients", guestPath: "/data", readOnly: true)])
        let redacted = ContainerExecutor.redact(
            "error mounting \"/srv/data/patients\" to rootfs at \"/data\"; work in /var/lib/insitu/executions/j-1-p0-a1/outputs", request)
        #expect(!redacted.contains("/srv/data") && !redacted.contains("/var/lib/insitu"))
        #expect(redacted.contains("<mount /data>"))
    }
}
