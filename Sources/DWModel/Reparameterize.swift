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

/// One layer's weights after re-parameterization, in the order of `RepLKNetConfig.layers`.
public enum DeployedWeights: Sendable {
    /// stem.0 and the depthwise convs (a large kernel with its small branch merged in).
    case conv(FusedConv)
    /// A 1×1 conv, its pre-BN (if any) kept as the input affine map, folded in when it is prepared.
    case pointwise(PointwiseWeights)
    /// The classifier with the final BN folded in: logits = weight · mean-pool + bias.
    case head(weight: [Float], bias: [Float])
    /// Handed over to a prepared layer (the model consumes the net layer by layer).
    case released
}

/// The deployed network: every conv fused with its BN, each 5×5 branch padded into the centre of its large
/// kernel and added, the pre-BNs kept as the input affine map of the following 1×1 conv (folded into its
/// weights when it is prepared), the final BN folded into the head. One entry per layer of
/// `config.layers(resolution:)` (the structure does not depend on the resolution).
public struct DeployedRepLKNet: Sendable {
    public let config: RepLKNetConfig
    public internal(set) var weights: [DeployedWeights]

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
        var weights: [DeployedWeights] = []
        for layer in config.structure(resolution: 32) {
            switch layer.operation {
            case .stem:
                weights.append(.conv(try convBN(layer.name, out: layer.outChannels, in: layer.inChannels, k: layer.kernel,
                                                stride: layer.stride, depthwise: false)))
            case .depthwise where layer.largeKernel:
                let (d, k) = (layer.outChannels, layer.kernel)
                if deployedForm {
                    weights.append(.conv(FusedConv(outChannels: d, inChannels: d, kernel: k, stride: layer.stride, depthwise: true,
                                                   weight: try ck.take(layer.name + ".lkb_reparam.weight", [d, 1, k, k]),
                                                   bias: try ck.take(layer.name + ".lkb_reparam.bias", [d]))))
                } else {
                    var origin = try convBN(layer.name + ".lkb_origin", out: d, in: 1, k: k, stride: layer.stride, depthwise: true)
                    if let sk = layer.smallKernel {
                        origin = merge(origin, try convBN(layer.name + ".small_conv", out: d, in: 1, k: sk, stride: layer.stride, depthwise: true))
                    }
                    weights.append(.conv(origin))
                }
            case .depthwise:
                weights.append(.conv(try convBN(layer.name, out: layer.outChannels, in: 1, k: layer.kernel, stride: layer.stride, depthwise: true)))
            case .pointwise:
                weights.append(.pointwise(try pointwise(layer.name, out: layer.outChannels, in: layer.inChannels, preBN: layer.preNorm)))
            case .head:
                let last = layer.inChannels, classes = layer.outChannels
                let (scale, shift) = try bn("norm", last)
                let hw = try ck.take("head.weight", [classes, last]), hb = try ck.take("head.bias", [classes])
                var weight = hw, bias = hb
                for o in 0..<classes {
                    var extra = 0.0
                    for c in 0..<last {
                        weight[o * last + c] = hw[o * last + c] * scale[c]
                        extra += Double(hw[o * last + c]) * Double(shift[c])
                    }
                    bias[o] = Float(Double(hb[o]) + extra)
                }
                weights.append(.head(weight: weight, bias: bias))
            }
        }
        self.weights = weights
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
