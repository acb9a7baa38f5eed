import Testing
@testable import ONNXRun

// MARK: Helpers shared by the data-movement kernel tests

/// An int64 tensor.
func int64Tensor(_ shape: [Int], _ values: [Int64]) -> Tensor {
    try! Tensor(shape: shape, scalars: values)
}

/// A 1-D int64 tensor (shape, axes, starts... inputs).
func int64Vector(_ values: [Int]) -> Tensor {
    int64Tensor([values.count], values.map { Int64($0) })
}

/// A string tensor.
func stringTensor(_ shape: [Int], _ values: [String]) -> Tensor {
    try! Tensor(shape: shape, strings: values)
}

/// 0, 1, 2, ... as float with the given shape.
func floatIota(_ shape: [Int]) -> Tensor {
    let n = shape.reduce(1, *)
    return floatTensor(shape, (0..<n).map { Float($0) })
}

/// 0, 1, 2, ... as int64 with the given shape.
func int64Iota(_ shape: [Int], from start: Int64 = 0) -> Tensor {
    let n = shape.reduce(1, *)
    return int64Tensor(shape, (0..<n).map { start + Int64($0) })
}

/// The elements of an int64 tensor (records an issue for another type).
func int64Values(_ t: Tensor, sourceLocation: SourceLocation = #_sourceLocation) -> [Int64] {
    guard t.dataType == .int64 else {
        Issue.record("expected int64, got \(t.dataType)", sourceLocation: sourceLocation)
        return []
    }
    return try! t.scalars(as: Int64.self)
}

/// Row-major multi-index of flat position `flat` in `shape`.
func multiIndex(_ flat: Int, _ shape: [Int]) -> [Int] {
    var index = [Int](repeating: 0, count: shape.count)
    var rest = flat
    for d in shape.indices.reversed() where shape[d] > 0 {
        index[d] = rest % shape[d]
        rest /= shape[d]
    }
    return index
}

/// Flat row-major position of `index` in `shape`.
func flatIndex(_ index: [Int], _ shape: [Int]) -> Int {
    var flat = 0
    for d in shape.indices { flat = flat * shape[d] + index[d] }
    return flat
}

/// Expects the error thrown by `body` to be an ONNXRunError with `code` whose description contains `text`.
func expectError(
    _ code: ONNXRunError.Code, containing text: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    let error = #expect(throws: ONNXRunError.self, sourceLocation: sourceLocation) { try body() }
    #expect(error?.code == code, "got \(String(describing: error))", sourceLocation: sourceLocation)
    if let text {
        #expect(error?.description.contains(text) == true, "\(String(describing: error)) lacks \"\(text)\"", sourceLocation: sourceLocation)
    }
}

// MARK: DataMovement

@Suite struct DataMovementTests {
    /// stridedCopy against a per-element reference, for element sizes 1...16 and odd strides.
    @Test(arguments: [
        // (shape, strides, base) over a source of 200 elements
        ([2, 3, 4], [12, 4, 1], 0),  // contiguous
        ([4, 3, 2], [1, 4, 12], 0),  // transpose
        ([2, 3], [0, 1], 5),  // broadcast rows
        ([3, 2], [1, 0], 0),  // broadcast columns
        ([3, 4], [-4, -1], 11),  // reversed
        ([2, 1, 3], [20, 7, 3], 1),  // size-1 dimension, strided inner
        ([], [], 7),  // scalar
        ([2, 0, 3], [6, 3, 1], 0),  // empty
    ])
    func stridedCopyMatchesReference(shape: [Int], strides: [Int], base: Int) {
        for size in [1, 2, 4, 8, 16, 3] {
            let sourceCount = 200
            let source = UnsafeMutableRawPointer.allocate(byteCount: sourceCount * size, alignment: 64)
            defer { source.deallocate() }
            for i in 0..<(sourceCount * size) { source.storeBytes(of: UInt8(truncatingIfNeeded: i * 7 + i / 251), toByteOffset: i, as: UInt8.self) }
            let n = shape.reduce(1, *)
            let destination = UnsafeMutableRawPointer.allocate(byteCount: max(n * size, 1), alignment: 64)
            defer { destination.deallocate() }
            DataMovement.stridedCopy(from: source, base: base, strides: strides, shape: shape, elementSize: size, into: destination)
            for flat in 0..<n {
                let index = multiIndex(flat, shape)
                var element = base
                for d in shape.indices { element += index[d] * strides[d] }
                for b in 0..<size {
                    let got = destination.load(fromByteOffset: flat * size + b, as: UInt8.self)
                    let want = source.load(fromByteOffset: element * size + b, as: UInt8.self)
                    if got != want {
                        Issue.record("size \(size), element \(flat) byte \(b): \(got) != \(want)")
                        return
                    }
                }
            }
        }
    }

    @Test func mappingStringsRoundTrips() throws {
        let a = stringTensor([2], ["a", "b"])
        let b = stringTensor([1], ["c"])
        let out = try DataMovement.mappingStrings([a, b, int64Vector([7])], data: [0, 1]) { inputs in
            // positions are pooled across data inputs; non-data inputs are untouched
            #expect(int64Values(inputs[0]!) == [0, 1])
            #expect(int64Values(inputs[1]!) == [2])
            #expect(int64Values(inputs[2]!) == [7])
            return [int64Tensor([2, 2], [2, 0, 1, 2])]
        }
        #expect(out[0].shape == [2, 2])
        #expect(out[0].strings == ["c", "a", "b", "c"])
    }

    @Test func mappingStringsRejectsMixedTypes() {
        expectError(.invalidInput) {
            _ = try DataMovement.mappingStrings([stringTensor([1], ["a"]), floatTensor([1], [1])], data: [0, 1]) { $0.map { $0! } }
        }
    }

    @Test func elementSizeRejectsPackedTypes() throws {
        #expect(try DataMovement.elementSize(.float16) == 2)
        #expect(try DataMovement.elementSize(.complex128) == 16)
        #expect(try DataMovement.elementSize(.bool) == 1)
        expectError(.unsupportedType) { _ = try DataMovement.elementSize(.int4) }
        expectError(.unsupportedType) { _ = try DataMovement.elementSize(.string) }
    }

    /// Every operator of this family resolves at each opset from its first version to 23, and not before.
    @Test(arguments: [
        ("Reshape", 1), ("Flatten", 1), ("Squeeze", 1), ("Unsqueeze", 1), ("Identity", 1), ("Shape", 1), ("Size", 1),
        ("Constant", 1), ("ConstantOfShape", 9), ("Concat", 1), ("Split", 1), ("Transpose", 1), ("Gather", 1),
        ("Cast", 1), ("ArgMax", 1), ("ArgMin", 1), ("Slice", 1), ("Expand", 8), ("Tile", 1), ("Where", 9),
    ])
    func registeredForEveryOpset(op: String, first: Int) {
        let registry = KernelRegistry.standard
        #expect(registry.earliestVersion(of: op, domain: "") == first)
        for opset in first...23 {
            #expect(registry.factory(for: op, domain: "", opset: opset) != nil, "\(op) at opset \(opset)")
        }
        if first > 1 { #expect(registry.factory(for: op, domain: "", opset: first - 1) == nil) }
    }

    @Test func packedTypesAreRejectedByCopyingKernels() throws {
        let packed = try [UInt8(0x21)].withUnsafeBytes { try Tensor(dataType: .int4, shape: [2], bytes: $0) }
        // Views are fine...
        #expect(try runNode("Reshape", inputs: [packed, int64Vector([1, 2])])[0].shape == [1, 2])
        // ...copies are not supported yet.
        expectError(.unsupportedType) { _ = try runNode("Concat", inputs: [packed, packed], attributes: ["axis": .int(0)]) }
        expectError(.unsupportedType) { _ = try runNode("Gather", inputs: [packed, int64Vector([0])]) }
        let square = try [UInt8(0x21), 0x43].withUnsafeBytes { try Tensor(dataType: .int4, shape: [2, 2], bytes: $0) }
        expectError(.unsupportedType) { _ = try runNode("Transpose", inputs: [square]) }
        let one = try [UInt8(0x07)].withUnsafeBytes { try Tensor(dataType: .uint4, shape: [1], bytes: $0) }
        expectError(.unsupportedType) { _ = try runNode("ConstantOfShape", inputs: [int64Vector([2])], attributes: ["value": .tensor(one)]) }
    }
}
