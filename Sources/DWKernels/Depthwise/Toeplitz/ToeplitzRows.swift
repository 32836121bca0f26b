import DWCore

/// Depthwise convolution of small maps as row-pair Toeplitz products, for stride 1, dilation 1 and same-size
/// output on maps at most 14 pixels wide (RepLKNet-31B's 14×14 maps under 27×27 kernels, and 7×7 under 13×13;
/// rectangular kernels such as InceptionNeXt's 1×11 and 11×1 bands alike).
///
/// For output row y and input row i the row pair contributes out[x] += Σ_j W[i−y+ph][j−x+pw] · in[j]: a W × W
/// Toeplitz matrix whose diagonals are the filter row's taps. The kernel (`ToeplitzRowsBlocks.swift`,
/// generated) holds the row's W outputs and the input row's W vectors (16 channels each) in zmm registers and
/// walks the diagonals: one weight load per diagonal, then an FMA for every (x, x + d) pair with both operands
/// already in registers. So the loads per FMA fall from ~1 in the sliding-window kernel (the input operand comes
/// from memory) to (W + 2W − 1) / W² per row pair (≈ 0.2 at W = 14), and only taps that meet the image are
/// computed: a 14×14 map under a 27×27 kernel lies wholly inside every window, 27% of the KH·KW taps.
///
/// Threads split (image, channel block, output row) tasks; each output's sum runs in one fixed order. (Prefetching
/// the next block's weights and input from each row task was measured: 0.8 ms less on RepLKNet-31B's 18 K27
/// layers in the network, but 9% slower on K27 and 24% on K13 7×7 in isolation; not kept.)
/// Work: `Problem.usefulFlops`; no workspace.
public struct ToeplitzRows: DepthwiseAlgorithm {
    public init() {}
    public var name: String { "toeplitz-rows.nchw16c" }
    public var family: String { "toeplitz-rows" }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.75, 3.0) }
    public var layout: Layout { .nchw16c }
    public var summary: String {
        "row-pair Toeplitz products for maps ≤ \(toeplitzMaxWidth) wide: outputs and an input row in zmm registers, one weight load per diagonal"
    }

    public func supports(_ problem: Problem) -> String? {
        if problem.sh != 1 || problem.sw != 1 { return "stride 1 only" }
        if !problem.isUndilated { return "dilation 1 only (a dilated row's taps are not the diagonals of one Toeplitz matrix)" }
        if problem.oh != problem.h || problem.ow != problem.w { return "same-size output only (2p = k − 1 on each axis)" }
        if problem.w > toeplitzMaxWidth { return "maps at most \(toeplitzMaxWidth) wide (outputs and an input row in registers)" }
        return nil
    }

    public func workEstimate(_ problem: Problem) -> WorkEstimate {
        WorkEstimate(flops: problem.usefulFlops, bytes: problem.bytes)
    }

    public func prepare(_ problem: Problem, weights: DepthwiseWeights, executor: any Executor) throws -> any DepthwisePlan {
        try validate(problem, weights)
        return ToeplitzRowsPlan(problem: problem, weights: weights, executor: executor)
    }
}

final class ToeplitzRowsPlan: DepthwisePlan {
    let problem: Problem
    var layout: Layout { .nchw16c }
    let blocks: Int
    /// Per channel block: kh·kw vectors of 16 weights (zero lanes past C).
    let packed: AlignedBuffer
    let bias: AlignedBuffer
    let pool: any Executor

    init(problem p: Problem, weights: DepthwiseWeights, executor: any Executor) {
        problem = p
        blocks = Layout.blocks(p.c)
        let taps = p.taps
        packed = AlignedBuffer(count: blocks * taps * 16)
        for c in 0..<p.c {
            for t in 0..<taps { packed.pointer[((c / 16) * taps + t) * 16 + c % 16] = weights.weight[c * taps + t] }
        }
        bias = AlignedBuffer(count: blocks * 16)
        if let b = weights.bias { for c in 0..<p.c { bias.pointer[c] = b[c] } }
        pool = executor
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let x = SendablePointer(input), y = SendableMutablePointer(output)
        let p = problem, plane = p.h * p.w * 16, taps = p.taps
        let kernel = toeplitzRow[p.w]!
        pool.parallelFor(count: p.n * blocks * p.h) { task, _ in
            let row = task % p.h, block = task / p.h   // block runs over images × channel blocks
            let b = self.bias.pointer.load16(16 * (block % self.blocks))
            kernel(x.pointer + block * plane, UnsafePointer(self.packed.pointer) + (block % self.blocks) * taps * 16, p.h, p.kh, p.kw, p.ph, p.pw, row,
                   y.pointer + block * plane + row * p.w * 16, b)
        }
    }
}
