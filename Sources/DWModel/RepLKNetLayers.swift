import DWCore
import DWKernels

/// One tensor of a RepLKNet checkpoint: its name in the official key layout, its shape, and what it is
/// (which decides how random weights are drawn and how re-parameterization uses it).
public struct TensorSpec: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        /// A convolution's weight (O, I/groups, K, K); its fan-in is I/groups·K².
        case convWeight
        /// A BatchNorm's γ, β, running mean and running variance.
        case normWeight, normBias, normMean, normVariance
        /// The classifier's weight (classes, C).
        case linearWeight
        /// A bias: the classifier's, or a deployed large kernel's.
        case bias
    }
    public var name: String
    public var shape: [Int]
    public var role: Role
}

/// One layer of a deployed RepLKNet forward pass, in execution order: the one statement of the network's
/// structure. The model is built from it, and so are the memory plan, the problems to tune, random
/// checkpoints, the tensor names a checkpoint must hold, and the report's grouping and epilogues.
/// (The fp64 `ReferenceForward` walks the official module structure on its own, deliberately: it is the
/// oracle this list is tested against.)
public struct RepLKNetLayer: Sendable, Equatable {
    public enum Operation: String, Sendable {
        /// stem.0: the dense 3×3 stride-2 convolution, run as im2col (27 patch rows) and the pointwise engine.
        case stem = "conv3x3 (im2col+GEMM)"
        case depthwise
        case pointwise
        /// The final BatchNorm, global average pool and linear classifier.
        case head = "pool+linear"
    }

    /// The checkpoint prefix of the layer ("stages.2.blocks.4.large_kernel"); "head" for the classifier.
    public var name: String
    public var operation: Operation
    /// For reports: "stem", "stage S 1×1", "stage S depthwise", "transitions", "head".
    public var group: String
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    /// Spatial side of the layer's input (and output, except for stride 2).
    public var inputSide: Int
    public var outputSide: Int
    /// Applied to the output: ReLU or GELU, then the block input added back (`residual`).
    public var epilogue: PointwiseEpilogue
    /// The BatchNorm before this 1×1 (`prelkb_bn`, `preffn_bn`), folded into its input.
    public var preNorm: String?
    /// A large-kernel block's depthwise conv: `lkb_origin` plus `small_conv` of this size (nil: none) in
    /// training form, `lkb_reparam` once deployed.
    public var largeKernel: Bool
    public var smallKernel: Int?
    /// Activation buffers of the memory plan (four, reused): nil input = the image (stem) or the stem's
    /// patches; nil output = the logits (head); `residualBuffer` holds the block input the epilogue adds.
    public var inputBuffer: Int?
    public var outputBuffer: Int?
    public var residualBuffer: Int?

    /// What the layer computes at `batch` (nil for the head), allowing `precision` (its GEMMs: the stem's and
    /// the 1×1 convolutions'); throws when the sizes are out of the problem types' limits (a kernel too large, say).
    public func problem(batch n: Int, precision: Precision = .fp32) throws -> ConvProblem? {
        switch operation {
        case .stem: return .pointwise(try PointwiseProblem(n: n, c: 9 * inChannels, h: outputSide, w: outputSide, o: outChannels, precision: precision))
        case .depthwise: return .depthwise(try Problem(n: n, c: outChannels, h: inputSide, w: inputSide, k: kernel, s: stride, p: kernel / 2))
        case .pointwise: return .pointwise(try PointwiseProblem(n: n, c: inChannels, h: inputSide, w: inputSide, o: outChannels, precision: precision))
        case .head: return nil
        }
    }

    /// The tensors of this layer in a checkpoint's training form, or its deployed form (`lkb_reparam`).
    public func tensors(deployed: Bool) -> [TensorSpec] {
        var out: [TensorSpec] = []
        func norm(_ n: String, _ c: Int) {
            out += [TensorSpec(name: n + ".weight", shape: [c], role: .normWeight), TensorSpec(name: n + ".bias", shape: [c], role: .normBias),
                    TensorSpec(name: n + ".running_mean", shape: [c], role: .normMean),
                    TensorSpec(name: n + ".running_var", shape: [c], role: .normVariance)]
        }
        func convNorm(_ n: String, _ perGroup: Int, _ k: Int) {
            out.append(TensorSpec(name: n + ".conv.weight", shape: [outChannels, perGroup, k, k], role: .convWeight))
            norm(n + ".bn", outChannels)
        }
        switch operation {
        case .head:
            norm("norm", inChannels)
            out += [TensorSpec(name: "head.weight", shape: [outChannels, inChannels], role: .linearWeight),
                    TensorSpec(name: "head.bias", shape: [outChannels], role: .bias)]
        case .depthwise where largeKernel:
            if deployed {
                out += [TensorSpec(name: name + ".lkb_reparam.weight", shape: [outChannels, 1, kernel, kernel], role: .convWeight),
                        TensorSpec(name: name + ".lkb_reparam.bias", shape: [outChannels], role: .bias)]
            } else {
                convNorm(name + ".lkb_origin", 1, kernel)
                if let smallKernel { convNorm(name + ".small_conv", 1, smallKernel) }
            }
        case .depthwise:
            convNorm(name, 1, kernel)
        case .stem, .pointwise:
            if let preNorm { norm(preNorm, inChannels) }
            convNorm(name, inChannels, kernel)
        }
        return out
    }

    /// Parameters once deployed (BatchNorms fused: weight and bias per conv; the head's linear layer).
    public var deployedParameters: Int {
        switch operation {
        case .head: return outChannels * inChannels + outChannels
        case .depthwise: return outChannels * kernel * kernel + outChannels
        case .stem, .pointwise: return outChannels * inChannels * kernel * kernel + outChannels
        }
    }
}

extension RepLKNetConfig {
    /// The layers of a forward pass at `resolution` (a positive multiple of 32: five stride-2 layers), in
    /// execution order (`problem(batch:)` gives each one's problem at a batch), with the memory plan's buffers assigned: a block reads X, writes its
    /// hidden maps into two of the other three buffers and its output into the third, which becomes the next
    /// block's X.
    public func layers(resolution: Int = 224) throws -> [RepLKNetLayer] {
        guard resolution >= 32, resolution % 32 == 0 else {
            throw ModelError("resolution \(resolution) must be a positive multiple of 32 (five stride-2 layers)")
        }
        return structure(resolution: resolution)
    }

    /// The layer list (resolution already checked); the structure alone needs no resolution, so the
    /// resolution-free uses below take the smallest.
    func structure(resolution: Int) -> [RepLKNetLayer] {
        var out: [RepLKNetLayer] = []
        func add(_ name: String, _ op: RepLKNetLayer.Operation, group: String, in i: Int, out o: Int, k: Int = 1, stride: Int = 1,
                 side: Int, epilogue: PointwiseEpilogue, preNorm: String? = nil, largeKernel: Bool = false,
                 buffers: (Int?, Int?, Int?)) {
            out.append(RepLKNetLayer(name: name, operation: op, group: group, inChannels: i, outChannels: o, kernel: k, stride: stride,
                                     inputSide: side, outputSide: stride == 2 ? side / 2 : side, epilogue: epilogue, preNorm: preNorm,
                                     largeKernel: largeKernel, smallKernel: largeKernel ? smallKernel : nil,
                                     inputBuffer: buffers.0, outputBuffer: buffers.1, residualBuffer: buffers.2))
        }
        let relu = PointwiseEpilogue(activation: .relu), gelu = PointwiseEpilogue(activation: .gelu), residual = PointwiseEpilogue(residual: true)
        let c0 = channels[0]
        var side = resolution
        add("stem.0", .stem, group: "stem", in: inChannels, out: c0, k: 3, stride: 2, side: side, epilogue: relu, buffers: (nil, 0, nil))
        side /= 2
        add("stem.1", .depthwise, group: "stem", in: c0, out: c0, k: 3, side: side, epilogue: relu, buffers: (0, 1, nil))
        add("stem.2", .pointwise, group: "stem", in: c0, out: c0, side: side, epilogue: relu, buffers: (1, 0, nil))
        add("stem.3", .depthwise, group: "stem", in: c0, out: c0, k: 3, stride: 2, side: side, epilogue: relu, buffers: (0, 1, nil))
        side /= 2
        var x = 1
        func others() -> [Int] { (0..<4).filter { $0 != x } }
        for s in 0..<stages {
            let c = channels[s], d = dwChannels(s), f = c * ffnRatio
            let oneByOne = "stage \(s) 1×1"
            for b in 0..<blocks[s] {
                let lk = "stages.\(s).blocks.\(2 * b)", ffn = "stages.\(s).blocks.\(2 * b + 1)"
                var free = others()
                add(lk + ".pw1", .pointwise, group: oneByOne, in: c, out: d, side: side, epilogue: relu, preNorm: lk + ".prelkb_bn",
                        buffers: (x, free[0], nil))
                add(lk + ".large_kernel", .depthwise, group: "stage \(s) depthwise", in: d, out: d, k: kernels[s], side: side,
                        epilogue: relu, largeKernel: true, buffers: (free[0], free[1], nil))
                add(lk + ".pw2", .pointwise, group: oneByOne, in: d, out: c, side: side, epilogue: residual, buffers: (free[1], free[2], x))
                x = free[2]
                free = others()
                add(ffn + ".pw1", .pointwise, group: oneByOne, in: c, out: f, side: side, epilogue: gelu, preNorm: ffn + ".preffn_bn",
                        buffers: (x, free[0], nil))
                add(ffn + ".pw2", .pointwise, group: oneByOne, in: f, out: c, side: side, epilogue: residual, buffers: (free[0], free[1], x))
                x = free[1]
            }
            if s + 1 < stages {
                let next = channels[s + 1], free = others()
                add("transitions.\(s).0", .pointwise, group: "transitions", in: c, out: next, side: side, epilogue: relu, buffers: (x, free[0], nil))
                add("transitions.\(s).1", .depthwise, group: "transitions", in: next, out: next, k: 3, stride: 2, side: side, epilogue: relu,
                        buffers: (free[0], free[1], nil))
                x = free[1]
                side /= 2
            }
        }
        add("head", .head, group: "head", in: channels[stages - 1], out: classes, side: side, epilogue: .none, buffers: (x, nil, nil))
        return out
    }

    /// The distinct depthwise and pointwise problems of a forward pass at this batch and resolution, in
    /// layer order (what `dwbench replknet` tunes on first use).
    public func problems(batch: Int, resolution: Int, precision: Precision = .fp32) throws -> [ConvProblem] {
        var out: [ConvProblem] = []
        for layer in try layers(resolution: resolution) {
            if let p = try layer.problem(batch: batch, precision: precision), !out.contains(p) { out.append(p) }
        }
        return out
    }

    /// Parameters of the deployed network (fused convs with biases, head), for memory accounting.
    public var parameterCount: Int {
        structure(resolution: 32).reduce(0) { $0 + $1.deployedParameters }
    }

    /// Every tensor a checkpoint of this architecture holds, in layer order.
    public func tensorSpecs(deployed: Bool) -> [TensorSpec] {
        structure(resolution: 32).flatMap { $0.tensors(deployed: deployed) }
    }
}
