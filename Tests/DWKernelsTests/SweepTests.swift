import DWCore
import DWKernels
import DWTestSupport
import XCTest

/// Every registered algorithm against the fp64 reference over the labelled sweep.
final class SweepTests: XCTestCase {
    func testSweepCoversTheEdges() {
        let problems = sweepProblems()
        XCTAssertEqual(problems.count, 80)
        XCTAssertTrue(problems.contains { $0.h < $0.k && $0.w < $0.k }, "a map smaller than the kernel")
        XCTAssertTrue(problems.contains { $0.n > 1 })
        XCTAssertTrue(problems.contains { $0.h == 1 && $0.w == 1 })
        XCTAssertTrue(problems.contains { $0.p == 0 && $0.s == 2 })
        XCTAssertTrue(problems.allSatisfy { $0.c % 16 != 0 || $0.h == 1 })
    }

    func testEveryAlgorithmMatchesTheReference() throws {
        let outcome = try Conformance.depthwiseSweep(Registry.algorithms)
        XCTAssertEqual(outcome.failures, [])
        XCTAssertGreaterThan(outcome.checked, 600)
        print("sweep: " + outcome.summary)
    }
}
