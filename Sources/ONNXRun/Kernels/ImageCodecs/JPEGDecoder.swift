enum JPEGDecoder {
    static let format = "JPEG"
    static func matches(_ bytes: [UInt8]) -> Bool { bytes.starts(with: [0xFF, 0xD8, 0xFF]) }
    static func decode(_ bytes: [UInt8]) throws -> DecodedImage { throw imageError(format, "decoding is not implemented yet") }
}
