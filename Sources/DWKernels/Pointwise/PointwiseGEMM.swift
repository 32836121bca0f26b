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
        PointwiseGEMMPlan.workEstimate(problem, tile: pixels, kc: kc, chunk: chunk, weightBytes: 4)
    }

    public func prepare(_ problem: PointwiseProblem, weights: PointwiseWeights, epilogue: PointwiseEpilogue,
                        executor: any Executor) throws -> any PointwisePlan {
        try validate(problem, weights)
        return PointwiseGEMMPlan(problem: problem, weights: weights, epilogue: epilogue, algorithm: self, executor: executor)
    }
}

final class PointwiseGEMMPlan: PointwisePlan {
    let problem: PointwiseProblem
    let epilogue: PointwiseEpilogue
    var layout: Layout { .nchw16c }
    let vectors: Int, pixels: Int, kcBlocks: Int
    let cBlocks: Int, oBlocks: Int, panels: Int
    /// Packed panels, one after another; panel i starts at `i · cBlocks·16 · vectors·16` floats.
    let packed: AlignedBuffer
    /// Bias (pre-BN folded) padded to oBlocks·16 floats.
    let bias: AlignedBuffer
    let chunks: [(start: Int, count: Int)]
    let groups: Int
    let pool: any Executor

    init(problem p: PointwiseProblem, weights: PointwiseWeights, epilogue: PointwiseEpilogue, algorithm a: PointwiseGEMM, executor: any Executor) {
        problem = p
        self.epilogue = epilogue
        vectors = a.vectors
        pixels = a.pixels
        kcBlocks = a.kc / 16
        cBlocks = Layout.blocks(p.c)
        oBlocks = Layout.blocks(p.o)
        panels = (oBlocks + vectors - 1) / vectors
        let (w, b) = weights.folded()
        let panelFloats = cBlocks * 16 * vectors * 16
        packed = AlignedBuffer(count: panels * panelFloats)
        packed.pointer.update(repeating: 0, count: panels * panelFloats)
        for panel in 0..<panels {
            let width = min(vectors, oBlocks - panel * vectors) * 16
            let base = packed.pointer + panel * panelFloats
            for lane in 0..<width {
                let o = panel * vectors * 16 + lane
                guard o < p.o else { break }
                for c in 0..<p.c { base[c * width + lane] = w[o * p.c + c] }
            }
        }
        bias = AlignedBuffer(count: oBlocks * 16)
        bias.pointer.update(repeating: 0, count: oBlocks * 16)
        for o in 0..<p.o { bias.pointer[o] = b[o] }
        chunks = PointwiseGEMMPlan.chunking(pixels: p.pixels, tile: pixels, target: a.chunk)
        let perImage = p.n * chunks.count
        groups = executor.threads == 1 ? 1 : min(panels, max(1, (4 * executor.threads + perImage - 1) / perImage))
        pool = executor
    }

    /// The packed-panel GEMMs' work (`gemm-simd`, and `gemm-bf16` with 2-byte weights): padded FLOPs; fp32 input
    /// and output once, the output read and written once more per extra channel block of `kc`, and the weights
    /// (`weightBytes` each) once per pixel chunk.
    static func workEstimate(_ problem: PointwiseProblem, tile: Int, kc: Int, chunk: Int, weightBytes: Double) -> WorkEstimate {
        let cPad = Double(Layout.blocks(problem.c) * 16), oPad = Double(Layout.blocks(problem.o) * 16)
        let px = Double(problem.pixels), n = Double(problem.n)
        let chunks = Double(chunking(pixels: problem.pixels, tile: tile, target: chunk).count)
        let passes = Double((Layout.blocks(problem.c) * 16 + kc - 1) / kc)
        let bytes = 4 * (n * cPad * px + n * oPad * px * (2 * passes - 1)) + weightBytes * n * chunks * oPad * cPad
        return WorkEstimate(flops: 2 * n * oPad * cPad * px, bytes: bytes)
    }

    /// Splits `pixels` into equal chunks of whole tiles, each near `target` pixels (at least one tile).
    static func chunking(pixels: Int, tile: Int, target: Int) -> [(start: Int, count: Int)] {
        let count = max(1, (pixels + target - 1) / max(target, 1))
        let tilesTotal = (pixels + tile - 1) / tile
        let tilesPerChunk = (tilesTotal + count - 1) / count
        var result: [(Int, Int)] = []
        var start = 0
        while start < pixels {
            let n = min(tilesPerChunk * tile, pixels - start)
            result.append((start, n))
            start += n
        }
        return result
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?) {
        precondition((residual != nil) == epilogue.residual, "residual must be given exactly when the epilogue adds one")
        let x = SendablePointer(input), y = SendableMutablePointer(output)
        let r = residual.map { SendablePointer($0) }
        let tasks = problem.n * chunks.count * groups
        pool.parallelFor(count: tasks) { task, _ in
            let group = task % self.groups
            let chunk = self.chunks[(task / self.groups) % self.chunks.count]
            let image = task / (self.groups * self.chunks.count)
            self.run(image: image, chunk: chunk, group: group, x.pointer, y.pointer, r?.pointer)
        }
    }

    /// One task: every panel of the group over one pixel chunk of one image, channel block by block.
    func run(image: Int, chunk: (start: Int, count: Int), group: Int,
             _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>?) {
        let plane = problem.pixels * 16
        let firstPanel = group * panels / groups, endPanel = (group + 1) * panels / groups
        let x = input + image * cBlocks * plane + chunk.start * 16
        let yImage = image * oBlocks * plane + chunk.start * 16
        let panelFloats = cBlocks * 16 * vectors * 16
        let activation = epilogue.activation
        let needsEpilogue = activation != .none || residual != nil
        var kb = 0
        while kb < cBlocks {
            let nb = min(kcBlocks, cBlocks - kb)
            let first = kb == 0, last = kb + nb == cBlocks
            for panel in firstPanel..<endPanel {
                let av = min(vectors, oBlocks - panel * vectors)
                let w = UnsafePointer(packed.pointer) + panel * panelFloats + kb * 16 * av * 16
                let start: UnsafePointer<Float>? = first ? UnsafePointer(bias.pointer) + panel * vectors * 16 : nil
                let yPanel = yImage + panel * vectors * plane
                var px = 0
                while px < chunk.count {
                    let bt = min(pixels, chunk.count - px)
                    if panel == firstPanel && px + bt < chunk.count {
                        // First pass over this chunk's input slab: fetch the next tile's input lines (one per
                        // pixel and channel block) while this tile computes.
                        let next = x + kb * plane + (px + bt) * 16
                        let count = min(pixels, chunk.count - px - bt)
                        for b in 0..<nb { for q in 0..<count { dw_prefetch(next + b * plane + q * 16) } }
                    }
                    if last, let residual, px + bt < chunk.count {
                        // The next tile's residual (one line per pixel and channel block) arrives from memory
                        // while this tile computes; demand misses in the epilogue would stall it.
                        let next = residual + yPanel + (px + bt) * 16
                        for v in 0..<av { for q in 0..<min(pixels, chunk.count - px - bt) { dw_prefetch(next + v * plane + q * 16) } }
                    }
                    pointwiseTile[av][bt]!(w, x + kb * plane + px * 16, plane, nb, output + yPanel + px * 16, plane, start)
                    if last && needsEpilogue {
                        applyEpilogue(output + yPanel + px * 16, residual.map { $0 + yPanel + px * 16 }, plane,
                                      vectors: av, pixels: bt, activation)
                    }
                    px += bt
                }
            }
            kb += nb
        }
    }
}

/// Applies activation and residual to a just-computed tile (`vectors` channel blocks × `pixels` pixels,
/// blocks `stride` floats apart) while it is still in L1.
@inline(__always)
func applyEpilogue(_ y: UnsafeMutablePointer<Float>, _ r: UnsafePointer<Float>?, _ stride: Int,
                   vectors: Int, pixels: Int, _ activation: PointwiseEpilogue.Activation) {
    for v in 0..<vectors {
        let row = y + v * stride
        let res = r.map { $0 + v * stride }
        for p in 0..<pixels {
            var value = EpilogueMath.apply(row.load16(p * 16), activation)
            if let res { value += res.load16(p * 16) }
            row.store16(value, p * 16)
        }
    }
}
