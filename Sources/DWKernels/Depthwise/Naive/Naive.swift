import DWCore

/// The direct loop nest: scalar, NCHW, every problem. It is the in-app reference.
///
/// For each output element, Σ over KH×KW taps of input × weight (tap (ky, kx) reads input row
/// `oy·sh − ph + ky·dh`, column `ox·sw − pw + kx·dw`), skipping taps that fall in the zero padding.
/// Complexity Θ(N·C·OH·OW·KH·KW) multiply–adds, no workspace. Threads split channel planes.
public struct Naive: DepthwiseAlgorithm {
    public init() {}
    public var name: String { "naive" }
    public var family: String { "naive" }
    public var isReference: Bool { true }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.02, 0.05) }
    public var layout: Layout { .nchw }
    public var summary: String { "scalar loop nest over NCHW; the reference, supports every problem" }
    public func supports(_ problem: Problem) -> String? { nil }

    public func prepare(_ problem: Problem, weights: DepthwiseWeights, executor: any Executor) throws -> any DepthwisePlan {
        try validate(problem, weights)
        return NaivePlan(problem: problem, weights: weights, executor: executor)
    }
}

final class NaivePlan: DepthwisePlan {
    let problem: Problem
    var layout: Layout { .nchw }
    let weight: AlignedBuffer
    let bias: [Float]
    let pool: any Executor

    init(problem: Problem, weights: DepthwiseWeights, executor: any Executor) {
        self.problem = problem
        weight = AlignedBuffer(weights.weight)
        bias = (0..<problem.c).map { weights.biasValue($0) }
        pool = executor
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let p = problem
        let (h, w, oh, ow) = (p.h, p.w, p.oh, p.ow)
        let wts = UnsafePointer(weight.pointer)
        let inp = SendablePointer(input), out = SendableMutablePointer(output)
        bias.withUnsafeBufferPointer { biasBuffer in
            let b = SendablePointer(biasBuffer.baseAddress!)
            pool.parallelFor(count: p.n * p.c) { plane, _ in
                let ch = plane % p.c
                let src = inp.pointer + plane * h * w
                let dst = out.pointer + plane * oh * ow
                let filter = wts + ch * p.kh * p.kw
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var acc = b.pointer[ch]
                        for ky in 0..<p.kh {
                            let iy = oy * p.sh - p.ph + ky * p.dh
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<p.kw {
                                let ix = ox * p.sw - p.pw + kx * p.dw
                                if ix < 0 || ix >= w { continue }
                                acc += src[iy * w + ix] * filter[ky * p.kw + kx]
                            }
                        }
                        dst[oy * ow + ox] = acc
                    }
                }
            }
        }
    }
}
