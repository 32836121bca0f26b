import DWCore
import DWKernels
import DWTestSupport
import XCTest

final class RegistryTests: XCTestCase {
    func testNamesAreUniqueAndCarryParameters() {
        let names = Registry.names
        XCTAssertEqual(Set(names).count, names.count, "duplicate registry names: \(names)")
        XCTAssertEqual(Registry.algorithms.last?.name, "naive", "the depthwise reference comes last")
        XCTAssertEqual(Registry.pointwise.last?.name, "pointwise-naive", "the pointwise reference comes last")
        XCTAssertEqual(Registry.all.filter(\.isReference).map(\.name), ["naive", "pointwise-naive"])
        for family in ["naive", "im2col-gemm", "implicit-gemm", "direct-simd", "fft", "gemm-simd", "gemm-blas"] {
            XCTAssertTrue(names.contains { $0.hasPrefix(family) }, "no \(family) algorithm registered")
        }
        XCTAssertTrue(names.contains("direct-simd.w8.nchw16c"))
        XCTAssertTrue(names.contains("fft.t64"))
        XCTAssertTrue(names.contains("gemm-simd.o32p14"))
        XCTAssertTrue(names.contains("gemm-blas.openblas"))
        XCTAssertTrue(Registry.algorithms.allSatisfy { $0.kind == .depthwise })
        XCTAssertTrue(Registry.pointwise.allSatisfy { $0.kind == .pointwise })
    }

    func testLookupByName() throws {
        XCTAssertEqual(try Registry.algorithm(named: "fft.t128").name, "fft.t128")
        XCTAssertThrowsError(try Registry.algorithm(named: "winograd")) { error in
            XCTAssertTrue("\(error)".contains("unknown algorithm 'winograd'"), "\(error)")
        }
        XCTAssertEqual(try Registry.pointwiseAlgorithm(named: "gemm-simd.o48p8").name, "gemm-simd.o48p8")
        XCTAssertThrowsError(try Registry.algorithm(named: "gemm-simd.o48p8"), "a pointwise name is not a depthwise algorithm")
        XCTAssertEqual(try Registry.anyAlgorithm(named: "fft.t64").kind, .depthwise)
        // Each kind refuses the other's problems with a reason.
        let pw = ConvProblem.pointwise(try PointwiseProblem(parsing: "n1c8h8w8o8"))
        XCTAssertEqual(Registry.algorithms.first!.supports(pw), "not a depthwise problem")
        XCTAssertEqual(Registry.pointwise.first!.supports(.depthwise(try Problem(parsing: "n1c8h8w8k3s1p1"))), "not a pointwise problem")
    }

    /// A refused problem yields a reason from `supports` and an error (never a plan) from `prepare`.
    func testRefusalsGiveReasonsNotAnswers() throws {
        let cases: [(String, String)] = [
            ("fft.t64", "n1c16h200w200k63s1p31"),       // kernel larger than the transform tile
            ("fft.t64", "n1c16h300w300k51s1p25"),       // tile would keep under 25% of its outputs
            ("im2col-gemm.blas", "n1c1h301w2000k301s1p0"), // one row of patches over the 64 MiB cap
        ]
        for (name, text) in cases {
            let algorithm = try Registry.algorithm(named: name)
            let problem = try Problem(parsing: text)
            let reason = try XCTUnwrap(algorithm.supports(problem), "\(name) should refuse \(problem)")
            XCTAssertFalse(reason.isEmpty)
            let weights = try DepthwiseWeights(channels: problem.c, kh: problem.kh, kw: problem.kw,
                                               weight: [Float](repeating: 0, count: problem.weightCount))
            XCTAssertThrowsError(try algorithm.prepare(problem, weights: weights, executor: InlineExecutor())) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(error)")
            }
        }
    }

    func testNaiveSupportsEverything() throws {
        for problem in sweepProblems() + familySweepProblems() { XCTAssertNil(Naive().supports(problem), "\(problem)") }
    }

    func testWeightsMustMatchTheProblem() throws {
        let problem = try Problem(parsing: "n1c8h8w8k3s1p1")
        let wrong = try DepthwiseWeights(channels: 8, kernel: 5, weight: [Float](repeating: 0, count: 200))
        XCTAssertThrowsError(try DirectSIMD(width: 8).prepare(problem, weights: wrong, executor: InlineExecutor()))
        XCTAssertThrowsError(try DepthwiseWeights(channels: 8, kernel: 3, weight: [1, 2, 3]))
        XCTAssertThrowsError(try DepthwiseWeights(channels: 2, kernel: 1, weight: [1, 2], bias: [1]))
    }
}
