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

    /// One NaN or infinity in the input gives NaN/Inf exactly where PyTorch's definition does: never leaked
    /// outside its receptive field (zero taps of a register block, a Toeplitz diagonal, a transform), never lost.
    func testNonFiniteInputsStayInTheirReceptiveField() throws {
        let outcome = try Conformance.nonFiniteSweep(depthwise: Registry.algorithms, pointwise: Registry.pointwise)
        XCTAssertEqual(outcome.failures, [])
        XCTAssertGreaterThan(outcome.checked, 500)
        print("non-finite: \(outcome.checked) cases")
    }
}
