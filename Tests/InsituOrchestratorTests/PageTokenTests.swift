import InsituAPI
import InsituModel
import InsituStore
import Testing

@testable import InsituOrchestrator

/// Issue 9, item 1: paging tokens are opaque to clients but checked when they come back.
@Suite struct PageTokenTests {
    @Test func aJobCursorRoundTripsThroughItsToken() throws {
        let cursor = JobCursor(createdAt: Timestamp(milliseconds: 1_764_550_000_123), id: JobID("j-0123456789abcdef0123456789abcdef"))
        let token = PageToken.encode(cursor)
        // URL-safe as it stands: no +, / or = to escape in a query.
        #expect(token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }, "\(token)")
        #expect(try PageToken.jobCursor(token) == cursor)
        let node = NodeCursor(name: "lab-α", id: NodeID("n-1"))
        #expect(try PageToken.nodeCursor(PageToken.encode(node)) == node)
    }

    @Test func malformedTokensAreRefusedNamingTheParameter() {
        let jobToken = PageToken.encode(JobCursor(createdAt: Timestamp(milliseconds: 5), id: JobID("j-1")))
        let bad = [
            "", "not a token", "%%%", String(repeating: "A", count: PageToken.maxLength + 1),
            // Base64 of text that is not a cursor: the wrong kind, a negative or non-numeric
            // time, no ID, too many fields, a control character.
            PageToken.encode(NodeCursor(name: "x", id: NodeID("n-1"))),
            "ajE", "ajEKLTUKai0x", "ajEKeAprLTE", "ajEKNQo", "ajEKNQpqLTEKeA", "ajEKNQpqAS0x",
            // A valid token with text around it.
            jobToken + "=", " " + jobToken,
        ]
        for token in bad {
            let error = #expect(throws: APIError.self, "\(token)") { _ = try PageToken.jobCursor(token) }
            #expect(error?.status == .badRequest && error?.message.contains("query parameter next_token=") == true, "\(token)")
            #expect(error?.problems?.first?.path == "next_token")
        }
    }
}
