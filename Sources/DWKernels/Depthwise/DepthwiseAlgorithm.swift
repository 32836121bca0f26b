import DWCore

/// A depthwise-convolution algorithm: stateless, named with its parameters.
///
/// The life cycle follows FFTW's problem → solver → plan split:
/// 1. `supports(_:)` says whether the algorithm can run a problem (`nil`) or why not (a sentence).
/// 2. `prepare(_:weights:executor:)` builds a `DepthwisePlan` that owns everything derived from the
///    weights (re-laid-out filters, filter spectra, bias) and all workspace. It may be slow.
/// 3. `DepthwisePlan.execute(input:output:)` is the only timed step. It allocates nothing.
///
/// Every algorithm works in one native `layout`; callers convert explicitly (`LayoutConversion`) and
/// that cost is measured separately.
public protocol DepthwiseAlgorithm: ConvolutionAlgorithm {
    /// Registry name, parameters included (e.g. `direct-simd.w8.nchw16c`, `fft.t64`). Unique.
    var name: String { get }
    /// The activation layout `execute` reads and writes.
    var layout: Layout { get }
    /// One line saying what the algorithm does, for `dwbench algorithms --verbose`.
    var summary: String { get }
    /// `nil` when the problem is supported, otherwise a human-readable reason.
    func supports(_ problem: Problem) -> String?
    /// Builds an executable plan. Precondition: `supports(problem) == nil` (otherwise throws
    /// `AlgorithmError.unsupported`), `weights` matches the problem. The plan runs on `executor` and keeps per-worker workspace for its `threads`.
    func prepare(_ problem: Problem, weights: DepthwiseWeights, executor: any Executor) throws -> any DepthwisePlan
    /// The work the algorithm actually does on a problem — arithmetic FLOPs and bytes moved to or from
    /// memory — for the roofline cost model of the tuner's estimate mode. Defaults to the direct
    /// method's FLOPs and the compulsory bytes.
    func workEstimate(_ problem: Problem) -> WorkEstimate
}

/// Arithmetic and memory traffic of one execution (see `DepthwiseAlgorithm.workEstimate`).
public struct WorkEstimate: Sendable, Equatable {
    public var flops: Double
    public var bytes: Double
    public init(flops: Double, bytes: Double) { self.flops = flops; self.bytes = bytes }
}

/// A prepared, executable depthwise convolution.
///
/// Thread safety: a plan owns mutable workspace, so one plan runs one `execute` at a time.
/// Determinism: the output is bitwise identical for the same input, whatever the thread count.
public protocol DepthwisePlan: AnyObject {
    var problem: Problem { get }
    var layout: Layout { get }
    /// Runs the convolution. `input` holds `layout.storageCount(n,c,h,w)` floats of the problem's
    /// input; `output` receives `layout.storageCount(n,c,oh,ow)` floats.
    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>)
}

/// Filters and optional bias of a depthwise layer, in PyTorch's order: weight (C, 1, KH, KW)
/// flattened to C·KH·KW floats, bias C floats.
public struct DepthwiseWeights: Sendable {
    public let channels: Int
    public let kh: Int, kw: Int
    public let weight: [Float]
    public let bias: [Float]?

    /// Square K×K filters.
    public init(channels: Int, kernel: Int, weight: [Float], bias: [Float]? = nil) throws {
        try self.init(channels: channels, kh: kernel, kw: kernel, weight: weight, bias: bias)
    }

    public init(channels: Int, kh: Int, kw: Int, weight: [Float], bias: [Float]? = nil) throws {
        guard weight.count == channels * kh * kw else {
            throw AlgorithmError.badWeights("weight has \(weight.count) values, expected C·KH·KW = \(channels)·\(kh)·\(kw)")
        }
        if let bias, bias.count != channels {
            throw AlgorithmError.badWeights("bias has \(bias.count) values, expected C = \(channels)")
        }
        self.channels = channels
        self.kh = kh
        self.kw = kw
        self.weight = weight
        self.bias = bias
    }

    /// Seeded uniform random weights in [-1, 1) (and bias, if asked) for a problem.
    public static func random(for problem: Problem, bias: Bool = true, seed: UInt64 = 42) -> DepthwiseWeights {
        var rng = SeededGenerator(seed: seed)
        let w = rng.signedArray(problem.weightCount)
        let b = bias ? rng.signedArray(problem.c) : nil
        return try! DepthwiseWeights(channels: problem.c, kh: problem.kh, kw: problem.kw, weight: w, bias: b)
    }

    func check(against problem: Problem) throws {
        guard channels == problem.c, kh == problem.kh, kw == problem.kw else {
            throw AlgorithmError.badWeights("weights are C=\(channels) K=\(kh)×\(kw) but the problem is \(problem)")
        }
    }

    /// Bias of channel `c`, or 0.
    @inline(__always) func biasValue(_ c: Int) -> Float { bias?[c] ?? 0 }
}

public enum AlgorithmError: Error, CustomStringConvertible {
    case unsupported(algorithm: String, problem: ConvProblem, reason: String)
    case unknownAlgorithm(String)
    case badWeights(String)
    case badEpilogue(String)

    public var description: String {
        switch self {
        case let .unsupported(a, p, why): return "algorithm '\(a)' does not support \(p): \(why)"
        case let .unknownAlgorithm(name): return "unknown algorithm '\(name)' (see 'dwbench algorithms')"
        case let .badWeights(why): return "bad weights: \(why)"
        case let .badEpilogue(why): return why
        }
    }
}

extension DepthwiseAlgorithm {
    public func workEstimate(_ problem: Problem) -> WorkEstimate { WorkEstimate(flops: problem.flops, bytes: problem.bytes) }

    /// Throws `AlgorithmError.unsupported` unless the problem is supported; checks the weights.
    func validate(_ problem: Problem, _ weights: DepthwiseWeights) throws {
        if let reason = supports(problem) {
            throw AlgorithmError.unsupported(algorithm: name, problem: .depthwise(problem), reason: reason)
        }
        try weights.check(against: problem)
    }
}
