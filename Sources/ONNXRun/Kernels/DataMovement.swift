/// Helpers shared by kernels that move elements without looking at their values (Concat, Gather,
/// Transpose, Slice, Split, Expand, Tile, Where).
///
/// Numeric and bool elements are moved as raw bytes of `bitWidth / 8` bytes. String tensors keep
/// their elements out of line, so kernels run on int64 positions instead (see ``mappingStrings``)
/// and the strings are looked up afterwards.
enum DataMovement {
    /// Bytes per element of a tensor whose elements are copied as bytes. Throws for strings (use
    /// ``mappingStrings``) and for packed sub-byte types.
    static func elementSize(_ type: DataType) throws -> Int {
        let bits = type.bitWidth
        guard bits >= 8, type != .string else {
            throw ONNXRunError(.unsupportedType, "moving elements of \(type) is not supported")
        }
        return bits / 8
    }

    /// Normalizes `axis` (which may count from the back) against `rank`, or throws `code`.
    static func axis(_ axis: Int, rank: Int, _ code: ONNXRunError.Code = .invalidAttribute, what: String = "axis") throws -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        guard normalized >= 0 && normalized < rank else {
            throw ONNXRunError(code, "\(what) \(axis) is out of range for rank \(rank) (expected -\(rank)...\(rank - 1))")
        }
        return normalized
    }

    /// The product of `shape[range]`.
    static func product(_ shape: [Int], _ range: Range<Int>) -> Int {
        var p = 1
        for i in range { p *= shape[i] }
        return p
    }

    /// Runs `body` on `inputs`, replacing string tensors at positions `data` with int64 tensors of
    /// the same shape holding each element's position in a shared pool; every tensor `body`
    /// returns is then read as pool positions and turned back into a string tensor. Without string
    /// data inputs, `body` runs on `inputs` unchanged.
    static func mappingStrings(_ inputs: [Tensor?], data: [Int], _ body: ([Tensor?]) throws -> [Tensor]) throws -> [Tensor] {
        let present = data.compactMap { $0 < inputs.count ? inputs[$0] : nil }
        guard present.contains(where: { $0.dataType == .string }) else { return try body(inputs) }
        guard present.allSatisfy({ $0.dataType == .string }) else {
            let types = present.map { "\($0.dataType)" }.joined(separator: ", ")
            throw ONNXRunError(.invalidInput, "data inputs must have one element type, got \(types)")
        }
        var pool: [String] = []
        var substituted = inputs
        for index in data where index < inputs.count {
            guard let t = inputs[index] else { continue }
            let positions = try Tensor(uninitialized: .int64, shape: t.shape)
            let p = positions.pointer(as: Int64.self)
            for i in 0..<t.count { p[i] = Int64(pool.count + i) }
            pool.append(contentsOf: t.strings)
            substituted[index] = positions
        }
        return try body(substituted).map { result in
            guard result.dataType == .int64 else {
                throw ONNXRunError(.invalidInput, "internal: string positions came back as \(result.dataType)")
            }
            let p = result.pointer(as: Int64.self)
            return try Tensor(shape: result.shape, strings: (0..<result.count).map { pool[Int(p[$0])] })
        }
    }

    /// Fills the contiguous `destination` (row-major over `shape`) from `source`, reading the
    /// element at `base + Σ index[d] * strides[d]` (in elements; strides may be 0 or negative).
    ///
    /// Size-1 dimensions are dropped and dimensions that are contiguous in the source are merged,
    /// so a plain slice or broadcast ends up as a few long `memcpy` rows. Large copies split their
    /// rows across up to `threads` threads.
    static func stridedCopy(
        from source: UnsafeRawPointer, base: Int, strides: [Int], shape: [Int], elementSize: Int,
        into destination: UnsafeMutableRawPointer, threads: Int = 1
    ) {
        var dims: [Int] = []
        var steps: [Int] = []
        for (d, size) in shape.enumerated() {
            if size == 0 { return }
            if size == 1 { continue }
            if let last = dims.last, steps[steps.count - 1] == strides[d] * size {
                dims[dims.count - 1] = last * size
                steps[steps.count - 1] = strides[d]
            } else {
                dims.append(size)
                steps.append(strides[d])
            }
        }
        let start = source + base * elementSize
        guard let inner = dims.last else {
            destination.copyMemory(from: start, byteCount: elementSize)
            return
        }
        let innerStep = steps[steps.count - 1]
        let rowBytes = inner * elementSize
        let outerRank = dims.count - 1
        var rows = 1
        for d in 0..<outerRank { rows *= dims[d] }

        let copyRow: (UnsafeRawPointer, UnsafeMutableRawPointer) -> Void
        if innerStep == 1 {
            copyRow = { s, d in d.copyMemory(from: s, byteCount: rowBytes) }
        } else {
            func typed<T>(_: T.Type) -> (UnsafeRawPointer, UnsafeMutableRawPointer) -> Void {
                { s, d in
                    let src = s.assumingMemoryBound(to: T.self), dst = d.assumingMemoryBound(to: T.self)
                    var offset = 0
                    for i in 0..<inner {
                        dst[i] = src[offset]
                        offset += innerStep
                    }
                }
            }
            switch elementSize {
            case 1: copyRow = typed(UInt8.self)
            case 2: copyRow = typed(UInt16.self)
            case 4: copyRow = typed(UInt32.self)
            case 8: copyRow = typed(UInt64.self)
            case 16: copyRow = typed(SIMD2<UInt64>.self)
            default:
                let size = elementSize, stepBytes = innerStep * elementSize
                copyRow = { s, d in
                    for i in 0..<inner { (d + i * size).copyMemory(from: s + i * stepBytes, byteCount: size) }
                }
            }
        }

        // Output rows in chunks; each chunk finds its first row's source offset from the row number.
        // Several threads matter beyond bandwidth: at 2 threads half the source was just written
        // by the other thread, in its core's cache (ShuffleNet's channel shuffles took 7× longer
        // copied by one thread than at 1 thread).
        Parallel.forEach(rows, threads: threads, costPerItem: max(1, rowBytes / 4)) { chunk in
            var index = [Int](repeating: 0, count: outerRank)
            var offset = 0, remainder = chunk.lowerBound
            for d in stride(from: outerRank - 1, through: 0, by: -1) {
                index[d] = remainder % dims[d]
                offset += index[d] * steps[d]
                remainder /= dims[d]
            }
            var out = destination + chunk.lowerBound * rowBytes
            for _ in chunk {
                copyRow(start + offset * elementSize, out)
                out += rowBytes
                var d = outerRank - 1
                while d >= 0 {
                    index[d] += 1
                    offset += steps[d]
                    if index[d] < dims[d] { break }
                    offset -= steps[d] * dims[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
    }
}
