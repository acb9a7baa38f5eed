import Foundation

/// RandomUniform, RandomNormal, RandomUniformLike, RandomNormalLike and Bernoulli.
///
/// With a `seed` attribute a node draws the same sequence on every session (the spec leaves the
/// generator to the runtime, so values differ from numpy's); without one each run draws fresh
/// values. Draws come from a xoshiro256** generator seeded through SplitMix64.

/// A small, fast pseudo-random generator (xoshiro256**), seedable for reproducible draws (also
/// the command line's `bench`, for generated inputs).
package struct RandomSource: RandomNumberGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds the four state words from `seed` with SplitMix64 (never all zero).
    package init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    package mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// A uniform double in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal draw (Box–Muller).
    mutating func normal() -> Double {
        let u = max(unit(), Double.leastNonzeroMagnitude), v = unit()
        return (-2 * Foundation.log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
}

/// Where a random node's draws come from: a fixed seed (one stream per run, so equal on every run)
/// or fresh entropy each run.
struct RandomSeed: Sendable {
    let seed: UInt64?

    /// Reads the node's optional float `seed` attribute.
    init(_ context: KernelContext) throws {
        seed = try context.float("seed").map { UInt64(Float($0).bitPattern) &+ 0x5EED }
    }

    /// A generator for one run of the node.
    func generator() -> RandomSource {
        RandomSource(seed: seed ?? UInt64.random(in: .min ... .max))
    }
}

/// RandomUniform / RandomNormal and their `*Like` forms.
struct RandomTensorKernel: TensorKernel {
    enum Distribution { case uniform(low: Double, high: Double), normal(mean: Double, scale: Double) }
    let distribution: Distribution
    /// Output type from the `dtype` attribute; nil means "like the input".
    let dataType: DataType?
    /// Fixed shape for the non-Like forms.
    let shape: [Int]?
    let seed: RandomSeed

    init(_ context: KernelContext, normal: Bool, like: Bool) throws {
        try context.expectInputs(like ? 1 : 0)
        if normal {
            distribution = .normal(mean: Double(try context.float("mean", default: 0)), scale: Double(try context.float("scale", default: 1)))
        } else {
            distribution = .uniform(low: Double(try context.float("low", default: 0)), high: Double(try context.float("high", default: 1)))
        }
        let code = try context.int("dtype")
        if let code {
            guard let t = DataType(rawValue: Int32(truncatingIfNeeded: code)), [.float, .double, .float16, .bfloat16].contains(t) else {
                throw context.error(.invalidAttribute, "dtype \(code) is not a floating-point type (float16, bfloat16, float, double)")
            }
            dataType = t
        } else {
            dataType = like ? nil : .float
        }
        if like {
            shape = nil
        } else {
            let s = try context.required("shape", context.ints)
            guard s.allSatisfy({ $0 >= 0 }) else { throw context.error(.invalidAttribute, "shape \(s) has a negative dimension") }
            shape = s
        }
        seed = try RandomSeed(context)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let outShape: [Int]
        var type = dataType ?? .float
        if let shape {
            outShape = shape
        } else {
            guard let like = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
            outShape = like.shape
            if dataType == nil {
                guard [.float, .double, .float16, .bfloat16].contains(like.dataType) else {
                    throw ONNXRunError(.unsupportedType, "input is \(like.dataType); set dtype to a floating-point type")
                }
                type = like.dataType
            }
        }
        var generator = seed.generator()
        let count = try Tensor.elementCount(outShape)
        var values = [Double](repeating: 0, count: count)
        switch distribution {
        case .uniform(let low, let high): for i in 0..<count { values[i] = low + (high - low) * generator.unit() }
        case .normal(let mean, let scale): for i in 0..<count { values[i] = mean + scale * generator.normal() }
        }
        return [try Conversion.cast(Tensor(shape: outShape, scalars: values), to: type)]
    }
}

/// Bernoulli: each output element is 1 with the probability given by the input element, else 0.
struct BernoulliKernel: TensorKernel {
    let dataType: DataType?
    let seed: RandomSeed

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        dataType = try context.int("dtype").map { code in
            guard let t = DataType(rawValue: Int32(truncatingIfNeeded: code)), t != .string else {
                throw context.error(.invalidAttribute, "dtype \(code) is not a numeric or bool type")
            }
            return t
        }
        seed = try RandomSeed(context)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let p = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let probability = try Conversion.reader(p)
        var generator = seed.generator()
        let values = (0..<p.count).map { generator.unit() < probability($0) ? 1.0 : 0.0 }
        return [try Conversion.cast(Tensor(shape: p.shape, scalars: values), to: dataType ?? p.dataType)]
    }
}

extension KernelRegistry {
    static func registerRandom(_ r: inout KernelRegistry) {
        r.register("RandomUniform", since: 1, 22) { try RandomTensorKernel($0, normal: false, like: false) }
        r.register("RandomNormal", since: 1, 22) { try RandomTensorKernel($0, normal: true, like: false) }
        r.register("RandomUniformLike", since: 1, 22) { try RandomTensorKernel($0, normal: false, like: true) }
        r.register("RandomNormalLike", since: 1, 22) { try RandomTensorKernel($0, normal: true, like: true) }
        r.register("Bernoulli", since: 15, 22) { try BernoulliKernel($0) }
    }
}
