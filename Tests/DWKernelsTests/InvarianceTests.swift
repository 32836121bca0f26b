import DWCore
import DWKernels
import XCTest

/// Determinism, for every registered algorithm of both kinds (the registry list, so a new algorithm is
/// covered by its registry line): the same prepared plan gives bitwise-identical outputs run after run,
/// and 1, 2 and 3 threads give bitwise-identical outputs. Pointwise cases use the full epilogue (GELU and
/// residual) so the fused paths are covered too.
final class InvarianceTests: XCTestCase {
    let problems = ["n2c40h23w19k7s1p3", "n1c33h30w30k31s1p15", "n1c20h16w16k3s2p1", "n1c64h40w40k13s1p6", "n1c48h20w20k13s1p6", "n1c4h100w100k61s1p30",
                    "n1c600h3w5o70", "n2c100h20w20o48", "n1c1024h7w7o96", "n1c24h40w40o300"]

    func testEveryAlgorithmIsDeterministicAndThreadInvariant() throws {
        var checked = 0
        for text in problems {
            let problem = try ConvProblem(parsing: text)
            let data = try TrialData(problem, seed: 7, epilogue: problem.pointwise == nil ? .none : PointwiseEpilogue(activation: .gelu, residual: true))
            for algorithm in Registry.all where algorithm.supports(problem) == nil {
                var outputs: [[UInt32]] = []
                for threads in [1, 2, 3] {
                    let trial = try algorithm.trial(data, threads: threads)
                    trial.run()
                    let first = trial.output().map(\.bitPattern)
                    trial.run()
                    XCTAssertEqual(first, trial.output().map(\.bitPattern), "\(algorithm.name) on \(problem), \(threads) threads: two runs of one plan differ")
                    outputs.append(first)
                }
                XCTAssertEqual(outputs[0], outputs[1], "\(algorithm.name) on \(problem): 1 vs 2 threads")
                XCTAssertEqual(outputs[0], outputs[2], "\(algorithm.name) on \(problem): 1 vs 3 threads")
                checked += 1
            }
        }
        // Every algorithm met at least one problem it supports.
        for algorithm in Registry.all {
            XCTAssertTrue(try problems.contains { try algorithm.supports(ConvProblem(parsing: $0)) == nil }, "\(algorithm.name) was not checked")
        }
        print("determinism: \(checked) algorithm × problem pairs, 1/2/3 threads and repeated runs bitwise equal")
    }
}
