import DWCore

/// The pointwise reference: NCHW, scalar multiply–adds summed per output in input-channel order, the
/// pre-BatchNorm applied to the input as given (not folded), then bias, activation and residual. Threads
/// split (image, output channel) rows. Θ(N·O·C·HW) scalar multiply–adds; for checking, not speed.
public struct PointwiseNaive: PointwiseAlgorithm {
    public init() {}
    public var name: String { "pointwise-naive" }
    public var family: String { "pointwise-naive" }
    public var isReference: Bool { true }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.01, 0.05) }
    public var layout: Layout { .nchw }
    public var summary: String { "reference: scalar dot products on NCHW, pre-BatchNorm unfolded" }
    public func supports(_ problem: PointwiseProblem) -> String? { nil }

    public func prepare(_ problem: PointwiseProblem, weights: PointwiseWeights, epilogue: PointwiseEpilogue,
                        executor: any Executor) throws -> any PointwisePlan {
        try validate(problem, weights)
        return PointwiseNaivePlan(problem: problem, weights: weights, epilogue: epilogue, executor: executor)
    }
}

final class PointwiseNaivePlan: PointwisePlan {
    let problem: PointwiseProblem
    let epilogue: PointwiseEpilogue
    var layout: Layout { .nchw }
    let weights: PointwiseWeights
    let pool: any Executor

    init(problem: PointwiseProblem, weights: PointwiseWeights, epilogue: PointwiseEpilogue, executor: any Executor) {
        self.problem = problem
        self.weights = weights
        self.epilogue = epilogue
        pool = executor
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?) {
        precondition((residual != nil) == epilogue.residual, "residual must be given exactly when the epilogue adds one")
        let p = problem, wts = weights, act = epilogue.activation
        let x = SendablePointer(input), y = SendableMutablePointer(output), r = residual.map { SendablePointer($0) }
        pool.parallelFor(count: p.n * p.o) { task, _ in
            let image = task / p.o, o = task % p.o
            let hw = p.pixels
            let src = x.pointer + image * p.c * hw
            let dst = y.pointer + task * hw
            let bias = wts.bias?[o] ?? 0
            // Accumulate in the output row, input channel by input channel (the same order per output as
            // a dot product; rows keep the input reads contiguous).
            for px in 0..<hw { dst[px] = 0 }
            for c in 0..<p.c {
                let weight = wts.weight[o * p.c + c]
                let scale = wts.inputScale?[c] ?? 1, shift = wts.inputShift?[c] ?? 0
                let row = src + c * hw
                if wts.inputScale != nil {
                    for px in 0..<hw { dst[px] += weight * (row[px] * scale + shift) }
                } else {
                    for px in 0..<hw { dst[px] += weight * row[px] }
                }
            }
            for px in 0..<hw {
                var value = EpilogueMath.apply(dst[px] + bias, act)
                if let r { value += r.pointer[task * hw + px] }
                dst[px] = value
            }
        }
    }
}
