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
            for set in sets {
                let setURL = directory.appendingPathComponent(set)
                let inputs = try loadInputs(setURL, session: session)
                let actual = try session.runOrdered(values: inputs)
                for (index, info) in session.outputs.enumerated() {
                    let file = setURL.appendingPathComponent("output_\(index).pb")
                    guard FileManager.default.fileExists(atPath: file.path) else { continue }
                    let expected = try TestDataProto.read(contentsOf: file, as: .init(for: info.type)).value
                    if let problem = compare(actual[index], expected, tolerance: tolerance) {
                        return Outcome(name: name, failure: "\(set) output '\(info.name)': \(problem)")
                    }
                }
            }
            return Outcome(name: name, failure: nil)
        } catch {
            return Outcome(name: name, failure: "\(error)")
        }
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
