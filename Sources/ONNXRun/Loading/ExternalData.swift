import Foundation

/// Resolves and reads tensor data stored outside the model file (`data_location = EXTERNAL`).
enum ExternalData {
    /// The file `location` names, which must stay inside `directory`.
    static func resolve(location: String, in directory: URL) throws -> URL {
        guard !location.hasPrefix("/") && !location.contains("\\") else {
            throw ONNXRunError(.invalidModel, "external data location '\(location)' must be a relative path inside the model's directory")
        }
        let base = directory.standardizedFileURL.resolvingSymlinksInPath()
        let file = base.appendingPathComponent(location).standardizedFileURL.resolvingSymlinksInPath()
        let basePath = base.path.hasSuffix("/") ? base.path : base.path + "/"
        guard file.path.hasPrefix(basePath) else {
            throw ONNXRunError(.invalidModel, "external data location '\(location)' escapes the model's directory")
        }
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw ONNXRunError(.invalidModel, "external data file '\(location)' does not exist (looked in \(base.path))")
        }
        return file
    }

    /// The tensor stored in `length` bytes at `offset` of `file`. The file is memory-mapped; a
    /// 64-byte aligned payload of a plain numeric type becomes the tensor's storage without a
    /// copy (the mapping lives as long as the tensor), anything else is copied out of it.
    static func read(file: URL, offset: Int, length: Int, dataType: DataType, shape: [Int]) throws -> Tensor {
        let mapping = try MappedFile(file, what: "external data file")
        let size = mapping.bytes.count
        guard offset <= size, length <= size - offset else {
            throw ONNXRunError(.invalidModel, "external data range \(offset)..<\(offset + length) is beyond the end of '\(file.lastPathComponent)' (\(size) bytes)")
        }
        let payload = UnsafeRawBufferPointer(rebasing: mapping.bytes[offset..<(offset + length)])
        guard let start = payload.baseAddress, Int(bitPattern: start) % 64 == 0, dataType != .bool, dataType != .string,
              dataType.byteCount(forElements: try Tensor.elementCount(shape)) == length
        else {
            return try Tensor(dataType: dataType, shape: shape, bytes: payload)
        }
        return try Tensor(dataType: dataType, shape: shape, wrapping: UnsafeMutableRawPointer(mutating: start)) { _ in
            withExtendedLifetime(mapping) {}
        }
    }
}
