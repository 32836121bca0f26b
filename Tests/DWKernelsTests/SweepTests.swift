import DWCore
import DWKernels
import DWTestSupport
import XCTest

/// Every registered algorithm against the fp64 reference over the labelled sweep.
final class SweepTests: XCTestCase {
    func testSweepCoversTheEdges() {
        let problems = sweepProblems()
        XCTAssertEqual(problems.count, 80)
        XCTAssertTrue(problems.contains { $0.h < $0.kh && $0.w < $0.kw }, "a map smaller than the kernel")
        XCTAssertTrue(problems.contains { $0.n > 1 })
        XCTAssertTrue(problems.contains { $0.h == 1 && $0.w == 1 })
        XCTAssertTrue(problems.contains { $0.ph == 0 && $0.sh == 2 })
        XCTAssertTrue(problems.allSatisfy { $0.c % 16 != 0 || $0.h == 1 })
        XCTAssertTrue(problems.allSatisfy(\.isSquare))
    }

    func testFamilySweepCoversTheNewForms() {
        let problems = familySweepProblems()
        XCTAssertGreaterThan(problems.count, 150)
        for (kh, kw) in [(51, 5), (5, 51), (1, 11), (11, 1)] {
            XCTAssertTrue(problems.contains { $0.kh == kh && $0.kw == kw }, "kernel \(kh)×\(kw)")
        }
        XCTAssertTrue(problems.contains { $0.kh == 7 && $0.dh == 3 && $0.dw == 3 }, "LSKNet's 7×7 dilation 3")
        XCTAssertTrue(problems.contains { $0.dh != $0.dw }, "per-axis dilation")
        XCTAssertTrue(problems.contains { $0.sh == 2 && $0.sw == 1 } && problems.contains { $0.sh == 1 && $0.sw == 2 })
        XCTAssertTrue(problems.contains { $0.ph != $0.pw })
        XCTAssertTrue(problems.contains { $0.h < $0.extentH }, "a map shorter than the kernel's extent")
        XCTAssertTrue(problems.contains { $0.n > 1 } && problems.allSatisfy { $0.c % 2 == 1 || $0.c == 16 })
        XCTAssertTrue(problems.allSatisfy { !$0.isSquare || $0.kh == 1 })
    }

    func testEveryAlgorithmMatchesTheReference() throws {
        let outcome = try Conformance.depthwiseSweep(Registry.algorithms)
        XCTAssertEqual(outcome.failures, [])
        XCTAssertGreaterThan(outcome.checked, 600)
        print("sweep: " + outcome.summary)
    }

    /// Rectangles, dilations and per-axis strides and paddings: every registered algorithm runs them within its
    /// bound or refuses with a reason, and every algorithm family runs some of them.
    func testEveryAlgorithmMatchesTheReferenceOnTheLargeKernelFamily() throws {
        let outcome = try Conformance.depthwiseSweep(Registry.algorithms, problems: familySweepProblems())
        XCTAssertEqual(outcome.failures, [])
        XCTAssertGreaterThan(outcome.checked, 1000)
        print("family sweep: " + outcome.summary)
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
