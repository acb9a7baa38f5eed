import Foundation

/// NumPy `.npy` files (format versions 1–3), little-endian numeric and bool arrays.
public enum NPYFormat {
    private static let codes: [String: DataType] = [
        "f4": .float, "f8": .double, "f2": .float16, "i1": .int8, "i2": .int16, "i4": .int32, "i8": .int64,
        "u1": .uint8, "u2": .uint16, "u4": .uint32, "u8": .uint64, "b1": .bool, "c8": .complex64, "c16": .complex128,
    ]

    /// Reads an `.npy` file.
    public static func read(contentsOf url: URL) throws -> Tensor {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ONNXRunError(.io, "cannot read file: \(ModelLoader.reason(error))", subject: url.path)
        }
        do {
            return try decode(data)
        } catch let error as ONNXRunError {
            throw error.about(url.path)
        }
    }

    /// Decodes `.npy` bytes.
    public static func decode(_ data: Data) throws -> Tensor {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw ONNXRunError(.invalidData, "not a NumPy .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else if major == 2 || major == 3 {
            guard bytes.count >= 12 else { throw ONNXRunError(.invalidData, "truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        } else {
            throw ONNXRunError(.invalidData, ".npy format version \(major) is not supported")
        }
        guard headerStart + headerLength <= bytes.count else { throw ONNXRunError(.invalidData, "truncated .npy header") }
        let header = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\" ")) else {
            throw ONNXRunError(.invalidData, ".npy header has no 'descr'")
        }
        if field("fortran_order", in: header)?.trimmingCharacters(in: .whitespaces) == "True" {
            throw ONNXRunError(.invalidData, "Fortran-ordered .npy arrays are not supported; save with np.ascontiguousarray")
        }
        guard let shapeText = field("shape", in: header) else { throw ONNXRunError(.invalidData, ".npy header has no 'shape'") }
        let shape = try shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { (text: String) -> Int in
                guard let d = Int(text), d >= 0 else { throw ONNXRunError(.invalidData, "bad .npy shape '\(shapeText)'") }
                return d
            }
        let order = descr.first
        let code = String(descr.dropFirst())
        guard let type = codes[code] else { throw ONNXRunError(.unsupportedType, ".npy dtype '\(descr)' is not supported") }
        guard order == "<" || order == "|" || (order == "=" ) else {
            throw ONNXRunError(.unsupportedType, "big-endian .npy arrays ('\(descr)') are not supported")
        }
        let start = headerStart + headerLength
        let needed = type.byteCount(forElements: try Tensor.elementCount(shape))
        guard bytes.count - start >= needed else {
            throw ONNXRunError(.invalidData, ".npy data has \(bytes.count - start) bytes, shape \(shape) of \(type) needs \(needed)")
        }
        return try bytes[start..<start + needed].withUnsafeBytes { try Tensor(dataType: type, shape: shape, bytes: $0) }
    }

    /// Encodes a tensor as `.npy` (version 1) bytes.
    public static func encode(_ t: Tensor) throws -> Data {
        guard let code = codes.first(where: { $0.value == t.dataType })?.key else {
            throw ONNXRunError(.unsupportedType, ".npy output of \(t.dataType) is not supported")
        }
        let order = t.dataType.bitWidth == 8 ? "|" : "<"
        let shape = t.rank == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(order)\(code)', 'fortran_order': False, 'shape': \(shape), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        t.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// The text of `key`'s value in a Python dict literal header.
    private static func field(_ key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[keyRange.upperBound...].drop(while: { $0 == " " || $0 == ":" })
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        if let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) { rest = rest[..<end] }
        return String(rest)
    }
}
