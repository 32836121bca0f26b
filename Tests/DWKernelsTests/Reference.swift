import DWCore
import DWKernels

/// The fp64 reference: the textbook definition of PyTorch's depthwise `conv2d(groups=C)`
/// (cross-correlation with zero padding), accumulated in Double. Independent of every kernel under test.
func referenceDepthwise(_ p: Problem, input: [Float], weight: [Float], bias: [Float]?) -> [Double] {
    var out = [Double](repeating: 0, count: p.outputCount)
    for b in 0..<p.n {
        for c in 0..<p.c {
            for oy in 0..<p.oh {
                for ox in 0..<p.ow {
                    var acc = Double(bias?[c] ?? 0)
                    for ky in 0..<p.k {
                        let iy = oy * p.s - p.p + ky
                        guard iy >= 0 && iy < p.h else { continue }
                        for kx in 0..<p.k {
                            let ix = ox * p.s - p.p + kx
                            guard ix >= 0 && ix < p.w else { continue }
                            acc += Double(input[((b * p.c + c) * p.h + iy) * p.w + ix]) * Double(weight[(c * p.k + ky) * p.k + kx])
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
func relativeError(_ a: [Float], _ ref: [Double]) -> Double {
    var diff = 0.0, scale = 0.0
    for i in 0..<ref.count {
        diff = max(diff, abs(Double(a[i]) - ref[i]))
        scale = max(scale, abs(ref[i]))
    }
    return scale > 0 ? diff / scale : diff
}

/// Error bound of a registry algorithm, as the algorithm declares it (`ConvolutionAlgorithm.errorBound`).
func tolerance(_ algorithm: String) -> Double {
    (try? Registry.anyAlgorithm(named: algorithm))?.errorBound ?? 1e-5
}

/// Seeded input for a problem.
func randomInput(_ p: Problem, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return rng.signedArray(p.inputCount)
}

/// The labelled sweep of the foundation issue: kernel sizes K ∈ {1, 3, 5, 7, 13, 27, 29, 31}, stride
/// 1 and 2, padding 0 and K/2, C not a multiple of 16, maps smaller than the kernel, N > 1, 1×1 maps.
func sweepProblems() -> [Problem] {
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
