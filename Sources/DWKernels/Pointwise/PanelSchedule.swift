import CSpin
import DWCore

/// The tiling skeleton of the packed-panel GEMMs (`gemm-simd` in fp32, `gemm-bf16`), written once: weights in
/// panels of `vectors`·16 output channels, input channels in cache blocks of kc, pixels in chunks of whole tiles,
/// and (image, pixel chunk, panel group) tasks that split the output and never a sum, so every executor and thread
/// count gives the same bits. The two GEMMs differ only in how a task stages a channel block of its chunk (fp32:
/// read in place; bf16: converted once into the worker's scratch and reused by every panel of the group) and in
/// the tile micro-kernel: the two closures of `run`.
struct PanelSchedule: @unchecked Sendable {
    let problem: PointwiseProblem
    let epilogue: PointwiseEpilogue
    let vectors: Int, pixels: Int, kcBlocks: Int
    let cBlocks: Int, oBlocks: Int, panels: Int
    /// Pixel chunks of whole tiles, near the target size.
    let chunks: [(start: Int, count: Int)]
    /// Panel groups per (image, chunk): as many as give each thread about `tasksPerThread` tasks.
    let groups: Int
    /// Bias (pre-BN folded) padded to oBlocks·16 floats; the accumulators start from it.
    let bias: AlignedBuffer

    init(problem p: PointwiseProblem, epilogue: PointwiseEpilogue, bias b: [Float], vectors: Int, pixels: Int, kc: Int, chunk: Int,
         threads: Int, tasksPerThread: Int) {
        problem = p
        self.epilogue = epilogue
        self.vectors = vectors
        self.pixels = pixels
        kcBlocks = kc / 16
        cBlocks = Layout.blocks(p.c)
        oBlocks = Layout.blocks(p.o)
        panels = (oBlocks + vectors - 1) / vectors
        chunks = PanelSchedule.chunking(pixels: p.pixels, tile: pixels, target: chunk)
        let perImage = p.n * chunks.count
        groups = threads == 1 ? 1 : min(panels, max(1, (tasksPerThread * threads + perImage - 1) / perImage))
        bias = AlignedBuffer(count: oBlocks * 16)
        bias.pointer.update(repeating: 0, count: oBlocks * 16)
        for o in 0..<p.o { bias.pointer[o] = b[o] }
    }

    /// Weight elements of one panel: `cBlocks`·16 input channels × `vectors`·16 outputs.
    var panelElements: Int { cBlocks * 16 * vectors * 16 }
    /// Output channel blocks of `panel` (the last panel may be narrower).
    func width(of panel: Int) -> Int { min(vectors, oBlocks - panel * vectors) }

    /// Runs every task on `executor`: `task(image, chunk, group, worker)`.
    func execute(on executor: any Executor, hasResidual: Bool,
                 _ task: @escaping (_ image: Int, _ chunk: (start: Int, count: Int), _ group: Int, _ worker: Int) -> Void) {
        precondition(hasResidual == epilogue.residual, "residual must be given exactly when the epilogue adds one")
        let (groups, chunks) = (self.groups, self.chunks)
        executor.parallelFor(count: problem.n * chunks.count * groups) { t, worker in
            task(t / (groups * chunks.count), chunks[(t / groups) % chunks.count], t % groups, worker)
        }
    }

    /// One task: every panel of `group` over one pixel chunk of one image, channel block by channel block.
    /// `stage(kb, nb)` returns the chunk's input for channel blocks kb ..< kb + nb as the micro-kernel reads it, the
    /// elements between consecutive pixels and between consecutive channel blocks; `tile(av, bt, w, x, xPixel,
    /// xStride, nb, y, yStride, start)` computes an `av`-vector × `bt`-pixel tile into `y` (blocks `yStride` floats
    /// apart, a pixel's 16 channels contiguous), starting from `start` (the bias, on the first channel block) or from
    /// `y`. With `prefetchInput` (NCHW16c `input` only), the first panel's pass fetches the next tile's fp32 input
    /// lines while a tile computes; on the last block the next tile's residual lines are fetched and the epilogue runs
    /// on each tile while it is in L1.
    ///
    /// NCHW16c (`nhwcTiles` nil; `E` is Float): the tiles accumulate in the output tensor itself. NHWC (`nhwcTiles`:
    /// the worker's scratch of `nhwcTileFloats` floats): output and residual are NHWC tensors of `E` (fp32, or bf16
    /// read and written in place); `stage` packs the input or points into it, the tiles accumulate in the scratch (the
    /// group's panels × the chunk's pixels, in channel blocks), and on the last channel block each finished tile goes
    /// through the epilogue into the output, a pixel's channels one contiguous run. The micro-kernels, the sums and
    /// their order are the same, so both layouts give the same fp32 sums.
    @inline(__always)
    func run<W, X, E: TensorElement>(image: Int, chunk: (start: Int, count: Int), group: Int, weights: UnsafePointer<W>,
                                     _ input: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<E>, _ residual: UnsafePointer<E>?,
                                     nhwcTiles: UnsafeMutablePointer<Float>? = nil,
                                     prefetchInput: Bool, stage: (_ kb: Int, _ nb: Int) -> (UnsafePointer<X>, Int, Int),
                                     tile: (_ av: Int, _ bt: Int, _ w: UnsafePointer<W>, _ x: UnsafePointer<X>, _ xPixel: Int, _ xStride: Int,
                                            _ nb: Int, _ y: UnsafeMutablePointer<Float>, _ yStride: Int, _ start: UnsafePointer<Float>?) -> Void) {
        let plane = problem.pixels * 16
        let firstPanel = group * panels / groups, endPanel = (group + 1) * panels / groups
        let x = input.map { $0 + image * cBlocks * plane + chunk.start * 16 }
        let yImage = image * oBlocks * plane + chunk.start * 16
        let needsEpilogue = epilogue.activation != .none || residual != nil
        precondition(nhwcTiles != nil || E.self == Float.self, "NCHW16c tensors are fp32")
        // The NCHW16c views of output and residual (only read on that path, where E is Float).
        let blockedOutput = UnsafeMutableRawPointer(output).assumingMemoryBound(to: Float.self)
        let blockedResidual = residual.map { UnsafeRawPointer($0).assumingMemoryBound(to: Float.self) }
        // Where tiles accumulate: the NCHW16c output, or the NHWC path's scratch (its panels from the group's first).
        let yStride = nhwcTiles == nil ? plane : chunk.count * 16
        var kb = 0
        while kb < cBlocks {
            let nb = min(kcBlocks, cBlocks - kb)
            let first = kb == 0, last = kb + nb == cBlocks
            let (staged, xPixel, xStride) = stage(kb, nb)
            for panel in firstPanel..<endPanel {
                let av = width(of: panel)
                let w = weights + panel * panelElements + kb * 16 * av * 16
                let start: UnsafePointer<Float>? = first ? UnsafePointer(bias.pointer) + panel * vectors * 16 : nil
                let yPanel = yImage + panel * vectors * plane
                let tiles = nhwcTiles.map { $0 + (panel - firstPanel) * vectors * yStride } ?? blockedOutput + yPanel
                var px = 0
                while px < chunk.count {
                    let bt = min(pixels, chunk.count - px)
                    let nextCount = min(pixels, chunk.count - px - bt)
                    if prefetchInput && nhwcTiles == nil && panel == firstPanel && nextCount > 0, let x {
                        // First pass over this chunk's input slab: the next tile's input lines (one per pixel and
                        // channel block) arrive while this tile computes.
                        let next = x + kb * plane + (px + bt) * 16
                        for b in 0..<nb { for q in 0..<nextCount { dw_prefetch(next + b * plane + q * 16) } }
                    }
                    if last, let residual, nextCount > 0 {
                        // The next tile's residual lines: demand misses in the epilogue would stall it.
                        if let blockedResidual, nhwcTiles == nil {
                            let next = blockedResidual + yPanel + (px + bt) * 16
                            for v in 0..<av { for q in 0..<nextCount { dw_prefetch(next + v * plane + q * 16) } }
                        } else {
                            let next = residual + (image * problem.pixels + chunk.start + px + bt) * problem.o + panel * vectors * 16
                            for q in 0..<nextCount { for v in 0..<av { dw_prefetch(UnsafeRawPointer(next + q * problem.o + v * 16)) } }
                        }
                    }
                    let y = tiles + px * 16
                    tile(av, bt, w, staged + px * xPixel, xPixel, xStride, nb, y, yStride, start)
                    if last {
                        if nhwcTiles != nil {
                            let pixel = image * problem.pixels + chunk.start + px, channel = panel * vectors * 16
                            storeNHWC(y, yStride, vectors: av, pixels: bt, output + pixel * problem.o + channel,
                                      residual.map { $0 + pixel * problem.o + channel }, channels: problem.o - channel)
                        } else if needsEpilogue {
                            applyEpilogue(y, blockedResidual.map { $0 + yPanel + px * 16 }, plane, vectors: av, pixels: bt, epilogue.activation)
                        }
                    }
                    px += bt
                }
            }
            kb += nb
        }
    }

    /// Floats of the NHWC path's per-worker tile scratch: the widest group's channel blocks × the largest chunk.
    var nhwcTileFloats: Int { ((panels + groups - 1) / groups) * vectors * 16 * (chunks.map(\.count).max() ?? 1) }

    /// The NHWC path's epilogue and store of one finished tile (`vectors` channel blocks × `pixels` pixels, blocks
    /// `stride` floats apart): the activation applied in place as `applyEpilogue` does, lane for lane, then the
    /// residual added and each pixel's channels stored as one run at `y + p·O` (`TensorElement.storeTile`: a bf16
    /// residual widened exactly, a bf16 output rounded once; `channels`: the real channels left from the tile's
    /// first, so the padding lanes of the last block are neither read from the residual nor written).
    @inline(__always)
    func storeNHWC<E: TensorElement>(_ tile: UnsafeMutablePointer<Float>, _ stride: Int, vectors: Int, pixels: Int,
                                     _ y: UnsafeMutablePointer<E>, _ r: UnsafePointer<E>?, channels: Int) {
        if epilogue.activation != .none { applyEpilogue(tile, nil, stride, vectors: vectors, pixels: pixels, epilogue.activation) }
        E.storeTile(tile, stride, vectors: vectors, pixels: pixels, residual: r, y, pixelStride: problem.o, channels: channels)
    }

    /// The packed-panel GEMMs' work: padded FLOPs; fp32 input and output once, the output read and written once
    /// more per extra channel block of `kc`, and the weights (`weightBytes` each) once per pixel chunk.
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
