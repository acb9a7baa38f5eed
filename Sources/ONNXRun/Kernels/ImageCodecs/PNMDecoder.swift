/// Netpbm decoder: P1/P4 bitmaps, P2/P5 graymaps and P3/P6 pixmaps, in ASCII or binary form,
/// with any maxval up to 65535 (samples are rescaled to 0...255).
enum PNMDecoder {
    static let format = "PNM"

    /// True when `bytes` starts with "P1" ... "P6".
    static func matches(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x50 && (0x31...0x36).contains(bytes[1])
    }

    /// A cursor over the header and ASCII raster: whitespace and '#' comments separate tokens.
    struct Tokenizer {
        let bytes: [UInt8]
        var offset: Int

        static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (0x09...0x0D).contains(c) }

        /// Skips whitespace and comments.
        mutating func skipSeparators() {
            while offset < bytes.count {
                let c = bytes[offset]
                if c == 0x23 {
                    while offset < bytes.count && bytes[offset] != 0x0A && bytes[offset] != 0x0D { offset += 1 }
                } else if Self.isSpace(c) {
                    offset += 1
                } else {
                    return
                }
            }
        }

        /// Reads a decimal number (a single digit when `singleDigit`, as P1 allows "0101").
        mutating func number(singleDigit: Bool = false) throws -> Int {
            skipSeparators()
            var value = 0, digits = 0
            while offset < bytes.count, (0x30...0x39).contains(bytes[offset]) {
                value = value * 10 + Int(bytes[offset] - 0x30)
                offset += 1
                digits += 1
                guard value <= 1 << 30 else { throw imageError(format, "number too large in header or data") }
                if singleDigit { break }
            }
            guard digits > 0 else {
                throw imageError(format, offset < bytes.count ? "unexpected character in header or data" : "truncated file")
            }
            return value
        }
    }

    /// Decodes a complete Netpbm file.
    static func decode(_ bytes: [UInt8]) throws -> DecodedImage {
        guard matches(bytes) else { throw imageError(format, "missing 'P1'...'P6' signature") }
        let kind = Int(bytes[1] - 0x30)
        var t = Tokenizer(bytes: bytes, offset: 2)
        let width = try t.number(), height = try t.number()
        let bitmap = kind == 1 || kind == 4
        let maxValue = bitmap ? 1 : try t.number()
        guard (1...65535).contains(maxValue) else { throw imageError(format, "maxval must be 1...65535, got \(maxValue)") }
        try ImageLimits.check(width: width, height: height, format: format)
        let channels = (kind == 3 || kind == 6) ? 3 : 1
        let count = width * height * channels

        /// Scales a sample to 0...255 (bitmaps: 1 is black).
        func scale(_ v: Int) throws -> UInt8 {
            if bitmap { return v == 0 ? 255 : 0 }
            guard v <= maxValue else { throw imageError(format, "sample \(v) exceeds maxval \(maxValue)") }
            return UInt8((v * 255 + maxValue / 2) / maxValue)
        }

        var pixels = [UInt8](repeating: 0, count: count)
        if kind <= 3 {
            // ASCII raster: check there are enough bytes for the samples before the (slow) loop.
            guard bytes.count - t.offset >= count else { throw imageError(format, "truncated ASCII raster") }
            for i in 0..<count { pixels[i] = try scale(try t.number(singleDigit: bitmap)) }
        } else {
            // Binary raster starts after exactly one whitespace byte.
            guard t.offset < bytes.count, Tokenizer.isSpace(bytes[t.offset]) else { throw imageError(format, "missing whitespace after header") }
            let start = t.offset + 1
            let reader = ByteReader(bytes, bigEndian: true, format: format)
            if bitmap {
                let stride = (width + 7) / 8
                try reader.require(start, try checkedProduct(stride, height, format: format))
                for y in 0..<height {
                    for x in 0..<width {
                        let bit = (Int(bytes[start + y * stride + x / 8]) >> (7 - x % 8)) & 1
                        pixels[y * width + x] = bit == 1 ? 0 : 255
                    }
                }
            } else {
                let sampleBytes = maxValue > 255 ? 2 : 1
                try reader.require(start, try checkedProduct(count, sampleBytes, format: format))
                for i in 0..<count {
                    let v = sampleBytes == 1 ? Int(bytes[start + i]) : Int(bytes[start + 2 * i]) << 8 | Int(bytes[start + 2 * i + 1])
                    pixels[i] = try scale(v)
                }
            }
        }
        return DecodedImage(width: width, height: height, channels: channels, pixels: pixels)
    }
}
