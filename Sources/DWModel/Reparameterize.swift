import DWCore
import DWKernels

/// A conv layer after structural re-parameterization: BatchNorm fused, bias explicit.
/// `weight` is in PyTorch's order (O, I/groups, K, K); depthwise layers have groups = O.
public struct FusedConv: Sendable {
    public var outChannels: Int
    public var inChannels: Int
    public var kernel: Int
    public var stride: Int
    public var depthwise: Bool
    public var weight: [Float]
    public var bias: [Float]
}

/// One block of a stage, deployed.
public enum DeployedBlock: Sendable {
    /// prelkb BN (folded into pw1's input) → pw1 + ReLU → large depthwise (small kernel merged) + ReLU → pw2 → + x.
    case repLK(pw1: PointwiseWeights, largeKernel: FusedConv, pw2: PointwiseWeights)
    /// preffn BN (folded into pw1's input) → pw1 + GELU → pw2 → + x.
    case convFFN(pw1: PointwiseWeights, pw2: PointwiseWeights)
}

/// The deployed network: every conv fused with its BN, each 5×5 branch padded into the centre of its large
/// kernel and added, the pre-BNs kept as the input affine map of the following 1×1 conv (folded into its
/// weights when it is prepared), the final BN folded into the head.
public struct DeployedRepLKNet: Sendable {
    public let config: RepLKNetConfig
    /// stem.0 (dense 3×3 stride 2), stem.1 (depthwise 3×3), stem.2 (1×1), stem.3 (depthwise 3×3 stride 2); all + ReLU.
    public internal(set) var stem: [FusedConv]
    public internal(set) var stages: [[DeployedBlock]]
    /// Per transition: a 1×1 + ReLU, then a depthwise 3×3 stride 2 + ReLU.
    public internal(set) var transitions: [(PointwiseWeights, FusedConv)]
    /// Head with the final BN folded in: logits = headWeight · mean-pool + headBias.
    public let headWeight: [Float]
    public let headBias: [Float]

    /// Re-parameterizes a checkpoint (training or deployed form) of the inferred or given architecture.
    /// The checkpoint is consumed tensor by tensor, so that the two forms never coexist in full
    /// (peak memory ≈ one copy of the weights).
    public init(_ checkpoint: consuming Checkpoint, config: RepLKNetConfig? = nil) throws {
        var ck = consume checkpoint
        if let config {
            try config.checkNames(ck)
            self.config = config
        } else {
            self.config = try RepLKNetConfig.infer(from: ck)  // infers, then checks every name against it
        }
        let config = self.config
        let deployedForm = ck.isDeployed
        func bn(_ name: String, _ c: Int) throws -> (scale: [Float], shift: [Float]) {
            let g = try ck.take(name + ".weight", [c]), b = try ck.take(name + ".bias", [c])
            let m = try ck.take(name + ".running_mean", [c]), v = try ck.take(name + ".running_var", [c])
            var scale = [Float](repeating: 0, count: c), shift = scale
            for i in 0..<c {
                let s = Double(g[i]) / (Double(v[i]) + 1e-5).squareRoot()
                scale[i] = Float(s)
                shift[i] = Float(Double(b[i]) - Double(m[i]) * s)
            }
            return (scale, shift)
        }
        func convBN(_ name: String, out: Int, in inPerGroup: Int, k: Int, stride: Int, depthwise: Bool) throws -> FusedConv {
            let w = try ck.take(name + ".conv.weight", [out, inPerGroup, k, k])
            let (scale, shift) = try bn(name + ".bn", out)
            let per = inPerGroup * k * k
            var fused = w
            for o in 0..<out { for j in 0..<per { fused[o * per + j] = w[o * per + j] * scale[o] } }
            return FusedConv(outChannels: out, inChannels: depthwise ? out : inPerGroup, kernel: k, stride: stride,
                             depthwise: depthwise, weight: fused, bias: shift)
        }
        func pointwise(_ name: String, out: Int, in c: Int, preBN: String? = nil) throws -> PointwiseWeights {
            let f = try convBN(name, out: out, in: c, k: 1, stride: 1, depthwise: false)
            let pre = try preBN.map { try bn($0, c) }
            return try PointwiseWeights(outChannels: out, inChannels: c, weight: f.weight, bias: f.bias,
                                        inputScale: pre?.scale, inputShift: pre?.shift)
        }
        let c0 = config.channels[0]
        stem = [
            try convBN("stem.0", out: c0, in: config.inChannels, k: 3, stride: 2, depthwise: false),
            try convBN("stem.1", out: c0, in: 1, k: 3, stride: 1, depthwise: true),
            try convBN("stem.2", out: c0, in: c0, k: 1, stride: 1, depthwise: false),
            try convBN("stem.3", out: c0, in: 1, k: 3, stride: 2, depthwise: true),
        ]
        var stages: [[DeployedBlock]] = []
        var transitions: [(PointwiseWeights, FusedConv)] = []
        for s in 0..<config.stages {
            let c = config.channels[s], d = config.dwChannels(s), f = c * config.ffnRatio, k = config.kernels[s]
            var blocks: [DeployedBlock] = []
            for b in 0..<config.blocks[s] {
                let lk = "stages.\(s).blocks.\(2 * b)", ffn = "stages.\(s).blocks.\(2 * b + 1)"
                let large: FusedConv
                if deployedForm {
                    large = FusedConv(outChannels: d, inChannels: d, kernel: k, stride: 1, depthwise: true,
                                      weight: try ck.take(lk + ".large_kernel.lkb_reparam.weight", [d, 1, k, k]),
                                      bias: try ck.take(lk + ".large_kernel.lkb_reparam.bias", [d]))
                } else {
                    var origin = try convBN(lk + ".large_kernel.lkb_origin", out: d, in: 1, k: k, stride: 1, depthwise: true)
                    if let sk = config.smallKernel {
                        let small = try convBN(lk + ".large_kernel.small_conv", out: d, in: 1, k: sk, stride: 1, depthwise: true)
                        origin = merge(origin, small)
                    }
                    large = origin
                }
                blocks.append(.repLK(pw1: try pointwise(lk + ".pw1", out: d, in: c, preBN: lk + ".prelkb_bn"), largeKernel: large,
                                     pw2: try pointwise(lk + ".pw2", out: c, in: d)))
                blocks.append(.convFFN(pw1: try pointwise(ffn + ".pw1", out: f, in: c, preBN: ffn + ".preffn_bn"),
                                       pw2: try pointwise(ffn + ".pw2", out: c, in: f)))
            }
            stages.append(blocks)
            if s + 1 < config.stages {
                let next = config.channels[s + 1]
                transitions.append((try pointwise("transitions.\(s).0", out: next, in: c),
                                    try convBN("transitions.\(s).1", out: next, in: 1, k: 3, stride: 2, depthwise: true)))
            }
        }
        self.stages = stages
        self.transitions = transitions
        let last = config.channels[config.stages - 1]
        let (scale, shift) = try bn("norm", last)
        let hw = try ck.take("head.weight", [config.classes, last]), hb = try ck.take("head.bias", [config.classes])
        var weight = hw, bias = hb
        for o in 0..<config.classes {
            var extra = 0.0
            for c in 0..<last {
                weight[o * last + c] = hw[o * last + c] * scale[c]
                extra += Double(hw[o * last + c]) * Double(shift[c])
            }
            bias[o] = Float(Double(hb[o]) + extra)
        }
        headWeight = weight
        headBias = bias
    }
}

/// Adds a small depthwise kernel into the centre of a large one (both fused with their BN), and the biases:
/// conv(x, L) + conv(x, S) = conv(x, L + pad(S)) for same-padded odd kernels.
func merge(_ large: FusedConv, _ small: FusedConv) -> FusedConv {
    var out = large
    let k = large.kernel, s = small.kernel, off = (k - s) / 2
    for c in 0..<large.outChannels {
        for y in 0..<s { for x in 0..<s { out.weight[(c * k + y + off) * k + x + off] += small.weight[(c * s + y) * s + x] } }
        out.bias[c] += small.bias[c]
    }
    return out
}
