import DWCore
import DWKernels
import DWModel
import DWTestSupport
import Foundation
import XCTest

/// The bf16 accuracy contract on the checkpoint fixtures and photos: `--precision bf16` logits against PyTorch's
/// float64 logits must be within 1.2× the error OpenVINO's bf16 mode has on the same model and inputs
/// (Fixtures/bf16-contract.json, written by Benchmarks/bf16/accuracy.py from OpenVINO runs), with the same top-1.
/// Runs where the CPU has avx512_bf16; the bf16 arithmetic itself is tested on every CPU (BF16KernelTests).
final class BF16ModelTests: XCTestCase {
    struct Contract: Decodable {
        struct Case: Decodable {
            var checkpoint: String; var model_key: String?; var photos: [String]; var resolution: Int
            var reference_logits: String; var openvino_bf16_max_rel_error: Double; var factor: Double
        }
        var cases: [Case]
    }

    func path(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    func testBF16IsNoWorseThanOpenVINOsBF16() throws {
        try XCTSkipUnless(BF16Kernels.native, "this CPU has no avx512_bf16: the bf16 model path refuses here (tested in BF16KernelTests)")
        let contract = try JSONDecoder().decode(Contract.self, from: Data(contentsOf: fixtures.appendingPathComponent("bf16-contract.json")))
        XCTAssertFalse(contract.cases.isEmpty)
        for c in contract.cases {
            let label = "\(c.checkpoint)\(c.model_key.map { "[\($0)]" } ?? "")"
            let input = try ModelInput.photos(c.photos.map(path), resolution: c.resolution, channels: 3)
            var logits: [Precision: [Float]] = [:]
            for precision in Precision.allCases {
                let net = try DeployedRepLKNet(try Checkpoint.load(path: path(c.checkpoint), modelKey: c.model_key))
                let model = try RepLKNetModel(net, batch: input.batch, resolution: c.resolution, executor: TestExecutors.pool(2), precision: precision, planner: .heuristic)
                XCTAssertEqual(model.layers.contains { $0.algorithm.hasPrefix("gemm-bf16") }, precision == .bf16, "\(label) \(precision)")
                logits[precision] = model.run(input.values)
            }
            let reference = try NPYArray.read(path: path(c.reference_logits))
            let classes = reference.shape[1]
            var worst = 0.0
            for b in 0..<input.batch {
                let row = Array(logits[.bf16]![(b * classes)..<((b + 1) * classes)]).map(Double.init)
                let want = Array(reference.values[(b * classes)..<((b + 1) * classes)]).map(Double.init)
                let error = zip(row, want).map { abs($0 - $1) }.max()! / want.map(abs).max()!
                worst = max(worst, error)
                XCTAssertEqual(row.indices.max { row[$0] < row[$1] }, want.indices.max { want[$0] < want[$1] }, "\(label): top-1 of image \(b)")
            }
            XCTAssertLessThanOrEqual(worst, c.factor * c.openvino_bf16_max_rel_error,
                                     "\(label): bf16 error \(worst) > \(c.factor) × OpenVINO bf16's \(c.openvino_bf16_max_rel_error)")
            // fp32 stays fp32: the bf16 option changes nothing unless asked for.
            XCTAssertLessThanOrEqual(relativeError(logits[.fp32]!, reference.values.map(Double.init)), 1e-5, label)
            XCTAssertGreaterThan(worst, 1e-4, "\(label): did anything run in bf16?")
            print("bf16 contract, \(label): error \(String(format: "%.2e", worst)) vs OpenVINO bf16 \(String(format: "%.2e", c.openvino_bf16_max_rel_error))")
        }
    }
}
