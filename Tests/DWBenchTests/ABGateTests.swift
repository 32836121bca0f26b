import DWBench
import Foundation
import XCTest

/// The A/B gate's statistics on known samples, and its driver against fake executables that speak (or break)
/// protocol 1: an equal one, a 2× slower one, one that crashes, one that prints garbage, one too old to know it.
final class ABGateTests: XCTestCase {
    func testStatisticsOnKnownSamples() {
        let a = (0..<18).map { 1.0 + 0.01 * Double($0 % 7) }
        let slower = ABStatistics.compare(baseline: a, candidate: a.map { $0 * 1.5 })
        XCTAssertEqual(slower.ratio, 1.5, accuracy: 1e-9)
        XCTAssertTrue(slower.low <= 1.5 && 1.5 <= slower.high)
        XCTAssertLessThan(slower.p, 1e-4)
        let same = ABStatistics.compare(baseline: a, candidate: a)
        XCTAssertEqual(same.ratio, 1, accuracy: 1e-12)
        XCTAssertTrue(same.low < 1 && same.high > 1)
        XCTAssertGreaterThan(same.p, 0.3)
        // Overlapping samples 2% apart: the interval is wide enough to hold 1, the estimate near 1.02.
        let near = ABStatistics.compare(baseline: a, candidate: a.map { $0 * 1.02 })
        XCTAssertEqual(near.ratio, 1.02, accuracy: 0.01)
        XCTAssertLessThan(near.low, 1.02)
    }

    /// A fake dwbench: answers protocol 1 with samples `factor` × 1 ms (1% noise), or misbehaves.
    func fake(_ name: String, _ body: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("abgate-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        let script = """
        #!/bin/sh
        P=""; A=""; R=3
        while [ $# -gt 0 ]; do
          case "$1" in --problems) P=$2; shift ;; --algorithm) A=$2; shift ;; --repetitions) R=$2; shift ;; esac
          shift
        done
        \(body)

        """
        try Data(script.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o755)
        return path
    }

    func answering(_ factor: Double) -> String {
        """
        python3 -c "import json, random, sys; r = random.Random(); print(json.dumps({'protocol': 1, 'problem': sys.argv[1], 'algorithm': sys.argv[2], 'threads': 1, 'seconds': [\(factor) * 0.001 * (1 + 0.01 * r.random()) for _ in range(int(sys.argv[3]))], 'relative_error': 0.0}))" "$P" "$A" "$R"
        """
    }

    func gate(_ baseline: String, _ candidate: String) -> ABGate {
        var g = ABGate(baseline: baseline, candidate: candidate, threads: 1, tolerance: 0.5)
        g.rounds = 4
        return g
    }

    let kernels = [(item: "n1c32h16w16k3s1p1", algorithm: "naive")]

    func testEqualBuildsPassAndASlowerOneIsARegression() throws {
        let equal = try fake("equal", answering(1)), alsoEqual = try fake("equal2", answering(1)), slower = try fake("slower", answering(2))
        let same = try gate(equal, alsoEqual).run(kernels)
        XCTAssertFalse(same[0].regression)
        XCTAssertEqual(same[0].comparison.ratio, 1, accuracy: 0.02)
        let slow = try gate(equal, slower).run(kernels)
        XCTAssertTrue(slow[0].regression)
        XCTAssertNotNil(slow[0].confirmation, "a regression is confirmed by a second measurement")
        XCTAssertEqual(slow[0].comparison.ratio, 2, accuracy: 0.05)
        XCTAssertTrue(ABGate.table(slow) { _ in 1e-5 }.contains("REGRESSION"))
        let faster = try gate(slower, equal).run(kernels)
        XCTAssertTrue(faster[0].improvement)
        XCTAssertFalse(faster[0].regression)
    }

    /// An algorithm new in the candidate: the baseline runs its substitute (its own best for the problem), the
    /// baseline executable is asked for that name, and the table says so.
    func testANewAlgorithmIsComparedWithTheBaselinesSubstitute() throws {
        // This baseline answers only for 'naive' (a build that lacks the new algorithm).
        let old = try fake("old", "[ \"$A\" = naive ] || { echo \"Error: unknown algorithm '$A'\" >&2; exit 1; }\n" + answering(2))
        let new = try fake("new", answering(1))
        let items = [(item: "n1c32h16w16k3s1p1", algorithm: "toeplitz-rows.nchw16c")]
        XCTAssertThrowsError(try gate(old, new).run(items))
        let results = try gate(old, new).run(items, substitutes: ["n1c32h16w16k3s1p1": "naive"])
        XCTAssertEqual(results[0].baselineAlgorithm, "naive")
        XCTAssertEqual(results[0].comparison.ratio, 0.5, accuracy: 0.02)
        XCTAssertTrue(results[0].improvement)
        XCTAssertTrue(ABGate.table(results) { _ in 1e-5 }.contains("toeplitz-rows.nchw16c (new; baseline ran naive)"))
    }

    func testCrashesGarbageAndOldBuildsAreClearErrors() throws {
        let equal = try fake("equal", answering(1))
        let crash = try fake("crash", "echo 'Fatal error: boom' >&2; exit 3")
        let garbage = try fake("garbage", "echo hello")
        let wrongCount = try fake("short", answering(1).replacingOccurrences(of: "int(sys.argv[3])", with: "1"))
        let old = try fake("old", "echo \"Error: Unknown option '--emit-samples'\" >&2; exit 64")
        func error(_ candidate: String) -> ABGate.GateError? {
            do { _ = try gate(equal, candidate).run(kernels); return nil } catch { return error as? ABGate.GateError }
        }
        let crashed = try XCTUnwrap(error(crash))
        XCTAssertTrue(crashed.description.contains("exited with status 3") && crashed.description.contains("boom"), crashed.description)
        XCTAssertTrue(try XCTUnwrap(error(garbage)).description.contains("no protocol-1 sample report"))
        XCTAssertTrue(try XCTUnwrap(error(wrongCount)).description.contains("expected protocol 1"))
        let tooOld = try XCTUnwrap(error(old))
        XCTAssertTrue(tooOld.predatesProtocol, tooOld.description)
    }
}
