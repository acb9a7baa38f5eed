import Foundation

/// Runs ONNX backend test-case directories (`model.onnx` + `test_data_set_N/input_K.pb`,
/// `output_K.pb`) and compares outputs the way the ONNX backend runner does.
public enum TestCaseRunner {
    /// Comparison tolerances for floating-point outputs: |actual − expected| ≤ atol + rtol·|expected|.
    public struct Tolerance: Sendable {
        /// Relative tolerance.
        public var rtol: Double
        /// Absolute tolerance.
        public var atol: Double
        /// Creates tolerances; the defaults are the ONNX backend runner's.
        public init(rtol: Double = 1e-3, atol: Double = 1e-7) {
            self.rtol = rtol
            self.atol = atol
        }
    }

    /// The outcome of one test case.
    public struct Outcome: Sendable {
        /// The case's directory name.
        public var name: String
        /// Nil when the case passed; otherwise why it failed.
        public var failure: String?
        /// True when every data set matched.
        public var passed: Bool { failure == nil }
        /// How the outputs were checked when not value by value (random operators).
        public var note: String? = nil
    }

    /// True when the graph (or a subgraph) draws random values: a random operator (the ones
    /// constant folding leaves alone), or a Dropout whose training_mode input is given. Such cases
    /// are checked by properties (type, shape, value set), since the expected values are one
    /// particular draw of numpy's generator.
    static func drawsRandomValues(_ graph: Graph) -> Bool {
        graph.nodes.contains { node in
            if ConstantFolding.nondeterministic.contains(node.opType) { return true }
            if node.opType == "Dropout", node.inputs.count > 2, !node.inputs[2].isEmpty { return true }
            return node.attributes.values.contains { attribute in
                switch attribute {
                case .graph(let g): drawsRandomValues(g)
                case .graphs(let gs): gs.contains(where: drawsRandomValues)
                default: false
                }
            }
        }
    }

    /// Runs the case in `directory`: every `test_data_set_*` in it.
    public static func run(caseDirectory directory: URL, tolerance: Tolerance = Tolerance(), threads: Int = 1, optimizationLevel: Int = 2) -> Outcome {
        let name = directory.lastPathComponent
        do {
            let session = try InferenceSession(
                contentsOf: directory.appendingPathComponent("model.onnx"),
                options: .init(threads: threads, optimizationLevel: optimizationLevel))
            let sets = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                .filter { $0.hasPrefix("test_data_set_") }.sorted()
            guard !sets.isEmpty else { return Outcome(name: name, failure: "no test_data_set_* directories") }
            let random = drawsRandomValues(try FunctionExpansion.expand(session.model).graph)
            for set in sets {
                if let problem = try check(dataSet: directory.appendingPathComponent(set), session: session, tolerance: tolerance, randomDraws: random) {
                    return Outcome(name: name, failure: "\(set) \(problem)")
                }
            }
            return Outcome(name: name, failure: nil, note: random ? "random draws: type, shape and value set checked" : nil)
        } catch {
            return Outcome(name: name, failure: "\(error)")
        }
    }

    /// Runs one `test_data_set_*` directory on `session`; nil when every stored output matches,
    /// otherwise the first difference (`output 'y': ...`).
    /// With `randomDraws`, outputs are checked by `compareRandomDraws` instead of value by value.
    public static func check(dataSet setURL: URL, session: InferenceSession, tolerance: Tolerance = Tolerance(), randomDraws: Bool = false) throws -> String? {
        let inputs = try loadInputs(setURL, session: session)
        let actual = try session.runOrdered(values: inputs)
        for (index, info) in session.outputs.enumerated() {
            let file = setURL.appendingPathComponent("output_\(index).pb")
            guard FileManager.default.fileExists(atPath: file.path) else { continue }
            let expected = try TestDataProto.read(contentsOf: file, as: .init(for: info.type)).value
            let problem = randomDraws
                ? compareRandomDraws(actual[index], expected, tolerance: tolerance)
                : compare(actual[index], expected, tolerance: tolerance)
            if let problem {
                return "output '\(info.name)': \(problem)"
            }
        }
        return nil
    }

    /// Reads `input_K.pb` files of a data set, bound by position to the model's fed inputs.
    static func loadInputs(_ setURL: URL, session: InferenceSession) throws -> [String: Value] {
        var inputs: [String: Value] = [:]
        let feeds = session.inputs
        var index = 0
        while true {
            let file = setURL.appendingPathComponent("input_\(index).pb")
            guard FileManager.default.fileExists(atPath: file.path) else { break }
            guard index < feeds.count else {
                throw ONNXRunError(.invalidInput, "data set has more inputs than the model's \(feeds.count)", subject: file.path)
            }
            inputs[feeds[index].name] = try TestDataProto.read(contentsOf: file, as: .init(for: feeds[index].type)).value
            index += 1
        }
        return inputs
    }

    /// Nil when `actual` matches `expected`; otherwise a description of the first difference.
    public static func compare(_ actual: Value, _ expected: Value, tolerance: Tolerance) -> String? {
        switch (actual, expected) {
        case (.tensor(let a), .tensor(let e)): return compare(a, e, tolerance: tolerance)
        case (.sequence(let a), .sequence(let e)):
            guard a.count == e.count else { return "sequence length \(a.count), expected \(e.count)" }
            for (i, (x, y)) in zip(a, e).enumerated() {
                if let problem = compare(x, y, tolerance: tolerance) { return "element \(i): \(problem)" }
            }
            return nil
        case (.optional(let a), .optional(let e)):
            switch (a, e) {
            case (nil, nil): return nil
            case (let x?, let y?): return compare(x, y, tolerance: tolerance)
            default: return a == nil ? "optional is empty, expected a value" : "optional has a value, expected none"
            }
        case (.optional(let a?), _): return compare(a, expected, tolerance: tolerance)
        case (_, .optional(let e?)): return compare(actual, e, tolerance: tolerance)
        case (.map(let ak, let av), .map(let ek, let ev)):
            if let problem = compare(ak, ek, tolerance: tolerance) { return "keys: \(problem)" }
            return compare(.sequence(av), .sequence(ev), tolerance: tolerance)
        default:
            return "got \(actual.typeDescription), expected \(expected.typeDescription)"
        }
    }

    /// The properties a random draw must share with the reference draw: element type and shape
    /// exactly; when the reference holds only 0 and 1 (Bernoulli, a dropout mask) so must the
    /// output; otherwise (dropout) every element must be 0 or equal the reference's kept value
    /// where the reference kept it.
    public static func compareRandomDraws(_ actual: Value, _ expected: Value, tolerance: Tolerance) -> String? {
        guard case .tensor(let a) = actual, case .tensor(let e) = expected else { return compare(actual, expected, tolerance: tolerance) }
        guard a.dataType == e.dataType else { return "element type \(a.dataType), expected \(e.dataType)" }
        guard a.shape == e.shape else { return "shape \(a.shape), expected \(e.shape)" }
        guard let ra = try? Conversion.reader(a), let re = try? Conversion.reader(e) else { return compare(a, e, tolerance: tolerance) }
        let binary = (0..<e.count).allSatisfy { re($0) == 0 || re($0) == 1 }
        for i in 0..<a.count {
            let x = ra(i), y = re(i)
            if binary {
                if x != 0 && x != 1 { return "element \(i) is \(x); a draw of this output must be 0 or 1" }
            } else if y != 0 && x != 0 && abs(x - y) > tolerance.atol + tolerance.rtol * abs(y) {
                return "element \(i) is \(x); a kept element must equal \(y) (and a dropped one 0)"
            }
        }
        return nil
    }

    /// Compares tensors: dtype and shape exactly, floats within tolerance, everything else exactly.
    public static func compare(_ a: Tensor, _ e: Tensor, tolerance: Tolerance) -> String? {
        guard a.dataType == e.dataType else { return "element type \(a.dataType), expected \(e.dataType)" }
        guard a.shape == e.shape else { return "shape \(a.shape), expected \(e.shape)" }
        if a.dataType == .string {
            for i in 0..<a.count where a.strings[i] != e.strings[i] {
                return "element \(i) is \(JSONFormat.quote(a.strings[i])), expected \(JSONFormat.quote(e.strings[i]))"
            }
            return nil
        }
        if a.dataType == .float || a.dataType == .double || a.dataType == .float16 || a.dataType == .bfloat16 {
            guard let ra = try? Conversion.reader(a), let re = try? Conversion.reader(e) else { return "cannot read \(a.dataType)" }
            var worst: (index: Int, excess: Double) = (-1, 0)
            var mismatches = 0
            for i in 0..<a.count {
                let x = ra(i), y = re(i)
                if x == y || (x.isNaN && y.isNaN) { continue }
                let excess = abs(x - y) - (tolerance.atol + tolerance.rtol * abs(y))
                if excess > 0 || x.isNaN || y.isNaN {
                    mismatches += 1
                    if worst.index < 0 || excess > worst.excess || excess.isNaN { worst = (i, excess.isNaN ? .infinity : excess) }
                }
            }
            if mismatches > 0 {
                let i = worst.index
                return "\(mismatches) of \(a.count) elements differ beyond rtol \(tolerance.rtol), atol \(tolerance.atol); worst at \(i): got \(ra(i)), expected \(re(i))"
            }
            return nil
        }
        // Exact comparison of the packed bytes (integers, bool, complex, float8, 4-bit).
        let equal = a.withUnsafeBytes { x in e.withUnsafeBytes { y in x.elementsEqual(y) } }
        if equal { return nil }
        if let ra = Conversion.integerReader(a), let re = Conversion.integerReader(e) {
            for i in 0..<a.count where ra(i) != re(i) { return "element \(i) is \(ra(i)), expected \(re(i))" }
        }
        return "values differ"
    }
}
