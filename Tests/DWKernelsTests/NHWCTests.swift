import DWCore
import DWKernels
import XCTest

/// The NHWC paths: the fast NHWC ↔ NCHW16c conversions against the element-by-element one, and the packed-panel
/// GEMMs on NHWC tensors bit for bit equal to the same plans on NCHW16c.
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
                }
            }
        }
    }
}
