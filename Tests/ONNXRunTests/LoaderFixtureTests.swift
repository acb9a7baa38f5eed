import Foundation
import Testing
@testable import ONNXRun

/// Loads files written by the onnx Python package (Tools/make_loader_fixtures.py) and checks them
/// against the values the package itself reads back.
@Suite struct LoaderFixtureTests {
    static let directory = generatedRoot.appendingPathComponent("loader")

    struct DTypeCase: Decodable, CustomStringConvertible, Sendable {
        let file: String
        let dtype: String
        let shape: [Int]
        let values: [JSONScalar]
        var description: String { file }
    }

    enum JSONScalar: Decodable, Sendable {
        case number(Double)
        case text(String)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let d = try? c.decode(Double.self) { self = .number(d) } else { self = .text(try c.decode(String.self)) }
        }
    }

    static var manifest: [String: Any] {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }

    static var dtypeCases: [DTypeCase] {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")) else { return [] }
        struct Manifest: Decodable { let dtypes: [DTypeCase] }
        return (try? JSONDecoder().decode(Manifest.self, from: data).dtypes) ?? []
    }

    @Test func fixturesWereGenerated() {
        #expect(Self.dtypeCases.count >= 39, "run Tools/test.sh (or Tools/make_loader_fixtures.py Generated/loader) first")
    }

    @Test(arguments: dtypeCases)
    func initializerMatchesTheOnnxPackage(_ c: DTypeCase) throws {
        let model = try ModelLoader.load(contentsOf: Self.directory.appendingPathComponent(c.file))
        let tensor = try #require(model.graph.initializers["value"])
        #expect(tensor.dataType.description == c.dtype)
        #expect(tensor.shape == c.shape)
        if tensor.dataType == .string {
            #expect(c.values.map { (v: JSONScalar) -> String in if case .text(let s) = v { return s } else { return "" } } == tensor.strings)
            return
        }
        var actual: [Double]
        if tensor.dataType == .complex64 {
            actual = tensor.withUnsafeBytes { Array($0.bindMemory(to: Float.self)).map(Double.init) }
        } else if tensor.dataType == .complex128 {
            actual = tensor.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
        } else {
            let read = try Conversion.reader(tensor)
            actual = (0..<tensor.count).map(read)
        }
        let expected: [Double] = c.values.map { if case .number(let d) = $0 { return d } else { return Double.nan } }
        #expect(actual == expected)
        // The model also runs: Identity passes the value through unchanged.
        let session = try InferenceSession(contentsOf: Self.directory.appendingPathComponent(c.file))
        let out = try session.run(values: [:])["out"]
        #expect(out.map { TestCaseRunner.compare($0, .tensor(tensor), tolerance: .init()) } == .some(nil))
    }

    @Test func externalDataIsReadRelativeToTheModel() throws {
        let entry = try #require(Self.manifest["external"] as? [String: Any])
        let model = try ModelLoader.load(contentsOf: Self.directory.appendingPathComponent(entry["file"] as! String))
        let values = try #require(model.graph.initializers["value"]).scalars(as: Float.self)
        #expect(values.map(Double.init) == (entry["values"] as! [Double]))
    }

    @Test func externalDataMustStayInsideAndExist() throws {
        for (key, fragment) in [("external_escape", "escapes the model's directory"), ("external_missing", "does not exist")] {
            let file = try #require(Self.manifest[key] as? String)
            let error = #expect(throws: ONNXRunError.self) { try ModelLoader.load(contentsOf: Self.directory.appendingPathComponent(file)) }
            #expect(error?.code == .invalidModel)
            #expect(error?.description.contains(fragment) == true, "\(error?.description ?? "")")
            #expect(error?.description.contains("initializer 'value'") == true)
        }
    }

    @Test func sparseInitializerIsDensified() throws {
        let entry = try #require(Self.manifest["sparse"] as? [String: Any])
        let model = try ModelLoader.load(contentsOf: Self.directory.appendingPathComponent(entry["file"] as! String))
        let tensor = try #require(model.graph.initializers["value"])
        #expect(tensor.shape == (entry["shape"] as! [Int]))
        #expect(try tensor.scalars(as: Float.self).map(Double.init) == (entry["values"] as! [Double]))
    }

    @Test func subgraphsKeepTheirOuterScopeReferences() throws {
        let entry = try #require(Self.manifest["subgraph"] as? [String: Any])
        let model = try ModelLoader.load(contentsOf: Self.directory.appendingPathComponent(entry["file"] as! String))
        let node = try #require(model.graph.nodes.first)
        guard case .graph(let then)? = node.attributes["then_branch"], case .graph(let otherwise)? = node.attributes["else_branch"] else {
            Issue.record("branches missing")
            return
        }
        #expect(then.nodes.count == entry["then_nodes"] as! Int)
        #expect(otherwise.nodes.count == entry["else_nodes"] as! Int)
        #expect(ExecutionPlan.outerReferences(of: node).sorted() == (entry["outer_names"] as! [String]))
        #expect(model.graph.inputs[1].type == .tensor(elementType: .float, shape: [.symbolic("n")]))
    }

    @Test func localFunctionIsLoadedAndInlined() throws {
        let entry = try #require(Self.manifest["function"] as? [String: Any])
        let url = Self.directory.appendingPathComponent(entry["file"] as! String)
        let model = try ModelLoader.load(contentsOf: url)
        #expect(model.functions.map(\.name) == [entry["name"] as! String])
        #expect(model.functions.first?.domain == entry["domain"] as? String)
        let expanded = try FunctionExpansion.expand(model)
        #expect(expanded.graph.nodes.map(\.opType) == ["LeakyRelu"])
        guard case .float(let alpha)? = expanded.graph.nodes.first?.attributes["alpha"] else {
            Issue.record("attribute reference not substituted")
            return
        }
        #expect(alpha == 0.5)
    }
}
