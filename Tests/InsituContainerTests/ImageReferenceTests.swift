import InsituContainer
import InsituModel
import Testing

@Suite struct ImageReferenceTests {
    @Test func shortNamesAreQualifiedTheWayDockerDoes() {
        #expect(ImageReference("busybox")?.canonical == "docker.io/library/busybox:latest")
        #expect(ImageReference("busybox:1.36")?.canonical == "docker.io/library/busybox:1.36")
        #expect(ImageReference("someone/tool:2")?.canonical == "docker.io/someone/tool:2")
        #expect(ImageReference("docker.io/library/busybox:1.36")?.canonical == "docker.io/library/busybox:1.36")
        #expect(ImageReference("localhost/insitu-test:1")?.canonical == "localhost/insitu-test:1")
        #expect(ImageReference("registry.example.org:5000/team/app")?.canonical == "registry.example.org:5000/team/app:latest")
    }

    @Test func aDigestPinsTheContentAndReplacesTheTag() {
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        #expect(ImageReference("busybox@\(digest)")?.canonical == "docker.io/library/busybox@\(digest)")
        #expect(ImageReference("busybox:1.36@\(digest)")?.canonical == "docker.io/library/busybox@\(digest)")
    }

    @Test func malformedReferencesAreRefusedWithAReason() {
        for text in ["", "Busybox", "busybox:", "busybox:-x", "busybox@sha256:abc", "busybox@md5:" + String(repeating: "a", count: 32),
            "a//b", "/busybox", "busybox/", "bad name", "x\u{0}y", String(repeating: "a", count: 600)]
        {
            #expect(ImageReference(text) == nil, "\(text)")
            #expect(ImageReference.problem(in: text) != nil, "\(text)")
        }
        #expect(ImageReference.problem(in: "busybox:latest") == nil)
    }
}

@Suite struct ImageAllowListTests {
    @Test func onlyTheNamedImagesAreAdmitted() {
        let digest = "sha256:" + String(repeating: "0f", count: 32)
        let list = ImageAllowList(["busybox:1.36", "localhost/insitu-test:1", "python@\(digest)"])
        #expect(list.decide("docker.io/library/busybox:1.36") == .admitted(ImageReference("busybox:1.36")!))
        #expect(list.decide("busybox:1.36") == .admitted(ImageReference("busybox:1.36")!))
        #expect(list.decide("localhost/insitu-test:1") == .admitted(ImageReference("localhost/insitu-test:1")!))
        #expect(list.decide("docker.io/library/python@\(digest)") == .admitted(ImageReference("python@\(digest)")!))

        // Another tag, another registry, the same name without the digest: not admitted.
        #expect(list.decide("busybox:1.37") == .notAllowed(canonical: "docker.io/library/busybox:1.37"))
        #expect(list.decide("busybox") == .notAllowed(canonical: "docker.io/library/busybox:latest"))
        #expect(list.decide("quay.io/library/busybox:1.36") == .notAllowed(canonical: "quay.io/library/busybox:1.36"))
        #expect(list.decide("python:3.12") == .notAllowed(canonical: "docker.io/library/python:3.12"))
        if case .notAnImage = list.decide("NOT AN IMAGE") {} else { Issue.record("a malformed reference must not be admitted") }
    }

    @Test func anEmptyListAdmitsNothing() {
        #expect(ImageAllowList([]).decide("busybox") == .notAllowed(canonical: "docker.io/library/busybox:latest"))
    }
}
