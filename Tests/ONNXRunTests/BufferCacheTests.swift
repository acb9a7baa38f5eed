import Testing
@testable import ONNXRun

@Suite struct BufferCacheTests {
    @Test func sizeClassesRoundUpByAtMostAQuarter() {
        for bytes in [65_536, 65_537, 100_000, 1 << 20, (1 << 20) + 1, 3_000_000, 123_456_789] {
            let size = BufferCache.sizeClass(bytes)
            #expect(size >= bytes)
            #expect(Double(size) <= Double(bytes) * 1.25 + 4096)
            #expect(size % 4096 == 0)
            // Every request of a class gets that class back.
            #expect(BufferCache.sizeClass(size) == size)
        }
    }

    @Test func aGivenBackBufferServesTheNextRequestOfItsClass() throws {
        let cache = BufferCache()
        let first = try #require(cache.take(200_000))
        #expect(Int(bitPattern: first) % 64 == 0)
        cache.give(first, bytes: 200_000)
        #expect(cache.cachedBytes == BufferCache.sizeClass(200_000))
        // 210 000 bytes falls in the same class as 200 000.
        #expect(BufferCache.sizeClass(210_000) == BufferCache.sizeClass(200_000))
        let second = try #require(cache.take(210_000))
        #expect(second == first)
        #expect(cache.cachedBytes == 0)
        // Another class does not take it.
        cache.give(second, bytes: 210_000)
        let other = try #require(cache.take(1 << 20))
        #expect(other != first)
        cache.give(other, bytes: 1 << 20)
    }

    @Test func theCacheHoldsNoMoreThanItsCapacity() throws {
        let cache = BufferCache()
        let bytes = 4 << 20
        let count = BufferCache.minimumCapacity / BufferCache.sizeClass(bytes) + 3
        var buffers: [UnsafeMutableRawPointer] = []
        for _ in 0..<count { buffers.append(try #require(cache.take(bytes))) }
        // All were in use at once, so all may be kept; then a larger peak lets more stay.
        for buffer in buffers { cache.give(buffer, bytes: bytes) }
        #expect(cache.cachedBytes == count * BufferCache.sizeClass(bytes))
        // Buffers of a new class beyond the capacity (the most in use at once) are freed.
        var large: [UnsafeMutableRawPointer] = []
        for _ in 0..<2 { large.append(try #require(cache.take(24 << 20))) }
        for buffer in large { cache.give(buffer, bytes: 24 << 20) }
        #expect(cache.cachedBytes <= max(BufferCache.minimumCapacity, count * BufferCache.sizeClass(bytes) + 2 * BufferCache.sizeClass(24 << 20)))
    }

    @Test func aSessionsSecondRunReusesTheFirstRunsBuffers() throws {
        // One Relu on a 4 MiB tensor: its output comes from the session's cache.
        let shape = [1, 64, 128, 128]
        let node = Node(name: "relu", opType: "Relu", domain: "", inputs: ["x"], outputs: ["y"], attributes: [:])
        let graph = Graph(
            name: "relu", nodes: [node], inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: nil))],
            outputs: [ValueInfo(name: "y", type: nil)], initializers: [:])
        let session = try InferenceSession(model: Model(opsetImports: ["": 21], graph: graph), options: .init(threads: 1))
        let x = sampleTensor(shape, seed: 3)
        let expected = try x.scalars(as: Float.self).map { max(0, $0) }
        var output = try #require(try session.run(["x": x])["y"])
        #expect(try output.scalars(as: Float.self) == expected)
        #expect(session.buffers.cachedBytes == 0)
        let firstBuffer = output.storage.bytes
        // Dropping the output gives its buffer back; the next run's output is that buffer again.
        output = Tensor(scalar: Float(0))
        #expect(session.buffers.cachedBytes == BufferCache.sizeClass(64 * 128 * 128 * 4))
        output = try #require(try session.run(["x": x])["y"])
        #expect(output.storage.bytes == firstBuffer)
        #expect(try output.scalars(as: Float.self) == expected)
    }
}
