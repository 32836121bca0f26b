import DWCore
import DWKernels
import XCTest

/// Results must not depend on the thread count: 1, 2 and 3 threads, bitwise equal.
final class InvarianceTests: XCTestCase {
    let problems = ["n2c40h23w19k7s1p3", "n1c33h30w30k31s1p15", "n1c20h16w16k3s2p1", "n1c64h40w40k13s1p6"]

    func testBitwiseEqualAcrossThreadCounts() throws {
        for text in problems {
            let problem = try Problem(parsing: text)
            let input = randomInput(problem, seed: 7)
            let weights = DepthwiseWeights.random(for: problem, seed: 8)
            let tensor = Tensor(nchw: input, n: problem.n, c: problem.c, h: problem.h, w: problem.w)
            for algorithm in Registry.algorithms where algorithm.supports(problem) == nil {
                let outputs = try [1, 2, 3].map { threads in
                    try DepthwiseConvolution.run(algorithm, problem: problem, weights: weights, input: tensor, threads: threads).nchwValues()
                }
                XCTAssertEqual(outputs[0].map(\.bitPattern), outputs[1].map(\.bitPattern), "\(algorithm.name) on \(problem): 1 vs 2 threads")
                XCTAssertEqual(outputs[0].map(\.bitPattern), outputs[2].map(\.bitPattern), "\(algorithm.name) on \(problem): 1 vs 3 threads")
            }
        }
    }

    func testRepeatedExecutionIsDeterministic() throws {
        let problem = try Problem(parsing: "n1c48h20w20k13s1p6")
        let weights = DepthwiseWeights.random(for: problem, seed: 3)
        for algorithm in Registry.algorithms where algorithm.supports(problem) == nil {
            let plan = try algorithm.prepare(problem, weights: weights, threads: 2)
            let input = Tensor(nchw: randomInput(problem, seed: 4), n: problem.n, c: problem.c, h: problem.h, w: problem.w)
                .converted(to: plan.layout)
            let a = Tensor(n: problem.n, c: problem.c, h: problem.oh, w: problem.ow, layout: plan.layout)
            let b = Tensor(n: problem.n, c: problem.c, h: problem.oh, w: problem.ow, layout: plan.layout)
            plan.execute(input: input.pointer, output: a.pointer)
            plan.execute(input: input.pointer, output: b.pointer)
            XCTAssertEqual(a.storage.toArray(), b.storage.toArray(), "\(algorithm.name): two runs of one plan differ")
        }
    }
}
