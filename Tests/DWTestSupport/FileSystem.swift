import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Makes at `path` a character device with Linux's numbers for /dev/null (minor 3) or /dev/full (minor 7),
/// for tests of writers that must write through devices and never replace them (in a temporary directory,
/// never in /dev). Returns nil, or why it cannot (mknod needs root; a container may forbid opening it), for
/// the test's XCTSkip.
public func makeCharacterDevice(at path: String, minor: UInt32) -> String? {
    guard mknod(path, S_IFCHR | 0o666, characterDeviceNumber(minor: minor)) == 0 else {
        return "mknod needs root (CAP_MKNOD): \(String(cString: strerror(errno)))"
    }
    let fd = open(path, O_WRONLY)
    guard fd >= 0 else { return "this container does not let device nodes be opened: \(String(cString: strerror(errno)))" }
    close(fd)
    return nil
}

/// The device number (major 1, `minor`) as glibc's makedev encodes numbers below 256.
public func characterDeviceNumber(minor: UInt32) -> dev_t { dev_t(1) << 8 | dev_t(minor) }

/// The file type bits (S_IFCHR, S_IFIFO, S_IFLNK, …) of `path` itself (a link is not followed), nil if absent.
public func fileKind(_ path: String) -> mode_t? {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
}

/// Reads a file descriptor to its end on another thread, then closes it.
public final class ReadAll: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    public init(_ fd: Int32) {
        Thread { [self] in
            data = FileHandle(fileDescriptor: fd, closeOnDealloc: true).readDataToEndOfFile()
            done.signal()
        }.start()
    }

    public func wait() -> Data {
        done.wait()
        return data
    }
}
