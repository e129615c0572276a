import InsituModel
import InsituSpec
import Testing

@Suite struct SpecValuesTests {
    @Test func durations() {
        #expect(SpecValues.parseDuration("30s") == 30_000)
        #expect(SpecValues.parseDuration("500ms") == 500)
        #expect(SpecValues.parseDuration("5m") == 300_000)
        #expect(SpecValues.parseDuration("1h") == 3_600_000)
        #expect(SpecValues.parseDuration("1m30s") == 90_000)
        #expect(SpecValues.parseDuration("1h2m3s4ms") == 3_723_004)
        #expect(SpecValues.parseDuration("0s") == 0)
        #expect(SpecValues.parseDuration(" 2s ") == 2_000)
        for bad in ["", "30", "s", "1.5s", "-1s", "1d", "1 s", "1sec", "m5", "1m30", "99999999999999999999h", "9223372036854775807h"] {
            #expect(SpecValues.parseDuration(bad) == nil, "\(bad)")
        }
    }

    @Test func bytes() {
        #expect(SpecValues.parseBytes("64Mi") == 64 << 20)
        #expect(SpecValues.parseBytes("1Gi") == 1 << 30)
        #expect(SpecValues.parseBytes("512Ki") == 512 << 10)
        #expect(SpecValues.parseBytes("2Ti") == 2 << 40)
        #expect(SpecValues.parseBytes("100M") == 100_000_000)
        #expect(SpecValues.parseBytes("1G") == 1_000_000_000)
        #expect(SpecValues.parseBytes("3k") == 3_000)
        #expect(SpecValues.parseBytes("3K") == 3_000)
        #expect(SpecValues.parseBytes("1024") == 1024)
        #expect(SpecValues.parseBytes("0") == 0)
        for bad in ["", "Mi", "1.5Gi", "-1", "64MB", "64mi", "64 Mi", "1Pi", "9223372036854775807Ki", "99999999999999999999"] {
            #expect(SpecValues.parseBytes(bad) == nil, "\(bad)")
        }
    }

    @Test func cpu() {
        #expect(SpecValues.parseCPU("500m") == 500)
        #expect(SpecValues.parseCPU("0.5") == 500)
        #expect(SpecValues.parseCPU("2") == 2000)
        #expect(SpecValues.parseCPU("1.25") == 1250)
        #expect(SpecValues.parseCPU("0.001") == 1)
        #expect(SpecValues.parseCPU("1.5000") == 1500)
        #expect(SpecValues.parseCPU("0") == 0)
        for bad in ["", "m", "0.0005", "1.", ".5", "-1", "1.5m", "2 cores", "1e3", "99999999999999999999"] {
            #expect(SpecValues.parseCPU(bad) == nil, "\(bad)")
        }
    }

    @Test(arguments: [
        ("region = eu", LabelConstraint(key: "region", operator: .equals, values: ["eu"])),
        ("region=eu", LabelConstraint(key: "region", operator: .equals, values: ["eu"])),
        ("region == eu", LabelConstraint(key: "region", operator: .equals, values: ["eu"])),
        ("tier != gold", LabelConstraint(key: "tier", operator: .notEquals, values: ["gold"])),
        ("tier!=gold", LabelConstraint(key: "tier", operator: .notEquals, values: ["gold"])),
        ("site in (a, b)", LabelConstraint(key: "site", operator: .in, values: ["a", "b"])),
        ("site in (a)", LabelConstraint(key: "site", operator: .in, values: ["a"])),
        ("site notin (a,b,c)", LabelConstraint(key: "site", operator: .notIn, values: ["a", "b", "c"])),
        ("gpu", LabelConstraint(key: "gpu", operator: .exists)),
        ("!gpu", LabelConstraint(key: "gpu", operator: .doesNotExist)),
        ("  example.com/zone = eu-west-1 ", LabelConstraint(key: "example.com/zone", operator: .equals, values: ["eu-west-1"])),
    ])
    func constraintForms(_ text: String, _ expected: LabelConstraint) {
        #expect(SpecValues.parseConstraint(text) == expected)
    }

    @Test(arguments: [
        "", "   ", "= eu", "region =", "region = eu west", "region = (eu)", "site in ()", "site in (a,)",
        "site in a, b", "site in (a, b", "site within (a)", "in (a)", "!", "!gpu = 1x", "-gpu", "two words",
        "region != ", "site in (a b)",
    ])
    func malformedConstraints(_ text: String) {
        #expect(SpecValues.parseConstraint(text) == nil)
    }

    @Test func constraintDescriptionsParseBack() {
        for text in ["region = eu", "tier != gold", "gpu", "!gpu"] {
            let parsed = SpecValues.parseConstraint(text)
            #expect(parsed.flatMap { SpecValues.parseConstraint($0.description) } == parsed)
        }
    }
}
