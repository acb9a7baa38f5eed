import Foundation
import Testing
@testable import ONNXRun

/// Small encoded images for the ImageDecoder tests. The JPEG and compressed PNG files and their expected
/// pixels (`...Pixels`: RGB, or gray for `jpegGray`) were produced once with Pillow 12 / libjpeg-turbo
/// (the library behind the ONNX reference implementation) by a throwaway script; everything else is
/// laid out byte by byte in the tests.
enum ImageFixtures {
    static let jpeg420 = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAAQABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDgtN0LMKqI/mZQoBI5/qfX8K6iz0A+UITmMOcbWGG+o9eldTaaAmI4gAijlsLgH0/ma6az8P77hFKk+WueVxyT/wDX/wA8ipxeaqEXTXRKC9Xq/wANPkVw9nuqdz//2Q=="
    static let jpeg420Pixels = "Cw4AGhMaJQhcJwB4OgCJbR+zWACOYgBueg5Aiw08mwBozBan3Am27w+m5QJU6wU0AAYAIiEnPCZxQBeRURWoXROoaROYaw1udxFBlRxPqxWA0SCv2hC07hWi4gVS3gArDSAMKjU7KSBfKAx6TRyzThCjeDSbcSFmgSZSlydipBeIvRel0xep8Sef5xlZ2ggtEjIlKUJJMTlqPDGRYT/SZDPAcD2CZChKj0NnnTp6piadtR6pxx2Y4CmF7jBg8zFLATIsG0NLNU90QkmaSTjEYUO/VThXbUVFik5onEeLtkbCyELFzjmX0C5q7EJf/1xpCElFEElQIUxsLkeKNjawYFa3U0lHe2hKfVFigz6Bp0W8ylTM52ap4FRx8Vpj/2ZkCVpTGGFnK2aEQmqlWm3JaHKvZ3BReXdGiGpyhlCMoU+9ulW74nSb4Wlq8m1k9m1dAmJUH3l5KnSRMGiXQWmdNVFmbIdUi5ZcnI6NrYa1xYTetWOvvGBrulQ95nRZ/4hqAGtSBm9oLIOhL3ibaqesVIZpY4tMbIRKkpKGkXiVxJTQvH2oyH9uvWk764pg9I1kGJp4IZqLO6O8PJWnWKqCSpBKYJZLcJNblKGPlo+XwKS7x52htH5S2plZ3ItW+6NzF6qAIauSOrLAQq+pQKdWRZ40YKVVdaVxg5+GlJ+RubKfrZdwzKpjv44//r6B8ap2Cq1+GLORMLu0SMqoN7I+TLo1ZrpkermEiLWWkKuKvcuOra9bsKI/68xv4LFt+8SMFcuaINCiMNCsTOOeOsg+WtpFb9R0gNCVj8upuee2qs9ou9RUv8VH3NFn89eO7ciRG9+vIuGrJtmYO+ODOdg9YO1Qcud+heSkld+6lNGVv/dum8gjxd1L6O135NaN9+CqEuGzH+uuIOKJLORoPelHW/VVbOx9geujhdqzrPWwj9U0tvIyuNw68f+F6OSa/fC8Fuu9K/28LviSM/NqS/9YXPxcZep3eOebpP/Wrf20s/9TsfUm0f1S9P+L6+2i//vK"
    static let jpeg422Restart = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBT/wAARCAAJAA0DASEAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/90ABAAB/9oADAMBAAIRAxEAPwDzn4f/ALLgtNBl8yNE85BAqF+Dngkc8EKRnOc47jGfe/Cv7JYTTPJlkS08pto89thbjPT8jn35wa9iPF2Dw2Iw6xc1CnCinKTkklzSaSbdktlu9eZWtsfYeGHH/s8PaN21srK70V+997vbY//Q+hbD/j103/rtH/7NXseo/wDIA0b6S/8AoQr+fOM/+RViv+vVH/05E/HvCz+D/wBu/wCR/9k="
    static let jpeg422RestartPixels = "BAESGRE4GAZYSSGUWhGeehGfpB2TgwBPmghTowFX1RGP6wmo9wK1ABUTFy5ALyRcNQdpaR+oiSO1khaQlwVnpwZM0CBp0heA5hmc+A+mAE4xDkhJLjhzQC2JY0WlgFOwmlqmfCNloSxjsjBuvUSU0kqu4TexDUpDFUtNQm19QWGSQ1zAXWPRcFeqj1eIr1hgx1Rl1UuW+FbN/03fH3syFmM1SHd9T2uTeYzGiImoiXZMmXU3soRgyIeB03aT12qr8oTnAJU2ILdqEpFkOqinS7ThZrzNXpQ8lKw6trByrYRy5Zek8Z2/5a7WEMFVF7tkRs2iTcW5U8rSXsSvecFdl8hKocZfwMuHv6uQ58PH/d31E8tJJtFnL8WIWuKyT9KOWMdpd8hIiMlJsfSLuO2nt8+1492r8NBBEPtgIv54P/qhSe2kXPSdU91uZ+FQivJfn/KAt+qd6/fP+/ay3uQ6"
    static let jpegGray = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/wAALCAAHAAkBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/AHeEfhbAsLM8caFugVucdxnPv+n4V3P/AAqqH+5bfn/9jX//2Q=="
    static let jpegGrayPixels = "DRIaIi1KX01RJBo6OlJZV1B4UlFQYIZqhX2IYU5kYoeRh6SpXXxtlqqss7CseIeara3SssHloLWxy8TT3tjs"
    static let pngPalette4 = "iVBORw0KGgoAAAANSUhEUgAAAAcAAAAFBAMAAAB7tOvrAAAAG1BMVEXK7pF0+pPBocsh2VQmk0LIXqvUCsI9RUNFADI1hDUcAAAAIklEQVR42mPsYLj3i+U9w4dfzJwvWP+z/D/DxMfygfHdOwCUSwvnFhbhngAAAABJRU5ErkJggg=="
    static let pngPalette4Pixels = "RQAyRQAyRQAyRQAy1ArC1ArC1ArCPUVDPUVDPUVDPUVDyF6r1ArCyF6rJpNCJpNCJpNCyF6ryF6rwaHLyF6rJpNCIdlUdPqTyu6RdPqTwaHLwaHLIdlUIdlUdPqTdPqTyu6Ryu6Ryu6R"
    static let pngDynamicRGBA = "iVBORw0KGgoAAAANSUhEUgAAAAYAAAAECAYAAACtBE5DAAAAbElEQVR42gXBPwuCQByA4fe4nwiegYL4JwcjEFddXJpqamoI/PIObQUnDtIUqFzPoyTClUvDI+1pp5ouOVHPMbINmuqrkWnl0xhu55Tw5SE8Hau/c/jN5FYzBgvV8YpwN7zdBasyis2wi6CAP1E+GrFKF88wAAAAAElFTkSuQmCC"
    static let pngDynamicRGBAPixels = "BBAAHwAnbRZdnQCCzhSi8wCzAGUDPlcqcUFYgz2N31+4/z29ALcCOb4nfrZEm5+Quamo/sPpAP8NHv5iZ/95l/ubtv+s///p"
    static let jpegProgressive = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wgARCAAIAAgDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAH/xAAVAQEBAAAAAAAAAAAAAAAAAAACBf/aAAwDAQACEAMQAAABgkv/xAAXEAADAQAAAAAAAAAAAAAAAAABBAUR/9oACAEBAAEFAl54z//EABkRAAIDAQAAAAAAAAAAAAAAAAEDAAQFIf/aAAgBAwEBPwHPuuCR2f/EABoRAAEFAQAAAAAAAAAAAAAAAAEAAgMEEmH/2gAIAQIBAT8BuTv0Bxf/xAAVEAEBAAAAAAAAAAAAAAAAAAAAMf/aAAgBAQAGPwKP/8QAFxAAAwEAAAAAAAAAAAAAAAAAADFBAf/aAAgBAQABPyHI5Wn/2gAMAwEAAgADAAAAEA//xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oACAEDAQE/EGT/xAAYEQACAwAAAAAAAAAAAAAAAAAAAREhof/aAAgBAgEBPxCU3STT/8QAGRAAAwADAAAAAAAAAAAAAAAAAREhALHR/9oACAEBAAE/EAFEMBE013P/2Q=="

    /// Bytes of a base64 fixture.
    static func bytes(_ base64: String) -> [UInt8] { [UInt8](Data(base64Encoded: base64) ?? Data()) }
}

/// Little-/big-endian byte helpers for laying out test files.
func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
func le32(_ v: Int) -> [UInt8] { le16(v & 0xFFFF) + le16((v >> 16) & 0xFFFF) }
func be16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
func be32(_ v: Int) -> [UInt8] { be16((v >> 16) & 0xFFFF) + be16(v & 0xFFFF) }

/// Builders for hand-made test images.
enum ImageBuilders {
    /// A BMP file with a 40-byte info header; `height` < 0 means top-down rows.
    static func bmp(width: Int, height: Int, bpp: Int, palette: [UInt8] = [], colorsUsed: Int = 0, rows: [UInt8]) -> [UInt8] {
        let offset = 54 + palette.count
        return [0x42, 0x4D] + le32(offset + rows.count) + le32(0) + le32(offset)
            + le32(40) + le32(width) + le32(height) + le16(1) + le16(bpp) + le32(0) + le32(rows.count)
            + le32(2835) + le32(2835) + le32(colorsUsed) + le32(0) + palette + rows
    }

    /// CRC-32 computed bit by bit (independent of the decoder's table-driven one).
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c >> 1) ^ (c & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~c
    }

    /// One PNG chunk with its CRC.
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(data.count) + body + be32(Int(crc32(body)))
    }

    /// A PNG whose image data is one zlib stream made of a single stored (uncompressed) deflate block.
    static func png(width: Int, height: Int, bitDepth: Int, colorType: Int, interlace: UInt8 = 0,
                    filteredRows: [UInt8], extraChunks: [UInt8] = []) -> [UInt8] {
        var a = 1, b = 0
        for v in filteredRows { a = (a + Int(v)) % 65521; b = (b + a) % 65521 }
        let zlib: [UInt8] = [0x78, 0x01, 0x01] + le16(filteredRows.count) + le16(~filteredRows.count & 0xFFFF) + filteredRows + be32(b << 16 | a)
        let header = be32(width) + be32(height) + [UInt8(bitDepth), UInt8(colorType), 0, 0, interlace]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + extraChunks
            + chunk("IDAT", zlib) + chunk("IEND", [])
    }

    /// A one-directory TIFF. Entries are (tag, type, values) with type 3 (SHORT) or 4 (LONG); the
    /// value 0xDA7A in tag 273 is replaced by the offset of `data`, which is placed after the directory.
    static func tiff(bigEndian: Bool, entries: [(Int, Int, [Int])], data: [UInt8]) -> [UInt8] {
        let u16 = bigEndian ? be16 : le16, u32 = bigEndian ? be32 : le32
        let directorySize = 2 + 12 * entries.count + 4
        var extra: [UInt8] = []
        let extraValues = entries.map { _, type, values in values.flatMap { type == 3 ? u16($0) : u32($0) } }
        let extraStart = 8 + directorySize
        let dataStart = extraStart + extraValues.filter { $0.count > 4 }.reduce(0) { $0 + $1.count }
        var directory = u16(entries.count)
        for (tag, type, values) in entries {
            let resolved = tag == 273 ? values.map { $0 == 0xDA7A ? dataStart : $0 } : values
            let encoded = resolved.flatMap { type == 3 ? u16($0) : u32($0) }
            directory += u16(tag) + u16(type) + u32(values.count)
            if encoded.count <= 4 {
                directory += encoded + [UInt8](repeating: 0, count: 4 - encoded.count)
            } else {
                directory += u32(extraStart + extra.count)
                extra += encoded
            }
        }
        directory += u32(0)
        let header: [UInt8] = bigEndian ? [0x4D, 0x4D, 0x00, 0x2A] : [0x49, 0x49, 0x2A, 0x00]
        return header + u32(8) + directory + extra + data
    }
}

@Suite struct ImageDecoderTests {
    func decode(_ bytes: [UInt8]) throws -> DecodedImage { try ImageDecoderKernel.decode(bytes) }

    /// Expects decoding to throw an error whose message contains `text`.
    func expectFailure(_ bytes: [UInt8], _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let image = try decode(bytes)
            Issue.record("decoded a \(image.width)x\(image.height) image, expected an error containing '\(text)'", sourceLocation: sourceLocation)
        } catch let error as ONNXRunError {
            #expect(error.message.contains(text), "message: \(error.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: BMP

    @Test func bmp24BitBottomUpAndTopDown() throws {
        // Top row red, green; bottom row blue, white. Rows are BGR, padded to 4 bytes.
        let top: [UInt8] = [0, 0, 255, 0, 255, 0, 0, 0], bottom: [UInt8] = [255, 0, 0, 255, 255, 255, 0, 0]
        let expected: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]
        let bottomUp = try decode(ImageBuilders.bmp(width: 2, height: 2, bpp: 24, rows: bottom + top))
        #expect(bottomUp == DecodedImage(width: 2, height: 2, channels: 3, pixels: expected))
        let topDown = try decode(ImageBuilders.bmp(width: 2, height: -2, bpp: 24, rows: top + bottom))
        #expect(topDown.pixels == expected)
    }

    @Test func bmp8BitPaletteAnd32Bit() throws {
        let palette: [UInt8] = [30, 20, 10, 0, 50, 100, 200, 0]
        // 3x2 top-down, rows padded to 4 bytes; index 5 is outside the 2-entry palette and becomes black.
        let image = try decode(ImageBuilders.bmp(width: 3, height: -2, bpp: 8, palette: palette, colorsUsed: 2, rows: [0, 1, 0, 0, 1, 1, 5, 0]))
        #expect(image.pixels == [10, 20, 30, 200, 100, 50, 10, 20, 30, 200, 100, 50, 200, 100, 50, 0, 0, 0])
        let bgrx = try decode(ImageBuilders.bmp(width: 1, height: 1, bpp: 32, rows: [1, 2, 3, 99]))
        #expect(bgrx.pixels == [3, 2, 1])
    }

    // MARK: PNM

    @Test func pnmBinaryAsciiAndBitmaps() throws {
        let p6 = Array("P6\n# a comment\n2 1\n255\n".utf8) + [1, 2, 3, 4, 5, 6]
        #expect(try decode(p6) == DecodedImage(width: 2, height: 1, channels: 3, pixels: [1, 2, 3, 4, 5, 6]))
        #expect(try decode(Array("P3 2 1 255 1 2 3\n4 5 6\n".utf8)).pixels == [1, 2, 3, 4, 5, 6])
        // maxval 15 rescales to 0...255.
        let p5 = try decode(Array("P5 3 1 15\n".utf8) + [0, 5, 15])
        #expect(p5.channels == 1 && p5.pixels == [0, 85, 255])
        #expect(try decode(Array("P2 2 1 255 7 200".utf8)).pixels == [7, 200])
        // Bitmaps: 1 is black; P1 digits may be packed without spaces.
        #expect(try decode(Array("P1\n3 1\n010".utf8)).pixels == [255, 0, 255])
        #expect(try decode(Array("P4 3 1\n".utf8) + [0b0100_0000]).pixels == [255, 0, 255])
    }

    // MARK: PNG

    @Test func pngUndoesEveryFilter() throws {
        // 2x4 gray rows filtered with Sub, Up, Average and Paeth (expected values worked out by hand).
        let rows: [UInt8] = [1, 10, 5, 2, 1, 1, 3, 4, 2, 4, 1, 1]
        let image = try decode(ImageBuilders.png(width: 2, height: 4, bitDepth: 8, colorType: 0, filteredRows: rows))
        #expect(image == DecodedImage(width: 2, height: 4, channels: 1, pixels: [10, 15, 11, 16, 9, 14, 10, 15]))
    }

    @Test func pngColorTypesAndLowBitDepths() throws {
        let rgb = try decode(ImageBuilders.png(width: 1, height: 1, bitDepth: 8, colorType: 2, filteredRows: [0, 7, 8, 9]))
        #expect(rgb.pixels == [7, 8, 9])
        let rgba = try decode(ImageBuilders.png(width: 1, height: 1, bitDepth: 8, colorType: 6, filteredRows: [0, 7, 8, 9, 128]))
        #expect(rgba.pixels == [7, 8, 9])
        let oneBit = try decode(ImageBuilders.png(width: 3, height: 1, bitDepth: 1, colorType: 0, filteredRows: [0, 0b1010_0000]))
        #expect(oneBit.pixels == [255, 0, 255])
        let palette = ImageBuilders.chunk("PLTE", [1, 2, 3, 4, 5, 6])
        let indexed = try decode(ImageBuilders.png(width: 3, height: 1, bitDepth: 2, colorType: 3, filteredRows: [0, 0b0100_0000], extraChunks: palette))
        #expect(indexed.pixels == [4, 5, 6, 1, 2, 3, 1, 2, 3])
        let sixteen = try decode(ImageBuilders.png(width: 1, height: 1, bitDepth: 16, colorType: 0, filteredRows: [0, 0xAB, 0xCD]))
        #expect(sixteen.pixels == [0xAB])
    }

    @Test func pngWithHuffmanCodedDataMatchesPillow() throws {
        let rgba = try decode(ImageFixtures.bytes(ImageFixtures.pngDynamicRGBA))
        #expect(rgba.width == 6 && rgba.height == 4 && rgba.pixels == ImageFixtures.bytes(ImageFixtures.pngDynamicRGBAPixels))
        let indexed = try decode(ImageFixtures.bytes(ImageFixtures.pngPalette4))
        #expect(indexed.width == 7 && indexed.height == 5 && indexed.pixels == ImageFixtures.bytes(ImageFixtures.pngPalette4Pixels))
    }

    @Test func pngRejectsInterlacingAndBadChecksums() throws {
        expectFailure(ImageBuilders.png(width: 1, height: 1, bitDepth: 8, colorType: 0, interlace: 1, filteredRows: [0, 1]), "interlaced")
        var corrupt = ImageBuilders.png(width: 1, height: 1, bitDepth: 8, colorType: 0, filteredRows: [0, 1])
        corrupt[corrupt.count - 20] ^= 0x40  // inside the IDAT payload
        expectFailure(corrupt, "CRC")
        expectFailure(ImageBuilders.png(width: 1, height: 1, bitDepth: 8, colorType: 0, filteredRows: [5, 1]), "filter type")
        expectFailure(ImageBuilders.png(width: 2, height: 1, bitDepth: 8, colorType: 0, filteredRows: [0, 1]), "expected 3")
    }

    // MARK: Inflate

    @Test func inflateRejectsMalformedStreams() throws {
        func inflate(_ bytes: [UInt8], limit: Int = 100) throws -> [UInt8] { try Inflate.zlib(bytes, limit: limit, format: "test") }
        /// Expects inflating `bytes` to fail with a message containing `text`.
        func failure(_ bytes: [UInt8], _ text: String, limit: Int = 100, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(sourceLocation: sourceLocation, performing: { _ = try inflate(bytes, limit: limit) },
                    throws: { ($0 as? ONNXRunError)?.message.contains(text) == true })
        }
        // zlib.compress(b"a"): one fixed-Huffman block.
        let a: [UInt8] = [0x78, 0x9C, 0x4B, 0x04, 0x00, 0x00, 0x62, 0x00, 0x62]
        #expect(try inflate(a) == [0x61])
        failure(a, "larger than expected", limit: 0)
        failure(Array(a[0..<8]), "ends early")
        failure([0x78, 0x9C, 0x4B, 0x04, 0x00, 0x00, 0x62, 0x00, 0x63], "checksum")
        // Dynamic block whose code-length code gives all 19 symbols 1-bit codes.
        failure([0x78, 0x9C, 0x05, 0xE0, 0x93, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x00], "over-subscribed")
        // Stored block whose length complement is wrong.
        failure([0x78, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x61], "stored block length")
        // Fixed block starting with a match (length code 257, distance 1) before any output.
        failure([0x78, 0x9C, 0x03, 0x02, 0x00], "back-reference")
        failure([0x78, 0x9D, 0x03], "zlib header")
    }

    // MARK: TIFF

    @Test func tiffBigEndianRGBAndLittleEndianPackBits() throws {
        let rgb = ImageBuilders.tiff(bigEndian: true, entries: [
            (256, 3, [2]), (257, 3, [1]), (258, 3, [8, 8, 8]), (259, 3, [1]), (262, 3, [2]),
            (273, 4, [0xDA7A]), (277, 3, [3]), (278, 3, [1]), (279, 4, [6]),
        ], data: [1, 2, 3, 4, 5, 6])
        #expect(try decode(rgb) == DecodedImage(width: 2, height: 1, channels: 3, pixels: [1, 2, 3, 4, 5, 6]))
        // PackBits: literal run of 2 (10, 20), then 30 repeated twice.
        let gray = ImageBuilders.tiff(bigEndian: false, entries: [
            (256, 3, [4]), (257, 3, [1]), (258, 3, [8]), (259, 3, [32773]), (262, 3, [1]),
            (273, 4, [0xDA7A]), (277, 3, [1]), (279, 4, [5]),
        ], data: [0x01, 10, 20, 0xFF, 30])
        #expect(try decode(gray) == DecodedImage(width: 4, height: 1, channels: 1, pixels: [10, 20, 30, 30]))
        let lzw = ImageBuilders.tiff(bigEndian: false, entries: [
            (256, 3, [1]), (257, 3, [1]), (258, 3, [8]), (259, 3, [5]), (262, 3, [1]), (273, 4, [0xDA7A]), (279, 4, [1]),
        ], data: [0])
        expectFailure(lzw, "unsupported compression 5")
    }

    // MARK: JPEG

    @Test func jpegMatchesPillowBitForBit() throws {
        let subsampled = try decode(ImageFixtures.bytes(ImageFixtures.jpeg420))
        #expect(subsampled.width == 16 && subsampled.height == 16)
        #expect(subsampled.pixels == ImageFixtures.bytes(ImageFixtures.jpeg420Pixels))
        // 4:2:2, odd size, a restart marker after every MCU.
        let restarts = try decode(ImageFixtures.bytes(ImageFixtures.jpeg422Restart))
        #expect(restarts.width == 13 && restarts.height == 9)
        #expect(restarts.pixels == ImageFixtures.bytes(ImageFixtures.jpeg422RestartPixels))
        let gray = try decode(ImageFixtures.bytes(ImageFixtures.jpegGray))
        #expect(gray.channels == 1 && gray.pixels == ImageFixtures.bytes(ImageFixtures.jpegGrayPixels))
    }

    @Test func jpegRejectsUnsupportedAndBrokenFiles() throws {
        expectFailure(ImageFixtures.bytes(ImageFixtures.jpegProgressive), "progressive")
        // A DHT segment with three 1-bit codes cannot be a prefix code (3 codes moved from length 3, same total).
        var bad = ImageFixtures.bytes(ImageFixtures.jpeg420)
        let dht = try #require((0..<(bad.count - 1)).first { bad[$0] == 0xFF && bad[$0 + 1] == 0xC4 })
        try #require(bad[dht + 5] == 0 && bad[dht + 7] >= 3)
        bad[dht + 5] = 3
        bad[dht + 7] -= 3
        expectFailure(bad, "Huffman table")
        // Entropy-coded data cut off right after the scan header.
        let full = ImageFixtures.bytes(ImageFixtures.jpeg420)
        let sos = try #require((0..<(full.count - 1)).first { full[$0] == 0xFF && full[$0 + 1] == 0xDA })
        expectFailure(Array(full[0..<(sos + 16)]), "ends early")
    }

    // MARK: Operator

    @Test func operatorPixelFormats() throws {
        let file = ImageBuilders.bmp(width: 2, height: -1, bpp: 24, rows: [0, 0, 255, 255, 0, 0, 0, 0])  // red, blue
        let input = try Tensor(shape: [file.count], scalars: file)
        let rgb = try runNode("ImageDecoder", opset: 20, inputs: [input])[0]
        #expect(rgb.shape == [1, 2, 3])
        #expect(try rgb.scalars(as: UInt8.self) == [255, 0, 0, 0, 0, 255])
        let bgr = try runNode("ImageDecoder", opset: 20, inputs: [input], attributes: ["pixel_format": .string("BGR")])[0]
        #expect(try bgr.scalars(as: UInt8.self) == [0, 0, 255, 255, 0, 0])
        // Pillow's L conversion: (19595 R + 38470 G + 7471 B + 32768) >> 16.
        let gray = try runNode("ImageDecoder", opset: 20, inputs: [input], attributes: ["pixel_format": .string("Grayscale")])[0]
        #expect(gray.shape == [1, 2, 1])
        #expect(try gray.scalars(as: UInt8.self) == [76, 29])
        #expect(throws: ONNXRunError.self) {
            try runNode("ImageDecoder", opset: 20, inputs: [input], attributes: ["pixel_format": .string("RGBA")])
        }
        #expect(throws: ONNXRunError.self) { try runNode("ImageDecoder", opset: 20, inputs: [try Tensor(shape: [2], scalars: [Float(1), 2])]) }
    }

    @Test func unsupportedFormatsAreNamed() {
        expectFailure(Array("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8), "WebP images are not supported")
        expectFailure([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A], "JPEG 2000")
        expectFailure(Array("GIF89a".utf8), "GIF")
        expectFailure([1, 2, 3], "unrecognized image format")
        expectFailure([], "unrecognized image format")
    }

    // MARK: Robustness

    @Test func hugeDeclaredDimensionsAreRejectedBeforeAllocating() {
        let pngHeader = be32(0x7FFF_FFFF) + be32(0x7FFF_FFFF) + [8, 2, 0, 0, 0]
        expectFailure([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + ImageBuilders.chunk("IHDR", pngHeader), "exceed")
        expectFailure(ImageBuilders.bmp(width: 0x7FFF_FFFF, height: 0x7FFF_FFFF, bpp: 24, rows: []), "exceed")
        expectFailure(ImageBuilders.bmp(width: 10000, height: 10000, bpp: 24, rows: [1, 2, 3]), "truncated")
        expectFailure(Array("P6 70000 70000 255\n".utf8), "exceed")
        expectFailure(Array("P5 10000 10000 255\n".utf8) + [1, 2], "truncated")
        let tiff = ImageBuilders.tiff(bigEndian: false, entries: [(256, 4, [1 << 20]), (257, 4, [1 << 20]), (262, 3, [1])], data: [])
        expectFailure(tiff, "exceed")
        // JPEG frame of 65535 x 65535 (over the pixel limit), then one of 16000 x 16000 with no data for it.
        var jpeg = ImageFixtures.bytes(ImageFixtures.jpeg420)
        let sof = (0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 } ?? 0
        jpeg.replaceSubrange((sof + 5)..<(sof + 9), with: [0xFF, 0xFF, 0xFF, 0xFF])
        expectFailure(jpeg, "exceed")
        jpeg.replaceSubrange((sof + 5)..<(sof + 9), with: be16(16000) + be16(16000))
        expectFailure(jpeg, "ends early")
    }

    @Test func truncatedAndCorruptedFilesNeverCrash() throws {
        var files: [[UInt8]] = [
            ImageBuilders.bmp(width: 3, height: 2, bpp: 8, palette: [1, 2, 3, 0], colorsUsed: 1, rows: [0, 0, 0, 0, 0, 0, 0, 0]),
            ImageBuilders.bmp(width: 2, height: 2, bpp: 24, rows: [UInt8](repeating: 9, count: 16)),
            Array("P6 2 1 255\n".utf8) + [1, 2, 3, 4, 5, 6],
            Array("P3 1 1 255 1 2 3".utf8),
            ImageBuilders.png(width: 2, height: 4, bitDepth: 8, colorType: 0, filteredRows: [1, 10, 5, 2, 1, 1, 3, 4, 2, 4, 1, 1]),
        ]
        for fixture in [ImageFixtures.jpeg420, ImageFixtures.jpeg422Restart, ImageFixtures.jpegGray,
                        ImageFixtures.pngPalette4, ImageFixtures.pngDynamicRGBA, ImageFixtures.jpegProgressive] {
            files.append(ImageFixtures.bytes(fixture))
        }
        var seed: UInt64 = 12345
        /// A small deterministic pseudo-random generator (so failures reproduce).
        func next(_ bound: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(bound))
        }
        var decoded = 0, rejected = 0
        /// Decodes `bytes`; a result must be self-consistent, an error must be an ONNXRunError.
        func attempt(_ bytes: [UInt8]) {
            do {
                let image = try decode(bytes)
                #expect(image.pixels.count == image.width * image.height * image.channels)
                decoded += 1
            } catch is ONNXRunError {
                rejected += 1
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
        for file in files {
            for length in 0..<file.count { attempt(Array(file[0..<length])) }
            for _ in 0..<300 {
                var mutated = file
                for _ in 0..<(1 + next(4)) { mutated[next(mutated.count)] = UInt8(next(256)) }
                attempt(mutated)
            }
        }
        #expect(rejected > 1000 && decoded > 0)
    }
}
