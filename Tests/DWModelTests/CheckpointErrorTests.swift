import DWCore
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
        expect(file(#"{"a": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}"#, data: eight), mentions: ["'a'", "unsupported dtype I64"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#, data: eight), mentions: ["'a'", "out of range"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, data: eight), mentions: ["'a'", "needs 12"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}"#, data: eight), mentions: ["'a'", "non-negative"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}"#, data: eight), mentions: ["'a'", "out of range"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}"#, data: eight),
               mentions: ["overlap", "'a'", "'b'"])
        expect(file(#"{"a": {"dtype": "F32", "shape": [1]}}"#, data: eight), mentions: ["'a'", "data_offsets"])
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
