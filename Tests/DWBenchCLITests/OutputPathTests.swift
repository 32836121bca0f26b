import DWCore
import DWTestSupport
import Foundation
import XCTest

/// Where the commands write: a device given as the output is written through and stays a device (the
/// nodes are made with mknod in a temporary directory, with /dev/null's and /dev/full's numbers), a
/// symbolic link stays a link, and every failure — a full device, a report directory that is a device,
/// a missing plan, an absurdly long name — is one `Error:` line with exit status 1.
final class OutputPathTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func device(_ name: String, minor: UInt32) throws -> String {
        if let why = makeCharacterDevice(at: path(name), minor: minor) { throw XCTSkip(why) }
        return path(name)
    }

    /// `dwbench conv` on a small problem, writing to `output`.
    func conv(output: String, extra: [String] = []) throws -> CLIResult {
        let input = path("x.npy"), weight = path("w.npy")
        if !FileManager.default.fileExists(atPath: input) {
            try NPYArray(shape: [1, 2, 6, 6], values: (0..<72).map { Float($0 % 5) - 2 }).write(path: input)
            try NPYArray(shape: [2, 1, 3, 3], values: (0..<18).map { Float($0) / 10 }).write(path: weight)
        }
        return try CLI.run(["conv", "--input", input, "--weight", weight, "--padding", "1", "--output", output, "--threads", "1"] + extra)
    }

    /// Exit status 1 and exactly one line on stderr, "Error: …" containing `fragment`.
    func assertOneErrorLine(_ result: CLIResult, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 1, result.stderr, file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line: \(result.stderr.prefix(2000))", file: file, line: line)
        XCTAssertTrue(lines.first?.hasPrefix("Error: ") == true, result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(fragment), "'\(fragment)' not in: \(result.stderr.prefix(2000))", file: file, line: line)
        XCTAssertFalse(result.stderr.contains("NSCocoaErrorDomain"), result.stderr, file: file, line: line)
    }

    func testConvOutputToTheNullDeviceLeavesItADevice() throws {
        let null = try device("null", minor: 3)
        let result = try conv(output: null)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(fileKind(null), S_IFCHR, "--output replaced the device with a regular file")
    }

    func testConvOutputToAFullDeviceIsOneErrorLine() throws {
        let full = try device("full", minor: 7)
        assertOneErrorLine(try conv(output: full), "\(full): write failed: No space left on device")
        XCTAssertEqual(fileKind(full), S_IFCHR)
    }

    func testOutputThroughASymbolicLinkReplacesTheTarget() throws {
        XCTAssertEqual(symlink("result.npy", path("latest.npy")), 0)
        let result = try conv(output: path("latest.npy"))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(fileKind(path("latest.npy")), S_IFLNK, "the link was replaced by a file")
        XCTAssertEqual(try NPYArray.read(path: path("result.npy")).shape, [1, 2, 6, 6])
        // tune and plan merge take the same path: through a link, into a device.
        let null = try device("null", minor: 3)
        XCTAssertEqual(symlink(null, path("discard")), 0)
        let tune = try CLI.run(["tune", "--shapes", "n1c16h10w10k3s1p1", "--threads", "1", "--mode", "estimate", "--output", path("discard")])
        XCTAssertEqual(tune.status, 0, tune.stderr)
        XCTAssertEqual(fileKind(path("discard")), S_IFLNK)
        XCTAssertEqual(fileKind(null), S_IFCHR)
    }

    func testPlanMergeIntoAFullDevice() throws {
        let a = path("a.json"), b = path("b.json")
        XCTAssertEqual(try CLI.run(["tune", "--shapes", "n1c20h12w12k5s1p2", "--threads", "1", "--output", a, "--mode", "estimate"]).status, 0)
        XCTAssertEqual(try CLI.run(["tune", "--shapes", "n1c16h10w10k3s1p1", "--threads", "1", "--output", b, "--mode", "estimate"]).status, 0)
        let full = try device("full", minor: 7)
        assertOneErrorLine(try CLI.run(["plan", "merge", a, b, "-o", full]), "No space left on device")
        XCTAssertEqual(fileKind(full), S_IFCHR)
    }

    /// `--report DIR` given a device: refused before the run, as one line; a report file that is a full
    /// device: the write error, as one line.
    func testReplknetReportWriteFailuresAreOneLine() throws {
        let full = try device("full", minor: 7)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("DWModelTests/Fixtures")
        let run = ["replknet", "--checkpoint", fixtures.appendingPathComponent("tiny.safetensors").path,
                   "--input", fixtures.appendingPathComponent("tiny-input.npy").path, "--threads", "1", "--repeat", "1", "--allow-debug"]
        let refused = try CLI.run(run + ["--report", full])
        assertOneErrorLine(refused, "\(full): exists and is not a directory")
        XCTAssertEqual(refused.stdout, "", "refused before the run")
        XCTAssertEqual(fileKind(full), S_IFCHR)

        let reports = path("reports")
        try FileManager.default.createDirectory(atPath: reports, withIntermediateDirectories: false)
        let svg = "\(reports)/replknet-checkpoint-1t-b2.svg"
        if let why = makeCharacterDevice(at: svg, minor: 7) { throw XCTSkip(why) }
        assertOneErrorLine(try CLI.run(run + ["--report", reports]), "\(svg): write failed: No space left on device")
        XCTAssertEqual(fileKind(svg), S_IFCHR)
    }

    func testErrorQuotingAHugeNameIsShort() throws {
        let name = String(repeating: "x", count: 100_000)
        let result = try conv(output: path("y.npy"), extra: ["--algorithm", name])
        assertOneErrorLine(result, "unknown algorithm '\(name.prefix(60))… (100000 characters)'")
        XCTAssertLessThan(result.stderr.count, 1000)
        let spaced = String(repeating: "ab ", count: 40_000)
        let long = try conv(output: path("y.npy"), extra: ["--algorithm", spaced])
        assertOneErrorLine(long, "… (120000 characters)")
        XCTAssertLessThan(long.stderr.count, 1000)
    }

    func testPlanShowOnAMissingFileSaysSo() throws {
        let missing = path("missing.json")
        let result = try CLI.run(["plan", "show", missing])
        assertOneErrorLine(result, "\(missing): cannot read the plan file: No such file or directory")
        XCTAssertFalse(result.stderr.contains("not a valid plan"), result.stderr)
        assertOneErrorLine(try CLI.run(["plan", "show", dir.path]), "Is a directory")
    }
}
