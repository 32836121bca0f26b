import DWCore
import DWKernels
import DWTestSupport
import Foundation
import XCTest

/// The bf16 pointwise engine. On every machine: its fp32 emulation (same packing, rounding and summation
/// order) against an fp64 reference on bf16-rounded operands, the refusals, and determinism. Where the CPU has
/// avx512_bf16: the instructions against the emulation (conversion bit for bit, dot products to fp32 rounding).
final class BF16KernelTests: XCTestCase {
    let emulated = PointwiseGEMMBF16(vectors: 3, pixels: 8, kc: 32, emulated: true)

    /// Runs `algorithm` on `problem` (seeded data, NCHW in and out) with `epilogue`.
    func run(_ algorithm: any PointwiseAlgorithm, _ problem: PointwiseProblem, _ weights: PointwiseWeights,
             _ input: [Float], _ residual: [Float]?, epilogue: PointwiseEpilogue, threads: Int = 2) throws -> [Float] {
        let plan = try algorithm.prepare(problem, weights: weights, epilogue: epilogue, executor: TestExecutors.pool(threads))
        let x = Tensor(nchw: input, n: problem.n, c: problem.c, h: problem.h, w: problem.w).converted(to: plan.layout)
        let r = residual.map { Tensor(nchw: $0, n: problem.n, c: problem.o, h: problem.h, w: problem.w).converted(to: plan.layout) }
        let y = Tensor(n: problem.n, c: problem.o, h: problem.h, w: problem.w, layout: plan.layout)
        plan.execute(input: x.pointer, output: y.pointer, residual: r.map { UnsafePointer($0.pointer) })
        return y.nchwValues()
    }

    /// The emulation computes exactly the product of the bf16-rounded operands, summed in fp32: against the
    /// fp64 product of the same rounded operands it differs only by fp32 summation (≤ 1e-5 relative), while
    /// against the unrounded fp32 operands it differs by the bf16 rounding (≥ 1e-4). So the packing, pairing
    /// and padding are right, and the rounding is really applied.
    func testEmulationIsTheExactProductOfRoundedOperands() throws {
        for (i, problem) in pointwiseSweep().enumerated() {
            let p = problem.with(precision: .bf16)
            var rng = SeededGenerator(seed: UInt64(40 + i))
            let input = rng.signedArray(p.inputCount).map { 3 * $0 }
            let w = PointwiseWeights.random(for: problem, bias: true, seed: UInt64(50 + i))
            let rounded = try PointwiseWeights(outChannels: w.outChannels, inChannels: w.inChannels, weight: w.weight.map(BF16.rounded), bias: w.bias)
            let out = try run(emulated, p, w, input, nil, epilogue: .none)
            let exact = referencePointwise(problem, input: input.map(BF16.rounded), weights: rounded, epilogue: .none, residual: nil)
            let unrounded = referencePointwise(problem, input: input, weights: w, epilogue: .none, residual: nil)
            XCTAssertLessThanOrEqual(relativeError(out, exact), 1e-5, "\(p)")
            if problem.c >= 16 { XCTAssertGreaterThan(relativeError(out, unrounded), 1e-4, "\(p): was anything rounded?") }
            XCTAssertLessThanOrEqual(relativeError(out, unrounded), emulated.errorBound, "\(p)")
        }
    }

    func testEmulationPassesTheConformanceSweep() throws {
        let outcome = try Conformance.pointwiseSweep([emulated, PointwiseGEMMBF16(vectors: 4, pixels: 7, emulated: true)])
        XCTAssertEqual(outcome.failures, [])
        print("bf16 emulation sweep: " + outcome.summary)
        let determinism = try Conformance.invariance([emulated], problems: ["n1c600h3w5o70.bf16", "n2c100h20w20o48.bf16"])
        XCTAssertEqual(determinism.failures, [])
    }

    func testRefusals() throws {
        let fp32 = try PointwiseProblem(parsing: "n1c64h8w8o64"), bf16 = fp32.with(precision: .bf16)
        for algorithm in Registry.pointwise where algorithm.arithmetic == .bf16 {
            // A bf16 algorithm never runs on an fp32 problem (a plan must not change a model's precision silently).
            XCTAssertNotNil(algorithm.supports(fp32), algorithm.name)
            XCTAssertEqual(algorithm.supports(bf16), BF16Kernels.native ? nil : BF16Kernels.missingInstruction, algorithm.name)
            XCTAssertNotNil(algorithm.supports(.depthwise(try Problem(parsing: "n1c16h8w8k3s1p1"))))
        }
        // fp32 algorithms remain candidates for bf16 problems: bf16 is a permission.
        for algorithm in Registry.pointwise where algorithm.arithmetic == .fp32 { XCTAssertNil(algorithm.supports(bf16), algorithm.name) }
        XCTAssertNil(emulated.supports(bf16))
        XCTAssertEqual(try Precision.resolving("auto"), BF16Kernels.native ? .bf16 : .fp32)
        XCTAssertEqual(try Precision.resolving("fp32"), .fp32)
        if BF16Kernels.native { XCTAssertEqual(try Precision.resolving("bf16"), .bf16) } else { XCTAssertThrowsError(try Precision.resolving("bf16")) }
        XCTAssertThrowsError(try Precision.resolving("int8"))
        // The heuristic picks bf16 only for a bf16 problem on a CPU that has it.
        XCTAssertEqual(PointwiseConvolution.automaticChoice(for: fp32).arithmetic, .fp32)
        XCTAssertEqual(PointwiseConvolution.automaticChoice(for: bf16).arithmetic, BF16Kernels.native ? .bf16 : .fp32)
    }

    func testNativeConversionMatchesTheRoundingRuleBitForBit() throws {
        try XCTSkipUnless(BF16Kernels.native, "this CPU has no avx512_bf16: the emulation and the rounding rule are tested instead")
        var rng = SeededGenerator(seed: 5)
        var values = (0..<1_000_003).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        values += [0, -0.0, .infinity, -.infinity, .nan, Float(bitPattern: 0x7f80_0001), Float(bitPattern: 0xffc1_2345), .greatestFiniteMagnitude,
                   Float(bitPattern: 0x0000_0001), Float(bitPattern: 0x807f_ffff), .leastNormalMagnitude,
                   Float(bitPattern: 0x3f80_8000), Float(bitPattern: 0x3f81_8000)]
        for count in [values.count, 1, 15, 16, 17, 31, 33] {   // the vector body and every masked tail
            var hardware = [UInt16](repeating: 0xdead, count: count)
            values.withUnsafeBufferPointer { v in hardware.withUnsafeMutableBufferPointer { h in
                BF16Kernels.convert(v.baseAddress!, h.baseAddress!, count: count)
            } }
            for i in 0..<count where hardware[i] != BF16.round(values[i]) {
                XCTFail("vcvtneps2bf16(\(String(values[i].bitPattern, radix: 16))) = \(String(hardware[i], radix: 16)), rule says \(String(BF16.round(values[i]), radix: 16))")
                return
            }
        }
    }

    /// vdpbf16ps against the emulation on the sweep with every epilogue: the same rounded products in fp32; the
    /// hardware may associate the two products of a pair differently, so agreement is to fp32 rounding.
    func testNativeKernelsMatchTheEmulation() throws {
        try XCTSkipUnless(BF16Kernels.native, "this CPU has no avx512_bf16")
        var bitwise = 0, cases = 0
        for (i, problem) in pointwiseSweep().enumerated() {
            let p = problem.with(precision: .bf16)
            for (e, (epilogue, preBN)) in pointwiseEpilogues.enumerated() where e % 3 == i % 3 {
                var rng = SeededGenerator(seed: UInt64(60 + i))
                let input = rng.signedArray(p.inputCount).map { 3 * $0 }
                let residual = epilogue.residual ? rng.signedArray(p.outputCount) : nil
                let w = PointwiseWeights.random(for: problem, preBatchNorm: preBN, seed: UInt64(70 + i))
                for native in Registry.pointwise where native.arithmetic == .bf16 {
                    guard let b = native as? PointwiseGEMMBF16 else { continue }
                    let twin = PointwiseGEMMBF16(vectors: b.vectors, pixels: b.pixels, kc: b.kc, chunk: b.chunk, emulated: true)
                    let hw = try run(native, p, w, input, residual, epilogue: epilogue)
                    let sw = try run(twin, p, w, input, residual, epilogue: epilogue)
                    XCTAssertLessThanOrEqual(relativeError(hw, sw.map(Double.init)), 2e-6, "\(native.name) on \(p) \(epilogue)")
                    if hw.map(\.bitPattern) == sw.map(\.bitPattern) { bitwise += 1 }
                    cases += 1
                }
            }
        }
        print("vdpbf16ps vs emulation: \(bitwise) of \(cases) cases bitwise equal, all within 2e-6")
    }
}
