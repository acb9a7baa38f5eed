/// Maps (domain, operator, since-version) to kernel factories.
///
/// Looking up an operator for a model picks the entry with the highest since-version that is not
/// above the model's opset for that domain, as the ONNX versioning rules prescribe.
struct KernelRegistry: Sendable {
    /// Builds a kernel for one node.
    typealias Factory = @Sendable (KernelContext) throws -> any Kernel

    private struct Entry: Sendable {
        let sinceVersion: Int
        let factory: Factory
    }

    private var entries: [String: [Entry]] = [:]

    private static func key(_ domain: String, _ opType: String) -> String {
        let normalized = domain == "ai.onnx" ? "" : domain
        return normalized + "::" + opType
    }

    /// Registers `factory` for `opType` from each of `versions` on (the same kernel serves them all).
    mutating func register(_ opType: String, domain: String = "", since versions: Int..., factory: @escaping Factory) {
        var list = entries[Self.key(domain, opType), default: []]
        for v in versions { list.append(Entry(sinceVersion: v, factory: factory)) }
        list.sort { $0.sinceVersion < $1.sinceVersion }
        entries[Self.key(domain, opType)] = list
    }

    /// The factory for `opType` in `domain` at `opset`, or nil when none applies.
    func factory(for opType: String, domain: String, opset: Int) -> Factory? {
        entries[Self.key(domain, opType)]?.last(where: { $0.sinceVersion <= opset })?.factory
    }

    /// True when some version of the operator is registered.
    func knows(_ opType: String, domain: String) -> Bool { entries[Self.key(domain, opType)] != nil }

    /// The lowest since-version registered for an operator.
    func earliestVersion(of opType: String, domain: String) -> Int? {
        entries[Self.key(domain, opType)]?.first?.sinceVersion
    }

    /// Every kernel this runtime ships, by family. Adding a family = one line here.
    static let standard: KernelRegistry = {
        var registry = KernelRegistry()
        registerStandardKernels(&registry)
        return registry
    }()
}
