@testable import InsituAgent
import Testing

/// The rule by which the agent gives up on a link the orchestrator stopped answering on, driven
/// with explicit instants.
struct LinkWatchTests {
    let opened = ContinuousClock.now

    @Test func aLinkNeverWelcomedIsDeadAtTheHandshakeTimeout() {
        var watch = LinkWatch(openedAt: opened, handshakeTimeout: .seconds(10))
        // Frames before the welcome do not count: the node is not registered yet.
        watch.heard(at: opened + .seconds(9))
        #expect(watch.verdict(at: opened + .milliseconds(9_999)) == .alive(until: opened + .seconds(10)))
        #expect(watch.verdict(at: opened + .seconds(10)) == .dead("no welcome from the orchestrator within 10s of connecting"))
    }

    @Test func aWelcomedLinkLivesWhileFramesArriveWithinFourHeartbeats() {
        var watch = LinkWatch(openedAt: opened, handshakeTimeout: .seconds(10))
        watch.welcomed(heartbeat: .milliseconds(200), at: opened + .seconds(1))
        #expect(watch.verdict(at: opened + .milliseconds(1_799)) == .alive(until: opened + .milliseconds(1_800)))
        // Each answered heartbeat moves the deadline: far past the handshake timeout, still alive.
        for step in 1...100 {
            let now = opened + .seconds(1) + .milliseconds(step * 700)
            watch.heard(at: now)
            #expect(watch.verdict(at: now + .milliseconds(799)) == .alive(until: now + .milliseconds(800)))
        }
    }

    @Test func aWelcomedLinkSilentForFourHeartbeatsIsDead() {
        var watch = LinkWatch(openedAt: opened, handshakeTimeout: .seconds(10))
        watch.welcomed(heartbeat: .seconds(5), at: opened)
        watch.heard(at: opened + .seconds(3))
        #expect(watch.verdict(at: opened + .seconds(22)) == .alive(until: opened + .seconds(23)))
        #expect(watch.verdict(at: opened + .seconds(23)) == .dead("the orchestrator has been silent for 20s"))
    }

    @Test func subSecondLimitsAreReportedInMilliseconds() {
        var watch = LinkWatch(openedAt: opened, handshakeTimeout: .milliseconds(1_500))
        #expect(watch.verdict(at: opened + .seconds(2)) == .dead("no welcome from the orchestrator within 1500ms of connecting"))
        watch.welcomed(heartbeat: .milliseconds(200), at: opened + .seconds(2))
        #expect(watch.verdict(at: opened + .seconds(3)) == .dead("the orchestrator has been silent for 800ms"))
    }
}
