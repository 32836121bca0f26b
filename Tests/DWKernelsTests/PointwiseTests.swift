import DWCore
import DWKernels
import DWTestSupport
import Foundation
import XCTest

final class PointwiseTests: XCTestCase {
    func testEveryPointwiseAlgorithmMatchesTheReference() throws {
        let outcome = try Conformance.pointwiseSweep(Registry.pointwise)
        XCTAssertEqual(outcome.failures, [])
        // Native bf16 algorithms are refused (and not counted) on a CPU without avx512_bf16.
        let running = Registry.pointwise.filter { BF16Kernels.native || $0.arithmetic == .fp32 }.count
        XCTAssertEqual(outcome.checked, pointwiseSweep().count * pointwiseEpilogues.count * running)
        print("pointwise sweep: " + outcome.summary)
    }

    /// Our GEMM splits output tiles over threads and sums in one order: 1, 2 and 3 threads agree bitwise,
    /// and two runs of one plan agree bitwise.
    func testGEMMIsThreadInvariantAndDeterministic() throws {
        for text in ["n1c600h3w5o70", "n2c100h20w20o48", "n1c1024h7w7o96"] {
            let problem = try PointwiseProblem(parsing: text)
            let weights = PointwiseWeights.random(for: problem, preBatchNorm: true, seed: 3)
            var rng = SeededGenerator(seed: 4)
            let input = Tensor(nchw: rng.signedArray(problem.inputCount), n: problem.n, c: problem.c, h: problem.h, w: problem.w)
                .converted(to: .nchw16c)
            let residual = Tensor(nchw: rng.signedArray(problem.outputCount), n: problem.n, c: problem.o, h: problem.h, w: problem.w)
                .converted(to: .nchw16c)
            let epilogue = PointwiseEpilogue(activation: .gelu, residual: true)
            for algorithm in Registry.pointwise where algorithm.name.hasPrefix("gemm-simd") {
                var outputs: [[UInt32]] = []
                for threads in [1, 2, 3, 3] {
                    let plan = try algorithm.prepare(problem, weights: weights, epilogue: epilogue, executor: TestExecutors.pool(threads))
                    let y = Tensor(n: problem.n, c: problem.o, h: problem.h, w: problem.w, layout: .nchw16c)
                    plan.execute(input: input.pointer, output: y.pointer, residual: residual.pointer)
                    outputs.append(y.storage.toArray().map(\.bitPattern))
                }
                XCTAssertEqual(outputs[0], outputs[1], "\(algorithm.name) on \(problem): 1 vs 2 threads")
                XCTAssertEqual(outputs[0], outputs[2], "\(algorithm.name) on \(problem): 1 vs 3 threads")
                XCTAssertEqual(outputs[2], outputs[3], "\(algorithm.name) on \(problem): two runs differ")
            }
        }
    }

    /// The SIMD erf used by the GELU epilogue stays within 4e-7 of libm's erf.
    func testGELUMatchesTheErfForm() throws {
        let weights = try PointwiseWeights(outChannels: 1, inChannels: 1, weight: [1], bias: [0])
        for algorithm in Registry.pointwise {
            // A bf16 algorithm rounds its input first (the weight 1 is exact); its epilogue is fp32 like the others'.
            let problem = try PointwiseProblem(parsing: "n1c1h1w1o1").with(precision: algorithm.arithmetic)
            guard algorithm.supports(problem) != BF16Kernels.missingInstruction else { continue }
            let plan = try algorithm.prepare(problem, weights: weights, epilogue: PointwiseEpilogue(activation: .gelu), executor: InlineExecutor())
            let x = Tensor(n: 1, c: 1, h: 1, w: 1, layout: plan.layout), y = Tensor(n: 1, c: 1, h: 1, w: 1, layout: plan.layout)
            var worst = 0.0
            for i in 0...1200 {
                let v = Float(i - 600) / 100  // −6 … 6
                x.pointer[0] = v
                plan.execute(input: x.pointer, output: y.pointer, residual: nil)
                let u = Double(algorithm.arithmetic == .bf16 ? BF16.rounded(v) : v)
                let exact = 0.5 * u * (1 + erf(u / 2.0.squareRoot()))
                worst = max(worst, abs(Double(y.pointer[0]) - exact))
            }
            XCTAssertLessThan(worst, 2e-6, "\(algorithm.name): GELU error \(worst)")
        }
    }

    func testProblemTextForms() throws {
        let p = try PointwiseProblem(parsing: "n1c512h14w14o2048")
        XCTAssertEqual(p.description, "n1c512h14w14o2048")
        XCTAssertEqual(p.flops, 2.0 * 2048 * 512 * 196)
        XCTAssertEqual(try ConvProblem(parsing: "n1c512h14w14o2048"), .pointwise(p))
        XCTAssertEqual(try ConvProblem(parsing: "n1c128h56w56k31s1p15").kind, .depthwise)
        for bad in ["n1c512h14w14", "n1c512h14w14o0", "n1c512h14w14o2048x", "n1c512w14h14o2048", "n1c99999h99999w99999o1"] {
            XCTAssertThrowsError(try ConvProblem(parsing: bad), bad)
        }
    }
}
