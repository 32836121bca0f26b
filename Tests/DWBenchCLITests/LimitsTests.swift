import DWCore
import Foundation
import XCTest

/// Absurd requests are refused with one line, a non-zero status and no output file, before anything large is
/// allocated. Where the sanitizers allow it, each command runs under an address-space limit of 4 GiB: a
/// command that allocated what it was asked for would die there (signal or allocation failure) instead of
/// printing its one line.
final class LimitsTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }


    func expectRefusal(_ label: String, _ arguments: [String], limit: String? = nil, mentions fragment: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        var environment: [String: String] = [:]
        if let limit { environment["DWBENCH_MEMORY_LIMIT"] = limit }
        let result: CLIResult
        if CLI.sanitized {  // ASan and TSan reserve terabytes of shadow memory: no address-space limit
            result = try CLI.run(arguments, environment: environment)
        } else {
            // ulimit -v takes KiB: 4 GiB of address space.
            let quoted = ([CLI.binary.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
            result = try CLI.runShell("ulimit -v 4194304 && exec \(quoted)", environment: environment)
        }
        XCTAssertEqual(result.status, 1, "\(label): expected exit status 1; stderr: \(result.stderr)", file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "\(label): expected one line on stderr, got: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(fragment), "\(label): '\(result.stderr)' should mention '\(fragment)'", file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], "\(label): left a file behind", file: file, line: line)
    }

    func testAbsurdProblemsAreRefusedBeforeAllocating() throws {
        let out = dir.appendingPathComponent("out.json").path
        // Beyond any machine: refused by the problem's own limits or by the memory budget.
        try expectRefusal("kernel beyond 1023", ["bench", "--shape", "n1c16h2048w2048k1025s1p512"], mentions: "k (kernel height) 1025 with dilation 1 spans 1025, over the limit 1023")
        try expectRefusal("input beyond 2^32 elements", ["bench", "--shape", "n1c100000h100000w100000k3s1p1"], mentions: "n×c×h×w")
        try expectRefusal("output beyond 2^32 elements", ["bench", "--shape", "n1c65536h1w1k1s1p1000"], mentions: "n×c×oh×ow")
        try expectRefusal("pointwise weights", ["bench", "--shape", "n1c100000h1w1o100000"], mentions: "o×c")
        try expectRefusal("model batch × resolution", ["replknet", "--batch", "1024", "--resolution", "4096", "--output", dir.appendingPathComponent("y.npy").path],
                          mentions: "needs 8896.6 GiB of memory")
        // Within the format's limits but beyond this process's memory (DWBENCH_MEMORY_LIMIT stands in for a small machine).
        let big = "n1c512h256w256k3s1p1"   // 0.5 GiB for a trial
        try expectRefusal("bench", ["bench", "--shape", big], limit: "256M", mentions: "problem \(big) needs 0.50 GiB of memory, more than the 0.25 GiB")
        try expectRefusal("tune", ["tune", "--shapes", big, "--output", out], limit: "256M", mentions: "needs 0.50 GiB")
        try expectRefusal("check", ["check", "--update", "--problems", big, "--baseline", out], limit: "256M", mentions: "needs 0.50 GiB")
        try expectRefusal("model", ["replknet", "--resolution", "224"], limit: "256M", mentions: "RepLKNet at batch 1, resolution 224 needs")
    }

    func testPaddingThatInflatesTheOutputIsChecked() throws {
        let x = dir.appendingPathComponent("x.npy").path, w = dir.appendingPathComponent("w.npy").path
        try NPYArray(shape: [1, 64, 1, 1], values: [Float](repeating: 1, count: 64)).write(path: x)
        try NPYArray(shape: [64, 1, 1, 1], values: [Float](repeating: 1, count: 64)).write(path: w)
        // A 1×1 map padded by 1000 is a 2001×2001 output per channel: 1 GiB for 64 channels.
        let result = try CLI.run(["conv", "--input", x, "--weight", w, "--padding", "1000", "--output", dir.appendingPathComponent("y.npy").path],
                                 environment: ["DWBENCH_MEMORY_LIMIT": "512M"])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("needs 1.9 GiB of memory"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("y.npy").path))
    }

    func testMemoryLimitSyntax() {
        XCTAssertEqual(MemoryBudget.parseBytes("256M"), 256 * 1_048_576)
        XCTAssertEqual(MemoryBudget.parseBytes("2g"), 2 * 1_073_741_824)
        XCTAssertEqual(MemoryBudget.parseBytes("4096"), 4096)
        XCTAssertNil(MemoryBudget.parseBytes("-1G"))
        XCTAssertNil(MemoryBudget.parseBytes("lots"))
        XCTAssertThrowsError(try MemoryBudget.require(1e21, for: "a zettabyte")) { error in
            XCTAssertTrue("\(error)".hasPrefix("a zettabyte needs"), "\(error)")
        }
    }
}
