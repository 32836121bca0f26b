import DWCore
import DWKernels
import DWTune
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A RepLKNet ready to run: every layer prepared by the algorithm the planner chooses (a tuned plan or the
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
        /// "im2col", "conv3x3 (im2col+GEMM)", "depthwise", "pointwise" or "pool+linear".
        public var op: String
        /// The report's layer group ("stem", "stage 2 depthwise", …), from the layer list.
        public var group: String
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
    /// Where every layer runs (the caller's); its thread count is the model's.
    public let executor: any Executor
    public var threads: Int { executor.threads }
    /// The arithmetic the layers were allowed: with bf16, each GEMM layer's problem is a bf16 one and its
    /// algorithm (the plan's or the heuristic's) may round to bf16; depthwise layers stay fp32.
    public let precision: Precision
    public private(set) var layers: [Layer] = []
    private var steps: [(UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void] = []
    /// The activation buffers of the memory plan.
    private var buffers: [AlignedBuffer] = []
    private let patches: AlignedBuffer
    /// Bytes held by activation buffers and workspace (weights excluded).
    public private(set) var activationBytes = 0

    /// `planner` chooses every layer's algorithm among those that run in NCHW16c, the model's layout (no layer pays
    /// a reorder): the plan's choice, or its fastest NCHW16c candidate, or the heuristic.
    /// The deployed net is consumed layer by layer: each layer's fused weights are released once its plan
    /// holds them packed, so weights are not held twice.
    public init(_ net: consuming DeployedRepLKNet, batch: Int, resolution: Int, executor: any Executor, precision: Precision = .fp32,
                planner: Planner) throws {
        var net = consume net
        releaseFreedMemory()  // what the re-parameterization freed
        let cfg = net.config
        let specs = try cfg.layers(resolution: resolution)
        guard batch >= 1, batch <= 1024 else { throw ModelError("batch \(batch) must be in 1…1024") }
        config = cfg
        self.batch = batch
        self.resolution = resolution
        self.executor = executor
        self.precision = precision

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
        try build(&net, specs, planner: planner)
    }

    /// The memory plan of a forward pass, computed without allocating: four buffers of the largest NCHW16c
    /// activation any layer writes and the stem's patch matrix (floats each), and the bytes a run needs in
    /// all — those, the input image, and the weights twice (fused, then packed, as the layers are built).
    /// Checked against `MemoryBudget` before anything is allocated.
    public static func memoryPlan(_ cfg: RepLKNetConfig, batch: Int, resolution: Int) throws -> (largestActivation: Int, patches: Int, bytes: Double) {
        let layers = try cfg.layers(resolution: resolution)
        let largest = layers.filter { $0.outputBuffer != nil }
            .map { Layout.nchw16c.storageCount(n: batch, c: $0.outChannels, h: $0.outputSide, w: $0.outputSide) }.max() ?? 0
        let stemSide = resolution / 2
        let patches = Layout.nchw16c.storageCount(n: batch, c: cfg.inChannels * 9, h: stemSide, w: stemSide)
        let floats = 4 * Double(largest) + Double(patches) + Double(batch * cfg.inChannels) * Double(resolution * resolution)
            + 2 * Double(cfg.parameterCount)
        return (largest, patches, 4 * floats)
    }

    /// The memory plan, after checking that it fits `MemoryBudget` (throws `MemoryBudgetError` otherwise).
    @discardableResult
    public static func requireMemory(_ cfg: RepLKNetConfig, batch: Int, resolution: Int) throws -> (largestActivation: Int, patches: Int, bytes: Double) {
        let memory = try memoryPlan(cfg, batch: batch, resolution: resolution)
        try MemoryBudget.require(memory.bytes, for: "RepLKNet at batch \(batch), resolution \(resolution)")
        return memory
    }

    // MARK: building


    /// A 1×1 layer (or the stem's GEMM over its patches) with its fused epilogue.
    private func pointwiseStep(_ spec: RepLKNetLayer, _ p: PointwiseProblem, _ w: PointwiseWeights, planner: Planner) throws {
        let choice = try planner.choose(.pointwise(p), layout: .only(.nchw16c))
        guard let algorithm = choice.pointwise else { throw ModelError("\(spec.name): '\(choice.algorithm.name)' is not a 1×1 algorithm") }
        let (algorithmName, source) = (algorithm.name, choice.sourceText)
        let plan = try algorithm.prepare(p, weights: w, epilogue: spec.epilogue, executor: executor)
        let bufs = buffers, patch = patches, input = spec.inputBuffer, output = spec.outputBuffer!, residual = spec.residualBuffer
        steps.append { _, _ in
            let x = input.map { UnsafePointer(bufs[$0].pointer) } ?? UnsafePointer(patch.pointer)
            plan.execute(input: x, output: bufs[output].pointer, residual: residual.map { UnsafePointer(bufs[$0].pointer) })
        }
        layers.append(Layer(name: spec.name, op: spec.operation.rawValue, group: spec.group, algorithm: algorithmName, source: source,
                            problem: .pointwise(p), flops: p.flops, bytes: p.bytes + (residual == nil ? 0 : 4.0 * Double(p.outputCount))))
    }

    /// A depthwise layer, then its ReLU as a vectorised pass over the output.
    private func depthwiseStep(_ spec: RepLKNetLayer, _ p: Problem, _ conv: FusedConv, planner: Planner) throws {
        let choice = try planner.choose(.depthwise(p), layout: .only(.nchw16c))
        guard let algorithm = choice.depthwise else { throw ModelError("\(spec.name): '\(choice.algorithm.name)' is not a depthwise algorithm") }
        let (algorithmName, source) = (algorithm.name, choice.sourceText)
        let weights = try DepthwiseWeights(channels: conv.outChannels, kernel: conv.kernel, weight: conv.weight, bias: conv.bias)
        let plan = try algorithm.prepare(p, weights: weights, executor: executor)
        let bufs = buffers, pool = executor, input = spec.inputBuffer!, output = spec.outputBuffer!
        let count = Layout.nchw16c.storageCount(n: p.n, c: p.c, h: p.oh, w: p.ow)
        let relu = spec.epilogue.activation == .relu
        steps.append { _, _ in
            plan.execute(input: bufs[input].pointer, output: bufs[output].pointer)
            if relu { reluInPlace(bufs[output].pointer, count: count, pool: pool) }
        }
        layers.append(Layer(name: spec.name, op: spec.operation.rawValue, group: spec.group, algorithm: algorithmName, source: source,
                            problem: .depthwise(p), flops: p.flops, bytes: p.bytes))
    }

    /// Prepares every layer of the list from the deployed weights, releasing each layer's fused weights once
    /// its plan holds them packed.
    private func build(_ net: inout DeployedRepLKNet, _ specs: [RepLKNetLayer], planner: Planner) throws {
        guard specs.count == net.weights.count else {
            throw ModelError("deployed network has \(net.weights.count) layers, the layer list \(specs.count)")
        }
        let n = batch
        for (i, spec) in specs.enumerated() {
            let weights = net.weights[i]
            net.weights[i] = .released
            defer { releaseFreedMemory() }
            let problem = try spec.problem(batch: n, precision: precision)
            switch (problem, weights) {
            case let (.pointwise(p)?, .conv(conv)) where spec.operation == .stem:
                // im2col from the NCHW image into the patch buffer, then the GEMM over the patches.
                let resolution = self.resolution, inC = config.inChannels, patch = patches, pool = executor
                steps.append { image, _ in im2col3x3s2(image, n: n, c: inC, size: resolution, into: patch.pointer, pool: pool) }
                layers.append(Layer(name: spec.name + " im2col", op: "im2col", group: spec.group, algorithm: "im2col 3×3 s2", source: "fixed",
                                    problem: nil, flops: 0, bytes: 4.0 * Double(n * inC * resolution * resolution + patch.count)))
                try pointwiseStep(spec, p, try PointwiseWeights(outChannels: conv.outChannels, inChannels: p.c, weight: conv.weight, bias: conv.bias),
                                  planner: planner)
            case let (.depthwise(p)?, .conv(conv)):
                try depthwiseStep(spec, p, conv, planner: planner)
            case let (.pointwise(p)?, .pointwise(w)):
                try pointwiseStep(spec, p, w, planner: planner)
            case let (nil, .head(headW, headB)) where spec.operation == .head:
                // Global average pool over the NCHW16c map, then the folded linear layer.
                let last = spec.inChannels, classes = spec.outChannels, side = spec.inputSide, bufs = buffers, input = spec.inputBuffer!
                steps.append { _, logits in
                    headForward(bufs[input].pointer, n: n, c: last, pixels: side * side, weight: headW, bias: headB,
                                classes: classes, logits: logits)
                }
                layers.append(Layer(name: spec.name, op: spec.operation.rawValue, group: spec.group, algorithm: "pool + linear (norm folded)",
                                    source: "fixed", problem: nil,
                                    flops: 2.0 * Double(n * classes * last) + Double(n * last * side * side),
                                    bytes: 4.0 * Double(n * last * side * side + classes * last)))
            default:
                throw ModelError("\(spec.name): the deployed weights do not match the layer list")
            }
        }
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
func im2col3x3s2(_ x: UnsafePointer<Float>, n: Int, c: Int, size: Int, into out: UnsafeMutablePointer<Float>, pool: any Executor) {
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
func reluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, pool: any Executor) {
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
