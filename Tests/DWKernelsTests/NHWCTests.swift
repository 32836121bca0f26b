import DWCore
import DWKernels
import XCTest

/// The NHWC paths: the fast NHWC ↔ NCHW16c conversions against the element-by-element one, the packed-panel
/// GEMMs on NHWC tensors bit for bit equal to the same plans on NCHW16c, and bf16 tensors at the interface (read in
/// place, widened exactly, rounded once) against the fp32 path and `BF16.round` lane by lane. CI also runs these with
/// DWBENCH_NO_BF16=1, where the bf16 conversions take the portable Swift path instead of AVX-512.
final class NHWCTests: XCTestCase {
    private func random(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return rng.signedArray(count)
    }

    func testFastNHWCConversionsMatchTheElementwiseOne() {
        for (n, c, h, w) in [(1, 16, 3, 4), (2, 21, 5, 3), (1, 37, 1, 1), (2, 5, 4, 4)] {
            let nchw = Tensor(nchw: random(n * c * h * w, seed: UInt64(c)), n: n, c: c, h: h, w: w)
            let nhwc = nchw.converted(to: .nhwc)   // NCHW → NHWC: the element-by-element path
            let blocked = nhwc.converted(to: .nchw16c)   // the fast one
            let reference = nchw.converted(to: .nchw16c)
            XCTAssertEqual(blocked.storage.toArray(), reference.storage.toArray(), "NHWC → NCHW16c, padding lanes zero, \(c) channels")
            XCTAssertEqual(reference.converted(to: .nhwc).storage.toArray(), nhwc.storage.toArray(), "NCHW16c → NHWC, \(c) channels")
        }
    }

    func testGEMMsOnNHWCEqualNCHW16cBitForBit() throws {
        let pool = ThreadPool(threads: 2, spinSeconds: 0)
        defer { pool.shutdown() }
        var algorithms: [any PointwiseAlgorithm] = [PointwiseGEMM(vectors: 3, pixels: 8), PointwiseGEMM(vectors: 2, pixels: 14, kc: 32, chunk: 16),
                                                    PointwiseGEMMBF16(vectors: 3, pixels: 8, kc: 32, emulated: true)]
        if BF16Kernels.native { algorithms.append(PointwiseGEMMBF16(vectors: 3, pixels: 8)) }
        let cases: [(n: Int, c: Int, o: Int, h: Int, w: Int, epilogue: PointwiseEpilogue)] = [
            (1, 32, 48, 7, 7, PointwiseEpilogue(activation: .gelu, residual: true)),
            (2, 21, 37, 5, 3, PointwiseEpilogue(activation: .relu)),
            (1, 100, 70, 9, 9, PointwiseEpilogue(activation: .none, residual: true)),   // several kc blocks at kc = 32
            (1, 16, 5, 2, 3, .none),
            (1, 64, 40, 6, 5, PointwiseEpilogue(activation: .gelu, residual: true)),   // whole blocks: bf16 input read in place
        ]
        for a in algorithms {
            for executor in [InlineExecutor(), pool] as [any Executor] {
                for t in cases {
                    let p = try PointwiseProblem(n: t.n, c: t.c, h: t.h, w: t.w, o: t.o, precision: a.arithmetic)
                    let plan = try a.prepare(p, weights: .random(for: p, preBatchNorm: true), epilogue: t.epilogue, executor: executor)
                    let x = Tensor(nchw: random(t.n * t.c * t.h * t.w, seed: 1), n: t.n, c: t.c, h: t.h, w: t.w)
                    let r = Tensor(nchw: random(t.n * t.o * t.h * t.w, seed: 2), n: t.n, c: t.o, h: t.h, w: t.w)
                    // Every tensor a plan reads is held by a name until after the call (a temporary's buffer may be
                    // freed as soon as its pointer is taken).
                    let (xb, rb, xn, rn) = (x.converted(to: .nchw16c), r.converted(to: .nchw16c), x.converted(to: .nhwc), r.converted(to: .nhwc))
                    let blockedOut = Tensor(n: t.n, c: t.o, h: t.h, w: t.w, layout: .nchw16c)
                    let nhwcOut = Tensor(n: t.n, c: t.o, h: t.h, w: t.w, layout: .nhwc)
                    let direct = try XCTUnwrap(plan as? any NHWCPointwisePlan, "\(a.name) runs NHWC directly")
                    withExtendedLifetime((xb, rb, xn, rn, blockedOut, nhwcOut)) {
                        plan.execute(input: xb.pointer, output: blockedOut.pointer, residual: t.epilogue.residual ? UnsafePointer(rb.pointer) : nil)
                        direct.executeNHWC(input: xn.pointer, output: nhwcOut.pointer, residual: t.epilogue.residual ? UnsafePointer(rn.pointer) : nil)
                    }
                    XCTAssertEqual(nhwcOut.nchwValues().map(\.bitPattern), blockedOut.nchwValues().map(\.bitPattern),
                                   "\(a.name) on \(p) \(t.epilogue), \(executor.threads) threads")

                    // bf16 tensors: the output is the fp32 NHWC path's on the widened input, rounded once.
                    let xh = bf16(xn.storage.toArray()), rh = bf16(rn.storage.toArray())
                    let (xw, rw) = (Tensor(n: t.n, c: t.c, h: t.h, w: t.w, layout: .nhwc), Tensor(n: t.n, c: t.o, h: t.h, w: t.w, layout: .nhwc))
                    for i in 0..<xh.count { xw.pointer[i] = BF16.float(xh[i].bits) }
                    for i in 0..<rh.count { rw.pointer[i] = BF16.float(rh[i].bits) }
                    let widenedOut = Tensor(n: t.n, c: t.o, h: t.h, w: t.w, layout: .nhwc)
                    var bf16Out = [BFloat16](repeating: BFloat16(bits: 0x7fc1), count: t.n * t.h * t.w * t.o)
                    withExtendedLifetime((xw, rw, widenedOut)) {
                        direct.executeNHWC(input: xw.pointer, output: widenedOut.pointer, residual: t.epilogue.residual ? UnsafePointer(rw.pointer) : nil)
                        bf16Out.withUnsafeMutableBufferPointer { out in
                            direct.executeNHWC(input: xh, output: out.baseAddress!, residual: t.epilogue.residual ? rh : nil)
                        }
                    }
                    XCTAssertEqual(bf16Out.map(\.bits), widenedOut.storage.toArray().map { BF16.round($0) },
                                   "\(a.name) on bf16 NHWC tensors, \(p) \(t.epilogue), \(executor.threads) threads")
                }
            }
        }
    }

    private func bf16(_ values: [Float]) -> [BFloat16] { values.map { BFloat16(bits: BF16.round($0)) } }

    /// Values where rounding has something to decide: ties both ways, NaN (signalling, with payload, negative),
    /// infinities, overflow to infinity, denormals (flushed to a signed zero), zeros, and ordinary numbers.
    private var awkward: [Float] {
        var v: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, -.nan, Float(bitPattern: 0x7f80_0001), Float(bitPattern: 0xffa0_1234),
                          Float.greatestFiniteMagnitude, -Float.greatestFiniteMagnitude, Float.leastNonzeroMagnitude, -Float.leastNormalMagnitude / 2,
                          Float.leastNormalMagnitude, Float(bitPattern: 0x3f80_8000), Float(bitPattern: 0x3f81_8000), Float(bitPattern: 0x3f80_8001),
                          Float(bitPattern: 0x3f80_7fff), Float(bitPattern: 0xbf81_8000)]
        v += random(45, seed: 7).map { $0 * 1e3 }
        return v
    }

    func testBF16TensorConversionsMatchTheScalarRounding() {
        let values = awkward
        var narrowed = [BFloat16](repeating: BFloat16(bits: 0), count: values.count)
        BF16.narrow(values, &narrowed, count: values.count)
        XCTAssertEqual(narrowed.map(\.bits), values.map { BF16.round($0) }, "narrow is BF16.round lane by lane")
        var widened = [Float](repeating: 1, count: values.count)
        BF16.widen(narrowed, &widened, count: values.count)
        XCTAssertEqual(widened.map(\.bitPattern), narrowed.map { BF16.float($0.bits).bitPattern }, "widen is exact")

        // NHWC bf16 ↔ channel blocks, with a partial last block, against the same moves on floats.
        for c in [16, 21, 37, 5] {
            let pixels = 4, blocks = Layout.blocks(c), count = pixels * c
            let nhwc = (0..<count).map { values[$0 % values.count] }, nhwcBF16 = bf16(nhwc)
            let widenedNHWC = nhwcBF16.map { BF16.float($0.bits) }
            var packed = [Float](repeating: .nan, count: blocks * pixels * 16), reference = packed
            LayoutConversion.packNHWC(nhwcBF16, channels: c, pixels: pixels, blocks: 0..<blocks, &packed, blockStride: pixels * 16)
            LayoutConversion.packNHWC(widenedNHWC, channels: c, pixels: pixels, blocks: 0..<blocks, &reference, blockStride: pixels * 16)
            XCTAssertEqual(packed.map(\.bitPattern), reference.map(\.bitPattern), "pack bf16 NHWC, \(c) channels (padding lanes zero)")
            var unpacked = [BFloat16](repeating: BFloat16(bits: 0x1234), count: count + 3)
            let blocked = (0..<blocks * pixels * 16).map { values[($0 * 7) % values.count] }
            LayoutConversion.unpackNHWC(blocked, blockStride: pixels * 16, blocks: 0..<blocks, pixels: pixels, &unpacked, channels: c)
            var expected = [UInt16](repeating: 0x1234, count: count + 3)
            for p in 0..<pixels { for ch in 0..<c { expected[p * c + ch] = BF16.round(blocked[(ch / 16) * pixels * 16 + p * 16 + ch % 16]) } }
            XCTAssertEqual(unpacked.map(\.bits), expected, "unpack to bf16 NHWC, \(c) channels, nothing written past them")
        }
    }
}
