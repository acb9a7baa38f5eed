import Foundation

/// A loaded, planned model ready to run many times.
///
/// Planning (topological order, kernel selection, attribute parsing) happens once in the
/// initializer. `run` keeps its intermediate values local, so one session may be used from several
/// threads at once.
public final class InferenceSession: Sendable {
    /// Settings for a session.
    public struct Options: Sendable {
        /// Threads used by kernels and by OpenBLAS. Defaults to the number of active cores.
        public var threads: Int
        /// Graph optimization level: 0 runs the graph as loaded.
        public var optimizationLevel: Int
        /// The most tensor memory, in bytes, one run may hold at once (intermediate and output
        /// tensors; the model's weights are not counted). A run that needs more throws an
        /// `ONNXRunError` with code `resourceLimit`. Nil means no limit.
        public var memoryLimit: Int?

        /// Creates options.
        public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, optimizationLevel: Int = 2, memoryLimit: Int? = nil) {
            self.threads = max(1, threads)
            self.optimizationLevel = optimizationLevel
            self.memoryLimit = memoryLimit
        }
    }

    /// The model as planned: the loaded model after function inlining and graph optimization at
    /// `options.optimizationLevel`, with the same inputs and outputs. The loaded model itself is
    /// not kept, so weights that optimization rewrote (e.g. BatchNorm folded into a Conv) are not
    /// held twice.
    public let model: Model
    /// The options the session was created with.
    public let options: Options
    let plan: ExecutionPlan
    /// Large tensor and scratch buffers kept from one run to the next.
    let buffers = BufferCache()

    /// Plans `model` for execution.
    public init(model: consuming Model, options: Options = Options()) throws {
        self.options = options
        // The loaded model is handed on, not kept: weights the optimizer replaces (packed, or with
        // a BatchNormalization folded in) are then freed during optimization, not held twice.
        let expanded = try FunctionExpansion.expand(consume model)
        let optimized = try Optimizer.optimize(consume expanded, level: options.optimizationLevel)
        plan = try ExecutionPlan(graph: optimized.graph, opsets: optimized.opsetImports, registry: .standard, staticShapes: StaticShapes(model: optimized))
        self.model = optimized
    }

    /// Loads and plans the model in the file at `url`.
    public convenience init(contentsOf url: URL, options: Options = Options()) throws {
        try self.init(model: try ModelLoader.load(contentsOf: url), options: options)
    }

    /// Loads and plans a model from its serialized bytes. External data is resolved against `directory`.
    public convenience init(bytes: [UInt8], directory: URL? = nil, options: Options = Options()) throws {
        try self.init(model: try ModelLoader.load(bytes: bytes, directory: directory), options: options)
    }

    /// The inputs a caller must feed: declared inputs without an initializer. (Inputs that an
    /// initializer backs may also be fed by name to override their default.)
    public var inputs: [ValueInfo] { model.graph.feedInputs }

    /// The graph outputs, in order.
    public var outputs: [ValueInfo] { model.graph.outputs }

    /// Runs the model on tensors; returns every graph output by name.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        let values = try run(values: inputs.mapValues(Value.tensor))
        var result: [String: Tensor] = [:]
        for (name, value) in values {
            guard let tensor = value.tensor else {
                throw ONNXRunError(.unsupportedType, "output is a \(value.typeDescription), use run(values:)", subject: "output '\(name)'")
            }
            result[name] = tensor
        }
        return result
    }

    /// Runs the model on any values (tensors, sequences, optionals); returns outputs by name.
    public func run(values inputs: [String: Value]) throws -> [String: Value] {
        let ordered = try runOrdered(values: inputs)
        var result: [String: Value] = [:]
        for (info, value) in zip(outputs, ordered) { result[info.name] = value }
        return result
    }

    /// Runs the model and returns outputs in graph output order. With a `profile`, the time of
    /// every node is added to it.
    public func runOrdered(values inputs: [String: Value], profile: RunProfile? = nil) throws -> [Value] {
        let graph = plan.graph
        let declared = Set(graph.inputs.map(\.name))
        for name in inputs.keys where !declared.contains(name) {
            let expected = self.inputs.map { "'\($0.name)'" }.joined(separator: ", ")
            throw ONNXRunError(.invalidInput, "the model has no input of this name (inputs: \(expected))", subject: "input '\(name)'")
        }
        var bindings = SymbolBindings()
        var fed: [Value?] = []
        for info in graph.inputs {
            if let value = inputs[info.name] {
                try InputChecker.check(value, against: info, bindings: &bindings)
                fed.append(value)
            } else if graph.initializers[info.name] != nil {
                fed.append(nil)
            } else {
                throw ONNXRunError(.invalidInput, "missing; the model expects \(info.type?.description ?? "a value")", subject: "input '\(info.name)'")
            }
        }
        let budget = options.memoryLimit.map { MemoryBudget(limit: $0) }
        return try MemoryBudget.$current.withValue(budget) {
            try BufferCache.$current.withValue(buffers) {
                try BLAS.$threads.withValue(options.threads) {
                    try plan.run(inputs: fed, context: RunContext(threads: options.threads, profile: profile))
                }
            }
        }
    }
}

/// Symbolic dimension values seen so far while checking one run's inputs.
struct SymbolBindings {
    var values: [String: (size: Int, input: String)] = [:]
}

/// Checks fed values against declared input types.
enum InputChecker {
    static func check(_ value: Value, against info: ValueInfo, bindings: inout SymbolBindings) throws {
        let subject = "input '\(info.name)'"
        guard let type = info.type else { return }
        switch (type, value) {
        case (.tensor(let elementType, let shape), .tensor(let tensor)):
            if let elementType, elementType != tensor.dataType {
                throw ONNXRunError(.invalidInput, "expected element type \(elementType), got \(tensor.dataType)", subject: subject)
            }
            guard let shape else { return }
            guard shape.count == tensor.rank else {
                throw ONNXRunError(.invalidInput, "expected rank \(shape.count) \(shapeText(shape)), got rank \(tensor.rank) \(tensor.shape)", subject: subject)
            }
            for (axis, (dim, actual)) in zip(shape, tensor.shape).enumerated() {
                switch dim {
                case .known(let size) where size != actual:
                    throw ONNXRunError(.invalidInput, "dimension \(axis) must be \(size), got \(actual) (expected shape \(shapeText(shape)), got \(tensor.shape))", subject: subject)
                case .symbolic(let name):
                    if let bound = bindings.values[name], bound.size != actual {
                        throw ONNXRunError(.invalidInput, "dimension \(axis) ('\(name)') is \(actual), but '\(name)' is \(bound.size) in input '\(bound.input)'", subject: subject)
                    }
                    bindings.values[name] = (actual, info.name)
                default: break
                }
            }
        case (.tensor, _):
            throw ONNXRunError(.invalidInput, "expected a tensor, got \(value.typeDescription)", subject: subject)
        case (.sequence, .sequence), (.optional, .optional), (.optional, .tensor), (.optional, .sequence), (.map, .map):
            return
        case (.sequence, _):
            throw ONNXRunError(.invalidInput, "expected a sequence, got \(value.typeDescription)", subject: subject)
        default:
            return
        }
    }

    static func shapeText(_ shape: [Dimension]) -> String {
        "[" + shape.map(\.description).joined(separator: ", ") + "]"
    }
}
