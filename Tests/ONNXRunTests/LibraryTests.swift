import Foundation
import Testing
@testable import ONNXRun

@Suite struct LibraryTests {
    /// The README's Swift snippet must be exactly the code CI compiles in Examples/ReadmeSnippet.
    @Test func readmeSnippetIsTheCompiledExample() throws {
        let readme = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "```swift\n"))
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let snippet = String(readme[start.upperBound..<end.lowerBound])
        let compiled = try String(contentsOf: packageRoot.appendingPathComponent("Examples/Sources/ReadmeSnippet/main.swift"), encoding: .utf8)
        #expect(snippet == compiled)
    }

    /// One session, `run` from 8 threads at once: every result equals the serial one.
    @Test func concurrentRunsMatchSerialRuns() throws {
        let session = try InferenceSession(contentsOf: packageRoot.appendingPathComponent("Generated/zoo/zoo_squeezenet/model.onnx"), options: .init(threads: 1))
        var inputs: [Tensor] = []
        for k in 0..<8 {
            let values: [Float] = (0..<(3 * 224 * 224)).map { (i: Int) -> Float in Float((i * (k + 3)) % 255) / 255 }
            inputs.append(floatTensor([1, 3, 224, 224], values))
        }
        let name = session.inputs[0].name
        let serial = try inputs.map { try session.run([name: $0]) }
        // Eight OS threads (not tasks: the cooperative pool has only as many threads as cores),
        // released together so their runs overlap.
        final class Results: @unchecked Sendable {
            var outputs = [[String: Tensor]](repeating: [:], count: 8)
            var errors: [String] = []
            let lock = NSLock()
        }
        let results = Results()
        let start = DispatchSemaphore(value: 0), done = DispatchGroup()
        for (k, input) in inputs.enumerated() {
            done.enter()
            let thread = Thread {
                start.wait()
                do {
                    let output = try session.run([name: input])
                    results.lock.withLock { results.outputs[k] = output }
                } catch {
                    results.lock.withLock { results.errors.append("\(error)") }
                }
                done.leave()
            }
            thread.start()
        }
        for _ in inputs { start.signal() }
        done.wait()
        #expect(results.errors.isEmpty, "\(results.errors)")
        let concurrent = results.outputs
        for k in 0..<inputs.count {
            for (output, expected) in serial[k] {
                let actual = try #require(concurrent[k][output])
                #expect(try actual.scalars(as: Float.self) == expected.scalars(as: Float.self), "input \(k), output \(output)")
            }
        }
        // Different inputs give different outputs, so a mix-up between threads would show.
        #expect(try serial[0].values.first!.scalars(as: Float.self) != serial[1].values.first!.scalars(as: Float.self))
    }
}
