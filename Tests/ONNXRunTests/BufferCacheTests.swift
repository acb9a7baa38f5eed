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

    /// Without a cached buffer of its class, a request takes a cached one of a larger class up to
    /// twice its size (which goes back to that larger class), never a smaller or a much larger one.
    @Test func aRequestBorrowsACachedBufferUpToTwiceItsSize() throws {
        let cache = BufferCache()
        let big = try #require(cache.take(1 << 20)), huge = try #require(cache.take(4 << 20))
        cache.give(big, bytes: 1 << 20)
        cache.give(huge, bytes: 4 << 20)
        let cachedBefore = cache.cachedBytes
        // 600 000 bytes: the 1 MiB buffer is under twice its class, the 4 MiB one is not.
        let borrowed = try #require(cache.take(600_000))
        #expect(borrowed == big)
        #expect(cache.cachedBytes == cachedBefore - (1 << 20))
        cache.give(borrowed, bytes: 600_000)
        #expect(cache.cachedBytes == cachedBefore)
        // Back in its own class: the next 1 MiB request gets it.
        let again = try #require(cache.take(1 << 20))
        #expect(again == big)
        cache.give(again, bytes: 1 << 20)
        // 300 000 bytes is less than half of 1 MiB: a new buffer.
        let small = try #require(cache.take(300_000))
        #expect(small != big && small != huge)
        cache.give(small, bytes: 300_000)
    }

    @Test func buffersInUseAndCachedStayWithinTheFootprint() throws {
        let cache = BufferCache()
        let bytes = 4 << 20, size = BufferCache.sizeClass(bytes)
        let count = BufferCache.minimumSlack / size + 3
        var buffers: [UnsafeMutableRawPointer] = []
        for _ in 0..<count { buffers.append(try #require(cache.take(bytes))) }
        // All were in use at once, so all may be kept.
        for buffer in buffers { cache.give(buffer, bytes: bytes) }
        #expect(cache.cachedBytes == count * size)
        // A request of another class frees cached buffers until it fits the footprint.
        let large = 3 * count * size / 2
        let other = try #require(cache.take(large))
        let limit = BufferCache.footprint(mostInUse: BufferCache.sizeClass(large))
        #expect(BufferCache.sizeClass(large) + cache.cachedBytes <= limit)
        #expect(cache.cachedBytes < count * size)
        cache.give(other, bytes: large)
        #expect(cache.cachedBytes <= limit)
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
