import DWCore

/// Implicit GEMM in NCHW: per channel, the product of a [pixels × KH·KW] patch matrix that is never
/// materialised with the channel's KH·KW filter taps (any stride, padding and dilation per axis).
///
/// A tile is `vectors`×16 adjacent output pixels of one row, held in `vectors` `zmm` accumulators.
/// For each tap the weight is broadcast and multiplied with 16-pixel slices of the patch matrix,
/// which are gathered on the fly as unaligned loads from a small packed panel: the channel's rows,
/// zero-padded and split into `sw` stride phases (phase q holds padded columns q, q+sw, q+2sw, …), so
/// a strided tap reads contiguous memory; tap (ky, kx) reads padded row ky·dh, column kx·dw. The panel for one row band stays in L1/L2.
///
/// Complexity Θ(N·C·OH·⌈OW/16⌉·KH·KW) vector FMAs (wasted lanes when OW is not a multiple of 16);
/// workspace per thread: one padded, phase-split strip plus one output row. Threads split
/// (image, channel, row band) tasks.
public struct ImplicitGEMM: DepthwiseAlgorithm {
    /// 16-pixel vectors per register tile: 2 or 4.
    public let vectors: Int

    public init(vectors: Int) {
        precondition(vectors == 2 || vectors == 4, "implicit-gemm tile must be 2 or 4 vectors")
        self.vectors = vectors
    }

    public var name: String { "implicit-gemm.r\(vectors)" }
    public var family: String { "implicit-gemm" }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.25, 1.0) }
    public var layout: Layout { .nchw }
    public var summary: String { "implicit GEMM over NCHW: \(16 * vectors)-pixel tiles × KH·KW taps, patches gathered from a phase-packed panel" }

    public func supports(_ problem: Problem) -> String? {
        if ImplicitGEMMPlan.panelFloats(problem, vectors: vectors, rows: ImplicitGEMMPlan.bandRows) > 64 * 1_048_576 {
            return "packed panel would exceed 256 MiB per thread"
        }
        return nil
    }

    /// Every tap of every 16-pixel vector, padding lanes included.
    public func workEstimate(_ problem: Problem) -> WorkEstimate {
        let lanes = Double((problem.ow + 15) / 16 * 16)
        return WorkEstimate(flops: problem.flops * lanes / Double(problem.ow), bytes: problem.bytes)
    }

    public func prepare(_ problem: Problem, weights: DepthwiseWeights, executor: any Executor) throws -> any DepthwisePlan {
        try validate(problem, weights)
        return ImplicitGEMMPlan(problem: problem, weights: weights, vectors: vectors, executor: executor)
    }
}

final class ImplicitGEMMPlan: DepthwisePlan {
    let problem: Problem
    var layout: Layout { .nchw }
    let vectors: Int
    let pool: any Executor
    let weights: AlignedBuffer
    let bias: [Float]
    let workspace: AlignedBuffer
    let perThread: Int
    let rowsPerBand: Int
    let bandsPerPlane: Int

    static let bandRows = 16

    /// Columns of one phase of a packed row: enough for every tile's loads to stay inside the panel.
    static func phaseColumns(_ p: Problem, vectors: Int) -> Int {
        let tile = 16 * vectors
        let tiles = (p.ow + tile - 1) / tile
        return tiles * tile + (p.extentW + p.sw - 1) / p.sw + 16
    }

    static func panelFloats(_ p: Problem, vectors: Int, rows: Int) -> Int {
        let stripRows = (min(rows, p.oh) - 1) * p.sh + p.extentH
        return stripRows * p.sw * phaseColumns(p, vectors: vectors)
    }

    init(problem p: Problem, weights w: DepthwiseWeights, vectors: Int, executor: any Executor) {
        problem = p
        self.vectors = vectors
        pool = executor
        weights = AlignedBuffer(w.weight)
        bias = (0..<p.c).map { w.biasValue($0) }
        let planes = p.n * p.c
        let wanted = max(1, (4 * executor.threads + planes - 1) / planes)
        rowsPerBand = max(1, min(ImplicitGEMMPlan.bandRows, (p.oh + wanted - 1) / wanted))
        bandsPerPlane = (p.oh + rowsPerBand - 1) / rowsPerBand
        let tile = 16 * vectors
        let outRow = 2 * ((p.ow + tile - 1) / tile * tile)
        // Round each thread's share to a cache line so threads never share one.
        perThread = (ImplicitGEMMPlan.panelFloats(p, vectors: vectors, rows: rowsPerBand) + outRow + 15) / 16 * 16
        workspace = AlignedBuffer(count: perThread * executor.threads)
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let p = problem
        let inp = SendablePointer(input), out = SendableMutablePointer(output)
        let wts = SendablePointer(UnsafePointer(weights.pointer))
        let ws = SendableMutablePointer(workspace.pointer)
        let (bands, rows, perThread, vectors) = (bandsPerPlane, rowsPerBand, self.perThread, self.vectors)
        let cols = ImplicitGEMMPlan.phaseColumns(p, vectors: vectors)
        let tile = 16 * vectors
        let outRow = (p.ow + tile - 1) / tile * tile
        let bias = self.bias
        pool.parallelFor(count: p.n * p.c * bands) { task, worker in
            let plane = task / bands, band = task % bands
            let ch = plane % p.c
            let oy0 = band * rows, oy1 = min(p.oh, oy0 + rows)
            let panel = ws.pointer + worker * perThread
            let stripRows = (oy1 - oy0 - 1) * p.sh + p.extentH
            let rowOut = panel + stripRows * p.sw * cols
            let src = inp.pointer + plane * p.h * p.w
            packPhases(src: src, p: p, firstPaddedRow: oy0 * p.sh, rows: stripRows, phaseColumns: cols, into: panel)
            let filter = wts.pointer + ch * p.taps
            let b = SIMD16<Float>(repeating: bias[ch])
            let dst = out.pointer + plane * p.oh * p.ow
            // Two output rows per register tile (2 × vectors accumulators, enough independent FMA
            // chains to cover the FMA latency); a lone last row uses the one-row tile.
            let rowFloats = p.sh * p.sw * cols
            let taps = TapGeometry(kh: p.kh, kw: p.kw, rowStep: p.dh * p.sw * cols, dw: p.dw, sw: p.sw, cols: cols)
            var oy = oy0
            while oy < oy1 {
                let rowIn = UnsafePointer(panel + (oy - oy0) * rowFloats)
                let pair = oy + 1 < oy1
                var ox = 0
                while ox < p.ow {
                    switch (vectors, pair) {
                    case (4, true): gemmTile4x2(rowIn + ox, filter, rowOut + ox, taps, rowFloats: rowFloats, outRow: outRow, bias: b)
                    case (4, false): gemmTile4(rowIn + ox, filter, rowOut + ox, taps, bias: b)
                    case (_, true): gemmTile2x2(rowIn + ox, filter, rowOut + ox, taps, rowFloats: rowFloats, outRow: outRow, bias: b)
                    default: gemmTile2(rowIn + ox, filter, rowOut + ox, taps, bias: b)
                    }
                    ox += tile
                }
                (dst + oy * p.ow).update(from: rowOut, count: p.ow)
                if pair { (dst + (oy + 1) * p.ow).update(from: rowOut + outRow, count: p.ow) }
                oy += pair ? 2 : 1
            }
        }
    }
}

/// Packs padded rows of one channel plane into `sw` stride phases: padded row r, phase q, column j
/// holds padded input column j·sw + q (zero outside the input).
@inline(__always)
func packPhases(src: UnsafePointer<Float>, p: Problem, firstPaddedRow: Int, rows: Int, phaseColumns cols: Int,
                into dst: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let iy = firstPaddedRow + r - p.ph
        let rowDst = dst + r * p.sw * cols
        if iy < 0 || iy >= p.h {
            rowDst.update(repeating: 0, count: p.sw * cols)
            continue
        }
        let srcRow = src + iy * p.w
        if p.sw == 1 {
            rowDst.update(repeating: 0, count: p.pw)
            (rowDst + p.pw).update(from: srcRow, count: p.w)
            (rowDst + p.pw + p.w).update(repeating: 0, count: cols - p.pw - p.w)
            continue
        }
        for q in 0..<p.sw {
            let phase = rowDst + q * cols
            for j in 0..<cols {
                let ix = j * p.sw + q - p.pw
                phase[j] = (ix >= 0 && ix < p.w) ? srcRow[ix] : 0
            }
        }
    }
}

/// Where tap (ky, kx) of a tile's first pixel lies in the phase-packed panel: padded row ky·dh starts
/// `ky·rowStep` floats on; padded column kx·dw is in phase (kx·dw) mod sw at index (kx·dw) div sw.
struct TapGeometry {
    let kh: Int, kw: Int, rowStep: Int, dw: Int, sw: Int, cols: Int
    @inline(__always) func offset(_ kx: Int) -> Int {
        let c = kx * dw
        return sw == 1 ? c : (c % sw) * cols + c / sw
    }
}

/// 64 output pixels (4 vectors) of one row: Σ over taps of broadcast(weight) × 16-pixel panel slices.
@inline(__always)
func gemmTile4(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
               _ t: TapGeometry, bias: SIMD16<Float>) {
    var a0 = bias, a1 = bias, a2 = bias, a3 = bias
    var f = filter
    for ky in 0..<t.kh {
        let row = rowIn + ky * t.rowStep
        for kx in 0..<t.kw {
            let x = row + t.offset(kx)
            let wv = SIMD16<Float>(repeating: f[kx])
            a0.addProduct(x.load16(0), wv)
            a1.addProduct(x.load16(16), wv)
            a2.addProduct(x.load16(32), wv)
            a3.addProduct(x.load16(48), wv)
        }
        f += t.kw
    }
    dst.store16(a0, 0); dst.store16(a1, 16); dst.store16(a2, 32); dst.store16(a3, 48)
}

/// 32 output pixels (2 vectors) of one row.
@inline(__always)
func gemmTile2(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
               _ t: TapGeometry, bias: SIMD16<Float>) {
    var a0 = bias, a1 = bias
    var f = filter
    for ky in 0..<t.kh {
        let row = rowIn + ky * t.rowStep
        for kx in 0..<t.kw {
            let x = row + t.offset(kx)
            let wv = SIMD16<Float>(repeating: f[kx])
            a0.addProduct(x.load16(0), wv)
            a1.addProduct(x.load16(16), wv)
        }
        f += t.kw
    }
    dst.store16(a0, 0); dst.store16(a1, 16)
}

/// 64 output pixels of two adjacent output rows (8 accumulators): each broadcast weight feeds 8 FMAs.
/// `rowFloats` is the panel distance between the two rows' inputs, `outRow` that of their outputs.
@inline(__always)
func gemmTile4x2(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                 _ t: TapGeometry, rowFloats: Int, outRow: Int, bias: SIMD16<Float>) {
    var a0 = bias, a1 = bias, a2 = bias, a3 = bias, b0 = bias, b1 = bias, b2 = bias, b3 = bias
    var f = filter
    for ky in 0..<t.kh {
        let row = rowIn + ky * t.rowStep
        for kx in 0..<t.kw {
            let x = row + t.offset(kx)
            let y = x + rowFloats
            let wv = SIMD16<Float>(repeating: f[kx])
            a0.addProduct(x.load16(0), wv); a1.addProduct(x.load16(16), wv)
            a2.addProduct(x.load16(32), wv); a3.addProduct(x.load16(48), wv)
            b0.addProduct(y.load16(0), wv); b1.addProduct(y.load16(16), wv)
            b2.addProduct(y.load16(32), wv); b3.addProduct(y.load16(48), wv)
        }
        f += t.kw
    }
    dst.store16(a0, 0); dst.store16(a1, 16); dst.store16(a2, 32); dst.store16(a3, 48)
    let d2 = dst + outRow
    d2.store16(b0, 0); d2.store16(b1, 16); d2.store16(b2, 32); d2.store16(b3, 48)
}

/// 32 output pixels of two adjacent output rows (4 accumulators).
@inline(__always)
func gemmTile2x2(_ rowIn: UnsafePointer<Float>, _ filter: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                 _ t: TapGeometry, rowFloats: Int, outRow: Int, bias: SIMD16<Float>) {
    var a0 = bias, a1 = bias, b0 = bias, b1 = bias
    var f = filter
    for ky in 0..<t.kh {
        let row = rowIn + ky * t.rowStep
        for kx in 0..<t.kw {
            let x = row + t.offset(kx)
            let y = x + rowFloats
            let wv = SIMD16<Float>(repeating: f[kx])
            a0.addProduct(x.load16(0), wv); a1.addProduct(x.load16(16), wv)
            b0.addProduct(y.load16(0), wv); b1.addProduct(y.load16(16), wv)
        }
        f += t.kw
    }
    dst.store16(a0, 0); dst.store16(a1, 16)
    let d2 = dst + outRow
    d2.store16(b0, 0); d2.store16(b1, 16)
}
