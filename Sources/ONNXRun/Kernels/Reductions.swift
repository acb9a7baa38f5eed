import Foundation

/// Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare (axes as an attribute
/// before opset 13 for ReduceSum and 18 for the rest, as an input after), plus CastLike.
struct ReduceKernel: TensorKernel {
    enum Operation: Sendable { case sum, mean, max, min, prod, l1, l2, logSum, logSumExp, sumSquare }
    let operation: Operation
    let keepDims: Bool
    let attributeAxes: [Int]?
    let axesFromInput: Bool
    let noopWithEmptyAxes: Bool

    init(_ operation: Operation, axesInputSince: Int, _ context: KernelContext) throws {
        self.operation = operation
        keepDims = try context.int("keepdims", default: 1) != 0
        axesFromInput = context.opsetVersion >= axesInputSince
        attributeAxes = axesFromInput ? nil : try context.ints("axes")
        noopWithEmptyAxes = try context.int("noop_with_empty_axes", default: 0) != 0
        try context.expectInputs(1, axesFromInput ? 2 : 1)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "data is required") }
        var axes: [Int]? = attributeAxes
        if axesFromInput, inputs.count > 1, let a = inputs[1] { axes = try Conversion.integers(a) }
        if axes?.isEmpty == true { axes = nil }
        if axes == nil && noopWithEmptyAxes { return [x] }
        let rank = x.rank
        var reduced = [Bool](repeating: axes == nil, count: rank)
        for a in axes ?? [] {
            let axis = a < 0 ? a + rank : a
            guard axis >= 0 && axis < rank else { throw ONNXRunError(.invalidAttribute, "axis \(a) is out of range for rank \(rank)") }
            reduced[axis] = true
        }
        let outShapeKept = x.shape.enumerated().map { reduced[$0.offset] ? 1 : $0.element }
        let outShape = keepDims ? outShapeKept : x.shape.enumerated().filter { !reduced[$0.offset] }.map(\.element)
        let outCount = try Tensor.elementCount(outShapeKept)

        // Walk the input in order, tracking the output element each input element reduces into.
        var outStrides = [Int](repeating: 0, count: rank)
        var step = 1
        for axis in (0..<rank).reversed() {
            outStrides[axis] = reduced[axis] ? 0 : step
            step *= outShapeKept[axis]
        }
        func forEachElement(_ body: (_ input: Int, _ output: Int) -> Void) {
            var index = [Int](repeating: 0, count: rank)
            var target = 0
            for i in 0..<x.count {
                body(i, target)
                var axis = rank - 1
                while axis >= 0 {
                    index[axis] += 1
                    target += outStrides[axis]
                    if index[axis] < x.shape[axis] { break }
                    target -= outStrides[axis] * x.shape[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        func reduce<T>(_ read: (Int) -> T, _ initial: T, _ combine: (T, T) -> T) -> [T] {
            var acc = [T](repeating: initial, count: outCount)
            forEachElement { i, target in acc[target] = combine(acc[target], read(i)) }
            return acc
        }
        let reducedCount = outCount == 0 ? 0 : x.count / max(outCount, 1)

        if x.dataType.isInteger || x.dataType == .bool {
            guard let read = Conversion.integerReader(x) else { throw ONNXRunError(.unsupportedType, "\(x.dataType)") }
            let isBool = x.dataType == .bool
            let values: [Int64]
            switch operation {
            case .sum, .mean: values = reduce(read, 0, &+)
            case .max: values = reduce(read, isBool ? 0 : Int64.min) { Swift.max($0, $1) }
            case .min: values = reduce(read, isBool ? 1 : Int64.max) { Swift.min($0, $1) }
            case .prod: values = reduce(read, 1, &*)
            case .l1: values = reduce(read, 0) { $0 &+ Swift.abs($1) }
            case .sumSquare: values = reduce(read, 0) { $0 &+ $1 &* $1 }
            case .l2, .logSum, .logSumExp:
                let wide = try Conversion.cast(x, to: .double)
                return [try Conversion.cast(try compute([wide] + inputs.dropFirst(), context)[0], to: x.dataType)]
            }
            let finished = operation == .mean ? values.map { reducedCount == 0 ? 0 : $0 / Int64(reducedCount) } : values
            let out = try Tensor(shape: outShapeKept, scalars: finished)
            return [try Conversion.cast(try out.reshaped(to: outShape), to: x.dataType)]
        }

        guard x.dataType.isFloatingPoint, let read = try? Conversion.reader(x) else {
            throw ONNXRunError(.unsupportedType, "reduction of \(x.dataType) is not supported")
        }
        let values: [Double]
        switch operation {
        case .sum, .mean: values = reduce(read, 0, +)
        case .max: values = reduce(read, -.infinity) { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
        case .min: values = reduce(read, .infinity) { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
        case .prod: values = reduce(read, 1, *)
        case .l1: values = reduce(read, 0) { $0 + Swift.abs($1) }
        case .l2: values = reduce(read, 0) { $0 + $1 * $1 }.map { $0.squareRoot() }
        case .sumSquare: values = reduce(read, 0) { $0 + $1 * $1 }
        case .logSum: values = reduce(read, 0, +).map { Foundation.log($0) }
        case .logSumExp:
            let peaks = reduce(read, -.infinity) { Swift.max($0, $1) }
            var sums = [Double](repeating: 0, count: outCount)
            forEachElement { i, target in
                let m = peaks[target].isFinite ? peaks[target] : 0
                sums[target] += Foundation.exp(read(i) - m)
            }
            values = zip(sums, peaks).map { s, m in Foundation.log(s) + (m.isFinite ? m : 0) }
        }
        let finished = operation == .mean ? values.map { $0 / Double(reducedCount) } : values
        let out = try Tensor(shape: outShapeKept, scalars: finished)
        return [try Conversion.cast(try out.reshaped(to: outShape), to: x.dataType)]
    }
}

/// CastLike: casts input 0 to the element type of input 1.
struct CastLikeKernel: TensorKernel {
    let saturate: Bool
    let roundMode: String
    init(_ context: KernelContext) throws {
        try context.expectInputs(2)
        saturate = try context.int("saturate", default: 1) != 0
        roundMode = try context.string("round_mode", default: "up")
    }
    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let like = inputs[1] else { throw ONNXRunError(.invalidInput, "both inputs are required") }
        return [try Conversion.cast(x, to: like.dataType, saturate: saturate, roundMode: roundMode)]
    }
}

extension KernelRegistry {
    static func registerReductions(_ r: inout KernelRegistry) {
        let families: [(String, ReduceKernel.Operation, [Int], Int)] = [
            ("ReduceSum", .sum, [1, 11, 13], 13), ("ReduceMean", .mean, [1, 11, 13, 18], 18),
            ("ReduceMax", .max, [1, 11, 12, 13, 18, 20], 18), ("ReduceMin", .min, [1, 11, 12, 13, 18, 20], 18),
            ("ReduceProd", .prod, [1, 11, 13, 18], 18), ("ReduceL1", .l1, [1, 11, 13, 18], 18),
            ("ReduceL2", .l2, [1, 11, 13, 18], 18), ("ReduceLogSum", .logSum, [1, 11, 13, 18], 18),
            ("ReduceLogSumExp", .logSumExp, [1, 11, 13, 18], 18), ("ReduceSumSquare", .sumSquare, [1, 11, 13, 18], 18),
        ]
        for (name, operation, versions, axesInputSince) in families {
            for v in versions {
                r.register(name, since: v) { try ReduceKernel(operation, axesInputSince: axesInputSince, $0) }
            }
        }
        r.register("CastLike", since: 15, 19, 21, 23, 24) { try CastLikeKernel($0) }
    }
}
