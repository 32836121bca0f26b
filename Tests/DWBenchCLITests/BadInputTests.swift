import DWCore
import Foundation
import XCTest

/// Bad input: one line on stderr naming the problem, non-zero exit, no crash, no output file.
final class BadInputTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func save(_ name: String, shape: [Int]) throws -> String {
        let count = shape.reduce(1, *)
        try NPYArray(shape: shape, values: (0..<count).map { Float($0 % 7) - 3 }).write(path: path(name))
        return path(name)
    }

    func saveRaw(_ name: String, _ data: Data) throws -> String {
        try data.write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    /// Runs `dwbench conv` and checks the failure contract.
    func expectFailure(_ label: String, input: String, weight: String, extra: [String] = [], mentions fragment: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let out = path("out-\(UUID().uuidString).npy")
        let result = try CLI.run(["conv", "--input", input, "--weight", weight, "--output", out, "--threads", "1"] + extra)
        XCTAssertNotEqual(result.status, 0, "\(label): should fail", file: file, line: line)
        XCTAssertLessThan(result.status, 128, "\(label): crashed (signal)", file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "\(label): expected one line on stderr, got: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(fragment), "\(label): '\(result.stderr)' should mention '\(fragment)'", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(label): output file left behind", file: file, line: line)
        let stray = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".out-") }
        XCTAssertEqual(stray, [], "\(label): temporary files left behind", file: file, line: line)
    }

    func testEachBadInputFailsCleanly() throws {
        let input = try save("x.npy", shape: [1, 4, 8, 8])
        let weight = try save("w.npy", shape: [4, 1, 3, 3])
        var truncated = NPYArray(shape: [1, 4, 8, 8], values: [Float](repeating: 1, count: 256)).encoded()
        truncated.removeLast(100)
        var fortran = NPYArray(shape: [4, 1, 3, 3], values: [Float](repeating: 1, count: 36)).encoded()
        fortran.replaceSubrange(fortran.range(of: Data("False".utf8))!, with: Data("True ".utf8))
        var float64 = NPYArray(shape: [1, 4, 8, 8], values: [Float](repeating: 1, count: 256)).encoded()
        float64.replaceSubrange(float64.range(of: Data("<f4".utf8))!, with: Data("<f8".utf8))

        try expectFailure("missing input", input: path("nope.npy"), weight: weight, mentions: "nope.npy")
        try expectFailure("bad magic", input: saveRaw("junk.npy", Data("hello, not numpy".utf8)), weight: weight, mentions: "bad magic")
        try expectFailure("truncated", input: saveRaw("trunc.npy", truncated), weight: weight, mentions: "truncated data")
        try expectFailure("float64", input: saveRaw("f8.npy", float64), weight: weight, mentions: "unsupported dtype")
        try expectFailure("fortran order", input: input, weight: saveRaw("fortran.npy", fortran), mentions: "Fortran")
        try expectFailure("input rank", input: try save("rank3.npy", shape: [4, 8, 8]), weight: weight, mentions: "rank 4")
        try expectFailure("weight shape", input: input, weight: try save("w2.npy", shape: [4, 2, 3, 3]), mentions: "(C, 1, KH, KW)")
        try expectFailure("channel mismatch", input: input, weight: try save("w5.npy", shape: [5, 1, 3, 3]), mentions: "5 channels but the input has 4")
        try expectFailure("kernel larger than padded input", input: input, weight: try save("w9.npy", shape: [4, 1, 9, 9]),
                          mentions: "smaller than the kernel's extent 9")
        try expectFailure("dilated kernel larger than padded input", input: input, weight: weight, extra: ["--dilation", "1,5"],
                          mentions: "padded width 8 is smaller than the kernel's extent 11")
        try expectFailure("zero dilation", input: input, weight: weight, extra: ["--dilation", "0"], mentions: "--dilation must be at least 1")
        try expectFailure("three strides", input: input, weight: weight, extra: ["--stride", "1,2,3"], mentions: "--stride must be N or H,W")
        try expectFailure("unknown padding word", input: input, weight: weight, extra: ["--padding", "full"], mentions: "'same' or 'valid'")
        try expectFailure("strided same", input: input, weight: weight, extra: ["--padding", "same", "--stride", "2"],
                          mentions: "'same' needs stride 1")
        try expectFailure("bias shape", input: input, weight: weight, extra: ["--bias", try save("b.npy", shape: [3])], mentions: "bias must have shape (4,)")
        try expectFailure("unknown algorithm", input: input, weight: weight, extra: ["--algorithm", "winograd"], mentions: "unknown algorithm 'winograd'")
        let big = try save("big.npy", shape: [1, 1, 64, 64])
        try expectFailure("algorithm refuses", input: big, weight: try save("w63.npy", shape: [1, 1, 63, 63]),
                          extra: ["--algorithm", "fft.t64", "--padding", "31"], mentions: "does not support")
        try expectFailure("refusal names the alternatives", input: big, weight: try save("w63b.npy", shape: [1, 1, 63, 63]),
                          extra: ["--algorithm", "fft.t64", "--padding", "31"], mentions: "algorithms that do: ")
        try expectFailure("pointwise algorithm in conv", input: input, weight: weight, extra: ["--algorithm", "pointwise-naive"],
                          mentions: "is a pointwise (1×1) algorithm")
        try expectFailure("output directory missing", input: input, weight: weight,
                          extra: ["--output", path("no/such/dir/y.npy")], mentions: "does not exist")
    }

    func testBadArgumentsExitNonZero() throws {
        for args in [["bench", "--shape", "n1c16h8w8k3s0p1"], ["bench", "--sizes", "3,x"], ["bench", "--threads", "0"],
                     ["bench", "--algorithms", "nope"]] {
            let result = try CLI.run(args)
            XCTAssertNotEqual(result.status, 0, "\(args)")
            XCTAssertLessThan(result.status, 128, "\(args) crashed")
            XCTAssertTrue(result.stderr.contains("Error"), "\(args): \(result.stderr)")
        }
        let stride = try CLI.run(["bench", "--shape", "n1c16h8w8k3s0p1", "--allow-debug"])
        XCTAssertTrue(stride.stderr.contains("s (stride height)"), stride.stderr)
    }
}
