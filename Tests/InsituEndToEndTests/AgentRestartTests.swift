import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// A node's promises across its own restart, with real processes: an agent killed with `kill -9`
/// never runs an execution again under the same ID, delivers what it finished, and never ships a
/// log line twice. The jobs are shell scripts (process engine) that wait on files the test
/// creates, so every step is an observable condition rather than a race.
@Suite(.serialized) struct AgentRestartTests {
    /// A batch job running `script` with `/bin/sh` in its work directory.
    func shellJob(_ e2e: E2E, _ name: String, _ script: String) throws -> String {
        // A JSON string is a valid YAML double-quoted scalar, newlines and quotes escaped.
        let quoted = String(decoding: try JSONSerialization.data(withJSONObject: [script], options: .withoutEscapingSlashes), as: UTF8.self)
            .dropFirst().dropLast()
        return try e2e.specFile(
            name,
            """
            version: v1
            name: \(name)
            engine: {type: process, command: /bin/sh}
            args: ["-c", \(quoted)]
            retry: {attempts: 3, delay: 100ms}
            """)
    }

    /// Every log entry of `job`, concatenated per execution.
    func logsByExecution(_ e2e: E2E, _ job: String) async throws -> [ExecutionID: String] {
        var texts: [ExecutionID: String] = [:]
        var after: Int64 = 0
        while true {
            let page = try await e2e.cluster.client.logs(job, after: after)
            guard let last = page.entries.last else { return texts }
            for entry in page.entries { texts[entry.executionID, default: ""] += entry.text }
            after = last.sequence
        }
    }

    func withCluster(_ test: String = #function, _ body: (E2E) async throws -> Void) async throws {
        let e2e = try E2E.make(test)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        // Unsandboxed: the jobs' scripts wait on and leave marker files in the test's directory.
        try e2e.cluster.startAgent(name: "edge", processEngine: true, processSettings: ["sandbox": "none"])
        try await e2e.cluster.waitForNodes(1)
        try await body(e2e)
    }

    /// The agent dies right after starting the job, before it could report it running: the
    /// orchestrator still sees the execution as dispatched and, on the node's return, would send
    /// it again under the same ID. The restarted agent knows it started it, reports it as
    /// interrupted, and the job's retry policy runs it again as a new attempt.
    @Test func anAgentKilledBeforeReportingAJobRunningNeverRunsItAgainUnderTheSameID() async throws {
        try await withCluster { e2e in
            let marks = e2e.root + "/marks"
            try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
            // Each run leaves a file named after its execution; the first one kills the agent.
            let spec = try shellJob(
                e2e, "killer",
                """
                /usr/bin/touch "\(marks)/run-$(/usr/bin/basename "$PWD")-$$"
                if [ -e "\(marks)/killed" ]; then echo "a later run"; exit 0; fi
                /usr/bin/touch "\(marks)/killed"
                kill -9 $PPID
                """)
            let agent = try #require(e2e.cluster.agents["edge"])
            let id = try e2e.submit(spec)
            try await waitUntil(timeout: .seconds(30), "the job to kill its agent") { !agent.isRunning }
            try e2e.cluster.startAgent(name: "edge", processEngine: true, processSettings: ["sandbox": "none"])

            let done = try await e2e.waitForState(id) { $0.isTerminal }
            #expect(done.job.state == .completed, "\(done.job.stateReason ?? "")")
            let executions = done.executions.sorted { $0.attempt < $1.attempt }
            #expect(executions.count == 2, "the interrupted attempt and a new one: \(executions.map { "\($0.id) \($0.state)" })")
            #expect(Set(executions.map(\.id)).count == executions.count)
            #expect(executions.first?.state == .failed)
            #expect(executions.first?.stateReason?.hasPrefix("interrupted: the agent restarted while it ran") == true)
            #expect(executions.last?.state == .succeeded)
            // One run per execution ID: the work directory is named after the execution.
            let runs = try FileManager.default.contentsOfDirectory(atPath: marks).filter { $0.hasPrefix("run-") }
            let runIDs = runs.map { $0.dropFirst(4).split(separator: "-").dropLast().joined(separator: "-") }
            #expect(runs.count == 2, "\(runs)")
            #expect(Set(runIDs).count == runIDs.count, "an execution ID ran twice: \(runs)")
            let history = try await e2e.cluster.client.history(id)
            #expect(history.contains { $0.message.contains("interrupted: the agent restarted while it ran") })
        }
    }

    /// The agent is killed while the job runs and has shipped a line; the line is stored once
    /// for the interrupted attempt, and the new attempt has its own.
    @Test func anAgentKilledMidJobReportsItInterruptedAndEachLogLineOnce() async throws {
        try await withCluster { e2e in
            let gate = e2e.root + "/gate"
            // The first run waits for the gate (bounded), which opens once its agent is dead, so
            // the orphaned shell (process-engine jobs outlive a killed agent) ends at once; a
            // run after the gate opened finishes.
            let spec = try shellJob(
                e2e, "waiter",
                """
                echo "started"
                if [ -e "\(gate)" ]; then echo "finished"; exit 0; fi
                i=0; while [ ! -e "\(gate)" ] && [ $i -lt 600 ]; do /bin/sleep 0.1; i=$((i+1)); done
                """)
            let id = try e2e.submit(spec)
            try await waitUntil(timeout: .seconds(30), "the first line of the running attempt") {
                let detail = try await e2e.cluster.client.job(id)
                let logs = try await logsByExecution(e2e, id)
                return detail.executions.first?.state == .running && logs.values.contains("started\n")
            }
            e2e.cluster.agents["edge"]?.stop(signal: SIGKILL)
            FileManager.default.createFile(atPath: gate, contents: nil)
            try e2e.cluster.startAgent(name: "edge", processEngine: true, processSettings: ["sandbox": "none"])

            let done = try await e2e.waitForState(id) { $0.isTerminal }
            #expect(done.job.state == .completed, "\(done.job.stateReason ?? "")")
            let executions = done.executions.sorted { $0.attempt < $1.attempt }
            #expect(executions.map(\.state) == [.failed, .succeeded])
            #expect(executions.first?.stateReason?.hasPrefix("interrupted: the agent restarted while it ran") == true)
            let logs = try await logsByExecution(e2e, id)
            if executions.count == 2 {
                #expect(logs[executions[0].id] == "started\n")
                #expect(logs[executions[1].id] == "started\nfinished\n")
            }
        }
    }

    /// The job finishes while the orchestrator is down; then the agent is killed before it could
    /// deliver. After both restart, the stored result is delivered: one attempt, its log once.
    @Test func aResultFinishedWhileTheOrchestratorWasDownIsDeliveredAfterBothRestart() async throws {
        try await withCluster { e2e in
            let gate = e2e.root + "/gate"
            let spec = try shellJob(
                e2e, "finisher",
                """
                echo "working"
                i=0; while [ ! -e "\(gate)" ] && [ $i -lt 600 ]; do /bin/sleep 0.05; i=$((i+1)); done
                echo "done"
                """)
            let id = try e2e.submit(spec)
            try await waitUntil(timeout: .seconds(30), "the running job's first line") {
                let detail = try await e2e.cluster.client.job(id)
                let logs = try await logsByExecution(e2e, id)
                return detail.executions.first?.state == .running && logs.values.contains("working\n")
            }
            let agent = try #require(e2e.cluster.agents["edge"])
            e2e.cluster.killOrchestrator(signal: SIGKILL)
            FileManager.default.createFile(atPath: gate, contents: nil)
            // The agent logs this once the result is in its store (and its outbox).
            try await waitUntil(timeout: .seconds(30), "the agent to finish the job alone") {
                agent.log().contains("execution finished")
            }
            agent.stop(signal: SIGKILL)
            try await e2e.cluster.startOrchestrator()
            try e2e.cluster.startAgent(name: "edge", processEngine: true, processSettings: ["sandbox": "none"])

            let done = try await e2e.waitForState(id) { $0.isTerminal }
            #expect(done.job.state == .completed, "\(done.job.stateReason ?? "")")
            #expect(done.executions.count == 1, "\(done.executions.map { "\($0.id) \($0.state) \($0.stateReason ?? "")" })")
            #expect(done.executions.first?.state == .succeeded)
            #expect(done.results.count == 1)
            let logs = try e2e.cli(["job", "logs", id])
            #expect(logs.stdout == "working\ndone\n")
        }
    }
}
