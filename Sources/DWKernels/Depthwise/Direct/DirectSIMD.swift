import DWCore

/// Direct convolution vectorised across channels: NCHW16c, one `SIMD16<Float>` = 16 channels of one
/// pixel, register-blocked over up to `width` adjacent output pixels of a row.
///
/// Per block the kernel keeps one accumulator per output pixel in `zmm` registers and, for each of the
/// KH×KW taps (dilated taps are just wider steps through the strip), loads the tap's 16 weights once and issues one FMA per pixel whose input operand comes
/// straight from memory (`vfmadd231ps (mem), w, acc`). Rows are split into equal blocks (56 → 4 × 14
/// at width 16) because a block under 8 pixels leaves the FMA units waiting on latency. Each channel block's input rows are first copied into a
/// per-thread zero-padded strip so the inner loops carry no bounds checks.
///
/// Complexity O(N·⌈C/16⌉·OH·OW·KH·KW) vector FMAs (fewer where taps fall wholly in the padding); workspace per
/// thread: one padded strip of ((band−1)·SH + extentH) × (W + 2·PW) × 16 floats. Threads split (image, channel block, row band) tasks.
public struct DirectSIMD: DepthwiseAlgorithm {
    /// Widest register block (accumulators held in `zmm` registers), 1...16. Each output row is split into
    /// ⌈OW / width⌉ blocks of nearly equal width.
    public let width: Int
    /// Output rows per register block: 1 or 2 (2: stride 1 and dilation 1 only, width ≤ 8, so at most 16 accumulators):
    /// each loaded input vector then feeds both rows, cutting loads per FMA from (1 + W)/W to (2 + W)/2W.
    /// Three rows were measured no faster (register pressure), so they are not generated.
    public let rows: Int

    public init(width: Int, rows: Int = 1) {
        precondition((1...16).contains(width), "direct-simd register block must be 1...16 wide")
        precondition(rows == 1 || (rows == 2 && width <= 8), "direct-simd two-row blocks are at most 8 wide")
        self.width = width
        self.rows = rows
    }

    public var name: String { "direct-simd.w\(width)\(rows > 1 ? "r\(rows)" : "").nchw16c" }
    public var family: String { "direct-simd" }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.65, 3.0) }
    public var layout: Layout { .nchw16c }
    public var summary: String {
        "direct sliding-window FMAs across 16 channels, register blocks of \(rows > 1 ? "\(rows) rows × " : "")up to \(width) pixels"
    }

    public func supports(_ problem: Problem) -> String? {
        let strip = Double((DirectSIMDPlan.bandRows - 1) * problem.sh + problem.extentH) * Double(problem.w + 2 * problem.pw) * 64
        if strip > 256 * 1_048_576 { return "padded row strip would need \(Int(strip / 1_048_576)) MiB per thread" }
        return nil
    }

    /// Only taps that meet the image are computed; the strip copy re-reads the input.
    public func workEstimate(_ problem: Problem) -> WorkEstimate {
        WorkEstimate(flops: problem.usefulFlops, bytes: problem.bytes + 8.0 * Double(problem.inputCount))
    }

    public func prepare(_ problem: Problem, weights: DepthwiseWeights, executor: any Executor) throws -> any DepthwisePlan {
        try validate(problem, weights)
        return DirectSIMDPlan(problem: problem, weights: weights, width: width, rows: rows, executor: executor)
    }
}

final class DirectSIMDPlan: DepthwisePlan {
    let problem: Problem
    var layout: Layout { .nchw16c }
    let width: Int
    /// Output rows per register block (1 unless stride 1, dilation 1 and `rows > 1`).
    let groupRows: Int
    let pool: any Executor
    /// Weights as [block][ky][kx][16], zero for channels past C.
    let weights: AlignedBuffer
    /// Weights as [block][ky][pad + KW + pad][16] with `weightPad` zero taps each side, for the
    /// input-stationary blocks (horizontal dilation 1 only; empty otherwise).
    let inputWeights: AlignedBuffer
    /// Weights as [block][R − 1 + KH + R − 1][kx][16]: R − 1 zero kernel rows above and below, for R-row blocks.
    let groupWeights: AlignedBuffer
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

    init(problem p: Problem, weights w: DepthwiseWeights, width: Int, rows: Int, executor: any Executor) {
        problem = p
        self.width = width
        groupRows = p.sh == 1 && p.sw == 1 && p.isUndilated ? rows : 1
        pool = executor
        let blocks = Layout.blocks(p.c)
        let k2 = p.taps
        weights = AlignedBuffer(count: blocks * k2 * 16)
        bias = AlignedBuffer(count: blocks * 16)
        let paddedRow = p.kw + 2 * DirectSIMDPlan.weightPad
        let inputStationary = p.dw == 1
        inputWeights = AlignedBuffer(count: inputStationary ? blocks * p.kh * paddedRow * 16 : 0)
        let groupKernelRows = p.kh + 2 * (groupRows - 1)
        groupWeights = AlignedBuffer(count: groupRows > 1 ? blocks * groupKernelRows * p.kw * 16 : 0)
        for ch in 0..<p.c {
            let (blk, lane) = (ch / 16, ch % 16)
            for t in 0..<k2 {
                weights.pointer[(blk * k2 + t) * 16 + lane] = w.weight[ch * k2 + t]
                let (ky, kx) = (t / p.kw, t % p.kw)
                if inputStationary {
                    inputWeights.pointer[((blk * p.kh + ky) * paddedRow + DirectSIMDPlan.weightPad + kx) * 16 + lane] = w.weight[ch * k2 + t]
                }
                if groupRows > 1 {
                    groupWeights.pointer[((blk * groupKernelRows + ky + groupRows - 1) * p.kw + kx) * 16 + lane] = w.weight[ch * k2 + t]
                }
            }
            bias.pointer[blk * 16 + lane] = w.biasValue(ch)
        }
        // Enough bands that every thread gets work even when N·blocks is small.
        let planes = p.n * blocks
        let wanted = max(1, (4 * executor.threads + planes - 1) / planes)
        let band = max(1, min(DirectSIMDPlan.bandRows, (p.oh + wanted - 1) / wanted))
        // Row groups start at multiples of R in every band, so the grouping (and the bits) never depend
        // on the thread count.
        rowsPerBand = (band + groupRows - 1) / groupRows * groupRows
        bandsPerPlane = (p.oh + rowsPerBand - 1) / rowsPerBand
        stripFloats = ((rowsPerBand - 1) * p.sh + p.extentH) * (p.w + 2 * p.pw) * 16
        workspace = AlignedBuffer(count: stripFloats * executor.threads)
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let p = problem
        let blocks = Layout.blocks(p.c)
        let inp = SendablePointer(input), out = SendableMutablePointer(output)
        let wts = SendablePointer(UnsafePointer(weights.pointer)), bs = SendablePointer(UnsafePointer(bias.pointer))
        let iwts = SendablePointer(UnsafePointer(inputWeights.pointer))
        let gwts = SendablePointer(UnsafePointer(groupWeights.pointer))
        let groupRows = self.groupRows
        let ws = SendableMutablePointer(workspace.pointer)
        let (bands, rows, strip, width) = (bandsPerPlane, rowsPerBand, stripFloats, self.width)
        pool.parallelFor(count: p.n * blocks * bands) { task, worker in
            let plane = task / bands, band = task % bands
            let blk = plane % blocks
            let oy0 = band * rows, oy1 = min(p.oh, oy0 + rows)
            let scratch = ws.pointer + worker * strip
            let src = inp.pointer + plane * p.h * p.w * 16
            let wp = p.w + 2 * p.pw
            let stripRows = (oy1 - oy0 - 1) * p.sh + p.extentH
            // A band whose input holds NaN or ±Inf runs only the tap-stationary blocks: the two-row and
            // input-stationary blocks multiply zero weights with pixels outside an output's window, which would
            // turn one such pixel into NaN beyond its receptive field (0 × ∞). The finite path is unchanged.
            // Input-stationary blocks need horizontal dilation 1 (pixel x meets output r through tap x − r·s).
            let finite = padRows(src: src, h: p.h, w: p.w, padH: p.ph, padW: p.pw, firstPaddedRow: oy0 * p.sh, rows: stripRows,
                                 into: scratch)
            let inputStationary = finite && p.dw == 1
            let filter = wts.pointer + blk * p.taps * 16
            let inputFilter = iwts.pointer + (p.dw == 1 ? blk * p.kh * (p.kw + 2 * DirectSIMDPlan.weightPad) * 16 : 0)
            let biasV = bs.pointer.load16(blk * 16)
            let dstPlane = out.pointer + plane * p.oh * p.ow * 16
            let chunks = (p.ow + width - 1) / width
            var oy = oy0
            while oy < oy1 {
                let rowIn = UnsafePointer(scratch + (oy - oy0) * p.sh * wp * 16)
                let rowOut = dstPlane + oy * p.ow * 16
                if groupRows > 1 && oy + groupRows <= oy1 && finite {
                    directRowGroup(rowIn, filter, inputFilter, gwts.pointer + blk * (p.kh + 2 * groupRows - 2) * p.kw * 16, rowOut,
                                   outputRows: groupRows, oy: oy, chunks: chunks, p: p, rowStride: wp * 16, bias: biasV)
                    oy += groupRows
                    continue
                }
                defer { oy += 1 }
                // Constant strides let the block offsets fold into the FMAs' addressing.
                switch p.sw {
                case 1: directRow(rowIn, filter, inputFilter, rowOut, oy: oy, chunks: chunks, p: p, s: 1, rowStride: wp * 16, bias: biasV,
                                  inputStationary: inputStationary)
                case 2: directRow(rowIn, filter, inputFilter, rowOut, oy: oy, chunks: chunks, p: p, s: 2, rowStride: wp * 16, bias: biasV,
                                  inputStationary: inputStationary)
                default: directRow(rowIn, filter, inputFilter, rowOut, oy: oy, chunks: chunks, p: p, s: p.sw, rowStride: wp * 16,
                                   bias: biasV, inputStationary: inputStationary)
                }
            }
        }
    }
}

/// Copies `rows` rows of a 16-channel plane, starting at padded row `firstPaddedRow` (`padH` zero rows lie
/// above the input), into `dst` with `padW` zero pixels left and right and zero rows where the padded row lies
/// outside the input.
/// Returns whether every copied value is finite (x − x is 0 for finite x and NaN for NaN and ±Inf; one
/// subtraction and one addition per copied vector).
@inline(__always)
func padRows(src: UnsafePointer<Float>, h: Int, w: Int, padH: Int, padW pad: Int, firstPaddedRow: Int, rows: Int,
             into dst: UnsafeMutablePointer<Float>) -> Bool {
    let wp = w + 2 * pad
    var probe = SIMD16<Float>()
    for r in 0..<rows {
        let iy = firstPaddedRow + r - padH
        let d = dst + r * wp * 16
        if iy < 0 || iy >= h {
            d.update(repeating: 0, count: wp * 16)
        } else {
            d.update(repeating: 0, count: pad * 16)
            let from = src + iy * w * 16, to = d + pad * 16
            for x in 0..<w {
                let v = from.load16(x * 16)
                to.store16(v, x * 16)
                probe += v - v
            }
            (d + (pad + w) * 16).update(repeating: 0, count: pad * 16)
        }
    }
    return !any(probe .!= probe)
}

/// One output row, split into `chunks` register blocks of nearly equal width (the first `ow mod chunks`
/// blocks one pixel wider), so no block is left narrow enough to be FMA-latency bound.
@inline(__always)
func directRow(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ inputFilter: UnsafePointer<Float>,
               _ rowOut: UnsafeMutablePointer<Float>, oy: Int, chunks: Int, p: Problem, s: Int, rowStride: Int,
               bias: SIMD16<Float>, inputStationary: Bool = true) {
    var ox = 0
    for chunk in 0..<chunks {
        let width = chunkWidth(chunk, of: p.ow, chunks: chunks)
        directRowBlock(rowIn, filter, inputFilter, rowOut, oy: oy, ox: ox, width: width, p: p, s: s, rowStride: rowStride, bias: bias,
                       inputStationary: inputStationary)
        ox += width
    }
}

/// Width of register block `chunk` when an output row of `ow` pixels is split into `chunks` blocks of
/// nearly equal width: the first `ow mod chunks` blocks are one pixel wider.
@inline(__always)
@_spi(KernelParts) public func chunkWidth(_ chunk: Int, of ow: Int, chunks: Int) -> Int {
    ow / chunks + (chunk < ow % chunks ? 1 : 0)
}

/// The taps of one block: kernel rows that meet the image for output row `oy`, and kernel columns
/// that meet it for some pixel of the block (`kx`), or the image columns the block sees (`x`; horizontal
/// dilation 1 only). `s` is the horizontal stride (the caller's constant).
@_spi(KernelParts) public struct BlockTaps {
    @_spi(KernelParts) public let kyLo: Int, rows: Int
    @_spi(KernelParts) public let kxLo: Int, cols: Int
    @_spi(KernelParts) public let xLo: Int, inputCols: Int

    @inline(__always)
    @_spi(KernelParts) public init(oy: Int, ox: Int, width: Int, p: Problem, s: Int) {
        // Kernel row ky meets the image when 0 ≤ oy·sh − ph + ky·dh < h, column kx when some pixel's
        // ox'·s − pw + kx·dw lies in 0 ..< w.
        let top = oy * p.sh - p.ph
        kyLo = top >= 0 ? 0 : (-top + p.dh - 1) / p.dh
        rows = max(0, min(p.kh, (p.h - top + p.dh - 1) / p.dh) - kyLo)
        let left = (ox + width - 1) * s - p.pw, right = ox * s - p.pw
        kxLo = left >= 0 ? 0 : (-left + p.dw - 1) / p.dw
        cols = max(0, min(p.kw, (p.w - right + p.dw - 1) / p.dw) - kxLo)
        xLo = max(0, right)
        inputCols = max(0, min(p.w, left + p.extentW) - xLo)
    }

    /// Input-stationary visits fewer taps (strides 1 and 2, dilation 1 only; the caller checks dilation).
    @inline(__always) func inputStationary(_ s: Int) -> Bool { s <= 2 && inputCols < cols }
}

/// One register block of one output row. Taps that meet only zero padding are skipped: kernel rows
/// outside the image for this output row, and per block whichever is cheaper of (a) tap-stationary over
/// the kernel columns that meet the image for some pixel of the block, or (b) input-stationary over the
/// image pixels the block sees (`inputFilter`, zero-padded weight rows). With a large kernel on a small
/// map (K = 27 on 14×14) that visits only the useful taps. `rowIn` is the padded strip row of tap row 0,
/// `rowStride` the floats between strip rows. With `inputStationary` false (or horizontal dilation), (a)
/// always: every FMA then pairs an output with a tap of its own window.
@inline(__always)
func directRowBlock(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ inputFilter: UnsafePointer<Float>,
                    _ rowOut: UnsafeMutablePointer<Float>, oy: Int, ox: Int, width: Int, p: Problem, s: Int,
                    rowStride: Int, bias: SIMD16<Float>, inputStationary: Bool = true) {
    let t = BlockTaps(oy: oy, ox: ox, width: width, p: p, s: s)
    let paddedRow = p.kw + 2 * DirectSIMDPlan.weightPad
    let tapRow = rowStride * p.dh
    if inputStationary && p.dw == 1 && t.inputStationary(s) {
        directInputBlock(width: width, rowIn + t.kyLo * tapRow + (t.xLo + p.pw) * 16,
                         inputFilter + (t.kyLo * paddedRow + t.xLo - ox * s + p.pw + DirectSIMDPlan.weightPad) * 16,
                         rowOut + ox * 16, rows: t.rows, cols: t.inputCols, s: s, tapStride: 16, rowStride: tapRow,
                         filterStride: paddedRow * 16, bias: bias)
    } else {
        directBlock(width: width, rowIn + t.kyLo * tapRow + (ox * s + t.kxLo * p.dw) * 16, filter + (t.kyLo * p.kw + t.kxLo) * 16,
                    rowOut + ox * 16, rows: t.cols == 0 ? 0 : t.rows, cols: t.cols, s: s, tapStride: 16 * p.dw, rowStride: tapRow,
                    filterStride: p.kw * 16, bias: bias)
    }
}

/// Output rows `oy` … `oy + rows − 1` (stride 1, dilation 1) in multi-row register blocks. A block
/// where input-stationary is cheaper for any of the rows runs as one-row blocks instead.
@inline(__always)
func directRowGroup(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ inputFilter: UnsafePointer<Float>,
                    _ groupFilter: UnsafePointer<Float>, _ rowOut: UnsafeMutablePointer<Float>, outputRows groupRows: Int, oy: Int,
                    chunks: Int, p: Problem, rowStride: Int, bias: SIMD16<Float>) {
    let outStride = p.ow * 16
    // Strip rows j the group reads: row oy + r uses kernel row j − r.
    let jLo = max(0, p.ph - oy), jHi = min(p.kh + groupRows - 1, p.h + p.ph - oy)
    var ox = 0
    for chunk in 0..<chunks {
        let width = chunkWidth(chunk, of: p.ow, chunks: chunks)
        let t0 = BlockTaps(oy: oy, ox: ox, width: width, p: p, s: 1)
        let single = (0..<groupRows).contains { BlockTaps(oy: oy + $0, ox: ox, width: width, p: p, s: 1).inputStationary(1) }
        if single || jHi <= jLo || t0.cols == 0 {
            for r in 0..<groupRows {
                directRowBlock(rowIn + r * rowStride, filter, inputFilter, rowOut + r * outStride, oy: oy + r, ox: ox,
                               width: width, p: p, s: 1, rowStride: rowStride, bias: bias)
            }
        } else {
            directBlockMultiRow(outputRows: groupRows, width: width, rowIn + jLo * rowStride + (ox + t0.kxLo) * 16,
                                groupFilter + ((jLo + groupRows - 1) * p.kw + t0.kxLo) * 16, rowOut + ox * 16,
                                outStride: outStride, rows: jHi - jLo, cols: t0.cols, rowStride: rowStride,
                                filterStride: p.kw * 16, bias: bias)
        }
        ox += width
    }
}
