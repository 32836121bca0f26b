import CSpin
import DWBF16
import DWCore

/// The bf16 pointwise engine: Y (O × HW) = W (O × C) · X (C × HW) per image with the operands rounded to
/// bfloat16 and `vdpbf16ps` dot products accumulating in fp32; bias, activation and residual run in fp32
/// on the fp32 NCHW16c output, exactly as in `gemm-simd`.
///
/// - Weights are packed once into panels of `vectors`·16 output channels, as bf16 pairs along the input
///   channels: per input-channel pair, each output lane holds (W[o, 2k], W[o, 2k+1]). A pre-BatchNorm is
///   folded in fp32 before rounding.
/// - Activations stay fp32 between layers (the depthwise kernels read and write fp32). Each task converts
///   its pixel chunk's input channel block (kc channels × the chunk's pixels, ≤ 256 KiB) to bf16 once, with
///   `vcvtneps2bf16`, and every panel of the task's group reuses it. Measured against keeping whole
///   activations in bf16: the conversion is ~1/(O/16) of the dot-product work.
/// - The micro-kernel (C, `Sources/DWBF16`, compiled with a target attribute) holds a `vectors` × `pixels`
///   tile in zmm accumulators and broadcasts each pixel's channel pair from memory: per pair, `vectors` weight
///   loads and `vectors`·`pixels` `vdpbf16ps` (64 FLOPs each).
/// - Threads split (image, chunk, panel group) tasks as `gemm-simd` does, so the output is bitwise identical
///   for every thread count.
///
/// Runtime dispatch: the registry's entries run only where CPUID reports AVX512_BF16 (`BF16Kernels.native`);
/// elsewhere they refuse with "needs avx512_bf16". `emulated: true` (tests only, not in the registry) runs the
/// same packing, rounding and summation order in Swift fp32 arithmetic on any CPU.
///
/// Work: 2·N·⌈O/16⌉·16·⌈C/16⌉·16·HW FLOPs (padding lanes included), at the bf16 dot-product peak.
public struct PointwiseGEMMBF16: PointwiseAlgorithm {
    public let vectors: Int
    public let pixels: Int
    /// Input channels per cache block (a multiple of 16).
    public let kc: Int
    public let chunk: Int
    public let emulated: Bool

    public init(vectors: Int, pixels: Int, kc: Int = 512, chunk: Int = 256, emulated: Bool = false) {
        precondition((1...Int(DW_BF16_MAX_VECTORS)).contains(vectors) && (1...Int(DW_BF16_MAX_PIXELS)).contains(pixels),
                     "no bf16 tile \(vectors)x\(pixels)")
        precondition(kc % 16 == 0 && kc >= 16, "kc must be a positive multiple of 16")
        self.vectors = vectors
        self.pixels = pixels
        self.kc = kc
        self.chunk = chunk
        self.emulated = emulated
    }

    public var name: String {
        (emulated ? "gemm-bf16-emulated" : "gemm-bf16") + ".o\(vectors * 16)p\(pixels)" + (kc == 512 ? "" : ".kc\(kc)")
            + (chunk == 256 ? "" : ".n\(chunk)")
    }
    public var family: String { "gemm-bf16" }
    public var arithmetic: Precision { .bf16 }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.8, 2.0) }
    /// Both operands rounded to bf16 (2⁻⁸ each) and summed in fp32: a few units of 2⁻⁸ relative to the
    /// output's magnitude on the sweep's data; 2·10⁻² leaves a factor of ~3 over the largest seen.
    public var errorBound: Double { 2e-2 }
    public var layout: Layout { .nchw16c }

    public var summary: String {
        "bf16 GEMM: \(vectors * 16) out-channels × \(pixels) pixels of vdpbf16ps fp32 accumulators, bf16 weight pairs, kc = \(kc), fused fp32 epilogue"
            + (emulated ? " (fp32 emulation, tests only)" : "")
    }

    public func supports(_ problem: PointwiseProblem) -> String? {
        if problem.precision != .bf16 { return "rounds to bf16: runs only on bf16 problems (suffix .bf16, --precision bf16)" }
        if !emulated && !BF16Kernels.native { return BF16Kernels.missingInstruction }
        return nil
    }

    /// As `gemm-simd`'s, with 2-byte weights and the bf16 copy of each input block written and read in cache.
    public func workEstimate(_ problem: PointwiseProblem) -> WorkEstimate {
        PanelSchedule.workEstimate(problem, tile: pixels, kc: kc, chunk: chunk, weightBytes: 2)
    }

    public func prepare(_ problem: PointwiseProblem, weights: PointwiseWeights, epilogue: PointwiseEpilogue,
                        executor: any Executor) throws -> any PointwisePlan {
        try validate(problem, weights)
        return PointwiseBF16Plan(problem: problem, weights: weights, epilogue: epilogue, algorithm: self, executor: executor)
    }
}

/// The CPU's bf16 support and the conversions, dispatched at run time.
public enum BF16Kernels {
    /// Whether this CPU executes AVX512_BF16 (`BF16.native`).
    public static var native: Bool { BF16.native }

    /// The refusal of every native bf16 algorithm on a CPU without the instruction.
    public static let missingInstruction = "needs avx512_bf16"

    /// Rounds `count` floats to bf16: with `vcvtneps2bf16` where native, otherwise `BF16.round` (same bits).
    public static func convert(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int,
                               emulated: Bool = false) {
        if native && !emulated {
            dw_bf16_convert(source, destination, count)
        } else {
            for i in 0..<count { destination[i] = BF16.round(source[i]) }
        }
    }
}

extension Precision {
    /// Parses a requested precision: fp32, bf16, or auto (bf16 where the CPU has avx512_bf16, fp32 elsewhere).
    /// bf16 on a CPU without it is refused: every bf16 algorithm would refuse, and the run would silently be fp32.
    public static func resolving(_ text: String) throws -> Precision {
        if text == "auto" { return BF16Kernels.native ? .bf16 : .fp32 }
        let p = try Precision(parsing: text)
        if p == .bf16 && !BF16Kernels.native {
            throw ProblemError.syntax(text, "this CPU has no avx512_bf16, so nothing would run in bf16 (use fp32, or auto)")
        }
        return p
    }
}

/// Owned 64-byte-aligned bf16 storage (weights, per-thread input copies).
final class BF16Buffer: @unchecked Sendable {
    let count: Int
    let pointer: UnsafeMutablePointer<UInt16>
    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 2, alignment: AlignedBuffer.alignment)
        pointer = raw.initializeMemory(as: UInt16.self, repeating: 0, count: max(1, count))
    }
    deinit { pointer.deallocate() }
}

final class PointwiseBF16Plan: NHWCPointwisePlan {
    let schedule: PanelSchedule
    var problem: PointwiseProblem { schedule.problem }
    var epilogue: PointwiseEpilogue { schedule.epilogue }
    var layout: Layout { .nchw16c }
    let emulated: Bool
    /// Panel i starts at `i · schedule.panelElements` elements; within it, per input-channel pair, `av` × 32 bf16
    /// (`av` = the panel's vectors).
    let packed: BF16Buffer
    let pool: any Executor
    /// One bf16 copy of an input block per worker: kc channels × the largest chunk.
    let scratch: [BF16Buffer]

    init(problem p: PointwiseProblem, weights: PointwiseWeights, epilogue: PointwiseEpilogue, algorithm a: PointwiseGEMMBF16, executor: any Executor) {
        let (w, b) = weights.folded()
        // Every group converts its chunk's input again, so groups are as few as fill the threads (one task per
        // thread; gemm-simd takes four). Measured at 2 threads on the 14×14 layers: one group per thread 2–8% faster
        // than two or four.
        schedule = PanelSchedule(problem: p, epilogue: epilogue, bias: b, vectors: a.vectors, pixels: a.pixels, kc: a.kc, chunk: a.chunk,
                                 threads: executor.threads, tasksPerThread: 1)
        let s = schedule
        emulated = a.emulated
        packed = BF16Buffer(count: s.panels * s.panelElements)
        for panel in 0..<s.panels {
            let av = s.width(of: panel)
            let base = packed.pointer + panel * s.panelElements
            for pair in 0..<s.cBlocks * 8 {
                for lane in 0..<av * 16 {
                    let o = panel * s.vectors * 16 + lane
                    guard o < p.o else { break }
                    for j in 0..<2 where 2 * pair + j < p.c {
                        base[pair * av * 32 + lane * 2 + j] = BF16.round(w[o * p.c + 2 * pair + j])
                    }
                }
            }
        }
        pool = executor
        let scratchCount = min(s.kcBlocks, s.cBlocks) * 16 * (s.chunks.map(\.count).max() ?? 1)
        scratch = (0..<executor.threads).map { _ in BF16Buffer(count: scratchCount) }
    }

    /// Each task converts each channel block of its chunk to bf16 once (into its worker's scratch), then every
    /// panel of its group runs over it.
    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?) {
        let x = SendablePointer(input), y = SendableMutablePointer(output), r = residual.map { SendablePointer($0) }
        let s = schedule, weights = SendablePointer(UnsafePointer(packed.pointer)), emulated = emulated, scratch = scratch
        let plane = s.problem.pixels * 16
        s.execute(on: pool, hasResidual: residual != nil) { image, chunk, group, worker in
            let chunkInput = x.pointer + image * s.cBlocks * plane + chunk.start * 16
            let copy = scratch[worker].pointer, xStride = chunk.count * 16
            s.run(image: image, chunk: chunk, group: group, weights: weights.pointer, x.pointer, y.pointer, r?.pointer, prefetchInput: false,
                  stage: { kb, nb in
                      for b in 0..<nb {
                          BF16Kernels.convert(chunkInput + (kb + b) * plane, copy + b * xStride, count: xStride, emulated: emulated)
                      }
                      return (UnsafePointer(copy), 16, xStride)
                  },
                  tile: { av, bt, w, xs, xPixel, xStride, nb, ys, yStride, start in
                      PointwiseBF16Plan.tile(emulated: emulated, av, bt, w, xs, xPixel, xStride, nb, ys, yStride, start)
                  })
        }
    }

    @inline(__always)
    static func tile(emulated: Bool, _ av: Int, _ bt: Int, _ w: UnsafePointer<UInt16>, _ xs: UnsafePointer<UInt16>, _ xPixel: Int,
                     _ xStride: Int, _ nb: Int, _ ys: UnsafeMutablePointer<Float>, _ yStride: Int, _ start: UnsafePointer<Float>?) {
        if emulated {
            PointwiseBF16Plan.emulatedTile(vectors: av, pixels: bt, w, xs, xPixel, xStride, nb, ys, yStride, start)
        } else {
            dw_bf16_tile(Int32(av), Int32(bt), w, xs, xPixel, xStride, Int32(nb), ys, yStride, start)
        }
    }

    /// Per worker, the NHWC path's fp32 block of packed pixels (16 channels × the largest chunk, what one
    /// conversion to bf16 reads) and tile accumulators.
    private var nhwcWorkspace: [(block: AlignedBuffer, tiles: AlignedBuffer)]?

    func reserveNHWC() {
        if nhwcWorkspace != nil { return }
        let s = schedule, largest = s.chunks.map(\.count).max() ?? 1
        nhwcWorkspace = (0..<pool.threads).map { _ in (AlignedBuffer(count: 16 * largest), AlignedBuffer(count: s.nhwcTileFloats)) }
    }

    func executeNHWC(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?) {
        nhwc(input: input, output: output, residual: residual)
    }

    func executeNHWC(input: UnsafePointer<BFloat16>, output: UnsafeMutablePointer<BFloat16>, residual: UnsafePointer<BFloat16>?) {
        nhwc(input: input, output: output, residual: residual)
    }

    /// As `execute` on NHWC tensors of `E`. fp32 input: each channel block of a task's chunk is packed from the NHWC
    /// pixels (one 16-float run each) into the worker's fp32 block, then converted to bf16 as in `execute`. bf16 input
    /// whose channels fill whole blocks: the micro-kernel reads it in place (pixels C elements apart, blocks 16), no
    /// copy at all; otherwise widened and packed as fp32 is (the padding lanes zeroed). Finished tiles are stored as
    /// NHWC runs of `E`. The bf16 values the micro-kernel reads are the same as `execute`'s, so are the fp32 sums.
    @inline(__always)
    private func nhwc<E: TensorElement>(input: UnsafePointer<E>, output: UnsafeMutablePointer<E>, residual: UnsafePointer<E>?) {
        reserveNHWC()
        let x = SendablePointer(input), y = SendableMutablePointer(output), r = residual.map { SendablePointer($0) }
        let s = schedule, weights = SendablePointer(UnsafePointer(packed.pointer)), emulated = emulated, scratch = scratch
        let workspace = nhwcWorkspace!
        let inPlace = E.self == BFloat16.self && s.problem.c % 16 == 0
        s.execute(on: pool, hasResidual: residual != nil) { image, chunk, group, worker in
            let chunkInput = x.pointer + (image * s.problem.pixels + chunk.start) * s.problem.c
            let copy = scratch[worker].pointer, block = workspace[worker].block.pointer, xStride = chunk.count * 16
            s.run(image: image, chunk: chunk, group: group, weights: weights.pointer, nil, y.pointer, r?.pointer,
                  nhwcTiles: workspace[worker].tiles.pointer, prefetchInput: false,
                  stage: { kb, nb in
                      if inPlace {
                          return (UnsafeRawPointer(chunkInput + kb * 16).assumingMemoryBound(to: UInt16.self), s.problem.c, 16)
                      }
                      for b in 0..<nb {
                          LayoutConversion.packNHWC(chunkInput, channels: s.problem.c, pixels: chunk.count, blocks: (kb + b)..<(kb + b + 1),
                                                    block, blockStride: xStride)
                          BF16Kernels.convert(UnsafePointer(block), copy + b * xStride, count: xStride, emulated: emulated)
                      }
                      return (UnsafePointer(copy), 16, xStride)
                  },
                  tile: { av, bt, w, xs, xPixel, xStride, nb, ys, yStride, start in
                      PointwiseBF16Plan.tile(emulated: emulated, av, bt, w, xs, xPixel, xStride, nb, ys, yStride, start)
                  })
        }
    }

    /// `dw_bf16_tile` in Swift fp32 arithmetic: per channel pair, the odd product then the even one is added to
    /// the accumulator (each product of two bf16 values is exact in fp32), as `vdpbf16ps` is specified.
    static func emulatedTile(vectors: Int, pixels: Int, _ w: UnsafePointer<UInt16>, _ x: UnsafePointer<UInt16>, _ xPixel: Int,
                             _ xStride: Int, _ blocks: Int, _ y: UnsafeMutablePointer<Float>, _ yStride: Int, _ start: UnsafePointer<Float>?) {
        for v in 0..<vectors {
            for p in 0..<pixels {
                for lane in 0..<16 {
                    var acc = start.map { $0[16 * v + lane] } ?? y[v * yStride + 16 * p + lane]
                    for pair in 0..<blocks * 8 {
                        let xp = x + (pair / 8) * xStride + xPixel * p + 2 * (pair % 8)
                        let wp = w + pair * vectors * 32 + v * 32 + 2 * lane
                        acc += BF16.float(wp[1]) * BF16.float(xp[1])
                        acc += BF16.float(wp[0]) * BF16.float(xp[0])
                    }
                    y[v * yStride + 16 * p + lane] = acc
                }
            }
        }
    }
}
