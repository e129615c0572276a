import Crypto
public import InsituModel

/// A node policy's fingerprint: `sha256:<hex>` of its canonical form. The canonical form is the
/// normalised policy (lists sorted, without repeats; datasets by name) written field by field,
/// every string prefixed by its length, so no two different policies share a form and the same
/// policy always has one, however its config was ordered.
extension NodePolicy {
    public var digest: String {
        let hash = SHA256.hash(data: Array(canonicalForm.utf8))
        return "sha256:" + hash.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Versioned, so a later policy format cannot collide with this one.
    var canonicalForm: String {
        let policy = normalised()
        var text = "insitu-node-policy-v1\n"
        func field(_ name: String, _ values: [String]?) {
            text += name
            if let values {
                text += "=[" + values.map { "\($0.utf8.count):\($0)" }.joined(separator: ",") + "]"
            } else {
                text += "=*"
            }
            text += "\n"
        }
        field("engines", policy.engines?.map(\.rawValue))
        for name in policy.datasets.keys.sorted() {
            let rule = policy.datasets[name] ?? DatasetRule()
            field("dataset", [name])
            field(" namespaces", rule.namespaces)
            field(" modules", rule.modules?.map(\.rawValue))
            field(" trusted_keys", rule.trustedKeys)
        }
        field("module_hosts", policy.moduleHosts)
        field("output.max_bytes", policy.output.maxBytes.map { ["\($0)"] })
        field("output.stdout", ["\(policy.output.stdout)"])
        field("output.stderr", ["\(policy.output.stderr)"])
        return text
    }
}
