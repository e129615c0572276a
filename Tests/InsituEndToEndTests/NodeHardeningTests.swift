import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// Issue 5, the compute node's side: real agents, real jobs, crafted input.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct NodeHardeningTests {
    /// A module in the default WebAssembly sandbox plants links to host files in its output
    /// directory (WASI `path_symlink` accepts any target); collecting outputs must not follow them.
    @Test func outputSymlinksDoNotExfiltrateHostFiles() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "node")
        try await e2e.cluster.waitForNodes(1)
        let spec = try e2e.specFile(
            "links",
            """
            version: v1
            name: plants-links
            engine: {type: wasm, module: ./links.wasm}
            outputs: [{name: loot, path: /outputs}]
            """, wat: NodeModules.plantLinks)
        let id = try e2e.submit(spec)
        let detail = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(detail.job.state == .completed, "\(detail.job.stateReason ?? "")")
        let reason = detail.executions.first?.stateReason ?? ""
        #expect(reason.contains("outputs/loot/passwd (symbolic link)"), "\(reason)")
        #expect(reason.contains("outputs/loot/node-id (symbolic link)"), "\(reason)")

        let dest = e2e.root + "/results"
        let download = try e2e.cli(["job", "results", id, "--dest", dest])
        #expect(download.status == 0, "\(download.stderr)")
        let nodeID = try await e2e.nodeID(named: "node").rawValue
        let passwd = try String(contentsOfFile: "/etc/passwd", encoding: .utf8)
        let firstLine = String(passwd.prefix { $0 != "\n" })
        let files = FileManager.default.enumerator(atPath: dest)?.allObjects as? [String] ?? []
        #expect(!files.contains { $0.hasSuffix("passwd") || $0.hasSuffix("node-id") }, "\(files)")
        for file in files {
            guard let bytes = FileManager.default.contents(atPath: dest + "/" + file) else { continue }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains(nodeID), "\(file) carries the node's ID")
            #expect(firstLine.isEmpty || !text.contains(firstLine), "\(file) carries /etc/passwd")
        }
    }
}


/// WAT modules for the node hardening tests.
enum NodeModules {
    /// Creates `/outputs/passwd -> /etc/passwd` and `/outputs/node-id -> ../../../../node-id`
    /// (the agent's node-id, seen from `<data>/executions/<id>/outputs/<name>`) in its first
    /// preopen (fd 3); exits 100 + errno, 200 + errno if either link cannot be made.
    static let plantLinks = """
        (module
          (import "wasi_snapshot_preview1" "path_symlink" (func $symlink (param i32 i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "/etc/passwd")
          (data (i32.const 32) "passwd")
          (data (i32.const 64) "../../../../node-id")
          (data (i32.const 96) "node-id")
          (func (export "_start")
            (local $errno i32)
            (local.set $errno (call $symlink (i32.const 0) (i32.const 11) (i32.const 3) (i32.const 32) (i32.const 6)))
            (if (local.get $errno) (then (call $exit (i32.add (i32.const 100) (local.get $errno)))))
            (local.set $errno (call $symlink (i32.const 64) (i32.const 19) (i32.const 3) (i32.const 96) (i32.const 7)))
            (if (local.get $errno) (then (call $exit (i32.add (i32.const 200) (local.get $errno)))))))
        """
}
