/// ImageDecoder (opset 20): decodes an encoded image (a 1-D uint8 tensor holding the file bytes)
/// into a uint8 [H, W, 3] RGB / BGR or [H, W, 1] grayscale tensor.
///
/// The codecs are written in Swift in `ImageCodecs/` (BMP, PNM, PNG, TIFF, baseline JPEG); no codec
/// library is linked. Malformed input throws `invalidData`; JPEG 2000, WebP and GIF throw an error
/// naming the unsupported format.
struct ImageDecoderKernel: TensorKernel {
    /// Requested output layout.
    enum PixelFormat: String { case rgb = "RGB", bgr = "BGR", grayscale = "Grayscale" }
    let pixelFormat: PixelFormat

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        let name = try context.string("pixel_format", default: "RGB")
        guard let format = PixelFormat(rawValue: name) else {
            throw context.error(.invalidAttribute, "pixel_format must be RGB, BGR or Grayscale, got '\(name)'")
        }
        pixelFormat = format
    }

    /// Decodes `bytes` with the codec its signature names.
    static func decode(_ bytes: [UInt8]) throws -> DecodedImage {
        if PNGDecoder.matches(bytes) { return try PNGDecoder.decode(bytes) }
        if JPEGDecoder.matches(bytes) { return try JPEGDecoder.decode(bytes) }
        if BMPDecoder.matches(bytes) { return try BMPDecoder.decode(bytes) }
        if TIFFDecoder.matches(bytes) { return try TIFFDecoder.decode(bytes) }
        if PNMDecoder.matches(bytes) { return try PNMDecoder.decode(bytes) }
        let supported = "supported: BMP, PNM, PNG, TIFF, baseline JPEG"
        func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + prefix.count && Array(bytes[offset..<(offset + prefix.count)]) == prefix
        }
        if starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], at: 8) {
            throw ONNXRunError(.invalidData, "ImageDecoder: WebP images are not supported (\(supported))")
        }
        if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) {
            throw ONNXRunError(.invalidData, "ImageDecoder: JPEG 2000 images are not supported (\(supported))")
        }
        if starts([0x47, 0x49, 0x46, 0x38]) {
            throw ONNXRunError(.invalidData, "ImageDecoder: GIF images are not supported (\(supported))")
        }
        throw ONNXRunError(.invalidData, "ImageDecoder: unrecognized image format (\(supported))")
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs.first ?? nil else { throw ONNXRunError(.invalidInput, "ImageDecoder needs an encoded_stream input") }
        guard x.dataType == .uint8, x.rank == 1 else {
            throw ONNXRunError(.invalidInput, "encoded_stream must be a 1-D uint8 tensor, got \(x)")
        }
        let image = try Self.decode(try x.scalars(as: UInt8.self))
        switch pixelFormat {
        case .rgb:
            return [try Tensor(shape: [image.height, image.width, 3], scalars: image.rgb)]
        case .bgr:
            var pixels = image.rgb
            var i = 0
            while i + 2 < pixels.count {
                pixels.swapAt(i, i + 2)
                i += 3
            }
            return [try Tensor(shape: [image.height, image.width, 3], scalars: pixels)]
        case .grayscale:
            return [try Tensor(shape: [image.height, image.width, 1], scalars: image.luma)]
        }
    }
}

extension KernelRegistry {
    static func registerImageDecoder(_ r: inout KernelRegistry) {
        r.register("ImageDecoder", since: 20) { try ImageDecoderKernel($0) }
    }
}
