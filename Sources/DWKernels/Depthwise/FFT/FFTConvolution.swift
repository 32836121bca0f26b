import DWCore
import Foundation

/// FFT convolution, per channel, tiled by overlap-save, on the channel-blocked layout.
///
/// Every transform works on 16 channels at once (one SIMD lane each) and on *two* channel blocks at
/// once: block a is the real part and block b the imaginary part of one complex tile, which is how
/// the real-input symmetry is used (one complex 2-D FFT per two real ones). With Y = FFT(a + i·b) and
/// filter spectra Hₐ, H_b, the product spectrum is V[k] = Y[k]·G₁[k] + conj(Y[−k])·G₂[k] where
/// G₁ = (Hₐ + H_b)/2, G₂ = (Hₐ − H_b)/2 (precomputed at preparation, with the 1/(T_h·T_w) scale
/// folded in); IFFT(V) is then (a ⋆ wₐ) + i·(b ⋆ w_b) exactly, both real.
///
/// Tiles: a map that fits takes one tile of the smallest even 2·3·5-smooth size that avoids aliasing
/// (see `FFTGeometry`; the zero padding need not fit); a larger map is covered by `maxTile`-sized tiles
/// overlapping by E − 1 (overlap-save, E the kernel's extent on that axis), each giving T − E + 1 outputs per axis.
/// A rectangular or dilated kernel is just another zero-padded spectrum: tap (ky, kx) lands in bin
/// (−ky·dh, −kx·dw). Strides are computed at stride 1 and subsampled, per axis.
///
/// Complexity per tile Θ(T² log T) complex vector operations per pair of blocks; filter spectra take
/// ⌈C/32⌉·2·T_h·(T_w/2 + 1)·128 bytes. Threads split (image, block pair, tile) tasks.
public struct FFTConvolution: DepthwiseAlgorithm {
    /// Forward and inverse transforms round in fp32 at every butterfly: 1e-4 relative.
    public var errorBound: Double { 1e-4 }

    /// Largest transform size per dimension.
    public let maxTile: Int

    public init(maxTile: Int) {
        precondition(SmoothSize.atLeast(maxTile) == maxTile, "FFT tile must be an even 2·3·5-smooth size")
        self.maxTile = maxTile
    }

    public var name: String { "fft.t\(maxTile)" }
    public var family: String { "fft" }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.3, 0.3) }
    public var layout: Layout { .nchw16c }
    public var summary: String { "overlap-save FFT convolution, tiles up to \(maxTile)², 16 channels per lane set, block pairs packed as complex" }

    /// Spectrum memory above which the algorithm refuses (bytes).
    static let spectrumCap = 1 << 30

    public func supports(_ problem: Problem) -> String? {
        let g = FFTGeometry(problem, maxTile: maxTile)
        // A larger cap that changes nothing is the same computation under another name: refusing it keeps
        // the tuner from "choosing" between identical kernels on noise.
        if maxTile / 2 >= 64 && g == FFTGeometry(problem, maxTile: maxTile / 2) {
            return "same transform tiles as fft.t\(maxTile / 2) for this problem"
        }
        if g.th < problem.extentH || g.tw < problem.extentW {
            return "kernel extent \(problem.extentH)×\(problem.extentW) does not fit in a \(maxTile)-point transform tile"
        }
        for (t, l, tiled, e) in [(g.th, g.lh, g.tilesY > 1, problem.extentH), (g.tw, g.lw, g.tilesX > 1, problem.extentW)] where tiled && 4 * l < t {
            return "a \(t)-point tile leaves only \(l) valid outputs per tile for a kernel extent of \(e) (under 25%)"
        }
        let bytes = Double(Layout.blocks(problem.c) + 1) / 2 * 2 * Double(g.th * (g.tw / 2 + 1)) * 128
        if bytes > Double(FFTConvolution.spectrumCap) {
            return "filter spectra would need \(Int(bytes / 1_048_576)) MiB"
        }
        return nil
    }

    /// Per tile and block pair: forward and inverse complex 2-D transforms (5·n·log₂n real FLOPs each,
    /// 16 lanes) and the spectral product (two complex multiply–adds per bin); the filter spectra are
    /// read once per tile.
    public func workEstimate(_ problem: Problem) -> WorkEstimate {
        let g = FFTGeometry(problem, maxTile: maxTile)
        let bins = Double(g.th * g.tw)
        let tiles = Double(problem.n * (Layout.blocks(problem.c) + 1) / 2 * g.tilesY * g.tilesX)
        let perTile = 16.0 * (2 * 5 * bins * log2(max(bins, 2)) + 16 * bins)
        let spectra = Double(g.th * (g.tw / 2 + 1)) * 256
        return WorkEstimate(flops: tiles * perTile, bytes: problem.bytes + tiles * spectra)
    }

    public func prepare(_ problem: Problem, weights: DepthwiseWeights, executor: any Executor) throws -> any DepthwisePlan {
        try validate(problem, weights)
        return FFTConvolutionPlan(problem: problem, weights: weights, maxTile: maxTile, executor: executor)
    }
}

/// Tile geometry of an FFT convolution. Stride-1 output coordinates equal padded-input coordinates
/// of a tile's origin.
///
/// Single tile: the circular convolution need not hold the zero padding. With the real input rows at
/// padded positions q ∈ [q₀, q₁] and outputs y ∈ [0, E), output y collects input q through kernel tap
/// (q − y) mod T, which is the right tap exactly when T > q₁ and T ≥ K + E − 1 − q₀ (no wanted
/// difference aliases into the kernel's support). So T = the smallest even 2·3·5-smooth size
/// ≥ max(q₁ + 1, K + E − 1 − q₀, E, K) (K so that taps land in distinct bins), e.g. 30 instead of 40 for
/// K = 27 on a 14×14 map with same padding. Per axis, K is the kernel's extent d·(k − 1) + 1.
/// Larger maps: overlap-save tiles of `maxTile`, each giving T − K + 1 outputs.
@_spi(KernelParts) public struct FFTGeometry: Equatable {
    /// Transform sizes.
    @_spi(KernelParts) public let th: Int, tw: Int
    /// Valid stride-1 outputs per tile.
    @_spi(KernelParts) public let lh: Int, lw: Int
    /// Stride-1 output extent that must be computed: (OH − 1)·sh + 1 and (OW − 1)·sw + 1.
    @_spi(KernelParts) public let eh: Int, ew: Int
    @_spi(KernelParts) public let tilesY: Int, tilesX: Int

    /// (T, L, tiles) for one dimension of `extent` stride-1 outputs over an input of `size` with `pad`.
    static func dimension(extent e: Int, size: Int, pad: Int, k: Int, maxTile: Int) -> (Int, Int, Int) {
        let q0 = pad, q1 = min(pad + size - 1, e + k - 2)
        let single = SmoothSize.atLeast(max(q1 + 1, k + e - 1 - q0, e, k))
        if single <= maxTile { return (single, e, 1) }
        let l = max(0, maxTile - k + 1)
        return (maxTile, l, l > 0 ? (e + l - 1) / l : 0)
    }

    @_spi(KernelParts) public init(_ p: Problem, maxTile: Int) {
        eh = (p.oh - 1) * p.sh + 1
        ew = (p.ow - 1) * p.sw + 1
        (th, lh, tilesY) = FFTGeometry.dimension(extent: eh, size: p.h, pad: p.ph, k: p.extentH, maxTile: maxTile)
        (tw, lw, tilesX) = FFTGeometry.dimension(extent: ew, size: p.w, pad: p.pw, k: p.extentW, maxTile: maxTile)
    }
}

final class FFTConvolutionPlan: DepthwisePlan {
    let problem: Problem
    var layout: Layout { .nchw16c }
    let geometry: FFTGeometry
    let rowFFT: FFTPlan
    let colFFT: FFTPlan
    let pool: any Executor
    let blocks: Int
    let pairs: Int
    /// Per pair: T_h × (T_w/2 + 1) bins of (G₁, G₂). Both are Hermitian (the filters are real), so the
    /// other half is their conjugate and is never stored.
    let spectra: UnsafeMutablePointer<ComplexVector>
    /// The aligned memory behind `spectra` and `workspace` (a complex vector is 32 floats).
    private let spectraMemory: AlignedBuffer
    private let workspaceMemory: AlignedBuffer
    /// Stored spectrum columns: T_w/2 + 1.
    let halfWidth: Int
    /// Bias as [block][16].
    let bias: AlignedBuffer
    /// The filters as [block][ky][kx][16], for tiles computed directly (`directTile`).
    let taps: AlignedBuffer
    /// Per thread: tile A, tile B (T_h·T_w each), column-strip work (T_h·columnStrip), row work (T_w).
    let workspace: UnsafeMutablePointer<ComplexVector>
    let perThread: Int
    let threads: Int

    init(problem p: Problem, weights w: DepthwiseWeights, maxTile: Int, executor: any Executor) {
        problem = p
        geometry = FFTGeometry(p, maxTile: maxTile)
        let (th, tw) = (geometry.th, geometry.tw)
        rowFFT = FFTPlan(size: tw)
        colFFT = FFTPlan(size: th)
        pool = executor
        threads = executor.threads
        blocks = Layout.blocks(p.c)
        pairs = (blocks + 1) / 2
        let bins = th * tw
        perThread = 2 * bins + th * FFTConvolutionPlan.columnStrip + tw
        workspaceMemory = AlignedBuffer(count: perThread * threads * 32)
        workspaceMemory.zero()
        workspace = UnsafeMutableRawPointer(workspaceMemory.pointer).bindMemory(to: ComplexVector.self, capacity: perThread * threads)
        halfWidth = tw / 2 + 1
        spectraMemory = AlignedBuffer(count: pairs * 2 * th * halfWidth * 32)
        spectra = UnsafeMutableRawPointer(spectraMemory.pointer).bindMemory(to: ComplexVector.self, capacity: pairs * 2 * th * halfWidth)
        bias = AlignedBuffer(count: blocks * 16)
        for ch in 0..<p.c { bias.pointer[ch] = w.biasValue(ch) }
        let k2 = p.taps
        taps = AlignedBuffer(count: blocks * k2 * 16)
        for ch in 0..<p.c {
            for t in 0..<k2 { taps.pointer[((ch / 16) * k2 + t) * 16 + ch % 16] = w.weight[ch * k2 + t] }
        }
        computeSpectra(w)
    }

    /// Columns transformed together in a column pass: the strip (T_h × 4 × 128 bytes) and its work
    /// buffer stay in L1 while the stages ping-pong, instead of three whole tiles in L2. Measured
    /// against whole-tile passes: 0.68 vs 0.83 ms for K = 31 on 128×56×56 (T = 72), no change at T = 40.
    static let columnStrip = 4

    /// Column transforms of a T_h × T_w tile, strip by strip.
    private func columnPass(_ input: UnsafePointer<ComplexVector>, _ output: UnsafeMutablePointer<ComplexVector>,
                            work: UnsafeMutablePointer<ComplexVector>, inverse: Bool) {
        let tw = geometry.tw
        var c0 = 0
        while c0 < tw {
            let width = min(FFTConvolutionPlan.columnStrip, tw - c0)
            colFFT.transform(input + c0, output + c0, work: work, batch: width, inverse: inverse, stride: tw, workStride: width)
            c0 += width
        }
    }

    /// Filter spectra of each block pair, by the same 2-D transform as the data.
    private func computeSpectra(_ w: DepthwiseWeights) {
        let p = problem
        let (th, tw) = (geometry.th, geometry.tw)
        let bins = th * tw
        let scale = SIMD16<Float>(repeating: 0.5 / Float(bins))
        let tileA = workspace, tileB = workspace + bins, colWork = workspace + 2 * bins
        let rowWork = colWork + th * FFTConvolutionPlan.columnStrip
        for pair in 0..<pairs {
            tileA.update(repeating: .zero, count: bins)
            // Cross-correlation: tap (ky, kx) goes to ((−ky·dh) mod T_h, (−kx·dw) mod T_w).
            for lane in 0..<32 {
                let ch = pair * 32 + lane
                guard ch < p.c else { break }
                for ky in 0..<p.kh {
                    for kx in 0..<p.kw {
                        let v = w.weight[(ch * p.kh + ky) * p.kw + kx]
                        let bin = ((th - ky * p.dh) % th) * tw + (tw - kx * p.dw) % tw
                        if lane < 16 { tileA[bin].re[lane] = v } else { tileA[bin].im[lane - 16] = v }
                    }
                }
            }
            for r in 0..<th { rowFFT.transform(tileA + r * tw, tileB + r * tw, work: rowWork, batch: 1, inverse: false) }
            columnPass(tileB, tileA, work: colWork, inverse: false)
            let g = spectra + pair * 2 * th * halfWidth
            for k1 in 0..<th {
                for k2 in 0..<halfWidth {
                    let y = tileA[k1 * tw + k2]
                    let yc = tileA[((th - k1) % th) * tw + (tw - k2) % tw].conjugate
                    let ha = (y + yc)                  // 2·Hₐ
                    let hb = (y - yc).rotated(-1)      // 2·H_b = −i·(Y − conj Y[−k])
                    g[2 * (k1 * halfWidth + k2)] = (ha + hb) * (scale * 0.5)
                    g[2 * (k1 * halfWidth + k2) + 1] = (ha - hb) * (scale * 0.5)
                }
            }
        }
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let g = geometry
        let tiles = g.tilesY * g.tilesX
        let count = problem.n * pairs * tiles
        let inp = SendablePointer(input), out = SendableMutablePointer(output)
        let me = UncheckedSendable(self)
        pool.parallelFor(count: count) { task, worker in
            let plan = me.value
            let tile = task % tiles
            let pairIndex = task / tiles
            plan.runTile(image: pairIndex / plan.pairs, pair: pairIndex % plan.pairs,
                         ty: tile / g.tilesX, tx: tile % g.tilesX,
                         input: inp.pointer, output: out.pointer, worker: worker)
        }
    }

    /// One overlap-save tile of one block pair: gather, forward 2-D FFT, spectral product, inverse
    /// 2-D FFT (rows only where outputs are kept), scatter with bias.
    private func runTile(image: Int, pair: Int, ty: Int, tx: Int,
                         input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, worker: Int) {
        let p = problem
        let g = geometry
        let (th, tw) = (g.th, g.tw)
        let bins = th * tw
        let ws = workspace + worker * perThread
        let tileA = ws, tileB = ws + bins, colWork = ws + 2 * bins
        let rowWork = colWork + th * FFTConvolutionPlan.columnStrip
        let blockA = pair * 2, blockB = pair * 2 + 1
        let hasB = blockB < blocks
        let plane = p.h * p.w * 16
        let srcA = input + (image * blocks + blockA) * plane
        let srcB = hasB ? input + (image * blocks + blockB) * plane : nil
        let y0 = ty * g.lh, x0 = tx * g.lw

        // Gather: padded coordinates (y0 + r, x0 + c) → input (· − p); forward row transforms.
        for r in 0..<th {
            let iy = y0 + r - p.ph
            let rowOut = tileB + r * tw
            if iy < 0 || iy >= p.h {
                rowOut.update(repeating: .zero, count: tw)
                continue
            }
            let row = tileA + r * tw
            for c in 0..<tw {
                let ix = x0 + c - p.pw
                if ix < 0 || ix >= p.w {
                    row[c] = .zero
                } else {
                    let off = (iy * p.w + ix) * 16
                    row[c] = ComplexVector(re: srcA.load16(off), im: srcB?.load16(off) ?? .zero)
                }
            }
            rowFFT.transform(row, rowOut, work: rowWork, batch: 1, inverse: false)
        }
        columnPass(tileB, tileA, work: colWork, inverse: false)

        // A transform spreads one NaN or infinity over the whole tile; the definition confines it to the outputs
        // whose windows hold it. Such a tile is computed directly instead. The DC bin is the sum of every input of
        // the tile through adds and multiplies only, so it is non-finite exactly when an input is (or the sum
        // overflows, where the direct path is right too): one check per tile, nothing per element.
        let dc = tileA[0]
        let probe = (dc.re - dc.re) + (dc.im - dc.im)
        if any(probe .!= probe) {
            for block in [blockA, blockB] where block < blocks {
                directTile(image: image, block: block, y0: y0, x0: x0, input: input, output: output)
            }
            return
        }

        // V[k] = Y[k]·G₁[k] + conj(Y[−k])·G₂[k], and with G(−k) = conj G(k) the partner bin
        // V[−k] = Y[−k]·conj G₁[k] + conj(Y[k])·conj G₂[k] from the same two loads of G.
        let spec = spectra + pair * 2 * th * halfWidth
        for k1 in 0..<th {
            let n1 = (th - k1) % th
            for k2 in 0..<halfWidth {
                let n2 = (tw - k2) % tw
                // Columns 0 and T_w/2 pair with themselves: visit each (k, −k) pair once.
                if n2 == k2 && n1 < k1 { continue }
                let bin = k1 * tw + k2, partner = n1 * tw + n2
                let g1 = spec[2 * (k1 * halfWidth + k2)], g2 = spec[2 * (k1 * halfWidth + k2) + 1]
                let y = tileA[bin], yn = tileA[partner]
                tileB[bin] = y * g1 + yn.conjugate * g2
                if partner != bin { tileB[partner] = yn * g1.conjugate + y.conjugate * g2.conjugate }
            }
        }
        columnPass(tileB, tileA, work: colWork, inverse: true)

        // Inverse rows that hold kept outputs, then scatter (subsampled for stride > 1).
        let biasA = bias.pointer.load16(blockA * 16)
        let biasB = hasB ? bias.pointer.load16(blockB * 16) : .zero
        let outPlane = p.oh * p.ow * 16
        let dstA = output + (image * blocks + blockA) * outPlane
        let dstB = output + (image * blocks + blockB) * outPlane
        for r in 0..<g.lh {
            let y = y0 + r
            if y >= g.eh { break }
            if y % p.sh != 0 { continue }
            let oy = y / p.sh
            let row = tileB + r * tw
            rowFFT.transform(tileA + r * tw, row, work: rowWork, batch: 1, inverse: true)
            for c in 0..<g.lw {
                let x = x0 + c
                if x >= g.ew { break }
                if x % p.sw != 0 { continue }
                let off = (oy * p.ow + x / p.sw) * 16
                dstA.store16(row[c].re + biasA, off)
                if hasB { dstB.store16(row[c].im + biasB, off) }
            }
        }
    }

    /// The outputs of one tile of one channel block by the sliding window over the taps that meet the image,
    /// in the order of the definition (bias, then taps row by row): exact NaN and ±Inf positions.
    private func directTile(image: Int, block: Int, y0: Int, x0: Int, input: UnsafePointer<Float>,
                            output: UnsafeMutablePointer<Float>) {
        let p = problem, g = geometry
        let src = input + (image * blocks + block) * p.h * p.w * 16
        let dst = output + (image * blocks + block) * p.oh * p.ow * 16
        let filter = UnsafePointer(taps.pointer) + block * p.taps * 16
        let b = bias.pointer.load16(block * 16)
        // Taps t of stride-1 output u (a padded coordinate) that meet the image: 0 ≤ u − pad + t·d < size.
        func tapRange(_ u: Int, _ pad: Int, _ size: Int, _ k: Int, _ d: Int) -> Range<Int> {
            let lo = u >= pad ? 0 : (pad - u + d - 1) / d
            let hi = min(k, (size + pad - u + d - 1) / d)
            return lo..<max(lo, hi)
        }
        for y in stride(from: (y0 + p.sh - 1) / p.sh * p.sh, to: min(y0 + g.lh, g.eh), by: p.sh) {
            let kys = tapRange(y, p.ph, p.h, p.kh, p.dh)
            for x in stride(from: (x0 + p.sw - 1) / p.sw * p.sw, to: min(x0 + g.lw, g.ew), by: p.sw) {
                let kxs = tapRange(x, p.pw, p.w, p.kw, p.dw)
                var acc = b
                if !kxs.isEmpty {
                    for ky in kys {
                        let row = src + ((y - p.ph + ky * p.dh) * p.w + x - p.pw) * 16
                        for kx in kxs { acc.addProduct(row.load16(kx * p.dw * 16), filter.load16((ky * p.kw + kx) * 16)) }
                    }
                }
                dst.store16(acc, ((y / p.sh) * p.ow + x / p.sw) * 16)
            }
        }
    }
}
