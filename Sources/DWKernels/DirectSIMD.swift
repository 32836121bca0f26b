import DWCore

/// Direct convolution vectorised across channels: NCHW16c, one `SIMD16<Float>` = 16 channels of one
/// pixel, register-blocked over up to `width` adjacent output pixels of a row.
///
/// Per block the kernel keeps one accumulator per output pixel in `zmm` registers and, for each of the
/// K×K taps, loads the tap's 16 weights once and issues one FMA per pixel whose input operand comes
/// straight from memory (`vfmadd231ps (mem), w, acc`). Rows are split into equal blocks (56 → 4 × 14
/// at width 16) because a block under 8 pixels leaves the FMA units waiting on latency. Each channel block's input rows are first copied into a
/// per-thread zero-padded strip so the inner loops carry no bounds checks.
///
/// Complexity O(N·⌈C/16⌉·OH·OW·K²) vector FMAs (fewer where taps fall wholly in the padding); workspace per thread: one padded strip of
/// ((band−1)·S + K) × (W + 2P) × 16 floats. Threads split (image, channel block, row band) tasks.
public struct DirectSIMD: DepthwiseAlgorithm {
    /// Widest register block (accumulators held in `zmm` registers), 1...16. Each output row is split into
    /// ⌈OW / width⌉ blocks of nearly equal width.
    public let width: Int

    public init(width: Int) {
        precondition((1...16).contains(width), "direct-simd register block must be 1...16 wide")
        self.width = width
    }

    public var name: String { "direct-simd.w\(width).nchw16c" }
    public var layout: Layout { .nchw16c }
    public var summary: String { "direct sliding-window FMAs across 16 channels, output rows in register blocks of up to \(width) pixels" }

    public func supports(_ problem: Problem) -> String? {
        let strip = Double((DirectSIMDPlan.bandRows - 1) * problem.s + problem.k) * Double(problem.w + 2 * problem.p) * 64
        if strip > 256 * 1_048_576 { return "padded row strip would need \(Int(strip / 1_048_576)) MiB per thread" }
        return nil
    }

    public func prepare(_ problem: Problem, weights: DepthwiseWeights, threads: Int) throws -> any DepthwisePlan {
        try validate(problem, weights)
        return DirectSIMDPlan(problem: problem, weights: weights, width: width, threads: threads)
    }
}

final class DirectSIMDPlan: DepthwisePlan {
    let problem: Problem
    var layout: Layout { .nchw16c }
    let width: Int
    let pool: ThreadPool
    /// Weights as [block][ky][kx][16], zero for channels past C.
    let weights: AlignedBuffer
    /// Weights as [block][ky][pad + K + pad][16] with `weightPad` zero taps each side, for the
    /// input-stationary blocks.
    let inputWeights: AlignedBuffer
    /// Bias as [block][16].
    let bias: AlignedBuffer
    let workspace: AlignedBuffer
    let stripFloats: Int
    let bandsPerPlane: Int
    let rowsPerBand: Int

    /// Output rows per task (upper bound); bands are what lets small-C problems use every thread.
    static let bandRows = 8
    /// Zero taps on each side of an input-stationary weight row: (widest block − 1) × largest stride.
    static let weightPad = 15 * 2

    init(problem p: Problem, weights w: DepthwiseWeights, width: Int, threads: Int) {
        problem = p
        self.width = width
        pool = ThreadPool.shared(threads: threads)
        let blocks = Layout.blocks(p.c)
        let k2 = p.k * p.k
        weights = AlignedBuffer(count: blocks * k2 * 16)
        bias = AlignedBuffer(count: blocks * 16)
        let paddedRow = p.k + 2 * DirectSIMDPlan.weightPad
        inputWeights = AlignedBuffer(count: blocks * p.k * paddedRow * 16)
        for ch in 0..<p.c {
            let (blk, lane) = (ch / 16, ch % 16)
            for t in 0..<k2 {
                weights.pointer[(blk * k2 + t) * 16 + lane] = w.weight[ch * k2 + t]
                let (ky, kx) = (t / p.k, t % p.k)
                inputWeights.pointer[((blk * p.k + ky) * paddedRow + DirectSIMDPlan.weightPad + kx) * 16 + lane] = w.weight[ch * k2 + t]
            }
            bias.pointer[blk * 16 + lane] = w.biasValue(ch)
        }
        // Enough bands that every thread gets work even when N·blocks is small.
        let planes = p.n * blocks
        let wanted = max(1, (4 * threads + planes - 1) / planes)
        rowsPerBand = max(1, min(DirectSIMDPlan.bandRows, (p.oh + wanted - 1) / wanted))
        bandsPerPlane = (p.oh + rowsPerBand - 1) / rowsPerBand
        stripFloats = ((rowsPerBand - 1) * p.s + p.k) * (p.w + 2 * p.p) * 16
        workspace = AlignedBuffer(count: stripFloats * threads)
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let p = problem
        let blocks = Layout.blocks(p.c)
        let inp = SendablePointer(input), out = SendableMutablePointer(output)
        let wts = SendablePointer(UnsafePointer(weights.pointer)), bs = SendablePointer(UnsafePointer(bias.pointer))
        let iwts = SendablePointer(UnsafePointer(inputWeights.pointer))
        let ws = SendableMutablePointer(workspace.pointer)
        let (bands, rows, strip, width) = (bandsPerPlane, rowsPerBand, stripFloats, self.width)
        pool.parallelFor(count: p.n * blocks * bands) { task, worker in
            let plane = task / bands, band = task % bands
            let blk = plane % blocks
            let oy0 = band * rows, oy1 = min(p.oh, oy0 + rows)
            let scratch = ws.pointer + worker * strip
            let src = inp.pointer + plane * p.h * p.w * 16
            let wp = p.w + 2 * p.p
            let stripRows = (oy1 - oy0 - 1) * p.s + p.k
            padRows(src: src, h: p.h, w: p.w, pad: p.p, firstPaddedRow: oy0 * p.s, rows: stripRows, into: scratch)
            let filter = wts.pointer + blk * p.k * p.k * 16
            let inputFilter = iwts.pointer + blk * p.k * (p.k + 2 * DirectSIMDPlan.weightPad) * 16
            let biasV = bs.pointer.load16(blk * 16)
            let dstPlane = out.pointer + plane * p.oh * p.ow * 16
            let chunks = (p.ow + width - 1) / width
            for oy in oy0..<oy1 {
                let rowIn = UnsafePointer(scratch + (oy - oy0) * p.s * wp * 16)
                let rowOut = dstPlane + oy * p.ow * 16
                // Constant strides let the block offsets fold into the FMAs' addressing.
                switch p.s {
                case 1: directRow(rowIn, filter, inputFilter, rowOut, oy: oy, chunks: chunks, p: p, s: 1, rowStride: wp * 16, bias: biasV)
                case 2: directRow(rowIn, filter, inputFilter, rowOut, oy: oy, chunks: chunks, p: p, s: 2, rowStride: wp * 16, bias: biasV)
                default: directRow(rowIn, filter, inputFilter, rowOut, oy: oy, chunks: chunks, p: p, s: p.s, rowStride: wp * 16, bias: biasV)
                }
            }
        }
    }
}

/// Copies `rows` rows of a 16-channel plane, starting at padded row `firstPaddedRow`, into `dst`
/// with `pad` zero pixels left and right and zero rows where the padded row lies outside the input.
@inline(__always)
func padRows(src: UnsafePointer<Float>, h: Int, w: Int, pad: Int, firstPaddedRow: Int, rows: Int,
             into dst: UnsafeMutablePointer<Float>) {
    let wp = w + 2 * pad
    for r in 0..<rows {
        let iy = firstPaddedRow + r - pad
        let d = dst + r * wp * 16
        if iy < 0 || iy >= h {
            d.update(repeating: 0, count: wp * 16)
        } else {
            d.update(repeating: 0, count: pad * 16)
            (d + pad * 16).update(from: src + iy * w * 16, count: w * 16)
            (d + (pad + w) * 16).update(repeating: 0, count: pad * 16)
        }
    }
}

/// One output row, split into `chunks` register blocks of nearly equal width (the first `ow mod chunks`
/// blocks one pixel wider), so no block is left narrow enough to be FMA-latency bound.
///
/// Taps that meet only zero padding are skipped: kernel rows outside the image for this output row, and
/// per block whichever is cheaper of (a) tap-stationary over the kernel columns that meet the image for
/// some pixel of the block, or (b) input-stationary over the image pixels the block sees (`inputFilter`,
/// zero-padded weight rows; strides 1 and 2). With a large kernel on a small map (K = 27 on 14×14) that
/// visits only the useful taps. `rowIn` is the padded strip row of tap row 0.
@inline(__always)
func directRow(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ inputFilter: UnsafePointer<Float>,
               _ rowOut: UnsafeMutablePointer<Float>, oy: Int, chunks: Int, p: Problem, s: Int, rowStride: Int,
               bias: SIMD16<Float>) {
    let ow = p.ow
    let kyLo = max(0, p.p - oy * s), kyHi = min(p.k, p.h + p.p - oy * s)
    let rows = max(0, kyHi - kyLo)
    let base = ow / chunks, extra = ow % chunks
    let paddedRow = p.k + 2 * DirectSIMDPlan.weightPad
    var ox = 0
    for chunk in 0..<chunks {
        let width = base + (chunk < extra ? 1 : 0)
        let kxLo = max(0, p.p - (ox + width - 1) * s), kxHi = min(p.k, p.w + p.p - ox * s)
        let cols = max(0, kxHi - kxLo)
        let xLo = max(0, ox * s - p.p), xHi = min(p.w, (ox + width - 1) * s - p.p + p.k)
        let inputCols = max(0, xHi - xLo)
        if s <= 2 && inputCols < cols {
            directInputBlock(width: width, rowIn + kyLo * rowStride + (xLo + p.p) * 16,
                             inputFilter + (kyLo * paddedRow + xLo - ox * s + p.p + DirectSIMDPlan.weightPad) * 16,
                             rowOut + ox * 16, rows: rows, cols: inputCols, s: s, rowStride: rowStride,
                             filterStride: paddedRow * 16, bias: bias)
        } else {
            directBlock(width: width, rowIn + kyLo * rowStride + (ox * s + kxLo) * 16, filter + (kyLo * p.k + kxLo) * 16,
                        rowOut + ox * 16, rows: cols == 0 ? 0 : rows, cols: cols, s: s, rowStride: rowStride,
                        filterStride: p.k * 16, bias: bias)
        }
        ox += width
    }
}
