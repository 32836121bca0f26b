import DWCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The output-path writer (`AtomicFile.write`) on a small file-system scenario the input describes, built
/// in a private temporary directory: byte 0 picks what the path is (nothing, a regular file, a chain of
/// symbolic links, a dangling link, a directory, a FIFO with or without a reader, a missing parent, a
/// character device with /dev/null's or /dev/full's numbers made with mknod when running as root, a
/// link loop, a path ending in '/'), byte 1 the file name, whether links are relative and the old file's
/// permissions, byte 2 the link chain's length, and the rest is the payload.
///
/// The writer's promises, checked after every call: it does what the policy says for that kind of path
/// (succeeds or refuses); a device or FIFO is still that device or FIFO; links are still the same links;
/// a regular file holds either its old bytes (on an error) or exactly the payload, with its permissions;
/// a refused or failed write leaves everything as it was; no temporary file is left behind; an error is
/// one line.
func fuzzOutput(_ data: Data) {
    let bytes = [UInt8](data)
    guard bytes.count >= 3, let scene = OutputScene(bytes[0], bytes[1], bytes[2]) else { return }
    var template = Array((NSTemporaryDirectory() + "/dwbench-fuzz-output-XXXXXX").utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        return check(false, "cannot make a temporary directory: \(String(cString: strerror(errno)))")
    }
    let root = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: root) }
    // A FIFO's reader is not read until the write returns: keep the payload within what a pipe holds.
    let payload = Data(bytes.dropFirst(3).prefix(scene.kind == .fifoWithReader ? 16384 : Int.max))
    guard let built = scene.build(in: root) else { return }   // a device without root: nothing to test
    let before = snapshot(root)
    var failure: (any Error)?
    do { try AtomicFile.write(payload, to: built.path) } catch { failure = error }
    // Everything the FIFO holds (the writer has closed it, so the non-blocking read ends at EOF).
    let fifoBytes = built.reader.map { FileHandle(fileDescriptor: $0, closeOnDealloc: true).readDataToEndOfFile() }

    if let failure {
        check(failure is FileError, "\(scene.kind): not a FileError: \(failure)")
        check(!"\(failure)".contains("\n"), "\(scene.kind): error of several lines: \(failure)")
    }
    let expected = scene.succeeds(payload: payload)
    check((failure == nil) == expected, "\(scene.kind): \(expected ? "failed: \(failure.map { "\($0)" } ?? "")" : "succeeded")")
    let after = snapshot(root)
    check(!after.keys.contains { $0.contains(".tmp-") }, "\(scene.kind): temporary file left: \(after.keys.sorted())")
    for (name, old) in before {
        guard let new = after[name] else { return check(false, "\(scene.kind): '\(name)' disappeared") }
        check(new.kind == old.kind && new.link == old.link && new.device == old.device, "\(scene.kind): '\(name)' changed from \(old) to \(new)")
        if old.kind == S_IFREG, name != built.target || failure != nil {
            check(new.contents == old.contents && new.mode == old.mode, "\(scene.kind): '\(name)' changed")
        }
    }
    if failure == nil, let target = built.target {
        if let fifoBytes { check(fifoBytes == payload, "\(scene.kind): the reader got \(fifoBytes.count) of \(payload.count) bytes") }
        if scene.kind.replacesAFile {
            let written = after[target]
            check(written?.kind == S_IFREG && written?.contents == payload, "\(scene.kind): '\(target)' does not hold the payload")
            check(written?.mode == (before[target]?.mode ?? 0o644), "\(scene.kind): '\(target)' has mode \(String(written?.mode ?? 0, radix: 8))")
        }
    }
    let created = Set(after.keys).subtracting(before.keys)
    check(created.isSubset(of: failure == nil ? Set([built.target].compactMap { $0 }) : []), "\(scene.kind): created \(created.sorted())")
}

/// The names of the output target's scenarios, and the one an input picks (for the replay test's check
/// that the seed corpus has one of each).
public let outputScenarios = OutputScene.Kind.allCases.map { "\($0)" }
public func outputScenario(of input: Data) -> String? {
    input.count >= 3 ? "\(OutputScene.Kind.allCases[Int(input[input.startIndex]) % OutputScene.Kind.allCases.count])" : nil
}

/// One scenario: what the output path is and how it is named.
struct OutputScene {
    enum Kind: Int, CaseIterable {
        case missing, regular, linkChain, danglingLink, danglingIntoMissingDirectory, directory, linkToDirectory
        case fifoWithReader, fifoWithoutReader, missingParent, nullDevice, fullDevice, linkToNullDevice, linkLoop, trailingSlash

        /// Whether a successful write leaves a regular file holding the payload.
        var replacesAFile: Bool { [.missing, .regular, .linkChain, .danglingLink].contains(self) }
    }

    let kind: Kind
    let name: String
    let relativeLinks: Bool
    let mode: mode_t
    let chain: Int

    static let names = ["out.npy", "plan.json", String(repeating: "n", count: 250), "résultat ☃.npy", "-x y", ".hidden"]

    init?(_ kindByte: UInt8, _ options: UInt8, _ chainByte: UInt8) {
        kind = Kind.allCases[Int(kindByte) % Kind.allCases.count]
        name = Self.names[Int(options >> 2) % Self.names.count]
        relativeLinks = options & 1 == 1
        mode = [0o644, 0o600, 0o640, 0o755, 0o444][Int(options >> 5) % 5]
        chain = 1 + Int(chainByte) % 4
    }

    func succeeds(payload: Data) -> Bool {
        switch kind {
        case .missing, .regular, .linkChain, .danglingLink, .fifoWithReader, .nullDevice, .linkToNullDevice: return true
        case .fullDevice: return payload.isEmpty   // nothing to write, nothing to fail
        case .danglingIntoMissingDirectory, .directory, .linkToDirectory, .fifoWithoutReader, .missingParent, .linkLoop, .trailingSlash:
            return false
        }
    }

    /// Makes the scenario under `root`: the path to write, the directory entry that should receive a
    /// regular file's payload (relative to `root`), and the reading end of a FIFO. Nil when it needs root.
    func build(in root: String) -> (path: String, target: String?, reader: Int32?)? {
        let path = "\(root)/\(name)"
        /// `from` → … → `to`, through `chain - 1` intermediate links, relative or absolute.
        func links(to target: String, from first: String) {
            var next = target
            for i in (0..<chain).reversed() {
                let link = i == 0 ? first : "link\(i)"
                check(symlink(relativeLinks ? next : "\(root)/\(next)", "\(root)/\(link)") == 0, "symlink \(link): \(String(cString: strerror(errno)))")
                next = link
            }
        }
        switch kind {
        case .missing:
            return (path, name, nil)
        case .regular:
            makeFile("\(root)/\(name)")
            return (path, name, nil)
        case .linkChain:
            makeFile("\(root)/real")
            links(to: "real", from: name)
            return (path, "real", nil)
        case .danglingLink, .danglingIntoMissingDirectory:
            let sub = kind == .danglingLink ? "sub" : "missing"
            if kind == .danglingLink { check(mkdir("\(root)/sub", 0o755) == 0, "mkdir") }
            links(to: "\(sub)/new", from: name)
            return (path, kind == .danglingLink ? "sub/new" : nil, nil)
        case .directory:
            check(mkdir(path, 0o755) == 0, "mkdir")
            makeFile("\(path)/inside")
            return (path, nil, nil)
        case .linkToDirectory:
            check(mkdir("\(root)/d", 0o755) == 0, "mkdir")
            links(to: "d", from: name)
            return (path, nil, nil)
        case .fifoWithReader, .fifoWithoutReader:
            check(mkfifo(path, 0o600) == 0, "mkfifo: \(String(cString: strerror(errno)))")
            guard kind == .fifoWithReader else { return (path, nil, nil) }
            let reader = open(path, O_RDONLY | O_NONBLOCK)
            check(reader >= 0, "open the FIFO for reading")
            return (path, name, reader)
        case .missingParent:
            return ("\(root)/missing/\(name)", nil, nil)
        case .nullDevice, .fullDevice:
            guard makeDevice(path, minor: kind == .nullDevice ? 3 : 7) else { return nil }
            return (path, name, nil)
        case .linkToNullDevice:
            guard makeDevice("\(root)/null", minor: 3) else { return nil }
            links(to: "null", from: name)
            return (path, "null", nil)
        case .linkLoop:
            check(symlink(name, "\(root)/loop") == 0 && symlink("loop", path) == 0, "symlink")
            return (path, nil, nil)
        case .trailingSlash:
            return (path + "/", nil, nil)
        }
    }

    func makeFile(_ path: String) {
        check(FileManager.default.createFile(atPath: path, contents: Data("old contents of \(path)".utf8)) && chmod(path, mode) == 0,
              "cannot make \(path)")
    }
}

/// A character device with Linux's numbers for /dev/null (1, 3) or /dev/full (1, 7); false without root.
func makeDevice(_ path: String, minor: UInt32) -> Bool {
    guard mknod(path, S_IFCHR | 0o666, dev_t(1) << 8 | dev_t(minor)) == 0 else { return false }
    let fd = open(path, O_WRONLY)
    if fd >= 0 { close(fd) }
    return fd >= 0
}

/// What one directory entry is, as far as a write could change it.
struct EntryState: Equatable, CustomStringConvertible {
    let kind: mode_t
    let mode: mode_t
    let link: String?
    let device: dev_t
    let contents: Data?
    var description: String { "kind \(String(kind, radix: 8)) mode \(String(mode, radix: 8)) link \(link ?? "-") \(contents?.count ?? -1) bytes" }
}

/// Every entry under `root` (links not followed), by path relative to `root`.
func snapshot(_ root: String) -> [String: EntryState] {
    var entries: [String: EntryState] = [:]
    func visit(_ relative: String) {
        let full = relative.isEmpty ? root : "\(root)/\(relative)"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: full)) ?? [] {
            let entry = relative.isEmpty ? name : "\(relative)/\(name)"
            var info = stat()
            guard lstat("\(root)/\(entry)", &info) == 0 else { continue }
            let kind = info.st_mode & S_IFMT
            entries[entry] = EntryState(kind: kind, mode: info.st_mode & 0o7777,
                                        link: kind == S_IFLNK ? try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/\(entry)") : nil,
                                        device: kind == S_IFCHR ? info.st_rdev : 0,
                                        contents: kind == S_IFREG ? FileManager.default.contents(atPath: "\(root)/\(entry)") : nil)
            if kind == S_IFDIR { visit(entry) }
        }
    }
    visit("")
    return entries
}
