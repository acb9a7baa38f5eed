import ArgumentParser
import Foundation
import ONNXRun

/// `onnx-run bench MODEL [INPUT...]`: measures load time, run latency and peak memory in-process.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a model's load time, run latency percentiles and peak memory.",
        discussion: """
            Without input files, inputs are generated from the model's declared types (uniform values \
            in [0, 1) for floats, small integers otherwise); symbolic dimensions are set with --shape \
            (default 1). With --json the last line of standard output is one JSON object with \
            median_ms, p90_ms, min_ms, mean_ms, load_ms, runs, warmup, threads and peak_rss_mb.
            """)

    @Argument(help: "The .onnx model file.")
    var model: String

    @Argument(help: "Input files (.json, .pb, .npy) as for the run command.")
    var inputs: [String] = []

    @Option(name: .long, help: "Shape of a generated input, e.g. --shape input_ids=1,128 (repeatable).")
    var shape: [String] = []

    @Option(name: .long, help: "Timed runs.")
    var runs: Int = 20

    @Option(name: .long, help: "Untimed warm-up runs.")
    var warmup: Int = 3

    @Flag(name: .long, help: "Print the results as one JSON object on the last line.")
    var json = false

    @Flag(name: .long, help: "After the timed runs, run --runs more times with per-node timing and print where the time goes.")
    var profile = false

    @Option(name: .long, help: "With --profile, how many of the slowest nodes to list.")
    var profileNodes = 15

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard profileNodes >= 0 else { throw ValidationError("--profile-nodes must not be negative") }
    }

    func run() throws {
        let options = runtime.sessionOptions
        let loadStart = DispatchTime.now()
        let session = try InferenceSession(contentsOf: URL(fileURLWithPath: model), options: options)
        let loadMilliseconds = milliseconds(since: loadStart)

        var feeds = try InputFiles.bind(inputs, to: session)
        let shapes = try parseShapes()
        for info in session.inputs where feeds[info.name] == nil {
            feeds[info.name] = .tensor(try InputGenerator.tensor(for: info, shapes: shapes))
        }

        let total = warmup + runs
        var times: [Double] = []
        let started = DispatchTime.now()
        var lastProgress = started
        for index in 0..<total {
            let start = DispatchTime.now()
            _ = try session.runOrdered(values: feeds)
            if index >= warmup { times.append(milliseconds(since: start)) }
            if milliseconds(since: started) > 1000 && milliseconds(since: lastProgress) > 500 {
                FileHandle.standardError.write(Data("\rbench: run \(index + 1)/\(total)".utf8))
                lastProgress = DispatchTime.now()
            }
        }
        if milliseconds(since: started) > 1000 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }

        let profileTable = profile ? try profiledRuns(session, feeds: feeds) : nil
        times.sort()
        let median = percentile(times, 0.5), p90 = percentile(times, 0.9)
        let mean = times.reduce(0, +) / Double(times.count)
        let rss = peakResidentMegabytes()
        if json {
            let fields: [(String, String)] = [
                ("model", JSONFormat.quote(model)), ("median_ms", format(median)), ("p90_ms", format(p90)),
                ("min_ms", format(times[0])), ("mean_ms", format(mean)), ("load_ms", format(loadMilliseconds)),
                ("runs", String(runs)), ("warmup", String(warmup)), ("threads", String(options.threads)),
                ("peak_rss_mb", format(rss)),
            ]
            if let profileTable { print(profileTable, terminator: "") }
            print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
        } else {
            print("model      \(model)")
            print("threads    \(options.threads)")
            print("load       \(format(loadMilliseconds)) ms (parse + optimize + plan)")
            print("latency    median \(format(median)) ms, p90 \(format(p90)) ms, min \(format(times[0])) ms over \(runs) runs (\(warmup) warm-up)")
            print("peak RSS   \(format(rss)) MB")
            if let profileTable { print(profileTable, terminator: "") }
        }
    }

    /// Runs `runs` more times with per-node timing; returns a table of time per operator type and
    /// the slowest nodes, in milliseconds per run.
    private func profiledRuns(_ session: InferenceSession, feeds: [String: Value]) throws -> String {
        let record = RunProfile()
        for _ in 0..<runs { _ = try session.runOrdered(values: feeds, profile: record) }
        let perRun = { (nanoseconds: UInt64) in Double(nanoseconds) / 1e6 / Double(runs) }
        let total = record.operators.reduce(0) { $0 + perRun($1.nanoseconds) }
        var table = "\nprofile (ms per run, \(runs) profiled runs, \(format(total)) ms in nodes)\n"
        table += "  operator                          ms      %  nodes\n"
        for entry in record.operators {
            let ms = perRun(entry.nanoseconds)
            table += "  " + entry.opType.padding(toLength: 28, withPad: " ", startingAt: 0)
                + String(format: "%9.3f %6.1f %6d\n", ms, 100 * ms / max(total, 1e-9), entry.calls / runs)
        }
        table += "  slowest nodes\n"
        for entry in record.nodes.sorted(by: { $0.nanoseconds > $1.nanoseconds }).prefix(profileNodes) {
            table += "  " + "\(entry.node) (\(entry.opType))".padding(toLength: 60, withPad: " ", startingAt: 0)
                + String(format: "%9.3f\n", perRun(entry.nanoseconds))
        }
        return table
    }

    private func parseShapes() throws -> [String: [Int]] {
        var result: [String: [Int]] = [:]
        for entry in shape {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--shape expects name=d0,d1,..., got '\(entry)'") }
            let dims = parts[1].split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard dims.allSatisfy({ ($0 ?? -1) >= 0 }) else { throw ValidationError("--shape '\(entry)': dimensions must be non-negative integers") }
            result[String(parts[0])] = dims.map { $0! }
        }
        return result
    }
}

func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    let position = p * Double(sorted.count - 1)
    let low = Int(position.rounded(.down)), high = Int(position.rounded(.up))
    return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
}

func format(_ value: Double) -> String { String(format: "%.3f", value) }

/// Peak resident set size of this process in megabytes (Linux reports kilobytes).
func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// Makes inputs for benchmarking from declared input types.
enum InputGenerator {
    static func tensor(for info: ValueInfo, shapes: [String: [Int]]) throws -> Tensor {
        guard case .tensor(let elementType, let declared)? = info.type else {
            throw ONNXRunError(.invalidInput, "cannot generate a value of type \(info.type?.description ?? "unknown"); give an input file", subject: "input '\(info.name)'")
        }
        let type = elementType ?? .float
        let shape: [Int]
        if let given = shapes[info.name] {
            shape = given
        } else {
            shape = (declared ?? []).map { dim in
                if case .known(let v) = dim { return v }
                if case .symbolic(let name) = dim, let v = shapes[name]?.first { return v }
                return 1
            }
        }
        let count = shape.reduce(1, *)
        // Seeded and fast: the system generator makes a system call per value (seconds for a 640×640 image).
        var generator = RandomSource(seed: 0x6F6E6E782D72756E)
        switch type {
        case .float: return try Tensor(shape: shape, scalars: (0..<count).map { _ in Float.random(in: 0..<1, using: &generator) })
        case .double: return try Tensor(shape: shape, scalars: (0..<count).map { _ in Double.random(in: 0..<1, using: &generator) })
        case .int64: return try Tensor(shape: shape, scalars: (0..<count).map { _ in Int64.random(in: 0..<2, using: &generator) })
        case .int32: return try Tensor(shape: shape, scalars: (0..<count).map { _ in Int32.random(in: 0..<2, using: &generator) })
        case .bool: return try Tensor(shape: shape, scalars: (0..<count).map { _ in Bool.random(using: &generator) })
        default: return try Tensor(zeros: type, shape: shape)
        }
    }
}
