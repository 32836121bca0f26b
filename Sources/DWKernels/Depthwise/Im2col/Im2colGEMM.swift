import COpenBLAS
import DWCore

/// The classic framework path (Caffe, PyTorch's slow path): materialise the im2col patch matrix
/// P (KH·KW rows × output pixels) of one channel plane and multiply it with the channel's KH·KW taps using
/// BLAS (`cblas_sgemv`, since a depthwise group has exactly one output channel: M = 1).
///
/// The patch matrix is built in chunks of output rows of at most 1/16 of `workspaceCap` (64 MiB) per
/// thread, a chunk height that does not depend on the thread count. OpenBLAS runs single-threaded; the
/// plan's threads split (image, channel, chunk) tasks, which keeps results bitwise thread-count invariant.
///
/// Complexity Θ(N·C·OH·OW·KH·KW) multiply–adds plus the same number of patch-matrix writes and reads;
/// memory-bound for large K.
public struct Im2colGEMM: DepthwiseAlgorithm {
    public init() {}
    public var name: String { "im2col-gemm.blas" }
    public var family: String { "im2col-gemm" }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.5, 1.0) }
    public var layout: Layout { .nchw }
    public var summary: String { "materialised im2col patch matrix × taps with OpenBLAS sgemv, chunked under 64 MiB" }

    /// Total bytes of patch-matrix workspace across threads.
    public static let workspaceCap = 64 * 1_048_576

    public func supports(_ problem: Problem) -> String? {
        let oneRow = Double(problem.taps) * Double(problem.ow) * 4
        if oneRow > Double(Im2colGEMM.workspaceCap) {
            return "one output row's patch matrix (\(Int(oneRow / 1_048_576)) MiB) exceeds the 64 MiB workspace cap"
        }
        return nil
    }

    /// The patch matrix (KH·KW floats per output) is written once and read once.
    public func workEstimate(_ problem: Problem) -> WorkEstimate {
        WorkEstimate(flops: problem.flops, bytes: problem.bytes + 8.0 * Double(problem.taps) * Double(problem.outputCount))
    }

    public func prepare(_ problem: Problem, weights: DepthwiseWeights, executor: any Executor) throws -> any DepthwisePlan {
        try validate(problem, weights)
        return Im2colGEMMPlan(problem: problem, weights: weights, executor: executor)
    }
}

final class Im2colGEMMPlan: DepthwisePlan {
    let problem: Problem
    var layout: Layout { .nchw }
    let pool: any Executor
    let weights: AlignedBuffer
    let bias: [Float]
    let workspace: AlignedBuffer
    let rowsPerChunk: Int
    let chunksPerPlane: Int

    init(problem p: Problem, weights w: DepthwiseWeights, executor: any Executor) {
        problem = p
        pool = executor
        weights = AlignedBuffer(w.weight)
        bias = (0..<p.c).map { w.biasValue($0) }
        let k2 = p.taps
        // The chunk height must not depend on the thread count: sgemv's blocking over a chunk's columns
        // sets the summation order, and results must be bitwise equal at any thread count. So a chunk gets
        // 1/16 of the cap (the whole cap is used up to 16 threads, and exceeded only beyond).
        let capFloats = Im2colGEMM.workspaceCap / 4 / 16
        rowsPerChunk = max(1, min(p.oh, capFloats / (k2 * p.ow)))
        chunksPerPlane = (p.oh + rowsPerChunk - 1) / rowsPerChunk
        workspace = AlignedBuffer(count: executor.threads * rowsPerChunk * p.ow * k2)
        openblas_set_num_threads(1)
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let p = problem
        let k2 = p.taps
        let inp = SendablePointer(input), out = SendableMutablePointer(output)
        let wts = SendablePointer(UnsafePointer(weights.pointer))
        let ws = SendableMutablePointer(workspace.pointer)
        let (chunks, rows) = (chunksPerPlane, rowsPerChunk)
        let perThread = rowsPerChunk * p.ow * k2
        let bias = self.bias
        pool.parallelFor(count: p.n * p.c * chunks) { task, worker in
            let plane = task / chunks, chunk = task % chunks
            let ch = plane % p.c
            let oy0 = chunk * rows, oy1 = min(p.oh, oy0 + rows)
            let cols = (oy1 - oy0) * p.ow
            let patches = ws.pointer + worker * perThread
            im2col(src: inp.pointer + plane * p.h * p.w, p: p, rows: oy0..<oy1, into: patches)
            let y = out.pointer + plane * p.oh * p.ow + oy0 * p.ow
            y.update(repeating: bias[ch], count: cols)
            // y[cols] = Pᵀ · w  with P row-major KH·KW × cols.
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k2), Int32(cols), 1.0,
                        patches, Int32(cols), wts.pointer + ch * k2, 1, 1.0, y, 1)
        }
    }
}

/// Writes the patch matrix of output rows `rows` of one plane: row t = ky·KW + kx, column
/// (oy − rows.lowerBound)·OW + ox holds input (oy·sh − ph + ky·dh, ox·sw − pw + kx·dw), or 0 in the padding.
func im2col(src: UnsafePointer<Float>, p: Problem, rows: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
    let cols = rows.count * p.ow
    for ky in 0..<p.kh {
        for kx in 0..<p.kw {
            let line = dst + (ky * p.kw + kx) * cols
            // Output columns whose input column is inside the image: ox·sw − pw + kx·dw ∈ [0, w).
            let offset = kx * p.dw - p.pw
            let lo = min(p.ow, max(0, (-offset + p.sw - 1) / p.sw))
            let hi = max(lo, min(p.ow, floorDiv(p.w - 1 - offset, p.sw) + 1))
            for (r, oy) in rows.enumerated() {
                let seg = line + r * p.ow
                let iy = oy * p.sh - p.ph + ky * p.dh
                if iy < 0 || iy >= p.h || lo >= hi {
                    seg.update(repeating: 0, count: p.ow)
                    continue
                }
                seg.update(repeating: 0, count: lo)
                let srcRow = src + iy * p.w + lo * p.sw + offset
                if p.sw == 1 {
                    (seg + lo).update(from: srcRow, count: hi - lo)
                } else {
                    for j in 0..<(hi - lo) { seg[lo + j] = srcRow[j * p.sw] }
                }
                (seg + hi).update(repeating: 0, count: p.ow - hi)
            }
        }
    }
}

/// ⌊a / b⌋ for b > 0 (Swift's `/` truncates toward zero).
@inline(__always)
func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
