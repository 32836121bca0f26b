import DWCore

/// Direct convolution vectorised across channels: NCHW16c, one `SIMD16<Float>` = 16 channels of one
/// pixel, register-blocked over `width` adjacent output pixels of a row.
///
/// Per output row the kernel keeps `width` accumulators in `zmm` registers and, for each of the K×K
/// taps, loads the tap's 16 weights once and issues `width` FMAs whose input operand comes straight
/// from memory (`vfmadd231ps (mem), w, acc`). Each channel block's input rows are first copied into a
/// per-thread zero-padded strip so the inner loops carry no bounds checks.
///
/// Complexity Θ(N·⌈C/16⌉·OH·OW·K²) vector FMAs; workspace per thread: one padded strip of
/// ((band−1)·S + K) × (W + 2P) × 16 floats. Threads split (image, channel block, row band) tasks.
public struct DirectSIMD: DepthwiseAlgorithm {
    /// Output pixels per register block (accumulators held in registers): 4 or 8.
    public let width: Int

    public init(width: Int) {
        precondition(width == 4 || width == 8, "direct-simd register block must be 4 or 8 wide")
        self.width = width
    }

    public var name: String { "direct-simd.w\(width).nchw16c" }
    public var layout: Layout { .nchw16c }
    public var summary: String { "direct sliding-window FMAs across 16 channels, \(width) output pixels per register block" }

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
    /// Bias as [block][16].
    let bias: AlignedBuffer
    let workspace: AlignedBuffer
    let stripFloats: Int
    let bandsPerPlane: Int
    let rowsPerBand: Int

    /// Output rows per task (upper bound); bands are what lets small-C problems use every thread.
    static let bandRows = 8

    init(problem p: Problem, weights w: DepthwiseWeights, width: Int, threads: Int) {
        problem = p
        self.width = width
        pool = ThreadPool.shared(threads: threads)
        let blocks = Layout.blocks(p.c)
        let k2 = p.k * p.k
        weights = AlignedBuffer(count: blocks * k2 * 16)
        bias = AlignedBuffer(count: blocks * 16)
        for ch in 0..<p.c {
            let (blk, lane) = (ch / 16, ch % 16)
            for t in 0..<k2 { weights.pointer[(blk * k2 + t) * 16 + lane] = w.weight[ch * k2 + t] }
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
            let biasV = bs.pointer.load16(blk * 16)
            let dstPlane = out.pointer + plane * p.oh * p.ow * 16
            for oy in oy0..<oy1 {
                let rowIn = UnsafePointer(scratch + (oy - oy0) * p.s * wp * 16)
                let rowOut = dstPlane + oy * p.ow * 16
                switch (p.s, width) {
                case (1, 8): directRow8(rowIn, filter, rowOut, ow: p.ow, k: p.k, s: 1, rowStride: wp * 16, bias: biasV)
                case (2, 8): directRow8(rowIn, filter, rowOut, ow: p.ow, k: p.k, s: 2, rowStride: wp * 16, bias: biasV)
                case (_, 8): directRow8(rowIn, filter, rowOut, ow: p.ow, k: p.k, s: p.s, rowStride: wp * 16, bias: biasV)
                case (1, _): directRow4(rowIn, filter, rowOut, ow: p.ow, k: p.k, s: 1, rowStride: wp * 16, bias: biasV)
                case (2, _): directRow4(rowIn, filter, rowOut, ow: p.ow, k: p.k, s: 2, rowStride: wp * 16, bias: biasV)
                default: directRow4(rowIn, filter, rowOut, ow: p.ow, k: p.k, s: p.s, rowStride: wp * 16, bias: biasV)
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

/// One output row, 8 pixels per register block, then 4, then 1.
@inline(__always)
func directRow8(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ rowOut: UnsafeMutablePointer<Float>,
                ow: Int, k: Int, s: Int, rowStride: Int, bias: SIMD16<Float>) {
    var ox = 0
    while ox + 8 <= ow {
        directBlock8(rowIn + ox * s * 16, filter, rowOut + ox * 16, k: k, s: s, rowStride: rowStride, bias: bias)
        ox += 8
    }
    directTail(rowIn, filter, rowOut, from: ox, ow: ow, k: k, s: s, rowStride: rowStride, bias: bias)
}

/// One output row, 4 pixels per register block, then 1.
@inline(__always)
func directRow4(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ rowOut: UnsafeMutablePointer<Float>,
                ow: Int, k: Int, s: Int, rowStride: Int, bias: SIMD16<Float>) {
    var ox = 0
    while ox + 4 <= ow {
        directBlock4(rowIn + ox * s * 16, filter, rowOut + ox * 16, k: k, s: s, rowStride: rowStride, bias: bias)
        ox += 4
    }
    directTail(rowIn, filter, rowOut, from: ox, ow: ow, k: k, s: s, rowStride: rowStride, bias: bias)
}

@inline(__always)
func directTail(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ rowOut: UnsafeMutablePointer<Float>,
                from start: Int, ow: Int, k: Int, s: Int, rowStride: Int, bias: SIMD16<Float>) {
    var ox = start
    if ox + 4 <= ow {
        directBlock4(rowIn + ox * s * 16, filter, rowOut + ox * 16, k: k, s: s, rowStride: rowStride, bias: bias)
        ox += 4
    }
    while ox < ow {
        var a = bias
        var row = rowIn + ox * s * 16
        var f = filter
        for _ in 0..<k {
            for kx in 0..<k { a.addProduct(row.load16(kx * 16), f.load16(kx * 16)) }
            row += rowStride
            f += k * 16
        }
        rowOut.store16(a, ox * 16)
        ox += 1
    }
}

/// 8 output pixels × 16 channels in 8 `zmm` accumulators. Per tap: 1 weight load, 8 FMAs.
@inline(__always)
func directBlock8(_ src: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                  k: Int, s: Int, rowStride: Int, bias: SIMD16<Float>) {
    var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias
    let d = 16 * s
    var row = src
    var f = filter
    for _ in 0..<k {
        var x = row
        for _ in 0..<k {
            let wv = f.load16()
            a0.addProduct(x.load16(0), wv)
            a1.addProduct(x.load16(d), wv)
            a2.addProduct(x.load16(2 * d), wv)
            a3.addProduct(x.load16(3 * d), wv)
            a4.addProduct(x.load16(4 * d), wv)
            a5.addProduct(x.load16(5 * d), wv)
            a6.addProduct(x.load16(6 * d), wv)
            a7.addProduct(x.load16(7 * d), wv)
            x += 16
            f += 16
        }
        row += rowStride
    }
    dst.store16(a0, 0); dst.store16(a1, 16); dst.store16(a2, 32); dst.store16(a3, 48)
    dst.store16(a4, 64); dst.store16(a5, 80); dst.store16(a6, 96); dst.store16(a7, 112)
}

/// 4 output pixels × 16 channels in 4 `zmm` accumulators. Per tap: 1 weight load, 4 FMAs.
@inline(__always)
func directBlock4(_ src: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                  k: Int, s: Int, rowStride: Int, bias: SIMD16<Float>) {
    var a0 = bias, a1 = bias, a2 = bias, a3 = bias
    let d = 16 * s
    var row = src
    var f = filter
    for _ in 0..<k {
        var x = row
        for _ in 0..<k {
            let wv = f.load16()
            a0.addProduct(x.load16(0), wv)
            a1.addProduct(x.load16(d), wv)
            a2.addProduct(x.load16(2 * d), wv)
            a3.addProduct(x.load16(3 * d), wv)
            x += 16
            f += 16
        }
        row += rowStride
    }
    dst.store16(a0, 0); dst.store16(a1, 16); dst.store16(a2, 32); dst.store16(a3, 48)
}
