import DWCore
import Foundation

/// Stripe kernels (SLaK's 51×5 and 5×51, InceptionNeXt's 11×1 bands): a 1-D FFT along the kernel's long axis, the
/// direct sum along its short one.
///
/// A kernel long on one axis and short on the other is where neither pure method is right: the direct kernel does all
/// KH·KW taps per output (255 for 51×5), a 2-D FFT transforms along the short axis too, where it saves nothing. Here
/// the input is transformed along the long axis only (`axis`: `.height` for K×5, `.width` for 5×K), each frequency is
/// convolved directly along the short axis with that frequency's spectrum of every kernel column (row), and the result
/// is transformed back. Per output and channel that is 2·k_short complex multiply–adds plus two 1-D transforms, against
/// k_long·k_short real ones.
///
/// As in `FFTConvolution`, 16 channels share one SIMD lane set and two channel blocks are packed as one complex signal
/// (block a real, block b imaginary). With Z = FFT(a + i·b), each frequency k ≤ T/2 is unpacked into the two blocks'
/// spectra Â = (Z[k] + conj Z[−k])/2 and B̂ = (Z[k] − conj Z[−k])/(2i); the outputs' spectra are Yₐ[k, o] = Σ_t Hₐ[k, t]·Â[k,
/// o·s + t·d] and Y_b likewise, and since both outputs are real, V[k] = Yₐ + i·Y_b and V[−k] = conj Yₐ + i·conj Y_b: 8
/// multiply–adds per tap for both k and −k (the 1/T and ½ scales are folded into H). Along the long axis tiles follow `FFTGeometry.dimension` (one tile when the
/// map fits, overlap-save otherwise); along the short axis stride and dilation are direct, so they cost nothing; the
/// long axis's dilation is in the spectrum, its stride a subsampling. A tile whose input holds NaN or ±Inf (its
/// transform's zero bin is not finite) is computed directly instead, so non-finite values stay in their receptive field.
///
/// Work per (image, block pair, tile): forward and inverse transforms of the tile's columns (rows) and 2·k_short
/// complex vector multiply–adds per spectrum bin and output. Workspace per thread: the transformed tile, the product
/// and a transform strip. Threads split (image, block pair, tile) tasks.
public struct FFTStripe: DepthwiseAlgorithm {
    /// The axis transformed: the kernel's long one.
    public enum Axis: String, Sendable { case height = "h", width = "w" }
    public let axis: Axis

    /// Forward and inverse transforms round in fp32 at every butterfly, as the 2-D FFT: 1e-4 relative.
    public var errorBound: Double { 1e-4 }
    /// Largest transform along the long axis (larger maps take overlapping tiles).
    static let maxTile = 128
    /// Fewest taps along the long axis it takes: below that the transforms cost more than the taps they replace.
    static let minLongTaps = 7

    public init(axis: Axis) { self.axis = axis }

    public var name: String { "fft-stripe.\(axis.rawValue)" }
    public var family: String { "fft-stripe" }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.3, 0.3) }
    public var layout: Layout { .nchw16c }
    public var summary: String {
        "1-D FFT along the kernel's long axis (the \(axis == .height ? "height" : "width")), direct sum along the short one: for stripes such as 51×5"
    }

    public func supports(_ problem: Problem) -> String? {
        let g = StripeGeometry(problem, axis: axis)
        if g.kLong < FFTStripe.minLongTaps {
            return "fewer than \(FFTStripe.minLongTaps) taps along the \(axis == .height ? "height" : "width") (\(g.kLong)): a transform costs more than the taps it saves"
        }
        if g.t < g.extentLong {
            return "kernel extent \(g.extentLong) does not fit in a \(FFTStripe.maxTile)-point transform"
        }
        if g.tiles > 1 && 4 * g.valid < g.t {
            return "a \(g.t)-point tile leaves only \(g.valid) valid outputs per tile for a kernel extent of \(g.extentLong) (under 25%)"
        }
        if Double(g.workspaceVectors) * 128 > 256 * 1_048_576 {
            return "the transformed tile would need \(g.workspaceVectors * 128 / 1_048_576) MiB per thread"
        }
        return nil
    }

    /// Per tile and block pair: forward transforms of every short-axis position, inverse ones of every output position
    /// (5·T·log₂T real FLOPs each, 16 lanes), and 2·k_short complex multiply–adds per bin and output (8 FLOPs each).
    public func workEstimate(_ problem: Problem) -> WorkEstimate {
        let g = StripeGeometry(problem, axis: axis)
        let t = Double(g.t), logT = log2(max(t, 2))
        let tiles = Double(problem.n * (Layout.blocks(problem.c) + 1) / 2 * g.tiles)
        let perTile = 16.0 * (5 * t * logT * Double(g.sizeShortPadded + g.outShort) + 16 * t * Double(g.kShort * g.outShort))
        return WorkEstimate(flops: tiles * perTile, bytes: problem.bytes + tiles * t * Double(g.kShort) * 256)
    }

    public func prepare(_ problem: Problem, weights: DepthwiseWeights, executor: any Executor) throws -> any DepthwisePlan {
        try validate(problem, weights)
        return FFTStripePlan(problem: problem, weights: weights, axis: axis, executor: executor)
    }
}

/// A problem seen along the transformed (long) axis and the direct (short) one.
struct StripeGeometry {
    let axis: FFTStripe.Axis
    /// Taps, dilation, stride, padding, input size and output size along the long axis, then the short one.
    let kLong: Int, dLong: Int, sLong: Int, pLong: Int, sizeLong: Int, outLong: Int
    let kShort: Int, dShort: Int, sShort: Int, pShort: Int, sizeShort: Int, outShort: Int
    /// Transform size, valid stride-1 outputs per tile, tiles, stride-1 extent along the long axis.
    let t: Int, valid: Int, tiles: Int, extent: Int

    init(_ p: Problem, axis: FFTStripe.Axis) {
        self.axis = axis
        if axis == .height {
            (kLong, dLong, sLong, pLong, sizeLong, outLong) = (p.kh, p.dh, p.sh, p.ph, p.h, p.oh)
            (kShort, dShort, sShort, pShort, sizeShort, outShort) = (p.kw, p.dw, p.sw, p.pw, p.w, p.ow)
        } else {
            (kLong, dLong, sLong, pLong, sizeLong, outLong) = (p.kw, p.dw, p.sw, p.pw, p.w, p.ow)
            (kShort, dShort, sShort, pShort, sizeShort, outShort) = (p.kh, p.dh, p.sh, p.ph, p.h, p.oh)
        }
        extent = (outLong - 1) * sLong + 1
        (t, valid, tiles) = FFTGeometry.dimension(extent: extent, size: sizeLong, pad: pLong, k: dLong * (kLong - 1) + 1,
                                                  maxTile: FFTStripe.maxTile)
    }

    var extentLong: Int { dLong * (kLong - 1) + 1 }
    /// Short-axis positions of the padded input the outputs read: (out − 1)·s + (k − 1)·d + 1.
    var sizeShortPadded: Int { (outShort - 1) * sShort + (kShort - 1) * dShort + 1 }
    /// Per thread: the transformed tile (T × padded short size), the product (T × outShort) and three transform strips
    /// (input, output, work; T × strip each).
    var workspaceVectors: Int { t * (sizeShortPadded + outShort + 3 * FFTStripePlan.strip) + 2 * sizeShortPadded }
}

final class FFTStripePlan: DepthwisePlan {
    let problem: Problem
    var layout: Layout { .nchw16c }
    let g: StripeGeometry
    let fft: FFTPlan
    let pool: any Executor
    let blocks: Int, pairs: Int
    /// Per pair: for k in 0 … T/2 and short tap t, (Hₐ, H_b) scaled by 1/(2T): [pair][k][t][2]; then per thread the two
    /// unpacked rows (Â, B̂) of the frequency being multiplied.
    let spectra: UnsafeMutablePointer<ComplexVector>
    private let spectraMemory: AlignedBuffer
    private let workspaceMemory: AlignedBuffer
    let workspace: UnsafeMutablePointer<ComplexVector>
    let perThread: Int
    let half: Int
    /// Bias as [block][16]; the filters as [block][ky][kx][16] for tiles computed directly.
    let bias: AlignedBuffer
    let taps: AlignedBuffer

    /// Columns (rows) transformed together: the strip and its work stay in L1 while the stages ping-pong.
    static let strip = 4

    init(problem p: Problem, weights w: DepthwiseWeights, axis: FFTStripe.Axis, executor: any Executor) {
        problem = p
        g = StripeGeometry(p, axis: axis)
        fft = FFTPlan(size: g.t)
        pool = executor
        blocks = Layout.blocks(p.c)
        pairs = (blocks + 1) / 2
        half = g.t / 2 + 1
        perThread = g.workspaceVectors
        workspaceMemory = AlignedBuffer(count: perThread * executor.threads * 32)
        workspaceMemory.zero()
        workspace = UnsafeMutableRawPointer(workspaceMemory.pointer).bindMemory(to: ComplexVector.self, capacity: perThread * executor.threads)
        let spectrumCount = pairs * half * g.kShort * 2
        spectraMemory = AlignedBuffer(count: spectrumCount * 32)
        spectra = UnsafeMutableRawPointer(spectraMemory.pointer).bindMemory(to: ComplexVector.self, capacity: spectrumCount)
        bias = AlignedBuffer(count: blocks * 16)
        for ch in 0..<p.c { bias.pointer[ch] = w.biasValue(ch) }
        taps = AlignedBuffer(count: blocks * p.taps * 16)
        for ch in 0..<p.c {
            for t in 0..<p.taps { taps.pointer[((ch / 16) * p.taps + t) * 16 + ch % 16] = w.weight[ch * p.taps + t] }
        }
        computeSpectra(w)
    }

    /// Weight of channel `ch` at long tap `l`, short tap `s`.
    private func weight(_ w: DepthwiseWeights, _ ch: Int, long l: Int, short s: Int) -> Float {
        let (ky, kx) = g.axis == .height ? (l, s) : (s, l)
        return w.weight[(ch * problem.kh + ky) * problem.kw + kx]
    }

    /// Hₐ and H_b of every pair, long-axis frequency k ≤ T/2 and short tap, by the same 1-D transform as the data.
    private func computeSpectra(_ w: DepthwiseWeights) {
        let t = g.t
        let line = workspace, out = workspace + t, work = workspace + 2 * t
        // Hₐ/(2T) = ha/(4T): the ½ of the unpacking (Â = (Z + conj Zₙ)/2) and the inverse transform's 1/T.
        let scale = SIMD16<Float>(repeating: 0.25 / Float(t))
        for pair in 0..<pairs {
            for s in 0..<g.kShort {
                line.update(repeating: .zero, count: t)
                // Cross-correlation: long tap l (at offset l·d) goes to bin (−l·d) mod T.
                for lane in 0..<32 {
                    let ch = pair * 32 + lane
                    guard ch < problem.c else { break }
                    for l in 0..<g.kLong {
                        let v = weight(w, ch, long: l, short: s)
                        let bin = (t - (l * g.dLong) % t) % t
                        if lane < 16 { line[bin].re[lane] = v } else { line[bin].im[lane - 16] = v }
                    }
                }
                fft.transform(line, out, work: work, batch: 1, inverse: false)
                for k in 0..<half {
                    let y = out[k], yc = out[(t - k) % t].conjugate
                    let ha = y + yc                  // 2·Hₐ
                    let hb = (y - yc).rotated(-1)    // 2·H_b
                    let at = spectra + ((pair * half + k) * g.kShort + s) * 2
                    at[0] = ha * scale
                    at[1] = hb * scale
                }
            }
        }
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let tiles = g.tiles
        let inp = SendablePointer(input), out = SendableMutablePointer(output)
        let me = UncheckedSendable(self)
        pool.parallelFor(count: problem.n * pairs * tiles) { task, worker in
            let plan = me.value
            let pairIndex = task / tiles
            plan.runTile(image: pairIndex / plan.pairs, pair: pairIndex % plan.pairs, tile: task % tiles,
                         input: inp.pointer, output: out.pointer, worker: worker)
        }
    }

    /// Offset in floats of input pixel (long position l, short position s) within a channel block's plane.
    @inline(__always) private func inputOffset(long l: Int, short s: Int) -> Int {
        g.axis == .height ? (l * problem.w + s) * 16 : (s * problem.w + l) * 16
    }

    @inline(__always) private func outputOffset(long l: Int, short s: Int) -> Int {
        g.axis == .height ? (l * g.outShort + s) * 16 : (s * g.outLong + l) * 16
    }

    /// One tile of one block pair: gather (padded, long axis first: tile[l][s]), forward transforms along l, the
    /// short-axis products per frequency, inverse transforms of the kept rows, scatter with bias.
    private func runTile(image: Int, pair: Int, tile: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                         worker: Int) {
        let p = problem, t = g.t
        let width = g.sizeShortPadded, outs = g.outShort
        let ws = workspace + worker * perThread
        let strip = FFTStripePlan.strip
        let z = ws, v = ws + t * width
        let stripIn = ws + t * (width + outs), stripOut = stripIn + t * strip, work = stripOut + t * strip
        let blockA = pair * 2, blockB = pair * 2 + 1
        let hasB = blockB < blocks
        let plane = p.h * p.w * 16
        let srcA = input + (image * blocks + blockA) * plane
        let srcB = hasB ? input + (image * blocks + blockB) * plane : nil
        let l0 = tile * g.valid

        // Gather a strip of short positions (padded input (l0 + l − pLong, s − pShort), zero outside) as [l][j], transform
        // it along l, and keep it as rows of the tile: z[k][s].
        var s0 = 0
        while s0 < width {
            let n = min(strip, width - s0)
            for l in 0..<t {
                let il = l0 + l - g.pLong
                let row = stripIn + l * n
                if il < 0 || il >= g.sizeLong {
                    row.update(repeating: .zero, count: n)
                    continue
                }
                for j in 0..<n {
                    let i = s0 + j - g.pShort
                    if i < 0 || i >= g.sizeShort {
                        row[j] = .zero
                    } else {
                        let off = inputOffset(long: il, short: i)
                        row[j] = ComplexVector(re: srcA.load16(off), im: srcB?.load16(off) ?? .zero)
                    }
                }
            }
            fft.transform(stripIn, stripOut, work: work, batch: n, inverse: false)
            for k in 0..<t { (z + k * width + s0).update(from: stripOut + k * n, count: n) }
            s0 += n
        }
        // A NaN or ±Inf anywhere in a line spreads over its whole transform; bin 0 of each line is the sum of its
        // inputs through adds only, so it is non-finite exactly when an input is (or the sum overflows).
        var probe = SIMD16<Float>()
        for s in 0..<width { probe += (z[s].re - z[s].re) + (z[s].im - z[s].im) }
        if any(probe .!= probe) {
            for block in [blockA, blockB] where block < blocks {
                directTile(image: image, block: block, l0: l0, input: input, output: output)
            }
            return
        }
        // Per frequency k ≤ T/2: unpack the two blocks' spectra (A = 2Â, B = 2B̂), multiply along the short axis, and
        // write V[k] = Yₐ + i·Y_b and V[−k] = conj Yₐ + i·conj Y_b.
        let spec = spectra + pair * half * g.kShort * 2
        let (ks, ds, ss) = (g.kShort, g.dShort, g.sShort)
        let unA = work + t * strip, unB = unA + width
        for k in 0..<half {
            let nk = (t - k) % t
            let zk = z + k * width, zn = z + nk * width
            for c in 0..<width {
                let y = zk[c], yc = zn[c].conjugate
                unA[c] = y + yc
                unB[c] = (y - yc).rotated(-1)
            }
            let hk = UnsafePointer(spec + k * ks * 2)
            let vk = v + k * outs, vn = v + nk * outs
            for o in 0..<outs {
                var ar = SIMD16<Float>(), ai = SIMD16<Float>(), br = SIMD16<Float>(), bi = SIMD16<Float>()
                var c = o * ss
                for tap in 0..<ks {
                    let ha = hk[2 * tap], hb = hk[2 * tap + 1]
                    let a = unA[c], b = unB[c]
                    ar.addProduct(a.re, ha.re); ar.addProduct(-a.im, ha.im); ai.addProduct(a.re, ha.im); ai.addProduct(a.im, ha.re)
                    br.addProduct(b.re, hb.re); br.addProduct(-b.im, hb.im); bi.addProduct(b.re, hb.im); bi.addProduct(b.im, hb.re)
                    c += ds
                }
                vk[o] = ComplexVector(re: ar - bi, im: ai + br)
                if nk != k { vn[o] = ComplexVector(re: ar + bi, im: br - ai) }
            }
        }
        // Inverse transforms along l of every output position, a strip at a time, then scatter the kept rows.
        let biasA = bias.pointer.load16(blockA * 16)
        let biasB = hasB ? bias.pointer.load16(blockB * 16) : .zero
        let outPlane = p.oh * p.ow * 16
        let dstA = output + (image * blocks + blockA) * outPlane
        let dstB = output + (image * blocks + blockB) * outPlane
        var o0 = 0
        while o0 < outs {
            let n = min(strip, outs - o0)
            for k in 0..<t { (stripIn + k * n).update(from: v + k * outs + o0, count: n) }
            fft.transform(stripIn, stripOut, work: work, batch: n, inverse: true)
            for l in 0..<g.valid {
                let e = l0 + l
                if e >= g.extent { break }
                if e % g.sLong != 0 { continue }
                let ol = e / g.sLong
                for j in 0..<n {
                    let r = stripOut[l * n + j]
                    let off = outputOffset(long: ol, short: o0 + j)
                    dstA.store16(r.re + biasA, off)
                    if hasB { dstB.store16(r.im + biasB, off) }
                }
            }
            o0 += n
        }
    }

    /// The outputs of one tile of one channel block by the definition (bias, then taps row by row) over the taps that
    /// meet the image: exact NaN and ±Inf positions.
    private func directTile(image: Int, block: Int, l0: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let p = problem
        let src = input + (image * blocks + block) * p.h * p.w * 16
        let dst = output + (image * blocks + block) * p.oh * p.ow * 16
        let filter = UnsafePointer(taps.pointer) + block * p.taps * 16
        let b = bias.pointer.load16(block * 16)
        for e in stride(from: (l0 + g.sLong - 1) / g.sLong * g.sLong, to: min(l0 + g.valid, g.extent), by: g.sLong) {
            let ol = e / g.sLong
            for os in 0..<g.outShort {
                let (oy, ox) = g.axis == .height ? (ol, os) : (os, ol)
                var acc = b
                for ky in 0..<p.kh {
                    let iy = oy * p.sh - p.ph + ky * p.dh
                    if iy < 0 || iy >= p.h { continue }
                    for kx in 0..<p.kw {
                        let ix = ox * p.sw - p.pw + kx * p.dw
                        if ix < 0 || ix >= p.w { continue }
                        acc.addProduct(src.load16((iy * p.w + ix) * 16), filter.load16((ky * p.kw + kx) * 16))
                    }
                }
                dst.store16(acc, (oy * p.ow + ox) * 16)
            }
        }
    }
}
