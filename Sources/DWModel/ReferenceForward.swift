import DWCore
import Foundation

/// The unfused network, straight from a training-form checkpoint: every conv, BatchNorm (eval mode),
/// ReLU, exact GELU and residual as PyTorch's modules apply them, in Double on NCHW, one image at a time.
/// Θ(model FLOPs) scalar work: for tests on small configurations and resolutions, not for speed.
public struct ReferenceRepLKNet {
    public let config: RepLKNetConfig
    let ck: Checkpoint

    public init(_ checkpoint: Checkpoint) throws {
        guard !checkpoint.isDeployed else { throw ModelError("the unfused reference needs a training-form checkpoint (lkb_origin, not lkb_reparam)") }
        config = try RepLKNetConfig.infer(from: checkpoint)
        ck = checkpoint
    }

    struct Map { var c: Int; var h: Int; var w: Int; var v: [Double] }

    func conv(_ x: Map, _ name: String, out: Int, k: Int, stride: Int, groups: Int) throws -> Map {
        let inPer = x.c / groups, outPer = out / groups
        let w = try ck.tensor(name + ".weight", [out, inPer, k, k])
        let p = k / 2
        let oh = (x.h + 2 * p - k) / stride + 1, ow = (x.w + 2 * p - k) / stride + 1
        var y = [Double](repeating: 0, count: out * oh * ow)
        for o in 0..<out {
            let g = o / outPer
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var acc = 0.0
                    for i in 0..<inPer {
                        let ci = g * inPer + i
                        for ky in 0..<k {
                            let iy = oy * stride - p + ky
                            guard iy >= 0 && iy < x.h else { continue }
                            for kx in 0..<k {
                                let ix = ox * stride - p + kx
                                guard ix >= 0 && ix < x.w else { continue }
                                acc += Double(w[((o * inPer + i) * k + ky) * k + kx]) * x.v[(ci * x.h + iy) * x.w + ix]
                            }
                        }
                    }
                    y[(o * oh + oy) * ow + ox] = acc
                }
            }
        }
        return Map(c: out, h: oh, w: ow, v: y)
    }

    func bn(_ x: Map, _ name: String) throws -> Map {
        let g = try ck.tensor(name + ".weight", [x.c]), b = try ck.tensor(name + ".bias", [x.c])
        let m = try ck.tensor(name + ".running_mean", [x.c]), v = try ck.tensor(name + ".running_var", [x.c])
        var y = x
        let plane = x.h * x.w
        for c in 0..<x.c {
            let s = Double(g[c]) / (Double(v[c]) + 1e-5).squareRoot()
            for i in 0..<plane { y.v[c * plane + i] = (x.v[c * plane + i] - Double(m[c])) * s + Double(b[c]) }
        }
        return y
    }

    func convBN(_ x: Map, _ name: String, out: Int, k: Int, stride: Int = 1, groups: Int = 1) throws -> Map {
        try bn(try conv(x, name + ".conv", out: out, k: k, stride: stride, groups: groups), name + ".bn")
    }

    func relu(_ x: Map) -> Map { var y = x; y.v = y.v.map { max($0, 0) }; return y }
    func gelu(_ x: Map) -> Map { var y = x; y.v = y.v.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }; return y }
    func add(_ a: Map, _ b: Map) -> Map { var y = a; for i in y.v.indices { y.v[i] += b.v[i] }; return y }

    /// Logits (classes) of one image given as C×H×W floats.
    public func logits(image: [Float], height: Int, width: Int) throws -> [Double] {
        let cfg = config
        var x = Map(c: cfg.inChannels, h: height, w: width, v: image.map(Double.init))
        let c0 = cfg.channels[0]
        x = relu(try convBN(x, "stem.0", out: c0, k: 3, stride: 2))
        x = relu(try convBN(x, "stem.1", out: c0, k: 3, groups: c0))
        x = relu(try convBN(x, "stem.2", out: c0, k: 1))
        x = relu(try convBN(x, "stem.3", out: c0, k: 3, stride: 2, groups: c0))
        for s in 0..<cfg.stages {
            let c = cfg.channels[s], d = cfg.dwChannels(s)
            for b in 0..<cfg.blocks[s] {
                let lk = "stages.\(s).blocks.\(2 * b)", ffn = "stages.\(s).blocks.\(2 * b + 1)"
                var t = relu(try convBN(try bn(x, lk + ".prelkb_bn"), lk + ".pw1", out: d, k: 1))
                var l = try convBN(t, lk + ".large_kernel.lkb_origin", out: d, k: cfg.kernels[s], groups: d)
                if let sk = cfg.smallKernel { l = add(l, try convBN(t, lk + ".large_kernel.small_conv", out: d, k: sk, groups: d)) }
                t = relu(l)
                x = add(x, try convBN(t, lk + ".pw2", out: c, k: 1))
                var f = gelu(try convBN(try bn(x, ffn + ".preffn_bn"), ffn + ".pw1", out: c * cfg.ffnRatio, k: 1))
                f = try convBN(f, ffn + ".pw2", out: c, k: 1)
                x = add(x, f)
            }
            if s + 1 < cfg.stages {
                let next = cfg.channels[s + 1]
                x = relu(try convBN(x, "transitions.\(s).0", out: next, k: 1))
                x = relu(try convBN(x, "transitions.\(s).1", out: next, k: 3, stride: 2, groups: next))
            }
        }
        x = try bn(x, "norm")
        let plane = Double(x.h * x.w)
        let pooled = (0..<x.c).map { c in x.v[(c * x.h * x.w)..<((c + 1) * x.h * x.w)].reduce(0, +) / plane }
        let hw = try ck.tensor("head.weight", [cfg.classes, x.c]), hb = try ck.tensor("head.bias", [cfg.classes])
        return (0..<cfg.classes).map { o in
            (0..<x.c).reduce(Double(hb[o])) { $0 + Double(hw[o * x.c + $1]) * pooled[$1] }
        }
    }
}
