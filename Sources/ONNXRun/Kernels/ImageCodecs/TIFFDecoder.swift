/// Baseline TIFF decoder: first image of the file, strips (not tiles), chunky planar layout,
/// little or big endian, uncompressed or PackBits, optional horizontal predictor.
/// Photometric interpretations: WhiteIsZero / BlackIsZero gray (1/2/4/8-bit), palette (1/2/4/8-bit)
/// and RGB (8-bit, extra samples such as alpha dropped).
enum TIFFDecoder {
    static let format = "TIFF"

    /// True when `bytes` starts with "II*\0" or "MM\0*".
    static func matches(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: [0x49, 0x49, 0x2A, 0x00]) || bytes.starts(with: [0x4D, 0x4D, 0x00, 0x2A])
    }

    /// The tags of one image file directory, as integer arrays.
    struct Directory {
        var tags: [Int: [Int]] = [:]

        /// The first value of `tag`, or `defaultValue` when absent.
        func value(_ tag: Int, default defaultValue: Int? = nil) throws -> Int {
            if let v = tags[tag]?.first { return v }
            guard let defaultValue else { throw imageError(format, "missing required tag \(tag)") }
            return defaultValue
        }
    }

    /// Reads the integer-valued entries of the directory at `offset` (other types are skipped).
    static func readDirectory(_ r: ByteReader, at offset: Int) throws -> Directory {
        let count = try r.u16(at: offset)
        try r.require(offset + 2, count * 12)
        var directory = Directory()
        for i in 0..<count {
            let entry = offset + 2 + 12 * i
            let tag = try r.u16(at: entry), type = try r.u16(at: entry + 2), n = try r.u32(at: entry + 4)
            let size: Int
            switch type {
            case 1, 7: size = 1  // BYTE, UNDEFINED
            case 3: size = 2     // SHORT
            case 4: size = 4     // LONG
            default: continue
            }
            guard n <= r.bytes.count else { throw imageError(format, "tag \(tag) declares \(n) values, more than the file holds") }
            let start = n * size <= 4 ? entry + 8 : try r.u32(at: entry + 8)
            try r.require(start, n * size)
            var values = [Int]()
            values.reserveCapacity(n)
            for k in 0..<n {
                switch size {
                case 1: values.append(Int(try r.byte(at: start + k)))
                case 2: values.append(try r.u16(at: start + 2 * k))
                default: values.append(try r.u32(at: start + 4 * k))
                }
            }
            directory.tags[tag] = values
        }
        return directory
    }

    /// Decodes the first image of a TIFF file.
    static func decode(_ bytes: [UInt8]) throws -> DecodedImage {
        guard matches(bytes) else { throw imageError(format, "missing TIFF byte-order header") }
        let r = ByteReader(bytes, bigEndian: bytes[0] == 0x4D, format: format)
        let ifd = try readDirectory(r, at: try r.u32(at: 4))
        let width = try ifd.value(256), height = try ifd.value(257)
        try ImageLimits.check(width: width, height: height, format: format)
        let samples = try ifd.value(277, default: 1)
        let bitsList = ifd.tags[258] ?? [1]
        let bits = bitsList.first ?? 1
        let compression = try ifd.value(259, default: 1)
        let photometric = try ifd.value(262)
        let predictor = try ifd.value(317, default: 1)
        guard ifd.tags[322] == nil else { throw imageError(format, "tiled images are not supported") }
        guard try ifd.value(284, default: 1) == 1 else { throw imageError(format, "planar (separate) sample layout is not supported") }
        guard bitsList.allSatisfy({ $0 == bits }) else { throw imageError(format, "mixed bits per sample \(bitsList)") }
        switch photometric {
        case 0, 1, 3:
            guard samples >= 1, samples <= 2, [1, 2, 4, 8].contains(bits), bits == 8 || samples == 1 else {
                throw imageError(format, "unsupported gray/palette layout: \(samples) samples of \(bits) bits")
            }
        case 2:
            guard samples >= 3, samples <= 4, bits == 8 else {
                throw imageError(format, "unsupported RGB layout: \(samples) samples of \(bits) bits")
            }
        default: throw imageError(format, "unsupported photometric interpretation \(photometric)")
        }
        guard predictor == 1 || (predictor == 2 && bits == 8) else { throw imageError(format, "unsupported predictor \(predictor)") }

        // Gather the strips into one buffer of rows.
        let stride = (try checkedProduct(width, samples, bits, format: format) + 7) / 8
        let rowsPerStrip = min(try ifd.value(278, default: height), height)
        guard rowsPerStrip > 0 else { throw imageError(format, "RowsPerStrip must be positive") }
        let stripCount = (height + rowsPerStrip - 1) / rowsPerStrip
        let offsets = ifd.tags[273] ?? [], counts = ifd.tags[279]
        guard offsets.count >= stripCount else { throw imageError(format, "expected \(stripCount) strip offsets, found \(offsets.count)") }
        _ = try checkedProduct(stride, height, format: format)
        // Grows with the strips actually present (no up-front allocation from the declared size).
        var raw = [UInt8]()
        for s in 0..<stripCount {
            let expected = min(rowsPerStrip, height - s * rowsPerStrip) * stride
            let available = max(0, bytes.count - min(offsets[s], bytes.count))
            let byteCount = min(counts.flatMap { s < $0.count ? $0[s] : nil } ?? expected, available)
            let data = try r.slice(offsets[s], byteCount)
            switch compression {
            case 1:
                guard data.count >= expected else { throw imageError(format, "strip \(s) is truncated") }
                raw += data.prefix(expected)
            case 32773: raw += try unpackBits(data, expected: expected)
            default: throw imageError(format, "unsupported compression \(compression) (supported: none, PackBits)")
            }
        }
        if predictor == 2 {
            for y in 0..<height {
                for i in samples..<max(samples, width * samples) {
                    raw[y * stride + i] = raw[y * stride + i] &+ raw[y * stride + i - samples]
                }
            }
        }
        return try expand(raw, width: width, height: height, stride: stride, samples: samples, bits: bits,
                          photometric: photometric, colorMap: ifd.tags[320])
    }

    /// Decodes a PackBits-compressed strip into exactly `expected` bytes.
    static func unpackBits(_ data: ArraySlice<UInt8>, expected: Int) throws -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(expected)
        var i = data.startIndex
        while out.count < expected {
            guard i < data.endIndex else { throw imageError(format, "PackBits strip is truncated") }
            let n = Int(Int8(bitPattern: data[i]))
            i += 1
            if n >= 0 {
                guard data.endIndex - i >= n + 1 else { throw imageError(format, "PackBits literal run is truncated") }
                out += data[i..<(i + n + 1)]
                i += n + 1
            } else if n != -128 {
                guard i < data.endIndex else { throw imageError(format, "PackBits repeat run is truncated") }
                out += [UInt8](repeating: data[i], count: 1 - n)
                i += 1
            }
        }
        return Array(out.prefix(expected))
    }

    /// Converts raw rows to 8-bit gray or RGB.
    static func expand(_ raw: [UInt8], width: Int, height: Int, stride: Int, samples: Int, bits: Int,
                       photometric: Int, colorMap: [Int]?) throws -> DecodedImage {
        let channels = photometric == 2 || photometric == 3 ? 3 : 1
        let levels = 1 << bits
        if photometric == 3 && (colorMap?.count ?? 0) < 3 * levels {
            throw imageError(format, "palette image without a complete ColorMap")
        }
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        var o = 0
        for y in 0..<height {
            for x in 0..<width {
                if photometric == 2 {
                    let p = y * stride + x * samples
                    pixels[o] = raw[p]; pixels[o + 1] = raw[p + 1]; pixels[o + 2] = raw[p + 2]
                } else {
                    let bit = x * samples * bits
                    let v = (Int(raw[y * stride + bit / 8]) >> (8 - bits - bit % 8)) & (levels - 1)
                    if photometric == 3, let map = colorMap {
                        pixels[o] = UInt8(map[v] >> 8); pixels[o + 1] = UInt8(map[levels + v] >> 8); pixels[o + 2] = UInt8(map[2 * levels + v] >> 8)
                    } else {
                        let gray = v * 255 / (levels - 1)
                        pixels[o] = UInt8(photometric == 0 ? 255 - gray : gray)
                    }
                }
                o += channels
            }
        }
        return DecodedImage(width: width, height: height, channels: channels, pixels: pixels)
    }
}
