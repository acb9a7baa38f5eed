/// Shared pieces of the image codecs used by ImageDecoder: the decoded image, size limits,
/// error construction and a bounds-checked byte reader.

/// A decoded image: `channels` is 1 (gray) or 3 (RGB), samples interleaved row by row, top row first.
struct DecodedImage: Equatable {
    let width: Int
    let height: Int
    let channels: Int
    var pixels: [UInt8]

    /// The image as interleaved RGB (gray is replicated into all three channels).
    var rgb: [UInt8] {
        if channels == 3 { return pixels }
        var out = [UInt8](repeating: 0, count: pixels.count * 3)
        for (i, v) in pixels.enumerated() {
            out[3 * i] = v
            out[3 * i + 1] = v
            out[3 * i + 2] = v
        }
        return out
    }

    /// The image as one luma channel, using Pillow's `convert("L")` fixed-point ITU-R 601 weights
    /// (L = (19595 R + 38470 G + 7471 B + 32768) >> 16); gray images are returned unchanged.
    var luma: [UInt8] {
        if channels == 1 { return pixels }
        var out = [UInt8](repeating: 0, count: width * height)
        for i in 0..<out.count {
            let r = Int(pixels[3 * i]), g = Int(pixels[3 * i + 1]), b = Int(pixels[3 * i + 2])
            out[i] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
        }
        return out
    }
}

/// Limits that keep a malicious header from making the decoders allocate absurd amounts of memory.
enum ImageLimits {
    /// Largest accepted width * height.
    static let maxPixels = 1 << 28

    /// Throws unless `width` and `height` are positive and their product is within `maxPixels`.
    static func check(width: Int, height: Int, format: String) throws {
        guard width > 0, height > 0 else {
            throw imageError(format, "invalid dimensions \(width)x\(height)")
        }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= maxPixels else {
            throw imageError(format, "dimensions \(width)x\(height) exceed the limit of \(maxPixels) pixels")
        }
    }
}

/// An error about malformed or unsupported image data, e.g. "ImageDecoder: PNG: truncated chunk".
func imageError(_ format: String, _ message: String) -> ONNXRunError {
    ONNXRunError(.invalidData, "ImageDecoder: \(format): \(message)")
}

/// Multiplies non-negative sizes, throwing instead of overflowing.
func checkedProduct(_ factors: Int..., format: String) throws -> Int {
    var result = 1
    for f in factors {
        let (p, overflow) = result.multipliedReportingOverflow(by: f)
        guard !overflow, f >= 0 else { throw imageError(format, "size computation overflows") }
        result = p
    }
    return result
}

/// Reads integers from a byte array with every access bounds-checked (throws instead of trapping).
struct ByteReader {
    /// The whole encoded file.
    let bytes: [UInt8]
    /// The next byte to read.
    var offset: Int = 0
    /// Whether multi-byte integers are big-endian.
    var bigEndian: Bool
    /// Format name for error messages.
    let format: String

    init(_ bytes: [UInt8], bigEndian: Bool, format: String) {
        self.bytes = bytes
        self.bigEndian = bigEndian
        self.format = format
    }

    /// Bytes left after `offset`.
    var remaining: Int { max(0, bytes.count - offset) }

    /// Throws unless `count` bytes starting at `start` exist.
    func require(_ start: Int, _ count: Int) throws {
        guard start >= 0, count >= 0, start <= bytes.count, count <= bytes.count - start else {
            throw imageError(format, "truncated data (needs \(count) bytes at offset \(start), file has \(bytes.count))")
        }
    }

    /// The byte at absolute position `i`.
    func byte(at i: Int) throws -> UInt8 {
        try require(i, 1)
        return bytes[i]
    }

    /// A 16-bit integer at absolute position `i`.
    func u16(at i: Int) throws -> Int {
        try require(i, 2)
        let a = Int(bytes[i]), b = Int(bytes[i + 1])
        return bigEndian ? a << 8 | b : b << 8 | a
    }

    /// A 32-bit unsigned integer at absolute position `i`.
    func u32(at i: Int) throws -> Int {
        try require(i, 4)
        let a = Int(bytes[i]), b = Int(bytes[i + 1]), c = Int(bytes[i + 2]), d = Int(bytes[i + 3])
        return bigEndian ? a << 24 | b << 16 | c << 8 | d : d << 24 | c << 16 | b << 8 | a
    }

    /// A 32-bit signed integer at absolute position `i`.
    func s32(at i: Int) throws -> Int { Int(Int32(truncatingIfNeeded: try u32(at: i))) }

    /// `count` bytes starting at absolute position `start`.
    func slice(_ start: Int, _ count: Int) throws -> ArraySlice<UInt8> {
        try require(start, count)
        return bytes[start..<(start + count)]
    }

    /// Reads one byte and advances.
    mutating func u8() throws -> Int {
        let v = try byte(at: offset)
        offset += 1
        return Int(v)
    }

    /// Reads a 16-bit integer and advances.
    mutating func u16() throws -> Int {
        let v = try u16(at: offset)
        offset += 2
        return v
    }

    /// Reads a 32-bit unsigned integer and advances.
    mutating func u32() throws -> Int {
        let v = try u32(at: offset)
        offset += 4
        return v
    }

    /// Skips `count` bytes, throwing if that passes the end.
    mutating func skip(_ count: Int) throws {
        try require(offset, count)
        offset += count
    }
}
