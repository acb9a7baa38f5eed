/// Baseline / extended-sequential Huffman JPEG decoder (ITU-T T.81), 8-bit, 1 (gray) or 3 components.
///
/// To reproduce what Pillow (built on libjpeg-turbo) returns bit for bit, the arithmetic follows the
/// usual fixed-point choices: the 13-bit "islow" integer IDCT (Loeffler–Ligtenberg–Moschytz),
/// "fancy" triangular chroma upsampling with alternating rounding, and 16-bit fixed-point
/// YCbCr -> RGB. Progressive, lossless, hierarchical, arithmetic-coded, 12-bit and CMYK files are
/// rejected with an error naming the feature.
enum JPEGDecoder {
    static let format = "JPEG"

    /// True when `bytes` starts with SOI followed by another marker.
    static func matches(_ bytes: [UInt8]) -> Bool { bytes.starts(with: [0xFF, 0xD8, 0xFF]) }

    /// Natural (row-major) position of the k-th coefficient in zigzag order.
    static let zigzag: [Int] = [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
    ]

    /// A Huffman table in the form of T.81 Annex F.2.2.3 (smallest/largest code of each length).
    struct HuffmanTable {
        var minCode = [Int](repeating: 0, count: 17)
        var maxCode = [Int](repeating: -1, count: 17)
        var valuePointer = [Int](repeating: 0, count: 17)
        var values: [Int] = []

        /// Builds the table from the 16 code-length counts and the symbol list of a DHT segment.
        init(counts: [Int], values: [Int]) throws {
            self.values = values
            var code = 0, k = 0
            for length in 1...16 {
                let n = counts[length - 1]
                valuePointer[length] = k
                minCode[length] = code
                code += n
                k += n
                if n > 0 { maxCode[length] = code - 1 }
                guard code <= 1 << length else { throw imageError(format, "invalid Huffman table (over-subscribed)") }
                code <<= 1
            }
        }

        /// Decodes one symbol.
        func decode(_ r: inout EntropyReader) throws -> Int {
            var code = try r.bit()
            for length in 1...16 {
                if code <= maxCode[length] {
                    let index = valuePointer[length] + code - minCode[length]
                    guard index >= 0 && index < values.count else { break }
                    return values[index]
                }
                code = code << 1 | (try r.bit())
            }
            throw imageError(format, "invalid Huffman code in image data")
        }
    }

    /// Reads entropy-coded bits, removing stuffed zero bytes and stopping at markers.
    struct EntropyReader {
        let bytes: [UInt8]
        var offset: Int
        var buffer = 0
        var count = 0

        /// The next bit; throws when the scan's data is exhausted (truncated or corrupt file).
        mutating func bit() throws -> Int {
            if count == 0 {
                guard offset < bytes.count else { throw imageError(format, "image data ends early (truncated file)") }
                let b = bytes[offset]
                if b == 0xFF {
                    guard offset + 1 < bytes.count, bytes[offset + 1] == 0 else {
                        throw imageError(format, "image data ends early (marker inside scan)")
                    }
                    offset += 2
                } else {
                    offset += 1
                }
                buffer = Int(b)
                count = 8
            }
            count -= 1
            return (buffer >> count) & 1
        }

        /// The next `n` bits (n <= 16) as an unsigned number.
        mutating func bits(_ n: Int) throws -> Int {
            var v = 0
            for _ in 0..<n { v = v << 1 | (try bit()) }
            return v
        }

        /// Reads an `n`-bit magnitude and sign-extends it per T.81 F.2.2.1 (EXTEND).
        mutating func signed(_ n: Int) throws -> Int {
            guard n > 0 else { return 0 }
            let v = try bits(n)
            return v < 1 << (n - 1) ? v - (1 << n) + 1 : v
        }

        /// Skips the expected RSTn marker at a restart interval boundary.
        mutating func restart() throws {
            count = 0
            while offset + 1 < bytes.count, bytes[offset] == 0xFF, bytes[offset + 1] == 0xFF { offset += 1 }
            guard offset + 1 < bytes.count, bytes[offset] == 0xFF, (0xD0...0xD7).contains(bytes[offset + 1]) else {
                throw imageError(format, "missing restart marker")
            }
            offset += 2
        }
    }

    /// One color component of the frame and its decoded (still subsampled) sample plane
    /// (allocated by the first scan that codes the component).
    struct Component {
        let id: Int
        let h: Int, v: Int
        let quantTable: Int
        /// Size of the component in samples (T.81 A.1.1), before upsampling.
        let width: Int, height: Int
        /// Plane size: whole MCUs, in samples.
        let planeWidth: Int, planeHeight: Int
        var plane: [UInt8]
        var dcPrediction = 0
        var dcTable = 0, acTable = 0
    }

    /// Decoder state built up while walking the markers.
    struct State {
        var quant = [[Int]?](repeating: nil, count: 4)
        var dcTables = [HuffmanTable?](repeating: nil, count: 4)
        var acTables = [HuffmanTable?](repeating: nil, count: 4)
        var components: [Component] = []
        var width = 0, height = 0, maxH = 1, maxV = 1, mcusX = 0, mcusY = 0
        var restartInterval = 0
        var adobeTransform: Int?
        var sawJFIF = false
        var scans = 0
    }

    /// Decodes a complete JPEG file.
    static func decode(_ bytes: [UInt8]) throws -> DecodedImage {
        guard matches(bytes) else { throw imageError(format, "missing SOI marker") }
        let r = ByteReader(bytes, bigEndian: true, format: format)
        var s = State()
        var pos = 2
        markers: while true {
            // Find the next marker, skipping fill bytes.
            guard pos < bytes.count else {
                if s.scans > 0 { break markers }
                throw imageError(format, "file ends before any image data")
            }
            guard bytes[pos] == 0xFF else { throw imageError(format, "expected a marker at offset \(pos)") }
            while pos < bytes.count && bytes[pos] == 0xFF { pos += 1 }
            let marker = Int(try r.byte(at: pos))
            pos += 1
            switch marker {
            case 0xD9: break markers
            case 0xD0...0xD8, 0x01: continue
            default: break
            }
            let length = try r.u16(at: pos)
            guard length >= 2 else { throw imageError(format, "invalid segment length \(length)") }
            let segment = try r.slice(pos + 2, length - 2)
            let dataStart = pos + 2
            pos += length
            switch marker {
            case 0xC0, 0xC1: try readFrame(r, at: dataStart, length: length - 2, into: &s)
            case 0xC2, 0xC6, 0xCA, 0xCE: throw imageError(format, "progressive JPEG is not supported (only baseline/sequential)")
            case 0xC3, 0xC5, 0xC7, 0xCB, 0xCD, 0xCF: throw imageError(format, "lossless or hierarchical JPEG is not supported")
            case 0xC9: throw imageError(format, "arithmetic-coded JPEG is not supported")
            case 0xC4: try readHuffmanTables(segment, into: &s)
            case 0xDB: try readQuantTables(segment, into: &s)
            case 0xDD:
                guard segment.count >= 2 else { throw imageError(format, "invalid DRI segment") }
                s.restartInterval = try r.u16(at: dataStart)
            case 0xDA:
                pos = try readScan(r, at: dataStart, length: length - 2, into: &s)
                s.scans += 1
            case 0xE0:
                if segment.starts(with: [0x4A, 0x46, 0x49, 0x46, 0x00]) { s.sawJFIF = true }
            case 0xEE:
                if segment.count >= 12, segment.starts(with: [0x41, 0x64, 0x6F, 0x62, 0x65]) {
                    s.adobeTransform = Int(segment[segment.startIndex + 11])
                }
            default: break  // APPn, COM and other segments carry nothing the pixels need.
            }
        }
        guard s.scans > 0, !s.components.isEmpty else { throw imageError(format, "no image data (missing SOF or SOS)") }
        return try output(s)
    }

    /// Reads a DQT segment (8- or 16-bit tables, stored here in natural order).
    static func readQuantTables(_ data: ArraySlice<UInt8>, into s: inout State) throws {
        var i = data.startIndex
        while i < data.endIndex {
            let precision = Int(data[i]) >> 4, id = Int(data[i]) & 15
            i += 1
            guard id < 4, precision <= 1 else { throw imageError(format, "invalid quantization table header") }
            let size = precision == 0 ? 64 : 128
            guard data.endIndex - i >= size else { throw imageError(format, "truncated DQT segment") }
            var table = [Int](repeating: 0, count: 64)
            for k in 0..<64 {
                table[zigzag[k]] = precision == 0 ? Int(data[i + k]) : Int(data[i + 2 * k]) << 8 | Int(data[i + 2 * k + 1])
            }
            s.quant[id] = table
            i += size
        }
    }

    /// Reads a DHT segment.
    static func readHuffmanTables(_ data: ArraySlice<UInt8>, into s: inout State) throws {
        var i = data.startIndex
        while i < data.endIndex {
            guard data.endIndex - i >= 17 else { throw imageError(format, "truncated DHT segment") }
            let tableClass = Int(data[i]) >> 4, id = Int(data[i]) & 15
            guard tableClass <= 1, id < 4 else { throw imageError(format, "invalid Huffman table header") }
            let counts = data[(i + 1)..<(i + 17)].map(Int.init)
            let total = counts.reduce(0, +)
            i += 17
            guard total <= 256, data.endIndex - i >= total else { throw imageError(format, "truncated or oversized DHT segment") }
            let table = try HuffmanTable(counts: counts, values: data[i..<(i + total)].map(Int.init))
            if tableClass == 0 { s.dcTables[id] = table } else { s.acTables[id] = table }
            i += total
        }
    }

    /// Reads a SOF0/SOF1 segment and allocates the component planes.
    static func readFrame(_ r: ByteReader, at start: Int, length: Int, into s: inout State) throws {
        guard s.components.isEmpty else { throw imageError(format, "more than one frame") }
        guard length >= 6 else { throw imageError(format, "truncated SOF segment") }
        guard try r.byte(at: start) == 8 else { throw imageError(format, "only 8-bit samples are supported") }
        s.height = try r.u16(at: start + 1)
        s.width = try r.u16(at: start + 3)
        let count = Int(try r.byte(at: start + 5))
        guard s.height > 0 else { throw imageError(format, "images with height defined later (DNL) are not supported") }
        try ImageLimits.check(width: s.width, height: s.height, format: format)
        guard count == 1 || count == 3 else {
            throw imageError(format, count == 4 ? "CMYK/YCCK images are not supported" : "\(count)-component images are not supported")
        }
        guard length >= 6 + 3 * count else { throw imageError(format, "truncated SOF segment") }
        var specs: [(id: Int, h: Int, v: Int, tq: Int)] = []
        for c in 0..<count {
            let at = start + 6 + 3 * c
            let sampling = Int(try r.byte(at: at + 1))
            // A single-component image is always decoded at full resolution, one block per MCU.
            let h = count == 1 ? 1 : sampling >> 4, v = count == 1 ? 1 : sampling & 15
            let tq = Int(try r.byte(at: at + 2))
            guard (1...4).contains(h), (1...4).contains(v), tq < 4 else { throw imageError(format, "invalid component parameters") }
            specs.append((Int(try r.byte(at: at)), h, v, tq))
        }
        s.maxH = specs.map(\.h).max() ?? 1
        s.maxV = specs.map(\.v).max() ?? 1
        guard specs.allSatisfy({ s.maxH % $0.h == 0 && s.maxV % $0.v == 0 }) else {
            throw imageError(format, "fractional chroma subsampling is not supported")
        }
        s.mcusX = (s.width + 8 * s.maxH - 1) / (8 * s.maxH)
        s.mcusY = (s.height + 8 * s.maxV - 1) / (8 * s.maxV)
        for spec in specs {
            let planeWidth = s.mcusX * spec.h * 8, planeHeight = s.mcusY * spec.v * 8
            s.components.append(Component(
                id: spec.id, h: spec.h, v: spec.v, quantTable: spec.tq,
                width: (s.width * spec.h + s.maxH - 1) / s.maxH, height: (s.height * spec.v + s.maxV - 1) / s.maxV,
                planeWidth: planeWidth, planeHeight: planeHeight, plane: []))
        }
    }

    /// Reads a SOS header and decodes its entropy-coded data; returns the offset of the next marker.
    static func readScan(_ r: ByteReader, at start: Int, length: Int, into s: inout State) throws -> Int {
        guard !s.components.isEmpty else { throw imageError(format, "scan before frame header") }
        let count = Int(try r.byte(at: start))
        guard (1...s.components.count).contains(count), length >= 4 + 2 * count else { throw imageError(format, "invalid SOS segment") }
        var members: [Int] = []
        for i in 0..<count {
            let id = Int(try r.byte(at: start + 1 + 2 * i)), tables = Int(try r.byte(at: start + 2 + 2 * i))
            guard let index = s.components.firstIndex(where: { $0.id == id }), !members.contains(index) else {
                throw imageError(format, "scan names unknown component \(id)")
            }
            let dc = tables >> 4, ac = tables & 15
            guard dc < 4, ac < 4, s.dcTables[dc] != nil, s.acTables[ac] != nil else { throw imageError(format, "scan uses an undefined Huffman table") }
            guard s.quant[s.components[index].quantTable] != nil else { throw imageError(format, "component uses an undefined quantization table") }
            s.components[index].dcTable = dc
            s.components[index].acTable = ac
            s.components[index].dcPrediction = 0
            members.append(index)
        }
        // Every block costs at least two Huffman codes (DC and AC) of one bit or more, so a scan needs at
        // least blocks / 4 bytes: checking that first keeps a tiny file from allocating huge planes.
        let blocks = count == 1
            ? ((s.components[members[0]].width + 7) / 8) * ((s.components[members[0]].height + 7) / 8)
            : s.mcusX * s.mcusY * members.reduce(0) { $0 + s.components[$1].h * s.components[$1].v }
        guard (r.bytes.count - start - length) * 4 >= blocks else { throw imageError(format, "image data ends early (truncated file)") }
        for m in members where s.components[m].plane.isEmpty {
            let c = s.components[m]
            s.components[m].plane = [UInt8](repeating: 0, count: try checkedProduct(c.planeWidth, c.planeHeight, format: format))
        }
        var reader = EntropyReader(bytes: r.bytes, offset: start + length)
        var mcu = 0
        /// Handles a restart marker before MCU number `mcu` when the interval says so.
        func restartIfDue() throws {
            if s.restartInterval > 0 && mcu > 0 && mcu % s.restartInterval == 0 {
                try reader.restart()
                for m in members { s.components[m].dcPrediction = 0 }
            }
            mcu += 1
        }
        if count == 1 {
            // Non-interleaved: one block per MCU, covering only the component's own blocks.
            let c = members[0]
            let blocksX = (s.components[c].width + 7) / 8, blocksY = (s.components[c].height + 7) / 8
            for by in 0..<blocksY {
                for bx in 0..<blocksX {
                    try restartIfDue()
                    try decodeBlock(&reader, &s, component: c, blockX: bx, blockY: by)
                }
            }
        } else {
            for my in 0..<s.mcusY {
                for mx in 0..<s.mcusX {
                    try restartIfDue()
                    for c in members {
                        let h = s.components[c].h, v = s.components[c].v
                        for y in 0..<v {
                            for x in 0..<h { try decodeBlock(&reader, &s, component: c, blockX: mx * h + x, blockY: my * v + y) }
                        }
                    }
                }
            }
        }
        // The scan ends at the next marker that is neither a stuffed 0xFF00 nor a restart marker.
        var next = reader.offset
        while next + 1 < r.bytes.count {
            let b = r.bytes[next + 1]
            if r.bytes[next] == 0xFF && b != 0 && b != 0xFF && !(0xD0...0xD7).contains(b) { return next }
            next += 1
        }
        return r.bytes.count
    }

    /// Decodes, dequantizes and inverse-transforms one 8x8 block into its component plane.
    static func decodeBlock(_ reader: inout EntropyReader, _ s: inout State, component c: Int, blockX: Int, blockY: Int) throws {
        guard let dcTable = s.dcTables[s.components[c].dcTable], let acTable = s.acTables[s.components[c].acTable],
              let quant = s.quant[s.components[c].quantTable] else { throw imageError(format, "missing table") }
        var coefficients = [Int](repeating: 0, count: 64)
        let dcBits = try dcTable.decode(&reader)
        guard dcBits <= 16 else { throw imageError(format, "invalid DC coefficient size \(dcBits)") }
        s.components[c].dcPrediction &+= try reader.signed(dcBits)
        // Coefficients are 16-bit values in the reference decoders; keep them so (and overflow-free).
        coefficients[0] = Int(Int16(truncatingIfNeeded: s.components[c].dcPrediction)) * quant[0]
        var k = 1
        while k < 64 {
            let rs = try acTable.decode(&reader)
            let run = rs >> 4, size = rs & 15
            if size == 0 {
                if run != 15 { break }
                k += 16
                continue
            }
            k += run
            guard k < 64 else { throw imageError(format, "AC coefficients run past the end of a block") }
            let z = zigzag[k]
            coefficients[z] = try reader.signed(size) * quant[z]
            k += 1
        }
        let component = s.components[c]
        let x0 = blockX * 8, y0 = blockY * 8
        guard x0 + 8 <= component.planeWidth, y0 + 8 <= component.planeHeight else { throw imageError(format, "block outside the image") }
        idct(coefficients, into: &s.components[c].plane, at: y0 * component.planeWidth + x0, stride: component.planeWidth)
    }

    /// The integer 8x8 inverse DCT (13-bit fixed-point constants, 2 extra bits between passes),
    /// writing level-shifted, clamped samples.
    static func idct(_ input: [Int], into plane: inout [UInt8], at origin: Int, stride: Int) {
        var work = [Int](repeating: 0, count: 64)
        /// One 1-D pass over 8 values `v`; returns the outputs before descaling.
        func transform(_ v: (Int) -> Int) -> [Int] {
            // Even part.
            let z1 = (v(2) + v(6)) * 4433                       // 0.541196100
            let even2 = z1 - v(6) * 15137                       // 1.847759065
            let even3 = z1 + v(2) * 6270                        // 0.765366865
            let even0 = (v(0) + v(4)) << 13, even1 = (v(0) - v(4)) << 13
            let t10 = even0 + even3, t13 = even0 - even3, t11 = even1 + even2, t12 = even1 - even2
            // Odd part.
            let a0 = v(7), a1 = v(5), a2 = v(3), a3 = v(1)
            let z5 = (a0 + a2 + a1 + a3) * 9633                 // 1.175875602
            let s1 = (a0 + a3) * -7373                          // 0.899976223
            let s2 = (a1 + a2) * -20995                         // 2.562915447
            let s3 = (a0 + a2) * -16069 + z5                    // 1.961570560
            let s4 = (a1 + a3) * -3196 + z5                     // 0.390180644
            let o0 = a0 * 2446 + s1 + s3                        // 0.298631336
            let o1 = a1 * 16819 + s2 + s4                       // 2.053119869
            let o2 = a2 * 25172 + s2 + s3                       // 3.072711026
            let o3 = a3 * 12299 + s1 + s4                       // 1.501321110
            return [t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3]
        }
        for col in 0..<8 {
            let out = transform { input[$0 * 8 + col] }
            for row in 0..<8 { work[row * 8 + col] = (out[row] + (1 << 10)) >> 11 }
        }
        for row in 0..<8 {
            let out = transform { work[row * 8 + $0] }
            for col in 0..<8 {
                let value = ((out[col] + (1 << 17)) >> 18) + 128
                plane[origin + row * stride + col] = UInt8(clamping: value)
            }
        }
    }

    /// Upsamples one component to the full image size: libjpeg-style "fancy" triangular filters
    /// for 2x horizontal and/or vertical factors, pixel replication otherwise.
    static func upsample(_ c: Component, width: Int, height: Int, hExpand: Int, vExpand: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height)
        /// Sample at (x, y) of the component, clamped to its real extent.
        func at(_ x: Int, _ y: Int) -> Int {
            Int(c.plane[min(max(y, 0), c.height - 1) * c.planeWidth + min(max(x, 0), c.width - 1)])
        }
        let fancy = c.width > 2
        for y in 0..<height {
            for x in 0..<width {
                let sx = x / hExpand, sy = y / vExpand
                let value: Int
                if fancy && hExpand == 2 && vExpand == 2 {
                    // Vertical 3:1 blend with the nearer neighbor row, then horizontal 3:1 blend; bias 8 / 7.
                    let ny = y % 2 == 0 ? sy - 1 : sy + 1, nx = x % 2 == 0 ? sx - 1 : sx + 1
                    let here = 3 * at(sx, sy) + at(sx, ny), beside = 3 * at(nx, sy) + at(nx, ny)
                    value = (3 * here + beside + (x % 2 == 0 ? 8 : 7)) >> 4
                } else if fancy && hExpand == 2 && vExpand == 1 {
                    let nx = x % 2 == 0 ? sx - 1 : sx + 1
                    value = (3 * at(sx, sy) + at(nx, sy) + (x % 2 == 0 ? 1 : 2)) >> 2
                } else if fancy && hExpand == 1 && vExpand == 2 {
                    let ny = y % 2 == 0 ? sy - 1 : sy + 1
                    value = (3 * at(sx, sy) + at(sx, ny) + (y % 2 == 0 ? 1 : 2)) >> 2
                } else {
                    value = at(sx, sy)
                }
                out[y * width + x] = UInt8(value)
            }
        }
        return out
    }

    /// Upsamples the components and converts YCbCr to RGB (16-bit fixed point, rounded tables).
    static func output(_ s: State) throws -> DecodedImage {
        let w = s.width, h = s.height
        guard s.components.allSatisfy({ !$0.plane.isEmpty }) else { throw imageError(format, "a color component has no image data") }
        let planes = s.components.map { upsample($0, width: w, height: h, hExpand: s.maxH / $0.h, vExpand: s.maxV / $0.v) }
        if planes.count == 1 { return DecodedImage(width: w, height: h, channels: 1, pixels: planes[0]) }
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        let ids = s.components.map(\.id)
        // Like libjpeg: Adobe transform 0, or component ids 'R','G','B' without JFIF, mean the samples are RGB already.
        let isRGB = s.adobeTransform.map { $0 == 0 } ?? (!s.sawJFIF && ids == [0x52, 0x47, 0x42])
        for i in 0..<(w * h) {
            let y = Int(planes[0][i]), cb = Int(planes[1][i]) - 128, cr = Int(planes[2][i]) - 128
            if isRGB {
                pixels[3 * i] = planes[0][i]; pixels[3 * i + 1] = planes[1][i]; pixels[3 * i + 2] = planes[2][i]
                continue
            }
            let red = y + ((91881 * cr + 32768) >> 16)                     // 1.40200
            let green = y + ((-22554 * cb + 32768 - 46802 * cr) >> 16)     // 0.34414, 0.71414
            let blue = y + ((116130 * cb + 32768) >> 16)                   // 1.77200
            pixels[3 * i] = UInt8(clamping: red)
            pixels[3 * i + 1] = UInt8(clamping: green)
            pixels[3 * i + 2] = UInt8(clamping: blue)
        }
        return DecodedImage(width: w, height: h, channels: 3, pixels: pixels)
    }
}
