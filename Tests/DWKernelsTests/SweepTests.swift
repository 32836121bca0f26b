import DWCore
import DWKernels
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
        var checked = 0
        var worst: [String: Double] = [:]
        for (index, problem) in sweepProblems().enumerated() {
            let input = randomInput(problem, seed: UInt64(index))
            let weights = DepthwiseWeights.random(for: problem, bias: index % 2 == 0, seed: UInt64(1000 + index))
            let reference = referenceDepthwise(problem, input: input, weight: weights.weight, bias: weights.bias)
            let tensor = Tensor(nchw: input, n: problem.n, c: problem.c, h: problem.h, w: problem.w)
            for algorithm in Registry.algorithms {
                if let why = algorithm.supports(problem) {
                    XCTAssertFalse(why.isEmpty, "\(algorithm.name) refused \(problem) without a reason")
                    continue
                }
                let out = try DepthwiseConvolution.run(algorithm, problem: problem, weights: weights, input: tensor, threads: 2)
                let error = relativeError(out.nchwValues(), reference)
                let bound = tolerance(algorithm.name)
                XCTAssertLessThanOrEqual(error, bound, "\(algorithm.name) on \(problem): relative error \(error)")
                worst[algorithm.name] = max(worst[algorithm.name] ?? 0, error)
                checked += 1
            }
        }
        // Every algorithm must actually have run on most of the sweep (no silent refusals).
        for algorithm in Registry.algorithms {
            XCTAssertNotNil(worst[algorithm.name], "\(algorithm.name) ran on no problem of the sweep")
        }
        XCTAssertGreaterThan(checked, 600)
        print("sweep: \(checked) cases; worst relative error per algorithm:",
              worst.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1e", $0.value))" }.joined(separator: ", "))
    }
}
