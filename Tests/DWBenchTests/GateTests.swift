import DWBench
import DWCore
import DWKernels
import DWTune
import XCTest

/// A deliberately slowed candidate, registered only here: it runs its base algorithm's trial `factor` times.
struct SlowedAlgorithm: ConvolutionAlgorithm {
    let base: any ConvolutionAlgorithm
    let factor: Int
    var name: String { base.name }
    var layout: Layout { base.layout }
    var summary: String { "\(base.summary), run \(factor) times" }
    var kind: ProblemKind { base.kind }
    var family: String { base.family }
    var defaultEfficiency: (compute: Double, memory: Double) { base.defaultEfficiency }
    func supports(_ problem: ConvProblem) -> String? { base.supports(problem) }
    func workEstimate(_ problem: ConvProblem) -> WorkEstimate { base.workEstimate(problem) }
    func trial(_ data: TrialData, executor: any Executor) throws -> Trial {
        let t = try base.trial(data, executor: executor)
        let factor = self.factor
        return Trial(layout: t.layout, run: { for _ in 0..<factor { t.run() } }, output: t.output)
    }
}

final class GateTests: XCTestCase {
    func testRankTest() {
        let low = (0..<15).map { 1.0 + Double($0) * 0.001 }, high = low.map { $0 * 1.5 }
        XCTAssertLessThan(PerformanceGate.mannWhitneyGreater(high, low), 1e-4)
        XCTAssertGreaterThan(PerformanceGate.mannWhitneyGreater(low, high), 0.99)
        XCTAssertEqual(PerformanceGate.mannWhitneyGreater(low, low), 0.5, accuracy: 0.1)
        let same = PerformanceGate.compare(baseline: low, now: low, tolerance: 0.4)
        XCTAssertFalse(same.regression || same.improvement)
        // A large change alone is not enough: the samples must also separate.
        XCTAssertFalse(PerformanceGate.compare(baseline: [1, 1, 1, 1, 1], now: [3, 0.5, 0.5, 3, 3], tolerance: 0.4).regression)
    }

    /// The gate fails on a kernel made 2× slower, and on a baseline made to look 2× faster.
    func testGateCatchesSlowdowns() throws {
        let problem = ConvProblem.depthwise(try Problem(parsing: "n1c64h24w24k13s1p6"))
        let algorithm = try Registry.anyAlgorithm(named: "direct-simd.w16.nchw16c")
        let gate = PerformanceGate(threads: 1, rounds: 15, repetitionSeconds: 0.002)
        let base = try gate.measure(problem, algorithm)
        XCTAssertLessThan(base.relativeError, 1e-5, "the checked output is compared with the reference")
        let slowed = try gate.measure(problem, SlowedAlgorithm(base: algorithm, factor: 2))
        let v = PerformanceGate.compare(baseline: base.ratios, now: slowed.ratios, tolerance: 0.4)
        XCTAssertTrue(v.regression, "2× slower: change \(v.change), p \(v.p)")
        let fakeFast = base.ratios.map { $0 / 2 }
        let now = try gate.measure(problem, algorithm)
        XCTAssertTrue(PerformanceGate.compare(baseline: fakeFast, now: now.ratios, tolerance: 0.4).regression,
                      "a baseline made to look 2× faster makes the unchanged kernel fail")
    }
}
