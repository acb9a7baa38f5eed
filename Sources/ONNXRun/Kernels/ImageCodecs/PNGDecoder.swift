/// PNG decoder: all standard color types (gray, RGB, palette, gray+alpha, RGBA) and bit depths
/// (1/2/4/8/16; 16-bit samples keep their high byte), non-interlaced. Alpha is dropped.
/// Chunk CRCs and the zlib checksum are verified.
enum PNGDecoder {
    static let format = "PNG"
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// True when `bytes` starts with the PNG signature.
    static func matches(_ bytes: [UInt8]) -> Bool { bytes.starts(with: signature) }

    /// CRC-32 (ISO 3309 polynomial, as PNG chunks use) lookup table.
    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The CRC-32 of `bytes`.
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// The image header (IHDR) fields.
    struct Header {
        var width = 0, height = 0, bitDepth = 0, colorType = 0
        /// Samples per pixel for the color type.
        var samples: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType] ?? 0 }
    }

    /// Decodes a complete PNG file.
    static func decode(_ bytes: [UInt8]) throws -> DecodedImage {
        guard matches(bytes) else { throw imageError(format, "missing PNG signature") }
        let r = ByteReader(bytes, bigEndian: true, format: format)
        var offset = signature.count
        var header: Header?
        var palette: [UInt8] = []
        var compressed: [UInt8] = []
        var sawEnd = false
        while !sawEnd {
            let length = try r.u32(at: offset)
            let type = try r.slice(offset + 4, 4)
            let data = try r.slice(offset + 8, length)
            let storedCRC = try r.u32(at: offset + 8 + length)
            guard UInt32(storedCRC) == crc32(try r.slice(offset + 4, length + 4)) else {
                throw imageError(format, "CRC mismatch in chunk \(String(decoding: type, as: UTF8.self))")
            }
            offset += 12 + length
            switch String(decoding: type, as: UTF8.self) {
            case "IHDR":
                guard header == nil, length == 13 else { throw imageError(format, "invalid IHDR chunk") }
                let h = Header(width: try r.u32(at: data.startIndex), height: try r.u32(at: data.startIndex + 4),
                               bitDepth: Int(data[data.startIndex + 8]), colorType: Int(data[data.startIndex + 9]))
                let allowed: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
                guard allowed[h.colorType]?.contains(h.bitDepth) == true else {
                    throw imageError(format, "invalid color type \(h.colorType) with bit depth \(h.bitDepth)")
                }
                guard data[data.startIndex + 10] == 0, data[data.startIndex + 11] == 0 else {
                    throw imageError(format, "unknown compression or filter method")
                }
                guard data[data.startIndex + 12] == 0 else {
                    throw imageError(format, "interlaced (Adam7) images are not supported")
                }
                try ImageLimits.check(width: h.width, height: h.height, format: format)
                header = h
            case "PLTE":
                guard length % 3 == 0, length <= 768 else { throw imageError(format, "invalid PLTE chunk") }
                palette = Array(data)
            case "IDAT":
                guard header != nil else { throw imageError(format, "IDAT before IHDR") }
                compressed += data
            case "IEND":
                sawEnd = true
            default:
                // Unknown critical chunks (uppercase first letter) cannot be skipped safely.
                if let first = type.first, first & 0x20 == 0 {
                    throw imageError(format, "unsupported critical chunk \(String(decoding: type, as: UTF8.self))")
                }
            }
        }
        guard let header else { throw imageError(format, "missing IHDR chunk") }
        if header.colorType == 3 && palette.isEmpty { throw imageError(format, "palette image without PLTE chunk") }
        let bitsPerPixel = header.samples * header.bitDepth
        let stride = try (checkedProduct(header.width, bitsPerPixel, format: format) + 7) / 8
        let rawSize = try checkedProduct(stride + 1, header.height, format: format)
        let raw = try Inflate.zlib(compressed, limit: rawSize, format: format)
        guard raw.count == rawSize else { throw imageError(format, "image data is \(raw.count) bytes, expected \(rawSize)") }
        let rows = try unfilter(raw, stride: stride, height: header.height, bytesPerPixel: max(1, bitsPerPixel / 8))
        return expand(rows, header: header, stride: stride, palette: palette)
    }

    /// Undoes the per-row filters (None, Sub, Up, Average, Paeth), returning the rows without filter bytes.
    static func unfilter(_ raw: [UInt8], stride: Int, height: Int, bytesPerPixel bpp: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            let src = y * (stride + 1) + 1, dst = y * stride
            for x in 0..<stride {
                let a = x >= bpp ? Int(out[dst + x - bpp]) : 0
                let b = y > 0 ? Int(out[dst - stride + x]) : 0
                let c = x >= bpp && y > 0 ? Int(out[dst - stride + x - bpp]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: throw imageError(format, "invalid filter type \(filter) in row \(y)")
                }
                out[dst + x] = UInt8(truncatingIfNeeded: Int(raw[src + x]) + predictor)
            }
        }
        return out
    }

    /// Converts unfiltered rows to 8-bit gray or RGB: palette lookup, high byte of 16-bit samples,
    /// low bit depths scaled to 0...255, alpha dropped.
    static func expand(_ rows: [UInt8], header h: Header, stride: Int, palette: [UInt8]) -> DecodedImage {
        let channels = (h.colorType == 0 || h.colorType == 4) ? 1 : 3
        var pixels = [UInt8](repeating: 0, count: h.width * h.height * channels)
        /// Sample `s` of pixel `x` in row `y`, at the image's bit depth.
        func sample(_ y: Int, _ x: Int, _ s: Int) -> Int {
            let index = x * h.samples + s
            switch h.bitDepth {
            case 8: return Int(rows[y * stride + index])
            case 16: return Int(rows[y * stride + 2 * index])
            default:
                let bit = index * h.bitDepth
                return (Int(rows[y * stride + bit / 8]) >> (8 - h.bitDepth - bit % 8)) & ((1 << h.bitDepth) - 1)
            }
        }
        let scale = h.bitDepth < 8 ? 255 / ((1 << h.bitDepth) - 1) : 1
        var o = 0
        for y in 0..<h.height {
            for x in 0..<h.width {
                switch h.colorType {
                case 0, 4:
                    pixels[o] = UInt8(sample(y, x, 0) * scale)
                case 3:
                    let index = sample(y, x, 0)
                    if 3 * index + 2 < palette.count {
                        pixels[o] = palette[3 * index]; pixels[o + 1] = palette[3 * index + 1]; pixels[o + 2] = palette[3 * index + 2]
                    }
                default:
                    pixels[o] = UInt8(sample(y, x, 0)); pixels[o + 1] = UInt8(sample(y, x, 1)); pixels[o + 2] = UInt8(sample(y, x, 2))
                }
                o += channels
            }
        }
        return DecodedImage(width: h.width, height: h.height, channels: channels, pixels: pixels)
    }
}
