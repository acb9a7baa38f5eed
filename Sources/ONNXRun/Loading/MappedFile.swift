import Foundation

/// A file mapped into memory read-only (private copy-on-write pages, so the file never changes).
///
/// Model files are parsed straight from the mapping, and weight payloads are copied out of it
/// one at a time with their pages dropped right after (`releasePages`), so the model's bytes are
/// never resident twice. External data files are wrapped by tensors without a copy.
final class MappedFile: @unchecked Sendable {
    /// The whole file.
    let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?
    private let length: Int

    /// Maps the file at `url`; errors are `.io` errors naming the file.
    init(_ url: URL, what: String = "model file") throws {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.error(errno, what, url) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Self.error(errno, what, url) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ONNXRunError(.io, "cannot read \(what): \(info.st_mode & S_IFMT == S_IFDIR ? "is a directory" : "not a regular file")", subject: url.path)
        }
        length = Int(info.st_size)
        if length == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw Self.error(errno, what, url)
        }
        base = mapped
        bytes = UnsafeRawBufferPointer(start: mapped, count: length)
    }

    deinit {
        if let base { munmap(base, length) }
    }

    /// Drops the whole pages inside `range` from memory (they are re-read from the file if
    /// touched again), so bytes already copied elsewhere stop counting towards the resident set.
    func releasePages(_ range: Range<Int>) {
        guard let base else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (range.lowerBound + page - 1) / page * page
        let last = range.upperBound / page * page
        if last > first { madvise(base + first, last - first, MADV_DONTNEED) }
    }

    private static func error(_ code: Int32, _ what: String, _ url: URL) -> ONNXRunError {
        let reason = switch code {
        case ENOENT: "no such file"
        case EACCES: "permission denied"
        default: String(cString: strerror(code))
        }
        return ONNXRunError(.io, "cannot read \(what): \(reason)", subject: url.path)
    }
}
