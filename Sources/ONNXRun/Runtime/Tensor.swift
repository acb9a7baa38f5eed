import Foundation

/// Element types that can be read from and written to a ``Tensor`` directly.
public protocol TensorElement: Sendable {
    /// The ONNX element type that stores this Swift type.
    static var dataType: DataType { get }
}

extension Float: TensorElement { public static var dataType: DataType { .float } }
extension Double: TensorElement { public static var dataType: DataType { .double } }
extension Float16: TensorElement { public static var dataType: DataType { .float16 } }
extension Int8: TensorElement { public static var dataType: DataType { .int8 } }
extension Int16: TensorElement { public static var dataType: DataType { .int16 } }
extension Int32: TensorElement { public static var dataType: DataType { .int32 } }
extension Int64: TensorElement { public static var dataType: DataType { .int64 } }
extension UInt8: TensorElement { public static var dataType: DataType { .uint8 } }
extension UInt16: TensorElement { public static var dataType: DataType { .uint16 } }
extension UInt32: TensorElement { public static var dataType: DataType { .uint32 } }
extension UInt64: TensorElement { public static var dataType: DataType { .uint64 } }
extension Bool: TensorElement { public static var dataType: DataType { .bool } }

/// Contiguous, 64-byte aligned memory holding a tensor's elements (or its strings).
///
/// Shared between tensors that are views of each other (Reshape, Squeeze, ...). It is written only
/// while a kernel fills a freshly allocated output, before the tensor is shared, so concurrent reads
/// afterwards are safe; that invariant is why it may be `@unchecked Sendable`.
final class TensorStorage: @unchecked Sendable {
    /// Start of the element bytes.
    let bytes: UnsafeMutableRawPointer
    /// Size of the allocation in bytes.
    let byteCount: Int
    /// Elements of a `string` tensor; empty otherwise.
    var strings: [String]
    private let release: (@Sendable (UnsafeMutableRawPointer) -> Void)?
    /// The run budget this allocation is charged to, if any.
    private let budget: MemoryBudget?

    /// Allocates `byteCount` bytes (zeroed unless told otherwise); throws when memory runs out,
    /// so a hostile file asking for terabytes gets an error, not a crash. Inside a run with a
    /// memory limit the bytes are charged to the run's budget first.
    init(byteCount: Int, zeroed: Bool = true) throws {
        let size = max(byteCount, 1)
        let budget = MemoryBudget.current
        try budget?.reserve(size)
        var pointer: UnsafeMutableRawPointer?
        // Large tensors of a run come from the session's cache of mapped buffers.
        let cache = size >= BufferCache.minimumBytes ? BufferCache.current : nil
        if let cache {
            pointer = cache.take(size)
        } else if posix_memalign(&pointer, 64, size) != 0 {
            pointer = nil
        }
        guard let pointer else {
            budget?.release(size)
            throw ONNXRunError(.resourceLimit, "cannot allocate \(byteCount) bytes for a tensor")
        }
        self.budget = budget
        bytes = pointer
        if zeroed { bytes.initializeMemory(as: UInt8.self, repeating: 0, count: size) }
        self.byteCount = byteCount
        strings = []
        if let cache {
            release = { cache.give($0, bytes: size) }
        } else {
            release = { free($0) }
        }
    }

    /// Wraps memory owned elsewhere (for example a memory-mapped file), released by `release`.
    init(wrapping bytes: UnsafeMutableRawPointer, byteCount: Int, release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void) {
        self.bytes = bytes
        self.byteCount = byteCount
        strings = []
        self.release = release
        budget = nil
    }

    deinit {
        release?(bytes)
        budget?.release(max(byteCount, 1))
    }
}

/// An n-dimensional array of any ONNX element type, stored contiguously in row-major order.
///
/// `Tensor` is a value: copies share storage, and operations return new tensors. Views such as
/// ``reshaped(to:)`` share storage without copying.
public struct Tensor: Sendable {
    /// The element type.
    public let dataType: DataType
    /// The size of each dimension; empty for a scalar.
    public let shape: [Int]
    /// The number of elements (the product of `shape`).
    public let count: Int
    let storage: TensorStorage

    /// The number of dimensions.
    public var rank: Int { shape.count }

    init(dataType: DataType, shape: [Int], count: Int, storage: TensorStorage) {
        self.dataType = dataType
        self.shape = shape
        self.count = count
        self.storage = storage
    }

    /// Creates a zero-filled tensor (empty strings for `string`). Throws when the size overflows.
    public init(zeros dataType: DataType, shape: [Int]) throws {
        let count = try Tensor.elementCount(shape)
        let (bytes, overflow) = count.multipliedReportingOverflow(by: max(dataType.bitWidth, 8) / 8)
        guard !overflow, bytes < Int.max / 2 else {
            throw ONNXRunError(.resourceLimit, "tensor of shape \(shape) is too large to allocate")
        }
        self.init(dataType: dataType, shape: shape, count: count, storage: try TensorStorage(byteCount: dataType.byteCount(forElements: count)))
        if dataType == .string { storage.strings = Array(repeating: "", count: count) }
    }

    /// Allocates a tensor whose contents the caller initializes before sharing it (kernel outputs).
    init(uninitialized dataType: DataType, shape: [Int]) throws {
        let count = try Tensor.elementCount(shape)
        guard dataType != .string else {
            try self.init(zeros: .string, shape: shape)
            return
        }
        let (_, overflow) = count.multipliedReportingOverflow(by: 16)
        guard !overflow else {
            throw ONNXRunError(.resourceLimit, "tensor of shape \(shape) is too large to allocate")
        }
        self.init(dataType: dataType, shape: shape, count: count, storage: try TensorStorage(byteCount: dataType.byteCount(forElements: count), zeroed: false))
    }

    /// Creates a tensor from Swift scalars in row-major order.
    public init<T: TensorElement>(shape: [Int], scalars: [T]) throws {
        let count = try Tensor.elementCount(shape)
        guard count == scalars.count else {
            throw ONNXRunError(.shapeMismatch, "shape \(shape) holds \(count) elements but \(scalars.count) were given")
        }
        try self.init(uninitialized: T.dataType, shape: shape)
        scalars.withUnsafeBufferPointer { source in
            if let base = source.baseAddress {
                storage.bytes.copyMemory(from: base, byteCount: MemoryLayout<T>.stride * count)
            }
        }
    }

    /// Creates a scalar (rank-0) tensor.
    public init<T: TensorElement>(scalar: T) {
        try! self.init(shape: [], scalars: [scalar])
    }

    /// Creates a `string` tensor.
    public init(shape: [Int], strings: [String]) throws {
        let count = try Tensor.elementCount(shape)
        guard count == strings.count else {
            throw ONNXRunError(.shapeMismatch, "shape \(shape) holds \(count) elements but \(strings.count) were given")
        }
        try self.init(zeros: .string, shape: shape)
        storage.strings = strings
    }

    /// Creates a tensor by copying raw little-endian bytes in packed ONNX layout.
    public init(dataType: DataType, shape: [Int], bytes: UnsafeRawBufferPointer) throws {
        guard dataType != .string else {
            throw ONNXRunError(.unsupportedType, "string tensors cannot be created from raw bytes")
        }
        try self.init(uninitialized: dataType, shape: shape)
        let needed = dataType.byteCount(forElements: count)
        guard bytes.count == needed else {
            throw ONNXRunError(.invalidData, "\(dataType) tensor of shape \(shape) needs \(needed) bytes, got \(bytes.count)")
        }
        if needed > 0 { storage.bytes.copyMemory(from: bytes.baseAddress!, byteCount: needed) }
        if dataType == .bool {
            let p = storage.bytes.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count where p[i] > 1 { p[i] = 1 }
        }
    }

    /// Wraps memory without copying it (zero-copy input from a caller's buffer, a memory-mapped
    /// file, ...). The memory must hold the elements in packed ONNX layout, stay valid and unchanged
    /// until `release` is called (when the last copy of the tensor goes away), and `bool` elements
    /// must be 0 or 1. Not for `string` tensors.
    public init(dataType: DataType, shape: [Int], wrapping bytes: UnsafeMutableRawPointer, release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void) throws {
        guard dataType != .string else { throw ONNXRunError(.unsupportedType, "string tensors cannot wrap raw memory") }
        let count = try Tensor.elementCount(shape)
        self.init(dataType: dataType, shape: shape, count: count, storage: TensorStorage(wrapping: bytes, byteCount: dataType.byteCount(forElements: count), release: release))
    }

    /// The product of `shape`, checked for negative sizes and overflow.
    static func elementCount(_ shape: [Int]) throws -> Int {
        var count = 1
        for d in shape {
            guard d >= 0 else { throw ONNXRunError(.invalidData, "negative dimension \(d) in shape \(shape)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw ONNXRunError(.resourceLimit, "shape \(shape) has more elements than fit in Int") }
            count = product
        }
        return count
    }

    /// The size of the element bytes.
    public var byteCount: Int { dataType.byteCount(forElements: count) }

    /// A view of the same elements with another shape of the same element count.
    public func reshaped(to newShape: [Int]) throws -> Tensor {
        let newCount = try Tensor.elementCount(newShape)
        guard newCount == count else {
            throw ONNXRunError(.shapeMismatch, "cannot reshape \(shape) (\(count) elements) to \(newShape) (\(newCount) elements)")
        }
        return Tensor(dataType: dataType, shape: newShape, count: count, storage: storage)
    }

    /// Calls `body` with the elements as a typed buffer. `T` must match ``dataType``.
    public func withUnsafeBufferPointer<T: TensorElement, R>(as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dataType == dataType, "tensor holds \(dataType), not \(T.dataType)")
        return try body(UnsafeBufferPointer(start: storage.bytes.assumingMemoryBound(to: T.self), count: count))
    }

    /// Calls `body` with the element bytes in packed ONNX layout.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.bytes, count: byteCount))
    }

    /// The elements as a Swift array. Throws when `T` is not the tensor's element type.
    public func scalars<T: TensorElement>(as type: T.Type) throws -> [T] {
        guard T.dataType == dataType else {
            throw ONNXRunError(.unsupportedType, "tensor holds \(dataType), not \(T.dataType)")
        }
        return withUnsafeBufferPointer(as: T.self) { Array($0) }
    }

    /// The elements of a `string` tensor.
    public var strings: [String] { storage.strings }

    // MARK: Kernel-side unchecked access

    /// Typed pointer to the elements, for kernels that have checked `dataType`. Valid while `self` lives.
    @inline(__always)
    func pointer<T>(as type: T.Type) -> UnsafeMutablePointer<T> {
        storage.bytes.assumingMemoryBound(to: T.self)
    }

    /// Typed buffer over the elements, for kernels that have checked `dataType`. Valid while `self` lives.
    @inline(__always)
    func buffer<T>(as type: T.Type) -> UnsafeMutableBufferPointer<T> {
        UnsafeMutableBufferPointer(start: storage.bytes.assumingMemoryBound(to: T.self), count: count)
    }

    /// Row-major strides in elements.
    var strides: [Int] {
        var result = [Int](repeating: 1, count: shape.count)
        var stride = 1
        for axis in shape.indices.reversed() {
            result[axis] = stride
            stride *= shape[axis]
        }
        return result
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "tensor(\(dataType))\(shape)" }
}
