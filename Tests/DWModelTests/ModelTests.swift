import DWCore
import DWKernels
import DWModel
import DWTune
import DWTestSupport
import Foundation
import XCTest

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// A small RepLKNet with everything the big ones have: a small kernel, dw ratio 1.5, odd widths.
let tinyConfig = RepLKNetConfig(kernels: [7, 5, 5, 3], blocks: [1, 2, 1, 1], channels: [16, 24, 40, 48], smallKernel: 3,
                                dwRatio: 1.5, ffnRatio: 4, inChannels: 3, classes: 7)

final class ModelTests: XCTestCase {
    func runModel(_ checkpoint: Checkpoint, batch: Int, resolution: Int, threads: Int, image: [Float]) throws -> [Float] {
        let model = try RepLKNetModel(try DeployedRepLKNet(checkpoint), batch: batch, resolution: resolution, executor: TestExecutors.pool(threads), planner: .heuristic)
        return model.run(image)
    }

    /// The unfused network (every conv, BN, ReLU, GELU as PyTorch applies them, in Double) and the
    /// re-parameterized one (BN fused, small kernels merged, pre-BNs and the final norm folded) agree.
    func testUnfusedAndFusedAgree() throws {
        let ck = Checkpoint.random(tinyConfig, seed: 9)
        let reference = try ReferenceRepLKNet(ck)
        var rng = SeededGenerator(seed: 10)
        let image = rng.signedArray(3 * 64 * 64)
        let expected = try reference.logits(image: image, height: 64, width: 64)
        let logits = try runModel(ck, batch: 1, resolution: 64, threads: 2, image: image)
        XCTAssertLessThan(relativeError(logits, expected), 1e-5)
    }

    func testThreadInvarianceAndBatching() throws {
        let ck = Checkpoint.random(tinyConfig, seed: 11)
        var rng = SeededGenerator(seed: 12)
        let image = rng.signedArray(2 * 3 * 32 * 32)
        let outputs = try [1, 2, 3].map { try runModel(ck, batch: 2, resolution: 32, threads: $0, image: image) }
        XCTAssertEqual(outputs[0].map(\.bitPattern), outputs[1].map(\.bitPattern), "1 vs 2 threads")
        XCTAssertEqual(outputs[0].map(\.bitPattern), outputs[2].map(\.bitPattern), "1 vs 3 threads")
        // The same model run again, and a second model built from the same weights and choices: bitwise equal.
        let model = try RepLKNetModel(try DeployedRepLKNet(ck), batch: 2, resolution: 32, executor: TestExecutors.pool(2), planner: .heuristic)
        XCTAssertEqual(model.run(image).map(\.bitPattern), outputs[0].map(\.bitPattern), "rebuilt model differs")
        XCTAssertEqual(model.run(image).map(\.bitPattern), outputs[0].map(\.bitPattern), "second run of one model differs")
        // Image 1 of the batch equals that image run alone.
        let single = try runModel(ck, batch: 1, resolution: 32, threads: 2, image: Array(image[(3 * 32 * 32)...]))
        XCTAssertEqual(Array(outputs[1][7...]).map(\.bitPattern), single.map(\.bitPattern))
    }

    func testInfersEveryPresetShape() throws {
        for config in [RepLKNetConfig.b31, .l31, .xl] {
            // The preset's names and shapes without allocating its weights: a checkpoint of empty-shaped stand-ins
            // is not possible (shapes carry the architecture), so check the expected-name table instead.
            let shrunk = RepLKNetConfig(kernels: config.kernels.map { min($0, 5) }, blocks: config.blocks.map { min($0, 2) },
                                        channels: config.channels.map { $0 / 32 }, smallKernel: config.smallKernel.map { _ in 3 },
                                        dwRatio: config.dwRatio, ffnRatio: config.ffnRatio, classes: 5)
            XCTAssertEqual(try RepLKNetConfig.infer(from: Checkpoint.random(shrunk)), shrunk)
        }
        XCTAssertEqual(RepLKNetConfig.named("31b"), .b31)
        XCTAssertNil(RepLKNetConfig.named("31Q"))
        // 31B: 79 M parameters after re-parameterization (the paper's 79 M).
        XCTAssertEqual(Double(RepLKNetConfig.b31.parameterCount) / 1e6, 79, accuracy: 1.5)
    }

    func testProblemListMatchesTheLayers() throws {
        let ck = Checkpoint.random(tinyConfig, seed: 1)
        let model = try RepLKNetModel(try DeployedRepLKNet(ck), batch: 2, resolution: 64, executor: TestExecutors.pool(1), planner: .heuristic)
        var fromLayers: [ConvProblem] = []
        for l in model.layers { if let p = l.problem, !fromLayers.contains(p) { fromLayers.append(p) } }
        XCTAssertEqual(try tinyConfig.problems(batch: 2, resolution: 64), fromLayers)
        XCTAssertEqual(model.layers.first { $0.name.hasPrefix("stages.1.blocks.0.large_kernel") }?.problem,
                       .depthwise(try Problem(parsing: "n2c36h8w8k5s1p2")))
    }

    /// A plan's NCHW layout choice is replaced by its fastest NCHW16c candidate, and said so.
    func testThePlannerKeepsTheModelLayout() throws {
        let problem = ConvProblem.pointwise(try PointwiseProblem(parsing: "n1c32h8w8o64"))
        let entry = Plan.Entry(problem: "\(problem)", precision: .fp32, algorithm: "gemm-blas.onednn", mode: .measure, threads: 1, margin: 0.01, confident: false,
                               candidates: [Plan.Candidate(algorithm: "gemm-blas.onednn", median_ms: 1.0, spread: 0, status: .measured),
                                            Plan.Candidate(algorithm: "gemm-simd.o64p6", median_ms: 1.01, spread: 0, status: .measured)])
        let plan = Plan(generator: "test", created: "now", machine: MachineFingerprint.current(),
                        build: BuildSignature.current(registryNames: Registry.names), threads: 1,
                        calibration: Plan.Calibration(peak_gflops: 1, bandwidth_gbs: 1, efficiency: [:], memory_efficiency: [:]),
                        entries: ["\(problem)": entry])
        let net = try DeployedRepLKNet(Checkpoint.random(tinyConfig, seed: 5))
        let model = try RepLKNetModel(net, batch: 1, resolution: 32, executor: TestExecutors.pool(1), planner: Planner(plan: plan))
        XCTAssertTrue(model.layers.allSatisfy { (try? Registry.anyAlgorithm(named: $0.algorithm))?.layout != .nchw }, "a layer runs NCHW")
        let choice = try Planner(plan: plan).choose(problem, layout: .only(.nchw16c))
        XCTAssertEqual(choice.algorithm.name, "gemm-simd.o64p6")
        XCTAssertTrue(choice.sourceText.contains("nchw16c"), choice.sourceText)
    }
}
