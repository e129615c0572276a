import InsituModel
import Testing

@testable import InsituDashboard

@Suite struct DashboardFormatTests {
    @Test func timesAreUTCFromMilliseconds() {
        #expect(DashboardFormat.time(Timestamp(milliseconds: 0)) == "1970-01-01 00:00:00 UTC")
        #expect(DashboardFormat.time(Timestamp(milliseconds: 1_764_551_767_999)) == "2025-12-01 01:16:07 UTC")
        #expect(DashboardFormat.time(Timestamp(milliseconds: 951_782_400_000)) == "2000-02-29 00:00:00 UTC")
        #expect(DashboardFormat.time(Timestamp(milliseconds: -1000)) == "1969-12-31 23:59:59 UTC")
        #expect(DashboardFormat.machineTime(Timestamp(milliseconds: 1_764_551_767_000)) == "2025-12-01T01:16:07Z")
        // Extremes do not trap.
        _ = DashboardFormat.time(Timestamp(milliseconds: .max))
        _ = DashboardFormat.time(Timestamp(milliseconds: .min))
    }

    @Test func agesAndDurations() {
        let now = Timestamp(milliseconds: 10_000_000)
        #expect(DashboardFormat.age(of: Timestamp(milliseconds: 9_988_000), now: now) == "12s")
        #expect(DashboardFormat.age(of: Timestamp(milliseconds: 20_000_000), now: now) == "0ms")
        #expect(DashboardFormat.age(of: Timestamp(milliseconds: .min), now: now) == "0ms")
        #expect(DashboardFormat.duration(milliseconds: 850) == "850ms")
        #expect(DashboardFormat.duration(milliseconds: 250_000) == "4m10s")
        #expect(DashboardFormat.duration(milliseconds: 3_600_000) == "1h")
        #expect(DashboardFormat.duration(milliseconds: 11_100_000) == "3h5m")
        #expect(DashboardFormat.duration(milliseconds: 187_200_000) == "2d4h")
    }

    @Test func sizesCPUAndShares() {
        #expect(DashboardFormat.bytes(512) == "512 B")
        #expect(DashboardFormat.bytes(64 << 20) == "64 MiB")
        #expect(DashboardFormat.bytes(3 << 29) == "1.5 GiB")
        #expect(DashboardFormat.cpu(millis: 0) == "0")
        #expect(DashboardFormat.cpu(millis: 500) == "500m")
        #expect(DashboardFormat.cpu(millis: 2000) == "2")
        #expect(DashboardFormat.cpu(millis: 1500) == "1.5")
        #expect(DashboardFormat.percent(1, of: 0) == 0)
        #expect(DashboardFormat.percent(5, of: 4) == 100)
    }

    @Test func pathSegmentsArePercentEncoded() {
        #expect(DashboardLinks.segment("j-0123_a.b~") == "j-0123_a.b~")
        #expect(DashboardLinks.segment("a/b?c#d é") == "a%2Fb%3Fc%23d%20%C3%A9")
        #expect(DashboardLinks.job(JobID("x/../y")) == "/ui/jobs/x%2F..%2Fy")
    }
}
