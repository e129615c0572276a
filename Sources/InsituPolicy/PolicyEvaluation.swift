public import InsituModel

extension NodePolicy {
    /// Whether this policy lets `facts` run. Pure: the node calls it on every assignment before
    /// anything touches its disk, and the scheduler on the policy a node advertised.
    ///
    /// Checked in this order, the first refusal wins: the engine; for each dataset the job reads,
    /// the job's namespace and then its module; the module URL's host.
    public func admit(_ facts: ExecutionFacts) -> PolicyDecision {
        if let engines, !engines.contains(facts.engine) {
            return refuse(
                "engine \(facts.engine.rawValue) may not run here",
                "engine \(facts.engine.rawValue) may not run on this node (allowed: \(Self.list(engines.map(\.rawValue))))",
                fix: "use one of those engines, or another node")
        }
        let namespace = Self.bounded(facts.namespace)
        for name in facts.datasets {
            guard let rule = datasets[name] else { continue }
            let dataset = Self.bounded(name)
            if let namespaces = rule.namespaces, !namespaces.contains(facts.namespace) {
                return refuse(
                    "namespace \"\(namespace)\" may not use dataset \"\(dataset)\"",
                    "namespace \"\(namespace)\" may not use dataset \"\(dataset)\" (allowed: \(Self.list(namespaces)))",
                    fix: "submit the job in one of those namespaces, or ask the dataset's owner to allow yours")
            }
            guard rule.restrictsModules else { continue }
            guard let module = facts.module else {
                return refuse(
                    "dataset \"\(dataset)\" admits only approved modules",
                    "dataset \"\(dataset)\" may be read only by approved WebAssembly modules, and a \(facts.engine.rawValue) job has none",
                    fix: "run an approved module instead")
            }
            if rule.modules?.contains(module) == true { continue }
            if let signature = facts.signature, let keys = rule.trustedKeys,
                keys.contains(where: { ModuleSignature.verify(signature, of: module, key: $0) })
            {
                continue
            }
            let signed = facts.signature == nil ? "" : "; its signature does not verify with a key the node trusts for this dataset"
            return refuse(
                "module \(module) may not read dataset \"\(dataset)\"",
                "module \(module) may not read dataset \"\(dataset)\": it is not among the modules the dataset's owner approved\(signed)",
                fix: rule.trustedKeys == nil
                    ? "ask the dataset's owner to approve this module's sha256"
                    : "ask the dataset's owner to approve this module, or sign its sha256 with a key they trust (engine.signature)")
        }
        if let allowed = moduleHosts, let host = facts.moduleHost,
            !(allowed.contains(host.host) || allowed.contains("\(host.host):\(host.port)"))
        {
            let shown = host.host.isEmpty ? "a URL without a host" : "host \"\(Self.bounded(host.host))\""
            return refuse(
                "module URL host not allowed",
                "modules may not be fetched from \(shown) on this node (allowed: \(Self.list(allowed)))",
                fix: "upload the module with the job (a local path or sha256:), or host it on an allowed host")
        }
        return .allow
    }

    private func refuse(_ rule: String, _ what: String, fix: String) -> PolicyDecision {
        .refuse(PolicyRefusal(rule: "node policy: " + rule, message: "node policy: \(what); \(fix)"))
    }

    /// At most 10 entries, then how many more: a refusal must stay readable.
    static func list(_ items: [String]) -> String {
        if items.isEmpty { return "none" }
        let shown = items.prefix(10).map { bounded($0) }.joined(separator: ", ")
        return items.count > 10 ? "\(shown) and \(items.count - 10) more" : shown
    }

    static func bounded(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.prefix(80).map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
        return text.unicodeScalars.count > 80 ? cleaned + "…" : cleaned
    }
}
