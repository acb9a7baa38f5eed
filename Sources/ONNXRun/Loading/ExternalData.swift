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

    /// Reads `length` bytes at `offset` of `file` into a tensor.
    static func read(file: URL, offset: Int, length: Int, dataType: DataType, shape: [Int]) throws -> Tensor {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: file)
        } catch {
            throw ONNXRunError(.io, "cannot open external data file: \(ModelLoader.reason(error))", subject: file.path)
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map { Int($0) } ?? 0
        guard offset <= size, length <= size - offset else {
            throw ONNXRunError(.invalidModel, "external data range \(offset)..<\(offset + length) is beyond the end of '\(file.lastPathComponent)' (\(size) bytes)")
        }
        try handle.seek(toOffset: UInt64(offset))
        let data = try handle.read(upToCount: length) ?? Data()
        guard data.count == length else {
            throw ONNXRunError(.io, "read \(data.count) of \(length) bytes from '\(file.lastPathComponent)'")
        }
        return try data.withUnsafeBytes { try Tensor(dataType: dataType, shape: shape, bytes: $0) }
    }
}
