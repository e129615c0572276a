import InsituAuth
import InsituModel
import Testing

@Suite struct NodeJoiningTests {
    private let presented = PresentedToken(idBytes: [1, 2, 3, 4, 5, 6, 7, 8], secretBytes: Array(repeating: 9, count: 32), prefix: PresentedToken.joinPrefix)

    private func record(uses: Int = 0, maxUses: Int = 1, expiresAt: Int64 = 1_000, revokedAt: Int64? = nil) -> JoinTokenRecord {
        JoinTokenRecord(
            id: presented.id, name: "berlin", maxUses: maxUses, uses: uses, createdAt: Timestamp(milliseconds: 0),
            expiresAt: Timestamp(milliseconds: expiresAt), revokedAt: revokedAt.map(Timestamp.init(milliseconds:)),
            secretHash: presented.secretHash)
    }

    private func admit(_ text: String, _ stored: JoinTokenRecord?, at now: Int64 = 500) -> Result<JoinTokenRecord, AuthFailure> {
        NodeJoining.admit(presented: text, record: { $0 == stored?.id ? stored : nil }, now: Timestamp(milliseconds: now))
    }

    @Test func joinTokensAndAPITokensAreNotInterchangeable() {
        #expect(presented.text.hasPrefix("insitu_join_"))
        #expect(PresentedToken(presented.text, prefix: PresentedToken.joinPrefix) == presented)
        #expect(PresentedToken(presented.text) == nil, "a join token is no API token")
        let api = PresentedToken(idBytes: [1, 2, 3, 4, 5, 6, 7, 8], secretBytes: Array(repeating: 9, count: 32))
        #expect(PresentedToken(api.text, prefix: PresentedToken.joinPrefix) == nil, "an API token is no join token")
        if case .failure(let failure) = admit(api.text, record()) { #expect(failure.code == "join_token_malformed") } else { Issue.record("admitted") }
    }

    @Test func eachRefusalHasItsCodeAndSaysWhatToDo() {
        #expect((try? admit(presented.text, record()).get()) == record())
        let wrongSecret = PresentedToken(idBytes: [1, 2, 3, 4, 5, 6, 7, 8], secretBytes: Array(repeating: 8, count: 32), prefix: PresentedToken.joinPrefix)
        let cases: [(Result<JoinTokenRecord, AuthFailure>, String)] = [
            (admit("", record()), "join_token_malformed"),
            (admit(presented.text, nil), "join_token_invalid"),
            (admit(wrongSecret.text, record()), "join_token_invalid"),
            (admit(presented.text, record(revokedAt: 400)), "join_token_revoked"),
            (admit(presented.text, record(expiresAt: 500)), "join_token_expired"),
            (admit(presented.text, record(uses: 1, maxUses: 1)), "join_token_used"),
        ]
        for (result, code) in cases {
            guard case .failure(let failure) = result else {
                Issue.record("\(code): admitted")
                continue
            }
            #expect(failure.code == code && failure.kind == .unauthenticated)
            #expect(failure.message.contains("insitu node join-token create"), "\(failure.message)")
        }
        #expect((try? admit(presented.text, record(uses: 2, maxUses: 3)).get()) != nil, "uses left")
    }

    @Test func onlyApprovedNodesMayConnect() {
        func identity(_ state: NodeIdentityRecord.State) -> NodeIdentityRecord {
            NodeIdentityRecord(
                nodeID: "n-01", name: "edge", state: state, joinTokenID: "j", publicKeyDigest: "k", requestPEM: "", labels: [:],
                requestedAt: Timestamp(milliseconds: 0))
        }
        #expect(NodeJoining.mayConnect("n-01", record: identity(.approved)) == nil)
        #expect(NodeJoining.mayConnect("n-01", record: nil)?.code == "node_unknown")
        #expect(NodeJoining.mayConnect("n-01", record: identity(.pending))?.code == "node_pending")
        #expect(NodeJoining.mayConnect("n-01", record: identity(.rejected))?.code == "node_rejected")
        let revoked = NodeJoining.mayConnect("n-01", record: identity(.revoked))
        #expect(revoked?.code == "node_revoked" && revoked?.kind == .forbidden)
    }

    @Test func pinnedLabelsWinOverWhatTheNodeSays() {
        let labels = NodeJoining.labels(advertised: ["site": "paris", "rack": "7"], pinned: ["site": "berlin", "zone": "eu"])
        #expect(labels == ["site": "berlin", "rack": "7", "zone": "eu"])
    }
}
