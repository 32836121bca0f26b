import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes files so that readers see either the old contents or the complete new contents, never a
/// partial file: the data goes to a uniquely named temporary file in the destination's directory,
/// is flushed with `fsync`, and is then `rename`d over the destination (atomic on POSIX file systems).
/// On any failure the temporary file is removed and the destination is untouched.
public enum AtomicFile {
    /// Throws unless the directory `path` would be written into exists, so that long jobs can check
    /// their output before doing the work.
    public static func requireDirectory(of path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw AtomicFileError(path: path, reason: "directory '\(directory)' does not exist")
        }
    }

    public static func write(_ data: Data, to path: String) throws {
        try requireDirectory(of: path)
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var template = Array("\(directory)/.\(url.lastPathComponent).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw AtomicFileError(path: path, reason: "cannot create a temporary file: \(String(cString: strerror(errno)))")
        }
        let tempPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var ok = false
        defer { if !ok { unlink(tempPath) } }
        var written = 0
        let result: Bool = data.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n <= 0 { return false }
                written += n
            }
            return true
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard result, synced else {
            throw AtomicFileError(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
        }
        _ = chmod(tempPath, 0o644)
        guard rename(tempPath, path) == 0 else {
            throw AtomicFileError(path: path, reason: "rename failed: \(String(cString: strerror(errno)))")
        }
        ok = true
    }
}

public struct AtomicFileError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}
