import Foundation
import InsituOrchestrator
import Testing

@Suite struct BlobStoreTests {
    /// Regression (issue 6, item 12): every result wrote and fsynced each of its files again,
    /// also content already stored (an empty stdout and stderr in most results), which put two
    /// extra fsyncs on the path of every result. Storing known content must not touch the disk:
    /// here it would fail, because the directory for new uploads is gone.
    @Test func storingContentThatIsAlreadyStoredWritesNothing() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-blobs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let blobs = try BlobStore(root: root)
        let bytes = Data("the same output".utf8)
        let digest = try blobs.put(bytes)
        try FileManager.default.removeItem(atPath: root + "/tmp")

        #expect(try blobs.put(bytes) == digest)
        #expect(try Data(contentsOf: URL(fileURLWithPath: blobs.path(for: digest))) == bytes)
        #expect(throws: BlobStoreError.self, "new content still needs the upload directory") { try blobs.put(Data("new".utf8)) }
    }
}
