import DWCore
import DWTestSupport
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `AtomicFile.write` on every kind of destination: devices and FIFOs are written through and stay what
/// they are, symbolic links are followed and stay links, directories are refused, and errors are one line.
/// The device nodes are made with mknod in a temporary directory (same numbers as /dev/null and /dev/full),
/// never in /dev itself.
final class AtomicFileTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dwbench-atomic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func path(_ name: String) -> String { "\(dir!)/\(name)" }

    /// The `lstat` of `path` (the link itself for a symbolic link).
    func info(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> stat {
        var st = stat()
        XCTAssertEqual(lstat(path, &st), 0, "\(path) is gone", file: file, line: line)
        return st
    }

    /// A character device with Linux's numbers for /dev/null (1, 3) or /dev/full (1, 7), or a skip.
    func device(_ name: String, minor: UInt32) throws -> String {
        if let why = makeCharacterDevice(at: path(name), minor: minor) { throw XCTSkip(why) }
        return path(name)
    }

    func temporaryFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
    }

    func fileError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> FileError? {
        do { try body() } catch let error as FileError {
            XCTAssertFalse(error.description.contains("\n"), "one line: \(error)", file: file, line: line)
            return error
        } catch {
            XCTFail("not a FileError: \(error)", file: file, line: line)
            return nil
        }
        XCTFail("no error", file: file, line: line)
        return nil
    }

    func testNullDeviceIsWrittenThroughAndStaysADevice() throws {
        let null = try device("null", minor: 3)
        try AtomicFile.requireDirectory(of: null)
        try AtomicFile.write(Data(repeating: 7, count: 100_000), to: null)
        XCTAssertEqual(fileKind(null), S_IFCHR, "the device was replaced")
        XCTAssertEqual(info(null).st_rdev, characterDeviceNumber(minor: 3))
        XCTAssertEqual(try temporaryFiles(), [])
    }

    func testFullDeviceFailsWithOneLineAndStaysADevice() throws {
        let full = try device("full", minor: 7)
        let error = fileError { try AtomicFile.write(Data("logits".utf8), to: full) }
        XCTAssertEqual(error?.reason, "write failed: No space left on device")
        XCTAssertEqual(fileKind(full), S_IFCHR)
        XCTAssertEqual(info(full).st_rdev, characterDeviceNumber(minor: 7))
        XCTAssertEqual(try temporaryFiles(), [])
    }

    func testFIFOWithAReaderGetsEveryByte() throws {
        let fifo = path("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // 1 MB: more than a pipe holds, so the writes block until the reader thread drains them.
        let payload = Data((0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        XCTAssertGreaterThanOrEqual(reader, 0)
        XCTAssertEqual(fcntl(reader, F_SETFL, fcntl(reader, F_GETFL) & ~O_NONBLOCK), 0)
        // The test's own writer end keeps the reader from seeing EOF early; closed once the write is done
        // (then the reader ends even if the FIFO was never written).
        let keeper = open(fifo, O_WRONLY | O_NONBLOCK)
        XCTAssertGreaterThanOrEqual(keeper, 0)
        let received = ReadAll(reader)
        let written = Result { try AtomicFile.write(payload, to: fifo) }
        close(keeper)
        XCTAssertEqual(received.wait(), payload)
        XCTAssertNoThrow(try written.get())
        XCTAssertEqual(fileKind(fifo), S_IFIFO, "the FIFO was replaced")
    }

    func testFIFOWithoutAReaderFailsAtOnce() throws {
        let fifo = path("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try AtomicFile.requireDirectory(of: fifo)   // checking does not open it
        let error = fileError { try AtomicFile.write(Data("x".utf8), to: fifo) }
        XCTAssertEqual(error?.reason, "cannot open the FIFO for writing: no process has the FIFO open for reading")
        XCTAssertEqual(fileKind(fifo), S_IFIFO)
    }

    /// The reader goes away in the middle: EPIPE is an error, not a SIGPIPE that kills the process.
    func testFIFOReaderGoneIsAnErrorNotASignal() throws {
        let fifo = path("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        XCTAssertGreaterThanOrEqual(reader, 0)
        let outcome = Outcome()
        let fifoPath = fifo
        let writer = Thread {
            do { try AtomicFile.write(Data(repeating: 1, count: 8 << 20), to: fifoPath); outcome.set("no error") } catch {
                outcome.set("\(error)")
            }
        }
        writer.start()
        // Close the reader once the writer has filled the pipe (it then waits in write()), or has finished.
        var queued: Int32 = 0
        while outcome.get() == nil && !(ioctl(reader, UInt(FIONREAD), &queued) == 0 && queued > 0) { usleep(1000) }
        close(reader)
        while outcome.get() == nil { usleep(1000) }
        XCTAssertEqual(outcome.get(), "\(fifo): write failed: Broken pipe")
        XCTAssertEqual(fileKind(fifo), S_IFIFO)
    }

    func testSocketIsRefusedAndStaysASocket() throws {
        let socketPath = path("s")
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: socketPath.utf8.prefix(raw.count - 1)) }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        XCTAssertEqual(bound, 0)
        let error = fileError { try AtomicFile.write(Data("x".utf8), to: socketPath) }
        XCTAssertEqual(error?.reason, "cannot open the socket for writing: No such device or address")
        XCTAssertEqual(fileKind(socketPath), S_IFSOCK)
    }

    func testSymbolicLinksAreFollowedAndStayLinks() throws {
        try Data("old".utf8).write(to: URL(fileURLWithPath: path("real.bin")))
        XCTAssertEqual(chmod(path("real.bin"), 0o600), 0)
        XCTAssertEqual(symlink("real.bin", path("link")), 0)             // relative
        XCTAssertEqual(symlink(path("link"), path("link2")), 0)          // absolute, to a link
        try AtomicFile.write(Data("new".utf8), to: path("link2"))
        XCTAssertEqual(fileKind(path("link")), S_IFLNK)
        XCTAssertEqual(fileKind(path("link2")), S_IFLNK)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: path("link")), "real.bin")
        XCTAssertEqual(FileManager.default.contents(atPath: path("real.bin")), Data("new".utf8))
        XCTAssertEqual(info(path("real.bin")).st_mode & 0o777, 0o600, "the replaced file keeps its permissions")
        XCTAssertEqual(try temporaryFiles(), [])
    }

    func testDanglingLinkCreatesItsTargetOrFails() throws {
        try FileManager.default.createDirectory(atPath: path("sub"), withIntermediateDirectories: false)
        XCTAssertEqual(symlink("sub/new.bin", path("dangling")), 0)
        try AtomicFile.write(Data("made".utf8), to: path("dangling"))
        XCTAssertEqual(fileKind(path("dangling")), S_IFLNK)
        XCTAssertEqual(FileManager.default.contents(atPath: path("sub/new.bin")), Data("made".utf8))

        XCTAssertEqual(symlink("nowhere/new.bin", path("lost")), 0)
        XCTAssertNotNil(fileError { try AtomicFile.requireDirectory(of: path("lost")) })
        let error = fileError { try AtomicFile.write(Data("x".utf8), to: path("lost")) }
        XCTAssertEqual(error?.reason, "directory '\(dir!)/nowhere' does not exist")
        XCTAssertEqual(fileKind(path("lost")), S_IFLNK)
        XCTAssertEqual(symlink("loop-b", path("loop-a")), 0)
        XCTAssertEqual(symlink("loop-a", path("loop-b")), 0)
        XCTAssertEqual(fileError { try AtomicFile.write(Data("x".utf8), to: path("loop-a")) }?.reason, "Too many levels of symbolic links")
        XCTAssertEqual(fileKind(path("loop-a")), S_IFLNK)
    }

    func testDirectoriesAreRefused() throws {
        let sub = path("sub")
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: false)
        XCTAssertEqual(symlink("sub", path("to-sub")), 0)
        for target in [sub, path("to-sub")] {
            XCTAssertEqual(fileError { try AtomicFile.requireDirectory(of: target) }?.reason, "is a directory")
            XCTAssertEqual(fileError { try AtomicFile.write(Data("x".utf8), to: target) }?.reason, "is a directory")
        }
        XCTAssertEqual(fileError { try AtomicFile.write(Data("x".utf8), to: path("new") + "/") }?.reason, "names a directory (ends with '/')")
        XCTAssertEqual(fileKind(sub), S_IFDIR)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("new")))
        XCTAssertEqual(try temporaryFiles(), [])
    }

    /// A name near the 255-byte limit leaves no room for ".name.tmp-XXXXXX": the temporary file's name is shortened.
    func testLongFileName() throws {
        let long = path(String(repeating: "n", count: 250))
        try AtomicFile.write(Data("long".utf8), to: long)
        XCTAssertEqual(FileManager.default.contents(atPath: long), Data("long".utf8))
        XCTAssertEqual(try temporaryFiles(), [])
    }

    func testCreateDirectoryRefusesADevice() throws {
        let null = try device("null", minor: 3)
        XCTAssertEqual(fileError { try AtomicFile.createDirectory(null) }?.reason, "exists and is not a directory")
        try AtomicFile.createDirectory(path("a/b"))
        XCTAssertEqual(fileKind(path("a/b")), S_IFDIR)
    }

    func testFoundationErrorsBecomeTheOSReason() {
        do {
            _ = try Data(contentsOf: URL(fileURLWithPath: path("missing.json")))
            XCTFail("read a missing file")
        } catch {
            XCTAssertEqual(FileError.reason(of: error), "No such file or directory")
            XCTAssertEqual(FileError.line(for: error), "\(path("missing.json")): No such file or directory")
        }
        XCTAssertEqual(FileError.line(for: FileError(path: "p", reason: "r")), "p: r")
    }
}

/// A value set by one thread and polled by another.
final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    func set(_ v: String) { lock.withLock { value = v } }
    func get() -> String? { lock.withLock { value } }
}
