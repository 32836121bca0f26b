import CSpin
import DWCore

/// Our pointwise GEMM: Y (O × HW) = W (O × C) · X (C × HW) per image, on NCHW16c activations (the layout
/// of the depthwise kernels, so a RepLKNet block needs no reorder between its layers), with the epilogue
/// fused into the tile loop.
///
/// - Weights are packed once at preparation into panels of `vectors`·16 output channels: for each input
///   channel, the panel's `vectors`·16 weights are contiguous (zero rows pad O and C to multiples of 16).
///   A pre-BatchNorm is folded into the panels and the bias.
/// - The micro-kernel (`PointwiseTiles.swift`, generated) holds a `vectors`×`pixels` tile in zmm
///   accumulators (28 for o32p14), loads `vectors` weight vectors per input channel and broadcasts each
///   pixel's value from memory: `vectors`·`pixels` FMAs per `vectors` + `pixels` loads.
/// - Cache blocking: input channels in blocks of `kc` (the panel's kc×16·`vectors` weights, 32–64 KiB,
///   stream from L1/L2 across a chunk's tiles); pixels in chunks of ~`chunk` so that a chunk's input
///   slab (kc × chunk) and output stay in L2 while every panel passes over them.
/// - Threads take (image, pixel chunk, panel group) tasks: they split the output, never a sum, and every
///   output's sum runs over the input channels in the same order, so results are bitwise identical for
///   any thread count.
/// - Epilogue: on the last channel block, right after a tile is stored (still in L1), bias (folded into
///   the accumulators' start), activation and residual are applied.
/// - Software prefetch: on the first panel's pass over a chunk, the next tile's input lines; on the last
///   channel block, the next tile's residual lines (measured: stem.2 at 112² went from ~75% to ~89% of peak).
///
/// Work: 2·N·⌈O/16⌉·16·⌈C/16⌉·16·HW FLOPs (padding lanes included).
public struct PointwiseGEMM: PointwiseAlgorithm {
    /// Output-channel vectors (16 channels each) per tile.
    public let vectors: Int
    /// Pixels per tile.
    public let pixels: Int
    /// Input channels per cache block (a multiple of 16).
    public let kc: Int
    /// Target pixels per chunk (rounded to whole tiles, chunks of equal size).
    public let chunk: Int

    public init(vectors: Int, pixels: Int, kc: Int = 512, chunk: Int = 256) {
        precondition(pointwiseTileShapes.contains([vectors, pixels]), "no generated tile \(vectors)x\(pixels)")
        precondition(kc % 16 == 0 && kc >= 16, "kc must be a positive multiple of 16")
        self.vectors = vectors
        self.pixels = pixels
        self.kc = kc
        self.chunk = chunk
    }

    public var name: String {
        "gemm-simd.o\(vectors * 16)p\(pixels)" + (kc == 512 ? "" : ".kc\(kc)") + (chunk == 256 ? "" : ".n\(chunk)")
    }
    public var family: String { "gemm-simd" }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.85, 2.0) }

    public var layout: Layout { .nchw16c }

    public var summary: String {
        "Swift GEMM: \(vectors * 16) out-channels × \(pixels) pixels in \(vectors * pixels) zmm accumulators, packed weights, kc = \(kc), fused epilogue"
    }

    public func supports(_ problem: PointwiseProblem) -> String? { nil }

    /// Padded FLOPs; bytes: input and output once, the weights once per pixel chunk, and the output
    /// read and written once more per extra channel block.
    public func workEstimate(_ problem: PointwiseProblem) -> WorkEstimate {
        PanelSchedule.workEstimate(problem, tile: pixels, kc: kc, chunk: chunk, weightBytes: 4)
    }

    public func prepare(_ problem: PointwiseProblem, weights: PointwiseWeights, epilogue: PointwiseEpilogue,
                        executor: any Executor) throws -> any PointwisePlan {
        try validate(problem, weights)
        return PointwiseGEMMPlan(problem: problem, weights: weights, epilogue: epilogue, algorithm: self, executor: executor)
    }
}

final class PointwiseGEMMPlan: NHWCPointwisePlan {
    let schedule: PanelSchedule
    var problem: PointwiseProblem { schedule.problem }
    var epilogue: PointwiseEpilogue { schedule.epilogue }
    var layout: Layout { .nchw16c }
    /// Packed panels, one after another; panel i starts at `i · schedule.panelElements` floats.
    let packed: AlignedBuffer
    let pool: any Executor

    init(problem p: PointwiseProblem, weights: PointwiseWeights, epilogue: PointwiseEpilogue, algorithm a: PointwiseGEMM, executor: any Executor) {
        let (w, b) = weights.folded()
        // Four tasks per thread: the fp32 input is read in place, so more groups cost nothing but balance better.
        schedule = PanelSchedule(problem: p, epilogue: epilogue, bias: b, vectors: a.vectors, pixels: a.pixels, kc: a.kc, chunk: a.chunk,
                                 threads: executor.threads, tasksPerThread: 4)
        let s = schedule
        packed = AlignedBuffer(count: s.panels * s.panelElements)
        packed.pointer.update(repeating: 0, count: s.panels * s.panelElements)
        for panel in 0..<s.panels {
            let width = s.width(of: panel) * 16
            let base = packed.pointer + panel * s.panelElements
            for lane in 0..<width {
                let o = panel * s.vectors * 16 + lane
                guard o < p.o else { break }
                for c in 0..<p.c { base[c * width + lane] = w[o * p.c + c] }
            }
        }
        pool = executor
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?) {
        let x = SendablePointer(input), y = SendableMutablePointer(output), r = residual.map { SendablePointer($0) }
        let s = schedule, weights = SendablePointer(UnsafePointer(packed.pointer))
        let plane = s.problem.pixels * 16
        s.execute(on: pool, hasResidual: residual != nil) { image, chunk, group, _ in
            let chunkInput = x.pointer + image * s.cBlocks * plane + chunk.start * 16
            s.run(image: image, chunk: chunk, group: group, weights: weights.pointer, x.pointer, y.pointer, r?.pointer, prefetchInput: true,
                  stage: { kb, _ in (chunkInput + kb * plane, 16, plane) },
                  tile: { av, bt, w, xs, _, xStride, nb, ys, yStride, start in pointwiseTile[av][bt]!(w, xs, xStride, nb, ys, yStride, start) })
        }
    }

    /// Per worker, the NHWC path's packed input blocks (kc channels × the largest chunk) and tile accumulators.
    private var nhwcWorkspace: [(input: AlignedBuffer, tiles: AlignedBuffer)]?

    func reserveNHWC() {
        if nhwcWorkspace != nil { return }
        let s = schedule, largest = s.chunks.map(\.count).max() ?? 1
        nhwcWorkspace = (0..<pool.threads).map { _ in
            (AlignedBuffer(count: min(s.kcBlocks, s.cBlocks) * 16 * largest), AlignedBuffer(count: s.nhwcTileFloats))
        }
    }

    func executeNHWC(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?) {
        nhwc(input: input, output: output, residual: residual)
    }

    func executeNHWC(input: UnsafePointer<BFloat16>, output: UnsafeMutablePointer<BFloat16>, residual: UnsafePointer<BFloat16>?) {
        nhwc(input: input, output: output, residual: residual)
    }

    /// As `execute` on NHWC tensors of `E`: each task packs its chunk's channel blocks into its worker's fp32 buffer
    /// (the fp32 path reads NCHW16c in place; NHWC pixels are C elements apart; bf16 is widened on the way) and stores
    /// finished tiles as NHWC runs.
    @inline(__always)
    private func nhwc<E: TensorElement>(input: UnsafePointer<E>, output: UnsafeMutablePointer<E>, residual: UnsafePointer<E>?) {
        reserveNHWC()
        let x = SendablePointer(input), y = SendableMutablePointer(output), r = residual.map { SendablePointer($0) }
        let s = schedule, weights = SendablePointer(UnsafePointer(packed.pointer)), workspace = nhwcWorkspace!
        s.execute(on: pool, hasResidual: residual != nil) { image, chunk, group, worker in
            let chunkInput = x.pointer + (image * s.problem.pixels + chunk.start) * s.problem.c
            let packed = workspace[worker].input.pointer, xStride = chunk.count * 16
            s.run(image: image, chunk: chunk, group: group, weights: weights.pointer, nil, y.pointer, r?.pointer,
                  nhwcTiles: workspace[worker].tiles.pointer, prefetchInput: false,
                  stage: { kb, nb in
                      LayoutConversion.packNHWC(chunkInput, channels: s.problem.c, pixels: chunk.count, blocks: kb..<(kb + nb), packed,
                                                blockStride: xStride)
                      return (UnsafePointer(packed), 16, xStride)
                  },
                  tile: { av, bt, w, xs, _, xStride, nb, ys, yStride, start in pointwiseTile[av][bt]!(w, xs, xStride, nb, ys, yStride, start) })
        }
    }
}
