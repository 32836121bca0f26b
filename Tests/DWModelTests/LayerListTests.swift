import DWCore
import DWKernels
import DWModel
import DWTestSupport
import XCTest

/// The layer list is the one statement of RepLKNet's structure; these tests hold everything else to it.
final class LayerListTests: XCTestCase {
    /// The built model runs exactly the list's layers, in order, with their problems and groups (the stem's
    /// im2col step is the one extra row), so the report's grouping and epilogues come from the list too.
    func testTheModelIsBuiltFromTheList() throws {
        let specs = try tinyConfig.layers(resolution: 64)
        let model = try RepLKNetModel(try DeployedRepLKNet(Checkpoint.random(tinyConfig, seed: 3)), batch: 2, resolution: 64, executor: TestExecutors.pool(1),
                                      planner: .heuristic)
        let rows = model.layers.filter { $0.op != "im2col" }
        XCTAssertEqual(rows.map(\.name), specs.map(\.name))
        XCTAssertEqual(rows.map(\.group), specs.map(\.group))
        XCTAssertEqual(rows.map(\.problem), try specs.map { try $0.problem(batch: 2) })
        XCTAssertEqual(model.layers.first?.name, "stem.0 im2col")
    }

    /// Every layer reads the buffer the previous one wrote, a residual is the block's input, and no layer
    /// writes the buffer it reads or its residual.
    func testBuffersChainTheLayers() throws {
        let specs = try RepLKNetConfig.b31.layers(resolution: 224)
        for (previous, layer) in zip(specs, specs.dropFirst()) {
            XCTAssertEqual(layer.inputBuffer, previous.outputBuffer, "\(layer.name) does not read what \(previous.name) wrote")
            XCTAssertNotEqual(layer.outputBuffer, layer.inputBuffer, layer.name)
            if let r = layer.residualBuffer { XCTAssertNotEqual(layer.outputBuffer, r, layer.name) }
        }
        for (i, layer) in specs.enumerated() where layer.residualBuffer != nil {
            // The residual is the input of the block's first layer (pw1): two layers back in a RepLK block, one in a ConvFFN.
            let back = specs[i - 1].operation == .depthwise ? 2 : 1
            XCTAssertEqual(layer.residualBuffer, specs[i - back].inputBuffer, layer.name)
        }
        XCTAssertEqual(specs.filter { $0.operation == .depthwise && $0.largeKernel }.count, 24)
        XCTAssertEqual(specs.last?.operation, .head)
    }

    /// The tensor names of the list are the official RepLKNet-pytorch key layout, in both forms, and a random
    /// checkpoint made from them has exactly those names.
    func testTensorNamesAreTheOfficialOnes() throws {
        let training = RepLKNetConfig.b31.tensorSpecs(deployed: false).map(\.name)
        XCTAssertEqual(Set(training).count, training.count, "duplicate tensor names")
        for name in ["stem.0.conv.weight", "stem.3.bn.running_var", "stages.0.blocks.0.prelkb_bn.weight",
                     "stages.0.blocks.0.large_kernel.lkb_origin.conv.weight", "stages.0.blocks.0.large_kernel.small_conv.bn.bias",
                     "stages.2.blocks.35.preffn_bn.running_mean", "stages.3.blocks.3.pw2.conv.weight", "transitions.2.1.bn.weight",
                     "norm.running_var", "head.bias"] {
            XCTAssertTrue(training.contains(name), name)
        }
        let deployed = Set(RepLKNetConfig.b31.tensorSpecs(deployed: true).map(\.name))
        XCTAssertTrue(deployed.contains("stages.1.blocks.2.large_kernel.lkb_reparam.bias"))
        XCTAssertFalse(deployed.contains { $0.contains("lkb_origin") || $0.contains("small_conv") })
        let random = Checkpoint.random(tinyConfig, seed: 1)
        XCTAssertEqual(Set(random.tensors.keys), Set(tinyConfig.tensorSpecs(deployed: false).map(\.name)))
    }

    /// The built-in shape sets (what `--shapes replknet31b` and `replknet31b-pointwise` tune) hold exactly the
    /// list's depthwise and 1×1 problems at 224², batch 1, with the list's layer counts.
    func testBuiltinShapeSetsAreTheListsProblems() throws {
        let specs = try RepLKNetConfig.b31.layers(resolution: 224)
        func counts(_ op: RepLKNetLayer.Operation) throws -> [String: Int] {
            try specs.filter { $0.operation == op }.reduce(into: [:]) { c, l in c["\(try l.problem(batch: 1)!)", default: 0] += 1 }
        }
        func counts(_ set: String) throws -> [String: Int] {
            try XCTUnwrap(ShapeFile.builtin(set)).entries.reduce(into: [:]) { c, e in c["\(e.problem)", default: 0] += e.count }
        }
        XCTAssertEqual(try counts("replknet31b"), try counts(.depthwise))
        XCTAssertEqual(try counts("replknet31b-pointwise"), try counts(.pointwise))
    }

    /// Parameters and the memory plan come from the list: 31B has 79 M parameters after re-parameterization
    /// (the paper's figure), and the largest activation is a ConvFFN's 4C map.
    func testParametersAndMemoryPlan() throws {
        XCTAssertEqual(Double(RepLKNetConfig.b31.parameterCount) / 1e6, 79, accuracy: 1.5)
        let plan = try RepLKNetModel.memoryPlan(.b31, batch: 1, resolution: 224)
        XCTAssertEqual(plan.largestActivation, 512 * 56 * 56)
        XCTAssertEqual(plan.patches, 32 * 112 * 112)
        XCTAssertThrowsError(try RepLKNetConfig.b31.layers(resolution: 100))
    }
}
