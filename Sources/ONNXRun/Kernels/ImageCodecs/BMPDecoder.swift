/// Windows / OS/2 bitmap (BMP) decoder: uncompressed 1/4/8-bit palette, 16/24/32-bit and
/// BI_BITFIELDS images, bottom-up or top-down. RLE compression is rejected with an error.
enum BMPDecoder {
    static let format = "BMP"

    /// True when `bytes` starts with the BMP signature "BM".
    static func matches(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x42 && bytes[1] == 0x4D }

    /// A channel bit mask split into its shift and width, for BI_BITFIELDS and 16-bit pixels.
    struct Channel {
        let shift: Int
        let bits: Int
        init(mask: Int) {
            guard mask != 0 else { shift = 0; bits = 0; return }
            var s = 0
            while (mask >> s) & 1 == 0 { s += 1 }
            var b = 0
            while s + b < 32, (mask >> (s + b)) & 1 == 1 { b += 1 }
            shift = s
            bits = b
        }
        /// The channel of `pixel` scaled to 0...255.
        func value(_ pixel: Int) -> UInt8 {
            guard bits > 0 else { return 0 }
            let maxValue = (1 << bits) - 1
            let v = (pixel >> shift) & maxValue
            return UInt8((v * 255 + maxValue / 2) / maxValue)
        }
    }

    /// Decodes a complete BMP file into RGB.
    static func decode(_ bytes: [UInt8]) throws -> DecodedImage {
        let r = ByteReader(bytes, bigEndian: false, format: format)
        guard matches(bytes) else { throw imageError(format, "missing 'BM' signature") }
        let dataOffset = try r.u32(at: 10)
        let headerSize = try r.u32(at: 14)
        var width: Int, height: Int, bpp: Int, compression = 0, colorsUsed = 0, paletteEntrySize = 4
        if headerSize == 12 {
            width = try r.u16(at: 18)
            height = try r.u16(at: 20)
            bpp = try r.u16(at: 24)
            paletteEntrySize = 3
        } else if headerSize >= 40 && headerSize <= 124 {
            width = try r.s32(at: 18)
            height = try r.s32(at: 22)
            bpp = try r.u16(at: 28)
            compression = try r.u32(at: 30)
            colorsUsed = try r.u32(at: 46)
        } else {
            throw imageError(format, "unsupported header size \(headerSize)")
        }
        let topDown = height < 0
        height = abs(height)
        try ImageLimits.check(width: width, height: height, format: format)

        // Channel masks for 16/32-bit images (BI_RGB defaults, or BI_BITFIELDS masks).
        var masks: (Int, Int, Int) = bpp == 16 ? (0x7C00, 0x03E0, 0x001F) : (0xFF0000, 0x00FF00, 0x0000FF)
        var paletteStart = 14 + headerSize
        switch compression {
        case 0: break
        case 3, 6:
            guard bpp == 16 || bpp == 32 else { throw imageError(format, "BI_BITFIELDS needs 16 or 32 bits per pixel, got \(bpp)") }
            masks = (try r.u32(at: 54), try r.u32(at: 58), try r.u32(at: 62))
            if headerSize == 40 { paletteStart += compression == 6 ? 16 : 12 }
        case 1, 2: throw imageError(format, "RLE-compressed bitmaps are not supported")
        default: throw imageError(format, "unsupported compression \(compression)")
        }

        var palette: [[UInt8]] = []
        switch bpp {
        case 1, 4, 8:
            let maxEntries = 1 << bpp
            let entries = colorsUsed == 0 ? maxEntries : min(colorsUsed, maxEntries)
            for i in 0..<entries {
                let at = paletteStart + i * paletteEntrySize
                palette.append([try r.byte(at: at + 2), try r.byte(at: at + 1), try r.byte(at: at)])
            }
        case 16, 24, 32: break
        default: throw imageError(format, "unsupported bit depth \(bpp)")
        }

        let stride = try checkedProduct((try checkedProduct(width, bpp, format: format) + 31) / 32, 4, format: format)
        try r.require(dataOffset, try checkedProduct(stride, height, format: format))
        let red = Channel(mask: masks.0), green = Channel(mask: masks.1), blue = Channel(mask: masks.2)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let row = dataOffset + (topDown ? y : height - 1 - y) * stride
            var o = y * width * 3
            for x in 0..<width {
                switch bpp {
                case 24:
                    let p = row + 3 * x
                    pixels[o] = bytes[p + 2]; pixels[o + 1] = bytes[p + 1]; pixels[o + 2] = bytes[p]
                case 32 where compression == 0:
                    let p = row + 4 * x
                    pixels[o] = bytes[p + 2]; pixels[o + 1] = bytes[p + 1]; pixels[o + 2] = bytes[p]
                case 16, 32:
                    let p = row + (bpp / 8) * x
                    var value = Int(bytes[p]) | Int(bytes[p + 1]) << 8
                    if bpp == 32 { value |= Int(bytes[p + 2]) << 16 | Int(bytes[p + 3]) << 24 }
                    pixels[o] = red.value(value); pixels[o + 1] = green.value(value); pixels[o + 2] = blue.value(value)
                default:
                    let bit = x * bpp
                    let index = (Int(bytes[row + bit / 8]) >> (8 - bpp - bit % 8)) & ((1 << bpp) - 1)
                    if index < palette.count {
                        pixels[o] = palette[index][0]; pixels[o + 1] = palette[index][1]; pixels[o + 2] = palette[index][2]
                    }
                }
                o += 3
            }
        }
        return DecodedImage(width: width, height: height, channels: 3, pixels: pixels)
    }
}
