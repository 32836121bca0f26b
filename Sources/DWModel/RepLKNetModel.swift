import DWCore
import DWKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A RepLKNet ready to run: every layer prepared by the algorithm the chooser names (a tuned plan or the
/// heuristic), activations in NCHW16c end to end, and a fixed set of activation buffers reused by every
/// layer (the memory plan): a block reads X, writes its hidden maps into two scratch buffers and its
/// output into a fourth, which becomes the next block's X.
///
/// Layers: stem.0 is a dense 3×3 stride-2 conv computed as im2col (27 patch rows, NCHW16c) followed by the
/// pointwise engine; the depthwise convs run through their plans followed by a vectorised ReLU pass where
/// the network has one; the 1×1 convs run through the pointwise engine with their fused epilogues (bias,
/// ReLU/GELU, residual; the pre-BNs folded); the head pools and applies the folded linear layer.
public final class RepLKNetModel {
    /// What one layer is, for reports.
    public struct Layer: Sendable {
        public var name: String
        /// "conv3x3 (im2col+GEMM)", "depthwise", "pointwise" or "pool+linear".
        public var op: String
        public var algorithm: String
        public var source: String
        public var problem: ConvProblem?
        /// Arithmetic of the layer as defined (direct FLOPs; the FFT may do fewer) and compulsory bytes.
        public var flops: Double
        public var bytes: Double
    }

    public let config: RepLKNetConfig
    public let batch: Int
    public let resolution: Int
    public let threads: Int
    public private(set) var layers: [Layer] = []
    private var steps: [(UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void] = []
    private let pool: ThreadPool
    /// The activation buffers of the memory plan.
    private var buffers: [AlignedBuffer] = []
    private let patches: AlignedBuffer
    /// Bytes held by activation buffers and workspace (weights excluded).
    public private(set) var activationBytes = 0

    /// `choose` returns the registry name for a problem and where the choice came from; it must name an
    /// algorithm whose layout is NCHW16c (see `ModelChooser`).
    /// The deployed net is consumed layer by layer: each layer's fused weights are released once its plan
    /// holds them packed, so weights are not held twice.
    public init(_ net: consuming DeployedRepLKNet, batch: Int, resolution: Int, threads: Int,
                choose: (ConvProblem) throws -> (name: String, source: String)) throws {
        var net = consume net
        releaseFreedMemory()  // what the re-parameterization freed
        let cfg = net.config
        guard resolution >= 32, resolution % 32 == 0 else {
            throw ModelError("resolution \(resolution) must be a positive multiple of 32 (five stride-2 layers)")
        }
        guard batch >= 1, batch <= 1024 else { throw ModelError("batch \(batch) must be in 1…1024") }
        config = cfg
        self.batch = batch
        self.resolution = resolution
        self.threads = threads
        pool = ThreadPool.shared(threads: threads)

        let memory = try RepLKNetModel.requireMemory(cfg, batch: batch, resolution: resolution)
        let largest = memory.largestActivation
        patches = AlignedBuffer(count: memory.patches)
        patches.pointer.update(repeating: 0, count: patches.count)
        for _ in 0..<4 {
            let b = AlignedBuffer(count: largest)
            b.pointer.update(repeating: 0, count: largest)
            buffers.append(b)
        }
        activationBytes = 4 * (4 * largest + patches.count)
        try build(&net, choose: choose)
    }

    /// The memory plan of a forward pass, computed without allocating: four buffers of the largest NCHW16c
    /// activation and the stem's patch matrix (floats each), and the bytes a run needs in all — those, the
    /// input image, and the weights twice (fused, then packed, as the layers are built). Checked against
    /// `MemoryBudget` before anything is allocated.
    public static func memoryPlan(_ cfg: RepLKNetConfig, batch: Int, resolution: Int) -> (largestActivation: Int, patches: Int, bytes: Double) {
        var largest = 0
        var side = resolution / 2
        largest = max(largest, Layout.nchw16c.storageCount(n: batch, c: cfg.channels[0], h: side, w: side))
        side /= 2
        for s in 0..<cfg.stages {
            let widest = max(cfg.channels[s] * cfg.ffnRatio, cfg.dwChannels(s), s + 1 < cfg.stages ? cfg.channels[s + 1] : 0)
            largest = max(largest, Layout.nchw16c.storageCount(n: batch, c: widest, h: side, w: side))
            if s + 1 < cfg.stages { side /= 2 }
        }
        let stemSide = resolution / 2
        let patches = Layout.nchw16c.storageCount(n: batch, c: cfg.inChannels * 9, h: stemSide, w: stemSide)
        let floats = 4 * Double(largest) + Double(patches) + Double(batch * cfg.inChannels) * Double(resolution * resolution)
            + 2 * Double(cfg.parameterCount)
        return (largest, patches, 4 * floats)
    }

    /// The memory plan, after checking that it fits `MemoryBudget` (throws `MemoryBudgetError` otherwise).
    @discardableResult
    public static func requireMemory(_ cfg: RepLKNetConfig, batch: Int, resolution: Int) throws -> (largestActivation: Int, patches: Int, bytes: Double) {
        let memory = memoryPlan(cfg, batch: batch, resolution: resolution)
        try MemoryBudget.require(memory.bytes, for: "RepLKNet at batch \(batch), resolution \(resolution)")
        return memory
    }

    // MARK: building

    private func pointwiseStep(_ name: String, _ p: PointwiseProblem, _ w: PointwiseWeights, _ e: PointwiseEpilogue,
                               input: Int, output: Int, residual: Int?, choose: (ConvProblem) throws -> (name: String, source: String),
                               externalInput: Bool = false) throws {
        let (algorithmName, source) = try choose(.pointwise(p))
        let algorithm = try Registry.pointwiseAlgorithm(named: algorithmName)
        guard algorithm.layout == .nchw16c else { throw ModelError("\(name): '\(algorithmName)' works in \(algorithm.layout), the model runs NCHW16c") }
        let plan = try algorithm.prepare(p, weights: w, epilogue: e, threads: threads)
        let bufs = buffers, patch = patches
        steps.append { _, _ in
            let x = externalInput ? UnsafePointer(patch.pointer) : UnsafePointer(bufs[input].pointer)
            plan.execute(input: x, output: bufs[output].pointer, residual: residual.map { UnsafePointer(bufs[$0].pointer) })
        }
        layers.append(Layer(name: name, op: externalInput ? "conv3x3 (im2col+GEMM)" : "pointwise", algorithm: algorithmName,
                            source: source, problem: .pointwise(p), flops: p.flops, bytes: p.bytes + (residual == nil ? 0 : 4.0 * Double(p.outputCount))))
    }

    private func depthwiseStep(_ name: String, _ conv: FusedConv, side: Int, input: Int, output: Int,
                               choose: (ConvProblem) throws -> (name: String, source: String)) throws {
        let p = try Problem(n: batch, c: conv.outChannels, h: side, w: side, k: conv.kernel, s: conv.stride, p: conv.kernel / 2)
        let (algorithmName, source) = try choose(.depthwise(p))
        let algorithm = try Registry.algorithm(named: algorithmName)
        guard algorithm.layout == .nchw16c else { throw ModelError("\(name): '\(algorithmName)' works in \(algorithm.layout), the model runs NCHW16c") }
        let weights = try DepthwiseWeights(channels: conv.outChannels, kernel: conv.kernel, weight: conv.weight, bias: conv.bias)
        let plan = try algorithm.prepare(p, weights: weights, threads: threads)
        let bufs = buffers, pool = pool
        let count = Layout.nchw16c.storageCount(n: p.n, c: p.c, h: p.oh, w: p.ow)
        steps.append { _, _ in
            plan.execute(input: bufs[input].pointer, output: bufs[output].pointer)
            reluInPlace(bufs[output].pointer, count: count, pool: pool)
        }
        layers.append(Layer(name: name, op: "depthwise", algorithm: algorithmName, source: source, problem: .depthwise(p),
                            flops: p.flops, bytes: p.bytes))
    }

    private func build(_ net: inout DeployedRepLKNet, choose: (ConvProblem) throws -> (name: String, source: String)) throws {
        let released = try! PointwiseWeights(outChannels: 0, inChannels: 0, weight: [])
        let releasedConv = FusedConv(outChannels: 0, inChannels: 0, kernel: 0, stride: 0, depthwise: true, weight: [], bias: [])
        let cfg = net.config
        let n = batch
        var side = resolution / 2
        // stem.0: im2col (from the NCHW image) + GEMM with ReLU, into buffer 0.
        let patchChannels = cfg.inChannels * 9
        let stemProblem = try PointwiseProblem(n: n, c: patchChannels, h: side, w: side, o: cfg.channels[0])
        let resolution = self.resolution, inC = cfg.inChannels, patch = patches, pool = pool
        steps.append { image, _ in im2col3x3s2(image, n: n, c: inC, size: resolution, into: patch.pointer, pool: pool) }
        layers.append(Layer(name: "stem.0 im2col", op: "im2col", algorithm: "im2col 3×3 s2", source: "fixed", problem: nil,
                            flops: 0, bytes: 4.0 * Double(n * inC * resolution * resolution + patch.count)))
        let stem0 = net.stem[0]
        try pointwiseStep("stem.0", stemProblem,
                          try PointwiseWeights(outChannels: stem0.outChannels, inChannels: patchChannels, weight: stem0.weight, bias: stem0.bias),
                          PointwiseEpilogue(activation: .relu), input: -1, output: 0, residual: nil, choose: choose, externalInput: true)
        try depthwiseStep("stem.1", net.stem[1], side: side, input: 0, output: 1, choose: choose)
        let stem2 = net.stem[2]
        try pointwiseStep("stem.2", try PointwiseProblem(n: n, c: stem2.inChannels, h: side, w: side, o: stem2.outChannels),
                          try PointwiseWeights(outChannels: stem2.outChannels, inChannels: stem2.inChannels, weight: stem2.weight, bias: stem2.bias),
                          PointwiseEpilogue(activation: .relu), input: 1, output: 0, residual: nil, choose: choose)
        try depthwiseStep("stem.3", net.stem[3], side: side, input: 0, output: 1, choose: choose)
        net.stem = []
        releaseFreedMemory()
        side /= 2
        var x = 1
        func others(_ used: Int...) -> [Int] { (0..<4).filter { !used.contains($0) } }
        for s in 0..<cfg.stages {
            let c = cfg.channels[s], d = cfg.dwChannels(s), f = c * cfg.ffnRatio
            for b in net.stages[s].indices {
                let block = net.stages[s][b]
                net.stages[s][b] = .convFFN(pw1: released, pw2: released)
                defer { releaseFreedMemory() }
                let prefix = "stages.\(s).blocks.\(b)"
                let free = others(x)
                switch block {
                case let .repLK(pw1, large, pw2):
                    try pointwiseStep(prefix + ".pw1", try PointwiseProblem(n: n, c: c, h: side, w: side, o: d), pw1,
                                      PointwiseEpilogue(activation: .relu), input: x, output: free[0], residual: nil, choose: choose)
                    try depthwiseStep(prefix + ".large_kernel", large, side: side, input: free[0], output: free[1], choose: choose)
                    try pointwiseStep(prefix + ".pw2", try PointwiseProblem(n: n, c: d, h: side, w: side, o: c), pw2,
                                      PointwiseEpilogue(residual: true), input: free[1], output: free[2], residual: x, choose: choose)
                    x = free[2]
                case let .convFFN(pw1, pw2):
                    try pointwiseStep(prefix + ".pw1", try PointwiseProblem(n: n, c: c, h: side, w: side, o: f), pw1,
                                      PointwiseEpilogue(activation: .gelu), input: x, output: free[0], residual: nil, choose: choose)
                    try pointwiseStep(prefix + ".pw2", try PointwiseProblem(n: n, c: f, h: side, w: side, o: c), pw2,
                                      PointwiseEpilogue(residual: true), input: free[0], output: free[1], residual: x, choose: choose)
                    x = free[1]
                }
            }
            if s + 1 < cfg.stages {
                let (pw, dw) = net.transitions[s]
                net.transitions[s] = (released, releasedConv)
                let free = others(x)
                try pointwiseStep("transitions.\(s).0", try PointwiseProblem(n: n, c: c, h: side, w: side, o: cfg.channels[s + 1]), pw,
                                  PointwiseEpilogue(activation: .relu), input: x, output: free[0], residual: nil, choose: choose)
                try depthwiseStep("transitions.\(s).1", dw, side: side, input: free[0], output: free[1], choose: choose)
                x = free[1]
                side /= 2
            }
        }
        // Head: global average pool over the NCHW16c map, then the folded linear layer.
        let last = cfg.channels[cfg.stages - 1], classes = cfg.classes
        let headW = net.headWeight, headB = net.headBias, finalSide = side, bufs = buffers, input = x
        steps.append { _, logits in
            headForward(bufs[input].pointer, n: n, c: last, pixels: finalSide * finalSide, weight: headW, bias: headB,
                        classes: classes, logits: logits)
        }
        layers.append(Layer(name: "head", op: "pool+linear", algorithm: "pool + linear (norm folded)", source: "fixed", problem: nil,
                            flops: 2.0 * Double(n * classes * last) + Double(n * last * finalSide * finalSide),
                            bytes: 4.0 * Double(n * last * finalSide * finalSide + classes * last)))
    }

    // MARK: running

    /// Runs the network on `image` (N×3×R×R floats, NCHW) and writes N×classes logits. With `layerSeconds`
    /// (one slot per layer) each layer's wall time is written there.
    public func forward(_ image: UnsafePointer<Float>, logits: UnsafeMutablePointer<Float>,
                        layerSeconds: UnsafeMutablePointer<Double>? = nil) {
        if let layerSeconds {
            var t0 = monotonicSeconds()
            for (i, step) in steps.enumerated() {
                step(image, logits)
                let t1 = monotonicSeconds()
                layerSeconds[i] = t1 - t0
                t0 = t1
            }
        } else {
            for step in steps { step(image, logits) }
        }
    }

    /// Logits of `image` as an array (N × classes).
    public func run(_ image: [Float]) -> [Float] {
        precondition(image.count == batch * config.inChannels * resolution * resolution, "input size does not match the model")
        var out = [Float](repeating: 0, count: batch * config.classes)
        image.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { forward(x.baseAddress!, logits: $0.baseAddress!) } }
        return out
    }
}

/// Patches of a 3×3, stride-2, padding-1 convolution from an NCHW image into NCHW16c: channel
/// ci·9 + ky·3 + kx of output pixel (oy, ox) holds x[ci, 2·oy − 1 + ky, 2·ox − 1 + kx] (zero outside).
/// Each pixel's patch is gathered into a zeroed 16-lane vector per channel block and stored whole, so
/// lanes past 9·c are written as zero. Threads split output rows. Θ(N·9c·OH·OW).
func im2col3x3s2(_ x: UnsafePointer<Float>, n: Int, c: Int, size: Int, into out: UnsafeMutablePointer<Float>, pool: ThreadPool) {
    let oside = size / 2, channels = 9 * c, blocks = Layout.blocks(channels), plane = oside * oside
    let src = SendablePointer(x), dst = SendableMutablePointer(out)
    pool.parallelFor(count: n * oside) { task, _ in
        let image = task / oside, oy = task % oside
        withUnsafeTemporaryAllocation(of: Float.self, capacity: blocks * 16) { patch in
            let p = patch.baseAddress!
            p.update(repeating: 0, count: blocks * 16)
            for ox in 0..<oside {
                for ci in 0..<c {
                    let channel = src.pointer + (image * c + ci) * size * size
                    for ky in 0..<3 {
                        let iy = 2 * oy - 1 + ky
                        for kx in 0..<3 {
                            let ix = 2 * ox - 1 + kx
                            p[ci * 9 + ky * 3 + kx] = (iy >= 0 && iy < size && ix >= 0 && ix < size) ? channel[iy * size + ix] : 0
                        }
                    }
                }
                for blk in 0..<blocks {
                    let v = UnsafeRawPointer(p + blk * 16).loadUnaligned(as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(dst.pointer + ((image * blocks + blk) * plane + oy * oside + ox) * 16)
                        .storeBytes(of: v, as: SIMD16<Float>.self)
                }
            }
        }
    }
}

/// Hands freed heap pages back to the system (glibc `malloc_trim`), so that the deployed weights released
/// while their packed copies are built do not keep the process's resident size at both.
func releaseFreedMemory() {
    typealias Trim = @convention(c) (Int) -> Int32
    // glibc's malloc_trim is not in Swift's Glibc module; look it up (absent on other C libraries: no-op).
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
    _ = unsafeBitCast(symbol, to: Trim.self)(0)
}

/// max(x, 0) over `count` floats in place, split over the pool's threads.
func reluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, pool: ThreadPool) {
    let p = SendableMutablePointer(x)
    let chunk = 1 << 14
    pool.parallelFor(count: (count + chunk - 1) / chunk) { task, _ in
        let start = task * chunk, end = min(count, start + chunk)
        var i = start
        while i + 16 <= end {
            let raw = UnsafeMutableRawPointer(p.pointer + i)
            let v = raw.loadUnaligned(as: SIMD16<Float>.self)
            raw.storeBytes(of: v.replacing(with: 0, where: v .< 0), as: SIMD16<Float>.self)
            i += 16
        }
        while i < end { if p.pointer[i] < 0 { p.pointer[i] = 0 }; i += 1 }
    }
}

/// Global average pool of an NCHW16c map (16 channels per vector) and the linear head (16 outputs' partial
/// sums per vector, input channels in one fixed order, so the result does not depend on threads).
func headForward(_ x: UnsafePointer<Float>, n: Int, c: Int, pixels: Int, weight: [Float], bias: [Float], classes: Int,
                 logits: UnsafeMutablePointer<Float>) {
    let blocks = Layout.blocks(c)
    var pooled = [Float](repeating: 0, count: blocks * 16)
    for image in 0..<n {
        for blk in 0..<blocks {
            var sum = SIMD16<Float>()
            let base = x + (image * blocks + blk) * pixels * 16
            for p in 0..<pixels { sum += UnsafeRawPointer(base + p * 16).loadUnaligned(as: SIMD16<Float>.self) }
            sum /= SIMD16(repeating: Float(pixels))
            for lane in 0..<16 { pooled[blk * 16 + lane] = sum[lane] }
        }
        weight.withUnsafeBufferPointer { w in
            for o in 0..<classes {
                let row = w.baseAddress! + o * c
                var acc = SIMD16<Float>()
                var ch = 0
                while ch + 16 <= c {
                    acc.addProduct(UnsafeRawPointer(row + ch).loadUnaligned(as: SIMD16<Float>.self),
                                   SIMD16<Float>(pooled[ch..<(ch + 16)]))
                    ch += 16
                }
                var total = acc.sum()
                while ch < c { total += row[ch] * pooled[ch]; ch += 1 }
                logits[image * classes + o] = total + bias[o]
            }
        }
    }
}
