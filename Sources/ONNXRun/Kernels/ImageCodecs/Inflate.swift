/// A DEFLATE (RFC 1951) decompressor with the zlib wrapper (RFC 1950), as used by PNG.
///
/// Handles stored, fixed-Huffman and dynamic-Huffman blocks. Output is capped at a caller-given
/// size so a small stream cannot expand into an absurd allocation.
enum Inflate {
    /// Reads bits least-significant first, as DEFLATE packs them.
    struct BitReader {
        let bytes: [UInt8]
        var offset: Int
        let end: Int
        var buffer: UInt64 = 0
        var count = 0
        let format: String

        /// Returns the next `n` (0...24) bits as an integer.
        mutating func bits(_ n: Int) throws -> Int {
            while count < n {
                guard offset < end else { throw imageError(format, "compressed data ends early") }
                buffer |= UInt64(bytes[offset]) << UInt64(count)
                offset += 1
                count += 8
            }
            let value = Int(buffer & ((1 << UInt64(n)) - 1))
            buffer >>= UInt64(n)
            count -= n
            return value
        }

        /// Drops the bits left in the current byte (before a stored block).
        mutating func alignToByte() {
            let drop = count % 8
            buffer >>= UInt64(drop)
            count -= drop
        }
    }

    /// A canonical Huffman code stored as symbol counts per code length plus symbols in code order.
    struct Huffman {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int] = []

        /// Builds the code from per-symbol lengths (0 = unused); throws if the lengths over-subscribe the code space.
        init(lengths: [Int], format: String) throws {
            for l in lengths { counts[l] += 1 }
            counts[0] = 0
            var left = 1
            for len in 1...15 {
                left = left * 2 - counts[len]
                guard left >= 0 else { throw imageError(format, "invalid Huffman code (over-subscribed)") }
            }
            var offsets = [Int](repeating: 0, count: 16)
            for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
            symbols = [Int](repeating: 0, count: lengths.count)
            for (symbol, l) in lengths.enumerated() where l != 0 {
                symbols[offsets[l]] = symbol
                offsets[l] += 1
            }
        }

        /// Decodes one symbol, one bit at a time (codes are read most-significant bit first).
        func decode(_ r: inout BitReader) throws -> Int {
            var code = 0, first = 0, index = 0
            for len in 1...15 {
                code |= try r.bits(1)
                let n = counts[len]
                if code - first < n { return symbols[index + code - first] }
                index += n
                first = (first + n) << 1
                code <<= 1
            }
            throw imageError(r.format, "invalid Huffman code in compressed data")
        }
    }

    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
                               2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    /// Order in which dynamic blocks list the code-length code lengths.
    static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// Decompresses a zlib stream, checking its header and Adler-32 trailer; throws if the output would exceed `limit` bytes.
    static func zlib(_ bytes: [UInt8], limit: Int, format: String) throws -> [UInt8] {
        guard bytes.count >= 2 else { throw imageError(format, "zlib stream too short") }
        let cmf = Int(bytes[0]), flags = Int(bytes[1])
        guard cmf & 0x0F == 8, cmf >> 4 <= 7, (cmf << 8 | flags) % 31 == 0 else { throw imageError(format, "invalid zlib header") }
        guard flags & 0x20 == 0 else { throw imageError(format, "zlib preset dictionaries are not supported") }
        var reader = BitReader(bytes: bytes, offset: 2, end: bytes.count, format: format)
        let out = try deflate(&reader, limit: limit)
        // Adler-32 trailer (big-endian) right after the last block.
        reader.alignToByte()
        var trailer = 0
        for _ in 0..<4 { trailer = trailer << 8 | (try reader.bits(8)) }
        guard trailer == adler32(out) else { throw imageError(format, "zlib checksum mismatch") }
        return out
    }

    /// The Adler-32 checksum of `bytes`.
    static func adler32(_ bytes: [UInt8]) -> Int {
        var a = 1, b = 0
        var i = 0
        while i < bytes.count {
            let chunkEnd = min(i + 5552, bytes.count)
            while i < chunkEnd {
                a += Int(bytes[i])
                b += a
                i += 1
            }
            a %= 65521
            b %= 65521
        }
        return b << 16 | a
    }

    /// Decompresses raw DEFLATE blocks from `r` until the final block.
    static func deflate(_ r: inout BitReader, limit: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var isFinal = false
        while !isFinal {
            isFinal = try r.bits(1) == 1
            switch try r.bits(2) {
            case 0: try stored(&r, &out, limit: limit)
            case 1:
                let lengths = [Int](repeating: 8, count: 144) + [Int](repeating: 9, count: 112)
                    + [Int](repeating: 7, count: 24) + [Int](repeating: 8, count: 8)
                try codes(&r, &out, literals: try Huffman(lengths: lengths, format: r.format),
                          distances: try Huffman(lengths: [Int](repeating: 5, count: 30), format: r.format), limit: limit)
            case 2:
                let (literals, distances) = try dynamicTables(&r)
                try codes(&r, &out, literals: literals, distances: distances, limit: limit)
            default: throw imageError(r.format, "invalid DEFLATE block type")
            }
        }
        return out
    }

    /// Copies a stored (uncompressed) block.
    static func stored(_ r: inout BitReader, _ out: inout [UInt8], limit: Int) throws {
        r.alignToByte()
        let length = try r.bits(16), complement = try r.bits(16)
        guard length == ~complement & 0xFFFF else { throw imageError(r.format, "corrupt stored block length") }
        guard out.count + length <= limit else { throw imageError(r.format, "decompressed data larger than expected") }
        for _ in 0..<length { out.append(UInt8(try r.bits(8))) }
    }

    /// Reads the code-length-coded literal/length and distance tables of a dynamic block.
    static func dynamicTables(_ r: inout BitReader) throws -> (Huffman, Huffman) {
        let literalCount = try r.bits(5) + 257, distanceCount = try r.bits(5) + 1, codeLengthCount = try r.bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else { throw imageError(r.format, "too many codes in dynamic block") }
        var codeLengthLengths = [Int](repeating: 0, count: 19)
        for i in 0..<codeLengthCount { codeLengthLengths[codeLengthOrder[i]] = try r.bits(3) }
        let codeLengthCode = try Huffman(lengths: codeLengthLengths, format: r.format)
        var lengths: [Int] = []
        let total = literalCount + distanceCount
        while lengths.count < total {
            let symbol = try codeLengthCode.decode(&r)
            var value = 0, repeatCount = 1
            switch symbol {
            case 0...15: value = symbol
            case 16:
                guard let previous = lengths.last else { throw imageError(r.format, "length repeat with no previous length") }
                value = previous
                repeatCount = 3 + (try r.bits(2))
            case 17: repeatCount = 3 + (try r.bits(3))
            default: repeatCount = 11 + (try r.bits(7))
            }
            guard lengths.count + repeatCount <= total else { throw imageError(r.format, "code lengths overflow the table") }
            lengths += [Int](repeating: value, count: repeatCount)
        }
        guard lengths[256] != 0 else { throw imageError(r.format, "dynamic block has no end-of-block code") }
        return (try Huffman(lengths: Array(lengths[0..<literalCount]), format: r.format),
                try Huffman(lengths: Array(lengths[literalCount...]), format: r.format))
    }

    /// Decodes literal/length + distance symbols of a compressed block until end-of-block.
    static func codes(_ r: inout BitReader, _ out: inout [UInt8], literals: Huffman, distances: Huffman, limit: Int) throws {
        while true {
            let symbol = try literals.decode(&r)
            if symbol < 256 {
                guard out.count < limit else { throw imageError(r.format, "decompressed data larger than expected") }
                out.append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let li = symbol - 257
                guard li < lengthBase.count else { throw imageError(r.format, "invalid length symbol \(symbol)") }
                let length = lengthBase[li] + (try r.bits(lengthExtra[li]))
                let di = try distances.decode(&r)
                guard di < distanceBase.count else { throw imageError(r.format, "invalid distance symbol \(di)") }
                let distance = distanceBase[di] + (try r.bits(distanceExtra[di]))
                guard distance <= out.count else { throw imageError(r.format, "back-reference before start of data") }
                guard out.count + length <= limit else { throw imageError(r.format, "decompressed data larger than expected") }
                let start = out.count - distance
                for k in 0..<length { out.append(out[start + k]) }
            }
        }
    }
}
