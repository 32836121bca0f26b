import DWCore
import Foundation

/// A read-only view of a ZIP archive whose members are stored uncompressed, as `torch.save` writes them
/// (PyTorch's zip checkpoint format since 1.6). Reads the central directory, with the ZIP64 extensions for
/// archives or members over 4 GiB, and each member's local header, and checks that every member lies
/// within the file. Members are not copied: `member(_:)` gives a byte range of the mapped file.
///
/// Refused with one line: a file with no end-of-central-directory record (truncated, or not a ZIP),
/// a directory or member running past the end of the file, a compressed or encrypted member, duplicate names.
/// CRC-32 checksums are not verified (that would read every byte of a multi-gigabyte checkpoint up front).
public struct ZipArchive: Sendable {
    public struct Member: Sendable, Equatable {
        public let name: String
        /// Byte range of the member's data within the file.
        public let data: Range<Int>
    }

    public let path: String
    public let bytes: MappedBytes
    /// Members in central-directory order.
    public let members: [Member]
    private let index: [String: Int]

    /// The first bytes of every ZIP archive (a local file header).
    public static func hasSignature(_ bytes: MappedBytes) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && bytes[2] == 0x03 && bytes[3] == 0x04
    }

    public init(bytes: MappedBytes, path: String) throws {
        self.path = path
        self.bytes = bytes
        let size = bytes.count
        func fail(_ why: String) -> CheckpointFormatError { CheckpointFormatError(path, why) }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
        /// A 64-bit field as Int, refused when it cannot address this file.
        func int(_ v: UInt64, _ what: String) throws -> Int {
            guard v <= UInt64(size) else { throw fail("\(what) \(v) is beyond the \(size)-byte file (truncated?)") }
            return Int(v)
        }

        // End of central directory: 22 bytes plus a comment of at most 65535, searched from the end.
        var eocd = -1
        if size >= 22 {
            var at = size - 22
            let lowest = Swift.max(0, size - 22 - 65535)
            while at >= lowest {
                if bytes[at] == 0x50, bytes[at + 1] == 0x4B, bytes[at + 2] == 0x05, bytes[at + 3] == 0x06, at + 22 + u16(at + 20) == size {
                    eocd = at
                    break
                }
                at -= 1
            }
        }
        guard eocd >= 0 else { throw fail("not a complete ZIP archive: no end-of-central-directory record (truncated or damaged file)") }
        var count = u16(eocd + 10)
        var directorySize = u32(eocd + 12)
        var directoryStart = u32(eocd + 16)
        // ZIP64: a locator right before the record points at the 64-bit end-of-central-directory record.
        if eocd >= 20, u32(eocd - 20) == 0x0706_4B50 {
            let z = try int(u64(eocd - 12), "ZIP64 record offset")
            guard z + 56 <= size, u32(z) == 0x0606_4B50 else { throw fail("damaged ZIP64 end-of-central-directory record") }
            count = try int(u64(z + 32), "member count")
            directorySize = try int(u64(z + 40), "central directory size")
            directoryStart = try int(u64(z + 48), "central directory offset")
        }
        guard directoryStart <= size, directorySize <= size - directoryStart else {
            throw fail("central directory (\(directorySize) bytes at \(directoryStart)) runs past the end of the \(size)-byte file (truncated?)")
        }
        guard count <= directorySize / 46 else { throw fail("central directory claims \(count) members in \(directorySize) bytes") }

        var members: [Member] = []
        var index: [String: Int] = [:]
        var at = directoryStart
        let end = directoryStart + directorySize
        for _ in 0..<count {
            guard at + 46 <= end, u32(at) == 0x0201_4B50 else { throw fail("damaged central directory entry at byte \(at)") }
            let flags = u16(at + 8), method = u16(at + 10)
            var compressed = u32(at + 20), uncompressed = u32(at + 24)
            let nameLength = u16(at + 28), extraLength = u16(at + 30), commentLength = u16(at + 32)
            var local = u32(at + 42)
            let next = at + 46 + nameLength + extraLength + commentLength
            guard next <= end else { throw fail("damaged central directory entry at byte \(at)") }
            guard let name = String(bytes: bytes.data(at + 46 ..< at + 46 + nameLength), encoding: .utf8) else {
                throw fail("member name at byte \(at + 46) is not UTF-8")
            }
            // ZIP64 extended information: 64-bit values for the fields stored as 0xFFFFFFFF, in this order.
            var e = at + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = u16(e), length = u16(e + 2)
                guard e + 4 + length <= extraEnd else { throw fail("member '\(name)': damaged extra field") }
                if id == 0x0001 {
                    var f = e + 4
                    func field() throws -> Int {
                        guard f + 8 <= e + 4 + length else { throw fail("member '\(name)': short ZIP64 extra field") }
                        defer { f += 8 }
                        return try int(u64(f), "member '\(name)' size or offset")
                    }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try field() }
                    if compressed == 0xFFFF_FFFF { compressed = try field() }
                    if local == 0xFFFF_FFFF { local = try field() }
                }
                e += 4 + length
            }
            guard flags & 1 == 0 else { throw fail("member '\(name)' is encrypted") }
            guard method == 0 else {
                throw fail("member '\(name)' is compressed (method \(method)); torch.save stores members uncompressed — save the checkpoint again with torch.save")
            }
            guard compressed == uncompressed else { throw fail("member '\(name)': stored size \(compressed) differs from its size \(uncompressed)") }
            guard local + 30 <= size, u32(local) == 0x0403_4B50 else {
                throw fail("member '\(name)': no local header at byte \(local) (truncated or damaged file)")
            }
            let dataStart = local + 30 + u16(local + 26) + u16(local + 28)
            guard dataStart <= size, uncompressed <= size - dataStart else {
                throw fail("member '\(name)' (\(uncompressed) bytes at \(dataStart)) runs past the end of the \(size)-byte file (truncated?)")
            }
            guard index[name] == nil else { throw fail("member '\(name)' appears twice") }
            index[name] = members.count
            members.append(Member(name: name, data: dataStart ..< dataStart + uncompressed))
            at = next
        }
        self.members = members
        self.index = index
    }

    /// The member called `name`, if there is one.
    public func member(_ name: String) -> Member? { index[name].map { members[$0] } }
}
