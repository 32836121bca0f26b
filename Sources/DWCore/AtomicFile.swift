import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one way dwbench writes a file (plans, baselines, `.npy` outputs, reports, results pages).
///
/// What `write(_:to:)` does depends on what the path names once symbolic links are followed:
/// - **Nothing yet, or a regular file**: replaced atomically. The data goes to a uniquely named temporary
///   file (`.name.tmp-XXXXXX`) in the same directory, is flushed with `fsync`, and is `rename`d over the
///   destination, so readers see the old contents or the complete new contents, never a partial file.
///   On any failure the temporary file is removed and the destination is untouched. A replaced file keeps
///   its permission bits; a new one gets 0644.
/// - **A symbolic link** is followed, through every link in a chain, and the final target is replaced
///   atomically in the target's own directory: the link stays a link and points to the new contents. A
///   dangling link creates its target (as the shell's `>` does) when the target's directory exists.
/// - **A character or block device, a FIFO or a socket** is written through: opened for writing as it is
///   (no creation, no truncation) and never replaced, so `--output /dev/null` discards and `/dev/null`
///   stays a device. Such a write is not atomic. A FIFO must already have a reader: the open does not
///   wait for one (it fails with "no process has the FIFO open for reading") but the writes then block
///   as any pipe's do. A failing write (ENOSPC on `/dev/full`, EPIPE when the reader went away) throws;
///   SIGPIPE is held back for the write so that the process gets the error instead of being killed.
/// - **A directory** is refused.
///
/// Every error is a `FileError`, whose description is one line: the path, then the reason.
public enum AtomicFile {
    /// Throws unless `write(_:to:)` has somewhere to put `path`: an existing regular file or device, or
    /// a missing file whose directory exists (symbolic links followed). Long jobs call it to check their
    /// output before doing the work.
    public static func requireDirectory(of path: String) throws {
        _ = try destination(of: path)
    }

    /// Writes `data` to `path`: replaced atomically, written through, or refused (see the type's comment).
    public static func write(_ data: Data, to path: String) throws {
        switch try destination(of: path) {
        case let .file(target, mode): try replace(target, with: data, mode: mode, naming: path)
        case let .special(kind): try writeThrough(path, data, kind: kind)
        }
    }

    /// Creates the directory `path` (and its parents) unless it exists; refuses an existing non-directory
    /// (a device given as a report directory, say) with one line.
    public static func createDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw FileError(path: path, reason: "exists and is not a directory") }
            return
        }
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw FileError(path: path, reason: "cannot create the directory: \(FileError.reason(of: error))")
        }
    }

    /// Where a write to a path goes.
    enum Destination {
        /// A regular file to replace or a missing one to create, at `target` (the path with symbolic links
        /// followed); `mode` is the existing file's permission bits.
        case file(target: String, mode: mode_t?)
        /// A device, FIFO or socket, written through the path as given.
        case special(kind: String)
    }

    static func destination(of path: String) throws -> Destination {
        guard !path.isEmpty else { throw FileError(path: path, reason: "empty path") }
        var info = stat()
        if stat(path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFDIR: throw FileError(path: path, reason: "is a directory")
            case S_IFREG: return .file(target: try existingTarget(of: path, info), mode: info.st_mode & 0o7777)
            default: return .special(kind: kindName(info.st_mode))
            }
        }
        let failure = errno
        guard failure == ENOENT else { throw FileError(path: path, reason: errnoText(failure)) }
        guard !path.hasSuffix("/") else { throw FileError(path: path, reason: "names a directory (ends with '/')") }
        // Nothing there: the path itself, or the end of a chain of symbolic links (a dangling link).
        let target = try missingTarget(of: path)
        let directory = split(target).directory
        var dirInfo = stat()
        guard stat(directory, &dirInfo) == 0, dirInfo.st_mode & S_IFMT == S_IFDIR else {
            throw FileError(path: path, reason: "directory '\(directory)' does not exist")
        }
        return .file(target: target, mode: nil)
    }

    /// The regular file `path` names: `path` itself, or, when it is a symbolic link, its resolved target,
    /// checked to be the very file `stat` saw.
    static func existingTarget(of path: String, _ info: stat) throws -> String {
        var linkInfo = stat()
        guard lstat(path, &linkInfo) == 0, linkInfo.st_mode & S_IFMT == S_IFLNK else { return path }
        guard let resolved = realpath(path, nil) else {
            throw FileError(path: path, reason: "cannot resolve the symbolic link: \(errnoText(errno))")
        }
        defer { free(resolved) }
        let target = String(cString: resolved)
        var targetInfo = stat()
        guard stat(target, &targetInfo) == 0, targetInfo.st_dev == info.st_dev, targetInfo.st_ino == info.st_ino else {
            throw FileError(path: path, reason: "the symbolic link's target changed while it was resolved")
        }
        return target
    }

    /// The path at the end of `path`'s chain of symbolic links, which does not exist.
    static func missingTarget(of path: String) throws -> String {
        var current = path
        for _ in 0..<40 {   // Linux's own limit on links followed in one lookup
            var info = stat()
            guard lstat(current, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return current }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(current, &buffer, buffer.count - 1)
            guard count >= 0 else { throw FileError(path: path, reason: "cannot read the symbolic link '\(current)': \(errnoText(errno))") }
            let link = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = link.hasPrefix("/") ? link : "\(split(current).directory)/\(link)"
        }
        throw FileError(path: path, reason: errnoText(ELOOP))
    }

    /// Temporary file, fsync, rename over `target` (then fsync of the directory, so the rename is durable).
    static func replace(_ target: String, with data: Data, mode: mode_t?, naming path: String) throws {
        let (directory, name) = split(target)
        // A name near NAME_MAX (255 bytes) leaves no room for the temporary file's affixes: shorten it there.
        let stem = name.utf8.count > 200 ? String(decoding: Array(name.utf8.prefix(200)), as: UTF8.self) : name
        var template = Array("\(directory)/.\(stem).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FileError(path: path, reason: "cannot create a temporary file in '\(directory)': \(errnoText(errno))")
        }
        let tempPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var renamed = false
        defer { if !renamed { unlink(tempPath) } }
        do {
            try writeAll(fd, data, naming: path)
            guard fchmod(fd, mode ?? 0o644) == 0, fsync(fd) == 0 else { throw FileError(path: path, reason: "write failed: \(errnoText(errno))") }
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw FileError(path: path, reason: "write failed: \(errnoText(errno))") }
        // Never rename over something that became a directory, device or FIFO while the data was written.
        var info = stat()
        if lstat(target, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
            throw FileError(path: path, reason: "'\(target)' changed to a \(kindName(info.st_mode)) during the write; not replaced")
        }
        guard rename(tempPath, target) == 0 else {
            throw FileError(path: path, reason: "rename failed: \(errnoText(errno))")
        }
        renamed = true
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 { _ = fsync(dirFD); close(dirFD) }
    }

    /// Opens the device, FIFO or socket `path` for writing, as it is, and writes `data` into it.
    static func writeThrough(_ path: String, _ data: Data, kind: String) throws {
        // O_NONBLOCK only for the open: a FIFO without a reader fails at once (ENXIO) instead of waiting
        // for one for ever; the writes block as usual.
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            let failure = errno
            let why = failure == ENXIO && kind == "FIFO" ? "no process has the FIFO open for reading" : errnoText(failure)
            throw FileError(path: path, reason: "cannot open the \(kind) for writing: \(why)")
        }
        var closed = false
        defer { if !closed { close(fd) } }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
            throw FileError(path: path, reason: "cannot configure the \(kind): \(errnoText(errno))")
        }
        try withSIGPIPEHeld { try writeAll(fd, data, naming: path) }
        // Devices that cannot be synced (/dev/null, FIFOs) answer EINVAL; a block device is synced.
        if fsync(fd) != 0, errno != EINVAL, errno != EROFS {
            throw FileError(path: path, reason: "write failed: \(errnoText(errno))")
        }
        closed = true
        guard close(fd) == 0 else { throw FileError(path: path, reason: "write failed: \(errnoText(errno))") }
    }

    static func writeAll(_ fd: Int32, _ data: Data, naming path: String) throws {
        try data.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw FileError(path: path, reason: "write failed: \(n == 0 ? "no progress" : errnoText(errno))")
                }
                written += n
            }
        }
    }

    /// Runs `body` with SIGPIPE blocked on this thread, then discards a SIGPIPE that `body`'s writes raised,
    /// so that a write to a pipe without readers fails with EPIPE instead of killing the process. Only
    /// this thread's mask changes, so a library caller's own SIGPIPE handling is left alone.
    static func withSIGPIPEHeld(_ body: () throws -> Void) throws {
        var pipeOnly = sigset_t(), previous = sigset_t(), pending = sigset_t()
        sigemptyset(&pipeOnly)
        sigaddset(&pipeOnly, SIGPIPE)
        sigpending(&pending)
        let pendingBefore = sigismember(&pending, SIGPIPE) == 1
        pthread_sigmask(SIG_BLOCK, &pipeOnly, &previous)
        defer {
            if !pendingBefore {
                sigpending(&pending)
                if sigismember(&pending, SIGPIPE) == 1 {
                    var noWait = timespec(tv_sec: 0, tv_nsec: 0)
                    while sigtimedwait(&pipeOnly, nil, &noWait) < 0 && errno == EINTR {}
                }
            }
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        try body()
    }

    /// "/a/b" → ("/a", "b"); "b" → (".", "b"); "/b" → ("/", "b").
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let name = String(path[path.index(after: slash)...])
        return (slash == path.startIndex ? "/" : String(path[..<slash]), name)
    }

    static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        case S_IFIFO: return "FIFO"
        case S_IFSOCK: return "socket"
        case S_IFDIR: return "directory"
        case S_IFLNK: return "symbolic link"
        default: return "special file"
        }
    }
}

func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// A file that cannot be read or written: one line, the path and the reason
/// (`out.npy: write failed: No space left on device`).
public struct FileError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }

    /// The operating system's reason behind a Foundation file error ("No such file or directory"), where
    /// Foundation's own text is an NSError dump or a sentence about "the file"; any other error's own text.
    public static func reason(of error: any Error) -> String {
        if let error = error as? FileError { return error.reason }
        if let posix = error as? POSIXError { return errnoText(posix.code.rawValue) }
        guard let cocoa = error as? CocoaError else { return "\(error)" }
        if let underlying = cocoa.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return errnoText(Int32(underlying.code))
        }
        if let underlying = cocoa.userInfo[NSUnderlyingErrorKey] as? POSIXError { return errnoText(underlying.code.rawValue) }
        switch cocoa.code {
        case .fileNoSuchFile, .fileReadNoSuchFile: return errnoText(ENOENT)
        case .fileReadNoPermission, .fileWriteNoPermission: return errnoText(EACCES)
        case .fileWriteOutOfSpace: return errnoText(ENOSPC)
        case .fileWriteFileExists: return errnoText(EEXIST)
        case .fileWriteVolumeReadOnly: return errnoText(EROFS)
        default: return cocoa.localizedDescription
        }
    }

    /// One line for any error: a Foundation file error as "path: reason", not its NSError dump; any other
    /// error as its own description.
    public static func line(for error: any Error) -> String {
        guard error is CocoaError || error is POSIXError else { return "\(error)" }
        let path = (error as? CocoaError)?.userInfo[NSFilePathErrorKey] as? String
            ?? ((error as? CocoaError)?.userInfo[NSURLErrorKey] as? URL)?.path
        return path.map { "\($0): \(reason(of: error))" } ?? reason(of: error)
    }
}
