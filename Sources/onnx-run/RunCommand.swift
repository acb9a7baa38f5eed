import ArgumentParser
import Foundation
import ONNXRun

/// `onnx-run MODEL INPUT...`: runs a model once and prints its outputs as JSON.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on inputs and print its outputs as JSON (the default command).",
        discussion: """
            Inputs may be JSON files (an object mapping input names to nested arrays or to \
            {"shape", "datatype", "data"}, or an Open Inference Protocol request {"inputs": [...]}), \
            ONNX test-data .pb files (TensorProto, SequenceProto or OptionalProto; bound by the \
            proto's name when it matches an input, otherwise by position) and NumPy .npy files \
            (bound by position). Use '-' to read JSON from standard input.
            """)

    @Argument(help: "The .onnx model file.")
    var model: String

    @Argument(help: "Input files: .json, .pb or .npy.")
    var inputs: [String] = []

    @Option(name: .long, help: "Write the JSON outputs to this file instead of standard output.")
    var output: String?

    @Option(name: .customLong("save-outputs"), help: "Also write each graph output as DIR/output_<i>.pb (ONNX test-data form).")
    var saveOutputs: String?

    @Option(name: .customLong("json-format"), help: "Output JSON style: typed ({name: {datatype, shape, data}}), nested ({name: nested arrays}) or oip (Open Inference Protocol response).")
    var jsonFormat: JSONFormat.OutputStyle = .typed

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        let session = try InferenceSession(contentsOf: URL(fileURLWithPath: model), options: runtime.sessionOptions)
        let feeds = try InputFiles.bind(inputs, to: session)
        let outputs = try session.runOrdered(values: feeds)
        let named = zip(session.outputs, outputs).map { (name: $0.name, value: $1) }

        if let saveOutputs {
            let directory = URL(fileURLWithPath: saveOutputs)
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw ONNXRunError(.io, "cannot create directory: \(error.localizedDescription)", subject: saveOutputs)
            }
            for (index, output) in named.enumerated() {
                try TestDataProto.write(output.value, name: output.name, to: directory.appendingPathComponent("output_\(index).pb"))
            }
        }
        let text = try JSONFormat.encodeOutputs(named, style: jsonFormat)
        if let output {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output))
            } catch {
                throw ONNXRunError(.io, "cannot write output: \(error.localizedDescription)", subject: output)
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}

extension JSONFormat.OutputStyle: ExpressibleByArgument {}

/// Binds input files on the command line to the model's inputs.
enum InputFiles {
    static func bind(_ paths: [String], to session: InferenceSession) throws -> [String: Value] {
        let declared = session.inputs
        var feeds: [String: Value] = [:]
        var position = 0
        func nextPositional(_ path: String) throws -> ValueInfo {
            while position < declared.count && feeds[declared[position].name] != nil { position += 1 }
            guard position < declared.count else {
                throw ONNXRunError(.invalidInput, "more input files than the model has inputs (\(declared.count))", subject: path)
            }
            defer { position += 1 }
            return declared[position]
        }
        for path in paths {
            let lower = path.lowercased()
            if path == "-" || lower.hasSuffix(".json") {
                let data: Data
                do {
                    data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
                } catch {
                    throw ONNXRunError(.io, "cannot read input file: \(error.localizedDescription)", subject: path)
                }
                do {
                    for (name, tensor) in try JSONFormat.parseInputs(data, inputs: declared) { feeds[name] = .tensor(tensor) }
                } catch let error as ONNXRunError {
                    throw error.code == .invalidData ? error.about(path) : error
                }
            } else if lower.hasSuffix(".npy") {
                let info = try nextPositional(path)
                feeds[info.name] = .tensor(try NPYFormat.read(contentsOf: URL(fileURLWithPath: path)))
            } else if lower.hasSuffix(".pb") {
                // Decide the message kind from the input it will bind to: by name when a tensor
                // proto names an input, else the next positional input.
                let url = URL(fileURLWithPath: path)
                let probe = try? TestDataProto.read(contentsOf: url, as: .tensor)
                if let probe, let info = declared.first(where: { $0.name == probe.name }), feeds[info.name] == nil {
                    feeds[info.name] = try TestDataProto.read(contentsOf: url, as: .init(for: info.type)).value
                } else {
                    let info = try nextPositional(path)
                    feeds[info.name] = try TestDataProto.read(contentsOf: url, as: .init(for: info.type)).value
                }
            } else {
                throw ONNXRunError(.io, "unknown input file type (expected .json, .pb or .npy)", subject: path)
            }
        }
        return feeds
    }
}
