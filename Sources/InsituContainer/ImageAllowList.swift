public import InsituModel

/// The images a node lets jobs run (`engines.container.allowed_images`). An image is admitted
/// only when its normalised reference equals an entry's: a tag entry admits that tag (whatever
/// the operator pulled under it), a digest entry admits exactly that content. There are no
/// wildcards: the node owner names every image that may run next to their data.
public struct ImageAllowList: Hashable, Sendable {
    public let entries: Set<String>

    /// `entries` as written in the config; any that is not an image reference is dropped
    /// (the config parser reports those).
    public init(_ entries: [String]) {
        self.entries = Set(entries.compactMap { ImageReference($0)?.canonical })
    }

    public enum Decision: Hashable, Sendable {
        /// Run this (normalised) reference.
        case admitted(ImageReference)
        case notAnImage(problem: String)
        case notAllowed(canonical: String)
    }

    public func decide(_ image: String) -> Decision {
        guard let reference = ImageReference(image) else {
            return .notAnImage(problem: ImageReference.problem(in: image) ?? "not an image reference")
        }
        return entries.contains(reference.canonical) ? .admitted(reference) : .notAllowed(canonical: reference.canonical)
    }
}
