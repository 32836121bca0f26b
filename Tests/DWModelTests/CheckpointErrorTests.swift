import DWCore
import DWFormats
import DWModel
import Foundation
import XCTest

/// Every malformed checkpoint is refused with one error naming the problem (and the tensor), never a crash.
final class CheckpointErrorTests: XCTestCase {
    /// A valid file: 8-byte length, header, data.
    func file(_ header: String, data: [UInt8] = []) -> Data {
        var out = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(Data(header.utf8))
        out.append(contentsOf: data)
        return out
    }

    func expect(_ data: Data, mentions fragments: [String], line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors(data: data, path: "x.safetensors"), line: line) { error in
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "one line: \(text)", line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' not in: \(text)", line: line) }
        }
    }

    func testMalformedFilesAreRefused() {
        let eight = [UInt8](repeating: 0, count: 8)
        expect(Data([1, 2, 3]), mentions: ["truncated"])
        expect(file("{}").prefix(5), mentions: ["truncated"])
        var huge = Data([0, 0, 0, 0, 0, 0, 0, 0x10]); huge.append(contentsOf: eight)
        expect(huge, mentions: ["exceeds the limit"])
        var beyond = Data([200, 0, 0, 0, 0, 0, 0, 0]); beyond.append(Data("{}".utf8))
        expect(beyond, mentions: ["runs past the end"])
        expect(file("not json at all"), mentions: ["not a JSON object"])
        expect(file("[1, 2]"), mentions: ["not a JSON object"])
        expect(file(#"{"a": {"dtype": "Q64", "shape": [1], "data_offsets": [0, 8]}}"#, data: eight), mentions: ["'a'", "unknown dtype Q64"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#, data: eight), mentions: ["'a'", "out of range"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, data: eight), mentions: ["'a'", "needs 12"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}"#, data: eight), mentions: ["'a'", "non-negative"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}"#, data: eight), mentions: ["'a'", "out of range"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}"#, data: eight),
               mentions: ["overlap", "'a'", "'b'"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [1]}}"#, data: eight), mentions: ["'a'", "data_offsets"])
    }

    /// Every dtype of the format is accepted by the container with its size checked; only the weight types
    /// read as floats, and the others are refused by name when read.
    func testEveryDTypeIsAcceptedAndOnlyWeightsRead() throws {
        for dtype in TensorDType.allCases {
            let bytes = 3 * dtype.size
            let header = #"{"t": {"dtype": "\#(dtype.rawValue)", "shape": [3], "data_offsets": [0, \#(bytes)]}}"#
            let st = try SafeTensors(data: file(header, data: [UInt8](repeating: 0, count: bytes)))
            XCTAssertEqual(st.entries["t"]?.dtype, dtype)
            expect(file(header, data: [UInt8](repeating: 0, count: bytes - 1)), mentions: ["'t'", "out of range"])
            if dtype.isWeightType {
                XCTAssertEqual(try st.floats("t"), [0, 0, 0])
            } else {
                XCTAssertThrowsError(try st.floats("t")) { XCTAssertTrue("\($0)".contains("'t'") && "\($0)".contains(dtype.rawValue), "\($0)") }
            }
        }
        // F64 is rounded to float32.
        var f64 = Data()
        for v in [1.0, -0.1] { withUnsafeBytes(of: v.bitPattern.littleEndian) { f64.append(contentsOf: $0) } }
        let st = try SafeTensors(data: file(#"{"d": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}}"#, data: [UInt8](f64)))
        XCTAssertEqual(try st.floats("d"), [1, Float(-0.1)])
    }

    func testFloat16AndBFloat16AreConverted() throws {
        // 1.0, −2.0, 65504 (max half), 2^-24 (smallest subnormal) in F16; 1.0 and −0.5 in BF16.
        let half: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00]
        let bf: [UInt8] = [0x80, 0x3F, 0x00, 0xBF]
        let data = file(#"{"h": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}, "b": {"dtype": "BF16", "shape": [2], "data_offsets": [8, 12]}}"#,
                        data: half + bf)
        let st = try SafeTensors(data: data)
        XCTAssertEqual(try st.floats("h"), [1, -2, 65504, Float(sign: .plus, exponent: -24, significand: 1)])
        XCTAssertEqual(try st.floats("b"), [1, -0.5])
    }

    func testArchitectureMismatchesNameTheTensor() throws {
        let config = RepLKNetConfig(kernels: [5, 3], blocks: [1, 1], channels: [8, 16], smallKernel: 3, classes: 4)
        let good = Checkpoint.random(config)
        XCTAssertEqual(try RepLKNetConfig.infer(from: good), config)
        func refuse(_ edit: (inout Checkpoint) -> Void, _ fragment: String, line: UInt = #line) {
            var ck = good
            edit(&ck)
            XCTAssertThrowsError(try DeployedRepLKNet(ck), line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "'\(fragment)' not in: \(error)", line: line)
            }
        }
        refuse({ $0.tensors["stages.1.blocks.1.pw2.bn.running_var"] = nil }, "missing tensor 'stages.1.blocks.1.pw2.bn.running_var'")
        refuse({ $0.tensors["stages.0.blocks.0.extra.weight"] = NamedTensor(shape: [1], values: [0]) }, "'stages.0.blocks.0.extra.weight'")
        refuse({ $0.tensors["head.extra"] = NamedTensor(shape: [1], values: [0]) }, "unexpected tensor 'head.extra'")
        refuse({ $0.tensors["stages.0.blocks.0.pw2.conv.weight"] = NamedTensor(shape: [8, 7, 1, 1], values: [Float](repeating: 0, count: 56)) },
               "'stages.0.blocks.0.pw2.conv.weight' has shape [8, 7, 1, 1]")
        refuse({ $0.tensors["stages.1.blocks.0.large_kernel.lkb_origin.conv.weight"] = NamedTensor(shape: [16, 1, 3, 5], values: [Float](repeating: 0, count: 240)) },
               "stages.1.blocks.0.large_kernel.lkb_origin.conv.weight")
        // Round trip through a file: written atomically, read back equal.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dwmodel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.safetensors").path
        try good.write(path: path)
        XCTAssertEqual(try Checkpoint.load(path: path).tensors, good.tensors)
    }
}

/// A ZIP archive of stored members, laid out as torch.save lays them out (CRC-32 left 0: dwbench does not
/// verify it). `method` overrides the compression method of every member.
func zipArchive(_ members: [(String, Data)], method: UInt16 = 0) -> Data {
    var out = Data(), central = Data()
    func u16(_ v: Int, _ d: inout Data) { d.append(contentsOf: [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)]) }
    func u32(_ v: Int, _ d: inout Data) { u16(v & 0xFFFF, &d); u16(v >> 16 & 0xFFFF, &d) }
    for (name, data) in members {
        let offset = out.count, n = Data(name.utf8)
        u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(Int(method), &out); u16(0, &out); u16(0, &out)
        u32(0, &out); u32(data.count, &out); u32(data.count, &out); u16(n.count, &out); u16(0, &out)
        out.append(n); out.append(data)
        u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(Int(method), &central)
        u16(0, &central); u16(0, &central); u32(0, &central); u32(data.count, &central); u32(data.count, &central)
        u16(n.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central); u32(0, &central)
        u32(offset, &central); central.append(n)
    }
    let start = out.count
    out.append(central)
    u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(members.count, &out); u16(members.count, &out)
    u32(central.count, &out); u32(start, &out); u16(0, &out)
    return out
}

/// Pickle bytes from text with `\u{..}` escapes for opcodes and binary arguments (one byte per scalar).
func pickle(_ text: String) -> Data { Data(text.unicodeScalars.map { UInt8($0.value) }) }

/// BINUNICODE of `s`.
func pickleString(_ s: String) -> String {
    let n = s.utf8.count
    return "X" + String(UnicodeScalar(UInt8(n & 0xFF))) + "\u{0}\u{0}\u{0}" + s
}

/// BININT of `v` (little-endian, 4 bytes).
func pickleInt(_ v: Int) -> String { "J" + (0..<4).map { String(UnicodeScalar(UInt8((v >> (8 * $0)) & 0xFF))) }.joined() }

/// `{name: tensor}` with the tensor rebuilt by `_rebuild_tensor_v2` from storage "0" (`numel` floats declared).
func torchStateDict(name: String, numel: Int, shape: [Int], stride: [Int], storageType: String = "FloatStorage") -> Data {
    let storage = "(" + pickleString("storage") + "ctorch\n\(storageType)\n" + pickleString("0") + pickleString("cpu") + pickleInt(numel) + "tQ"
    let tuple: ([Int]) -> String = { "(" + $0.map(pickleInt).joined() + "t" }
    return pickle("\u{80}\u{2}}" + pickleString(name) + "ctorch._utils\n_rebuild_tensor_v2\n(" + storage + "K\u{0}" + tuple(shape)
                  + tuple(stride) + "\u{89}ccollections\nOrderedDict\n)RtRs.")
}

final class TorchCheckpointErrorTests: XCTestCase {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func expect(_ data: Data, mentions fragments: [String], modelKey: String? = nil, take name: String? = nil, line: UInt = #line) {
        XCTAssertThrowsError(try {
            let ck = try Checkpoint.load(bytes: MappedBytes(data: data), path: "x.pth", modelKey: modelKey)
            if let name { _ = try ck.tensors[name]!.floats(name: name) }
        }(), line: line) { error in
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "one line: \(text)", line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' not in: \(text)", line: line) }
        }
    }

    func archive(_ pkl: Data, storage: Data = Data(count: 4)) -> Data {
        zipArchive([("x/data.pkl", pkl), ("x/byteorder", Data("little".utf8)), ("x/data/0", storage), ("x/version", Data("3\n".utf8))])
    }

    func testAHandWrittenCheckpointReads() throws {
        // The builders above make what torch.save makes: a 2×2 tensor, then its transpose (stride (1, 2)).
        var storage = Data()
        for v: Float in [1, 2, 3, 4] { withUnsafeBytes(of: v.bitPattern.littleEndian) { storage.append(contentsOf: $0) } }
        let plain = try Checkpoint.load(bytes: MappedBytes(data: archive(torchStateDict(name: "w", numel: 4, shape: [2, 2], stride: [2, 1]), storage: storage)), path: "x.pth")
        XCTAssertEqual(try plain.tensors["w"]?.floats(name: "w"), [1, 2, 3, 4])
        let transposed = try Checkpoint.load(bytes: MappedBytes(data: archive(torchStateDict(name: "w", numel: 4, shape: [2, 2], stride: [1, 2]), storage: storage)), path: "x.pth")
        XCTAssertEqual(try transposed.tensors["w"]?.floats(name: "w"), [1, 3, 2, 4])
    }

    func testMalformedTorchFilesAreRefused() throws {
        let real = try Data(contentsOf: fixtures.appendingPathComponent("tiny-state.pth"))
        // Truncated anywhere: the central directory is at the end.
        for cut in [10, real.count / 2, real.count - 10] { expect(real.prefix(cut), mentions: ["truncated"]) }
        // A storage shorter than its tensor, and a tensor running past its storage.
        expect(archive(torchStateDict(name: "w", numel: 1000, shape: [1000], stride: [1])), mentions: ["storage '0'", "shorter than its 1000 elements"])
        expect(archive(torchStateDict(name: "w", numel: 1, shape: [10], stride: [1])), mentions: ["runs past its storage"])
        // A declared size over the memory budget: 2^40 elements repeating one float (stride 0).
        expect(archive(torchStateDict(name: "w", numel: 1, shape: [1 << 20, 1 << 20], stride: [0, 0])), mentions: ["'w'", "GiB"], take: "w")
        // A pickle that contains itself, and ones nesting a million levels deep.
        expect(archive(pickle("\u{80}\u{2}]q\u{0}h\u{0}a.")), mentions: ["inside itself"])
        expect(archive(pickle("\u{80}\u{2}" + String(repeating: "(", count: 1_000_000) + String(repeating: "t", count: 1_000_000) + ".")),
               mentions: ["nests deeper than"])
        expect(archive(pickle("\u{80}\u{2}" + String(repeating: "]", count: 1_000_000) + String(repeating: "a", count: 999_999) + ".")),
               mentions: ["nests deeper than"])
        // A pickle cut short, and one with a length beyond its end.
        expect(archive(torchStateDict(name: "w", numel: 1, shape: [1], stride: [1]).dropLast(3)), mentions: ["truncated"])
        expect(archive(pickle("\u{80}\u{4}\u{8d}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{7f}")), mentions: ["declares"])
        // Globals are never called: the root being an os.system call, or a state-dict entry being one, is refused by name.
        expect(archive(pickle("\u{80}\u{2}cos\nsystem\n" + pickleString("touch /tmp/pwned") + "\u{85}R.")), mentions: ["os.system", "not a state dict"])
        expect(archive(pickle("\u{80}\u{2}}" + pickleString("w") + "cos\nsystem\n" + pickleString("x") + "\u{85}Rs.")),
               mentions: ["'w'", "os.system", "not a tensor"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/pwned"))
        // Legacy (pre-1.6) files: the fix is in the message.
        expect(pickle("\u{80}\u{2}\u{8a}\u{0a}l\u{fc}\u{9c}F\u{f9} j\u{a8}P\u{19}."), mentions: ["legacy", "torch.save"])
        // Compressed members, no data.pkl, a missing storage.
        expect(zipArchive([("x/data.pkl", Data("abc".utf8))], method: 8), mentions: ["compressed"])
        expect(zipArchive([("x/other", Data("abc".utf8))]), mentions: ["data.pkl"])
        expect(zipArchive([("x/data.pkl", torchStateDict(name: "w", numel: 1, shape: [1], stride: [1]))]), mentions: ["storage '0' is missing"])
        // An integer tensor the model needs (not a num_batches_tracked counter) is refused when taken, naming its dtype.
        let ints = torchStateDict(name: "w", numel: 1, shape: [1], stride: [1], storageType: "LongStorage")
        expect(archive(ints, storage: Data(count: 8)), mentions: ["'w'", "I64"], take: "w")
    }
}
