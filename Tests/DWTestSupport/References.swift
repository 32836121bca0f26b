import DWCore
import DWKernels
import Foundation

// The fp64 references and the seeded, labelled problem sweeps every algorithm is checked on. Test support:
// used by the kernel tests, the benchmarking-library tests and the add-an-algorithm walk-through.

/// The fp64 reference: the textbook definition of PyTorch's depthwise `conv2d(groups=C)`
/// (cross-correlation with zero padding), accumulated in Double. Independent of every kernel under test.
public func referenceDepthwise(_ p: Problem, input: [Float], weight: [Float], bias: [Float]?) -> [Double] {
    var out = [Double](repeating: 0, count: p.outputCount)
    for b in 0..<p.n {
        for c in 0..<p.c {
            for oy in 0..<p.oh {
                for ox in 0..<p.ow {
                    var acc = Double(bias?[c] ?? 0)
                    for ky in 0..<p.kh {
                        let iy = oy * p.sh - p.ph + ky * p.dh
                        guard iy >= 0 && iy < p.h else { continue }
                        for kx in 0..<p.kw {
                            let ix = ox * p.sw - p.pw + kx * p.dw
                            guard ix >= 0 && ix < p.w else { continue }
                            acc += Double(input[((b * p.c + c) * p.h + iy) * p.w + ix]) * Double(weight[(c * p.kh + ky) * p.kw + kx])
                        }
                    }
                    out[((b * p.c + c) * p.oh + oy) * p.ow + ox] = acc
                }
            }
        }
    }
    return out
}

/// max |a − ref| / max |ref|.
public func relativeError(_ a: [Float], _ ref: [Double]) -> Double {
    var diff = 0.0, scale = 0.0
    for i in 0..<ref.count {
        diff = max(diff, abs(Double(a[i]) - ref[i]))
        scale = max(scale, abs(ref[i]))
    }
    return scale > 0 ? diff / scale : diff
}

/// Seeded input for a problem.
public func randomInput(_ p: Problem, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return rng.signedArray(p.inputCount)
}

/// The labelled sweep of the foundation issue: kernel sizes K ∈ {1, 3, 5, 7, 13, 27, 29, 31}, stride
/// 1 and 2, padding 0 and K/2, C not a multiple of 16, maps smaller than the kernel, N > 1, 1×1 maps.
public func sweepProblems() -> [Problem] {
    var problems: [Problem] = []
    for k in [1, 3, 5, 7, 13, 27, 29, 31] {
        for s in [1, 2] {
            let same = k / 2
            let shapes: [(Int, Int, Int, Int, Int)] = [
                (2, 17, 9, 11, same),        // N > 1, C = 17, map smaller than large kernels
                (1, 35, k + 4, k + 6, 0),    // no padding, C = 35
                (1, 16, 1, 1, same),         // 1×1 map
                (1, 33, 20, 13, same),       // C = 33, non-square map
                (1, 18, 70, 75, same),       // large enough that FFT tiles overlap (overlap-save)
            ]
            for (n, c, h, w, p) in shapes {
                if let problem = try? Problem(n: n, c: c, h: h, w: w, k: k, s: s, p: p) { problems.append(problem) }
            }
        }
    }
    return problems
}

/// The labelled sweep of the large-kernel family (rectangles, dilation, per-axis stride and padding): the
/// kernel forms of SLaK (51×5, 5×51), InceptionNeXt (1×11, 11×1), LSKNet (7×7 dilation 3) and
/// UniRepLKNet's training branches (dilations 2 to 5), mixed forms (3×13 with dilation 1×2), strides 2×1
/// and 1×2, odd channel counts, maps smaller than the kernel's extent on one axis, N > 1.
public func familySweepProblems() -> [Problem] {
    // (kh, kw, dh, dw)
    let kernels: [(Int, Int, Int, Int)] = [
        (51, 5, 1, 1), (5, 51, 1, 1), (1, 11, 1, 1), (11, 1, 1, 1), (3, 13, 1, 2), (7, 7, 3, 3), (5, 5, 2, 2),
        (3, 3, 5, 5), (5, 3, 2, 4), (2, 4, 1, 1), (1, 1, 1, 1),
    ]
    let strides: [(Int, Int)] = [(1, 1), (2, 1), (1, 2), (2, 2)]
    var problems: [Problem] = []
    for (kh, kw, dh, dw) in kernels {
        let (eh, ew) = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
        for (sh, sw) in strides {
            // (n, c, h, w, ph, pw)
            let shapes: [(Int, Int, Int, Int, Int, Int)] = [
                (1, 19, 23, 29, (eh - 1) / 2, (ew - 1) / 2),    // "same"-style padding, C = 19
                (2, 17, 9, 40, eh / 2, (ew - 1) / 2),           // N > 1, a map shorter than the extent
                (1, 33, eh + 3, ew + 5, 0, 1),                  // asymmetric padding per axis, C = 33
                (1, 16, 70, 75, (eh - 1) / 2, (ew - 1) / 2),    // large enough for FFT tiles to overlap
                (1, 21, 13, 14, (eh - 1) / 2, (ew - 1) / 2),    // a map the Toeplitz rows hold in registers
            ]
            for (n, c, h, w, ph, pw) in shapes {
                if let p = try? Problem(n: n, c: c, h: h, w: w, kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw, dh: dh, dw: dw) {
                    problems.append(p)
                }
            }
        }
    }
    return problems
}

/// The fp64 reference of a 1×1 layer with its epilogue: y = act(Σ_c W[o,c]·(x_c·scale_c + shift_c) + b_o) + r,
/// accumulated in Double, GELU through libm's erf in Double. Independent of every kernel under test.
public func referencePointwise(_ p: PointwiseProblem, input: [Float], weights w: PointwiseWeights,
                        epilogue: PointwiseEpilogue, residual: [Float]?) -> [Double] {
    var out = [Double](repeating: 0, count: p.outputCount)
    let hw = p.pixels
    for b in 0..<p.n {
        for o in 0..<p.o {
            for px in 0..<hw {
                var acc = Double(w.bias?[o] ?? 0)
                for c in 0..<p.c {
                    var x = Double(input[(b * p.c + c) * hw + px])
                    if let s = w.inputScale, let t = w.inputShift { x = x * Double(s[c]) + Double(t[c]) }
                    acc += Double(w.weight[o * p.c + c]) * x
                }
                switch epilogue.activation {
                case .none: break
                case .relu: acc = max(acc, 0)
                case .gelu: acc = 0.5 * acc * (1 + erf(acc / 2.0.squareRoot()))
                }
                let i = (b * p.o + o) * hw + px
                if let residual { acc += Double(residual[i]) }
                out[i] = acc
            }
        }
    }
    return out
}

/// Labelled pointwise sweep: channel counts that are not multiples of 16 (1, 3, 17, 33, 100) and that span
/// several cache blocks (600 > kc), output counts that leave partial panels (1, 5, 33, 50, 70), pixel
/// counts that leave partial tiles and several chunks (1×1, 3×5, 7×7, 20×20), N = 2.
public func pointwiseSweep() -> [PointwiseProblem] {
    let shapes: [(n: Int, c: Int, h: Int, w: Int, o: Int)] = [
        (1, 1, 1, 1, 1), (1, 3, 3, 5, 5), (2, 17, 7, 7, 33), (1, 33, 1, 1, 50), (1, 16, 4, 4, 16),
        (2, 100, 3, 5, 70), (1, 64, 20, 20, 48), (1, 600, 3, 5, 70), (1, 48, 7, 7, 96), (2, 5, 9, 2, 17),
        (1, 520, 2, 7, 20), (1, 32, 16, 17, 64),
    ]
    return shapes.map { try! PointwiseProblem(n: $0.n, c: $0.c, h: $0.h, w: $0.w, o: $0.o) }
}

/// Every epilogue, with and without a folded pre-BatchNorm.
public let pointwiseEpilogues: [(PointwiseEpilogue, preBN: Bool)] = [
    (.none, false), (PointwiseEpilogue(activation: .relu), false), (PointwiseEpilogue(activation: .gelu), false),
    (PointwiseEpilogue(residual: true), false), (PointwiseEpilogue(activation: .gelu, residual: true), true),
    (PointwiseEpilogue(activation: .relu, residual: true), true), (.none, true),
]
