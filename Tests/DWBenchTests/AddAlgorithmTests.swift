import DWBench
import DWCore
import DWKernels
import DWTestSupport
import DWTune
import XCTest

/// The README's "add an algorithm" walk-through, exercised: `RowTaps` is a depthwise algorithm of a family
/// no Sources file knows ("row-taps"). Its one file is below; its "registry line" is appending it to the
/// registry's list. With no other edit it is swept against the fp64 reference, checked for determinism,
/// benchmarked with its error against the reference, ranked by the cost model from its declared defaults,
/// and timed by the tuner.
struct RowTaps: DepthwiseAlgorithm {
    var name: String { "row-taps.nchw" }
    var family: String { "row-taps" }
    var defaultEfficiency: (compute: Double, memory: Double) { (0.05, 0.5) }
    var layout: Layout { .nchw }
    var summary: String { "test-only: NCHW, one kernel row at a time over a whole output row (scalar)" }
    func supports(_ problem: Problem) -> String? {
        if !problem.isSquare { return "square kernels, one stride and padding, dilation 1 only (test-only limit)" }
        return problem.kh > 15 ? "kernel larger than 15 (test-only limit)" : nil
    }

    func prepare(_ problem: Problem, weights: DepthwiseWeights, executor: any Executor) throws -> any DepthwisePlan {
        if let why = supports(problem) { throw AlgorithmError.unsupported(algorithm: name, problem: .depthwise(problem), reason: why) }
        return RowTapsPlan(problem: problem, weights: weights, executor: executor)
    }
}

final class RowTapsPlan: DepthwisePlan {
    let problem: Problem
    var layout: Layout { .nchw }
    let weights: DepthwiseWeights
    let pool: any Executor

    init(problem: Problem, weights: DepthwiseWeights, executor: any Executor) {
        self.problem = problem
        self.weights = weights
        pool = executor
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let p = problem, weights = weights
        let (k, s, pad) = (p.kh, p.sh, p.ph)
        let src = SendablePointer(input), dst = SendableMutablePointer(output)
        pool.parallelFor(count: p.n * p.c) { plane, _ in
            let c = plane % p.c
            let x = src.pointer + plane * p.h * p.w, y = dst.pointer + plane * p.oh * p.ow
            for oy in 0..<p.oh {
                for ox in 0..<p.ow { y[oy * p.ow + ox] = weights.bias?[c] ?? 0 }
                for ky in 0..<k {
                    let iy = oy * s - pad + ky
                    guard iy >= 0, iy < p.h else { continue }
                    for kx in 0..<k {
                        let w = weights.weight[(c * k + ky) * k + kx]
                        for ox in 0..<p.ow {
                            let ix = ox * s - pad + kx
                            if ix >= 0, ix < p.w { y[oy * p.ow + ox] += x[iy * p.w + ix] * w }
                        }
                    }
                }
            }
        }
    }
}

final class AddAlgorithmTests: XCTestCase {
    /// The registry with the test-only algorithm registered (its one line).
    let depthwise: [any DepthwiseAlgorithm] = Registry.algorithms + [RowTaps()]
    var all: [any ConvolutionAlgorithm] { depthwise.map { $0 as any ConvolutionAlgorithm } + Registry.pointwise.map { $0 as any ConvolutionAlgorithm } }

    func testSweptAndDeterministicFromItsRegistration() throws {
        let sweep = try Conformance.depthwiseSweep(depthwise)
        XCTAssertEqual(sweep.failures, [])
        XCTAssertNotNil(sweep.worst["row-taps.nchw"], "the sweep did not run the new algorithm")
        let invariance = try Conformance.invariance(all)
        XCTAssertEqual(invariance.failures, [])
        XCTAssertNotNil(invariance.worst["row-taps.nchw"])
    }

    func testBenchmarkedAgainstTheReference() throws {
        let problem = ConvProblem.depthwise(try Problem(parsing: "n1c24h20w20k7s1p3"))
        let result = try ProblemBenchmark.run(problem, algorithms: all.filter { $0.kind == problem.kind }, executor: InlineExecutor(),
                                              policy: TimingPolicy(warmup: 1, minRepetitionSeconds: 0.001, repetitions: 3, capSeconds: 1))
        let case_ = try XCTUnwrap(result.cases.first { $0.algorithm == "row-taps.nchw" })
        XCTAssertNotNil(case_.timing)
        XCTAssertLessThanOrEqual(try XCTUnwrap(case_.relativeError), RowTaps().errorBound)
        let refused = try ProblemBenchmark.run(.depthwise(try Problem(parsing: "n1c8h20w20k31s1p15")), algorithms: [RowTaps()], executor: InlineExecutor(),
                                               policy: TimingPolicy(warmup: 0, minRepetitionSeconds: 0.001, repetitions: 1, capSeconds: 1))
        XCTAssertEqual(refused.cases.first?.refusal, "kernel larger than 15 (test-only limit)")
    }

    func testTunedAndEstimatedFromItsDeclaredFacts() throws {
        let problem = ConvProblem.depthwise(try Problem(parsing: "n1c24h20w20k7s1p3"))
        var tuner = Tuner(executor: InlineExecutor(), mode: .exhaustive, model: CostModel(peakGflops: 100, bandwidthGBs: 20))
        tuner.algorithms = all
        let entry = try XCTUnwrap(tuner.tune([problem]).entries["\(problem)"])
        XCTAssertEqual(entry.candidates.first { $0.algorithm == "row-taps.nchw" }?.status, .measured)
        // The estimate mode ranks it by its own declared efficiencies (no name table anywhere).
        let model = CostModel(peakGflops: 100, bandwidthGBs: 20)
        let bounds = model.bounds(RowTaps(), problem)
        XCTAssertEqual(model.predict(RowTaps(), problem), max(bounds.compute / 0.05, bounds.memory / 0.5), accuracy: 1e-15)
        tuner.mode = .estimate
        let estimated = try XCTUnwrap(tuner.tune([problem]).entries["\(problem)"])
        XCTAssertEqual(estimated.candidates.first { $0.algorithm == "row-taps.nchw" }?.status, .estimated)
    }
}
