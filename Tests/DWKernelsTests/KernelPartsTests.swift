import DWCore
@_spi(KernelParts) import DWKernels
import Foundation
import XCTest

/// Unit tests of the parts the sweep exercises only as a whole: the FFT plan (every radix, odd sizes,
/// strided batches, round trip), the FFT tiling geometry, the direct kernel's tap ranges and its
/// register-block split. A broken radix or an off-by-one tap range fails here by name. (The parts are reached
/// through `@_spi(KernelParts)`, which works in the release build the tests run in.)
final class KernelPartsTests: XCTestCase {
    /// Seeded complex vectors: point j, lane l.
    func signal(_ n: Int, batch: Int, seed: UInt64) -> [ComplexVector] {
        var rng = SeededGenerator(seed: seed)
        return (0..<(n * batch)).map { _ in
            ComplexVector(re: SIMD16(rng.signedArray(16)), im: SIMD16(rng.signedArray(16)))
        }
    }

    /// The DFT of lane `lane` of batch element `b`, in Double: X[k] = Σ_j x[j]·e^(∓2πi·jk/n).
    func dft(_ x: [ComplexVector], n: Int, batch: Int, b: Int, lane: Int, inverse: Bool) -> [(Double, Double)] {
        let sign = inverse ? 1.0 : -1.0
        return (0..<n).map { k in
            var re = 0.0, im = 0.0
            for j in 0..<n {
                let v = x[j * batch + b], a = sign * 2 * Double.pi * Double(j * k) / Double(n)
                re += Double(v.re[lane]) * cos(a) - Double(v.im[lane]) * sin(a)
                im += Double(v.re[lane]) * sin(a) + Double(v.im[lane]) * cos(a)
            }
            return (re, im)
        }
    }

    func testSmoothSizes() {
        for x in 1...400 {
            let n = SmoothSize.atLeast(x)
            XCTAssertGreaterThanOrEqual(n, x)
            XCTAssertEqual(n % 2, 0, "\(x) → \(n) is odd")
            var m = n
            for f in [2, 3, 5] { while m % f == 0 { m /= f } }
            XCTAssertEqual(m, 1, "\(x) → \(n) is not 2·3·5-smooth")
            // Minimal: no even smooth number in [x, n).
            for y in max(2, x)..<n where y % 2 == 0 {
                var r = y
                for f in [2, 3, 5] { while r % f == 0 { r /= f } }
                XCTAssertNotEqual(r, 1, "\(x) → \(n), but \(y) is smaller")
            }
        }
    }

    /// Every radix alone and combined, odd sizes (radix 3 and 5 only), n = 1, against the Double DFT in both
    /// directions, for a strided batch; then forward + inverse = n · identity.
    func testFFTPlanMatchesTheDFTForEveryRadix() {
        let sizes = [1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 25, 27, 30, 45, 48, 60, 64, 72, 75, 90, 100, 120, 128]
        let batch = 3
        for n in sizes {
            let plan = FFTPlan(size: n)
            XCTAssertEqual(plan.stages.reduce(1) { $0 * $1.radix }, n, "stages of \(n)")
            let x = signal(n, batch: batch, seed: UInt64(n))
            for inverse in [false, true] {
                var out = [ComplexVector](repeating: .zero, count: n * batch)
                var work = [ComplexVector](repeating: .zero, count: n * batch)
                x.withUnsafeBufferPointer { xp in
                    out.withUnsafeMutableBufferPointer { op in
                        work.withUnsafeMutableBufferPointer { wp in
                            plan.transform(xp.baseAddress!, op.baseAddress!, work: wp.baseAddress!, batch: batch, inverse: inverse)
                        }
                    }
                }
                var worst = 0.0, scale = 0.0
                for b in 0..<batch {
                    for lane in [0, 7, 15] {
                        let expected = dft(x, n: n, batch: batch, b: b, lane: lane, inverse: inverse)
                        for k in 0..<n {
                            let got = out[k * batch + b]
                            worst = max(worst, abs(Double(got.re[lane]) - expected[k].0), abs(Double(got.im[lane]) - expected[k].1))
                            scale = max(scale, abs(expected[k].0), abs(expected[k].1))
                        }
                    }
                }
                XCTAssertLessThan(worst / max(scale, 1e-30), 2e-6, "size \(n), \(inverse ? "inverse" : "forward")")
            }
            // Round trip: inverse(forward(x)) = n·x.
            var spectrum = [ComplexVector](repeating: .zero, count: n * batch), back = spectrum, work = spectrum
            x.withUnsafeBufferPointer { xp in
                spectrum.withUnsafeMutableBufferPointer { sp in
                    work.withUnsafeMutableBufferPointer { wp in
                        plan.transform(xp.baseAddress!, sp.baseAddress!, work: wp.baseAddress!, batch: batch, inverse: false)
                    }
                    back.withUnsafeMutableBufferPointer { bp in
                        work.withUnsafeMutableBufferPointer { wp in
                            plan.transform(UnsafePointer(sp.baseAddress!), bp.baseAddress!, work: wp.baseAddress!, batch: batch, inverse: true)
                        }
                    }
                }
            }
            var roundTrip = 0.0
            for i in 0..<(n * batch) {
                let dre = back[i].re - x[i].re * Float(n), dim = back[i].im - x[i].im * Float(n)
                roundTrip = max(roundTrip, Double(max(abs(dre.max()), abs(dre.min()), abs(dim.max()), abs(dim.min()))))
            }
            XCTAssertLessThan(roundTrip / Double(n), 1e-5, "round trip of size \(n)")
        }
    }

    /// The strided form used by the column pass: points `stride` apart, a batch narrower than the stride.
    func testFFTPlanStridedColumnsEqualContiguous() {
        let n = 24, width = 10, strip = 4
        let plan = FFTPlan(size: n)
        let x = signal(n, batch: width, seed: 9)
        var whole = [ComplexVector](repeating: .zero, count: n * width), work = whole
        var strided = whole, stripWork = [ComplexVector](repeating: .zero, count: n * strip)
        x.withUnsafeBufferPointer { xp in
            whole.withUnsafeMutableBufferPointer { op in
                work.withUnsafeMutableBufferPointer { wp in
                    plan.transform(xp.baseAddress!, op.baseAddress!, work: wp.baseAddress!, batch: width, inverse: false)
                }
            }
            strided.withUnsafeMutableBufferPointer { op in
                stripWork.withUnsafeMutableBufferPointer { wp in
                    var c0 = 0
                    while c0 < width {
                        let w = min(strip, width - c0)
                        plan.transform(xp.baseAddress! + c0, op.baseAddress! + c0, work: wp.baseAddress!, batch: w, inverse: false,
                                       stride: width, workStride: w)
                        c0 += w
                    }
                }
            }
        }
        for i in 0..<(n * width) {
            XCTAssertEqual(whole[i].re, strided[i].re, "point \(i / width), column \(i % width)")
            XCTAssertEqual(whole[i].im, strided[i].im)
        }
    }

    /// Tiles cover every output the stride needs, each tile holds its valid outputs plus the kernel's
    /// reach, and sizes are even 2·3·5-smooth.
    func testFFTGeometryCoversTheOutput() throws {
        for text in ["n1c16h56w56k31s1p15", "n1c16h7w7k13s1p6", "n1c16h14w14k27s1p13", "n1c16h70w75k31s2p15", "n1c16h29w33k29s1p0",
                     "n1c16h1w1k31s1p15", "n1c16h200w33k5s2p2", "n1c16h40w40k3s1p1", "n1c16h56w56k51x5s1p25x2",
                     "n1c16h70w90k5x51s2x1p2x25", "n1c16h56w56k7s1p9d3", "n1c16h9w30k3x13s2p1x6d1x2"] {
            let p = try Problem(parsing: text)
            for maxTile in [64, 128] {
                let g = FFTGeometry(p, maxTile: maxTile)
                XCTAssertEqual(g.eh, (p.oh - 1) * p.sh + 1)
                XCTAssertEqual(g.ew, (p.ow - 1) * p.sw + 1)
                for (t, l, tiles, extent, k) in [(g.th, g.lh, g.tilesY, g.eh, p.extentH), (g.tw, g.lw, g.tilesX, g.ew, p.extentW)] {
                    XCTAssertEqual(t % 2, 0, "\(text) T=\(t)")
                    XCTAssertEqual(SmoothSize.atLeast(t), t, "\(text) T=\(t) is not smooth")
                    XCTAssertGreaterThanOrEqual(tiles * l, extent, "\(text): tiles miss outputs")
                    XCTAssertLessThan((tiles - 1) * l, extent, "\(text): a tile with no output")
                    if tiles > 1 {
                        XCTAssertEqual(t, maxTile)
                        XCTAssertGreaterThanOrEqual(t, l + k - 1, "\(text): a tile cannot hold its outputs' reach")
                    }
                }
            }
        }
    }

    /// `BlockTaps` against brute force: the kernel rows that meet the image for the output row, the kernel
    /// columns that meet it for some pixel of the block, and the image columns the block sees.
    func testBlockTapsAreExactlyTheTapsThatMeetTheImage() throws {
        for text in ["n1c16h9w11k7s1p3", "n1c16h5w4k13s1p6", "n1c16h20w13k5s2p2", "n1c16h3w3k31s1p15", "n1c16h30w30k3s2p0", "n1c16h8w8k9s3p4",
                     "n1c16h20w20k11x5s1x2p5x2", "n1c16h9w30k3x13s2p1x6d1x2", "n1c16h20w20k7s1p9d3", "n1c16h12w7k5s2x1p4d2"] {
            let p = try Problem(parsing: text)
            for oy in 0..<p.oh {
                for ox in 0..<p.ow {
                    for width in 1...min(6, p.ow - ox) {
                        let t = BlockTaps(oy: oy, ox: ox, width: width, p: p, s: p.sw)
                        let rows = (0..<p.kh).filter { (0..<p.h).contains(oy * p.sh - p.ph + $0 * p.dh) }
                        let cols = (0..<p.kw).filter { kx in (ox..<(ox + width)).contains { (0..<p.w).contains($0 * p.sw - p.pw + kx * p.dw) } }
                        let seen = Set((ox..<(ox + width)).flatMap { x in (0..<p.kw).map { x * p.sw - p.pw + $0 * p.dw } }.filter { (0..<p.w).contains($0) })
                        let label = "\(text) oy \(oy) ox \(ox) width \(width)"
                        XCTAssertEqual(Array(t.kyLo..<(t.kyLo + t.rows)), rows, label)
                        if cols.isEmpty { XCTAssertEqual(t.cols, 0, label) } else {
                            XCTAssertEqual(Array(t.kxLo..<(t.kxLo + t.cols)), Array(cols.first!...cols.last!), label)
                        }
                        if p.dw > 1 { continue }  // input-stationary blocks are for horizontal dilation 1 only
                        if seen.isEmpty { XCTAssertEqual(t.inputCols, 0, label) } else {
                            XCTAssertEqual(Array(t.xLo..<(t.xLo + t.inputCols)), Array(seen.min()!...seen.max()!), label)
                        }
                    }
                }
            }
        }
    }

    /// A row of `ow` pixels split into ⌈ow / width⌉ blocks: the widths sum to the row, differ by at most one,
    /// the wider come first, and none exceeds the register block width.
    func testChunkWidthsSplitTheRowEvenly() {
        for width in [8, 12, 16] {
            for ow in 1...130 {
                let chunks = (ow + width - 1) / width
                let widths = (0..<chunks).map { chunkWidth($0, of: ow, chunks: chunks) }
                XCTAssertEqual(widths.reduce(0, +), ow)
                XCTAssertLessThanOrEqual(widths.max()! - widths.min()!, 1)
                XCTAssertEqual(widths, widths.sorted(by: >))
                XCTAssertLessThanOrEqual(widths.max()!, width, "ow \(ow) width \(width)")
                XCTAssertGreaterThan(widths.min()!, 0)
            }
        }
    }
}
