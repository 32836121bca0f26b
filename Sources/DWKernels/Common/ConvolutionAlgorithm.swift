import DWCore

/// What the registry, the benchmarks, the tuner and the Google Benchmark bridge need of any algorithm,
/// depthwise or pointwise: one name space, one `supports`, one roofline estimate, and a way to prepare a
/// timed trial on seeded data. `DepthwiseAlgorithm` and `PointwiseAlgorithm` conform through the
/// extensions below, so a new algorithm of either kind gets benchmarks and tuning from its registry line.
public protocol ConvolutionAlgorithm: Sendable {
    var name: String { get }
    var layout: Layout { get }
    var summary: String { get }
    /// The problems it solves (`ConvProblem.kind`).
    var kind: ProblemKind { get }
    /// The family it belongs to ("direct-simd", "fft", "gemm-simd", …): what reports group by. Variants of
    /// one implementation share it; the registry name tells them apart.
    var family: String { get }
    /// The estimate mode's efficiencies when no calibration is given: the share of the measured FMA peak it
    /// reaches, and of the streaming bandwidth (above 1 when its data stays in cache).
    var defaultEfficiency: (compute: Double, memory: Double) { get }
    /// The reference implementation of its kind: checked against, never a tuning candidate (default false).
    var isReference: Bool { get }
    /// The arithmetic it multiplies in (default fp32). A bf16 algorithm is timed against the bf16 dot-product
    /// peak and supports only problems that allow bf16 (`PointwiseProblem.precision`).
    var arithmetic: Precision { get }
    /// The largest relative error (max|out − reference| / max|reference|) its output may have on fp32 data:
    /// 1e-5 for algorithms that sum the same products as the reference in another order, larger for those that
    /// transform (the FFT). Tests, the benchmark and the regression gate read it from here.
    var errorBound: Double { get }
    /// `nil` when supported; otherwise why not (including "not a pointwise problem").
    func supports(_ problem: ConvProblem) -> String?
    func workEstimate(_ problem: ConvProblem) -> WorkEstimate
    /// Prepares the algorithm on `data`'s problem (seeded weights) and returns its timed operation.
    func trial(_ data: TrialData, executor: any Executor) throws -> Trial
}

/// A prepared run: `run` is the timed operation (`execute` on native-layout buffers); `output` returns
/// the result of the last run in NCHW order.
public final class Trial {
    public let layout: Layout
    public let run: () -> Void
    public let output: () -> [Float]
    public init(layout: Layout, run: @escaping () -> Void, output: @escaping () -> [Float]) {
        self.layout = layout
        self.run = run
        self.output = output
    }
}

/// The seeded data every trial of one problem shares: input (and residual) converted once per layout,
/// and the weights. Pointwise trials apply `epilogue` (default: bias only, the bare GEMM).
public final class TrialData {
    public let problem: ConvProblem
    public let epilogue: PointwiseEpilogue
    let seed: UInt64
    let input: Tensor
    let residual: Tensor?
    private var inputs: [Layout: Tensor] = [:]
    private var residuals: [Layout: Tensor] = [:]
    lazy var depthwiseWeights: DepthwiseWeights? = problem.depthwise.map { DepthwiseWeights.random(for: $0, seed: seed &+ 1) }
    lazy var pointwiseWeights: PointwiseWeights? = problem.pointwise.map { PointwiseWeights.random(for: $0, seed: seed &+ 1) }

    /// Throws `MemoryBudgetError`, before allocating anything, when the problem's tensors do not fit in memory.
    public init(_ problem: ConvProblem, seed: UInt64 = 1, epilogue: PointwiseEpilogue = .none) throws {
        try problem.requireMemory()
        self.problem = problem
        self.seed = seed
        self.epilogue = epilogue
        var rng = SeededGenerator(seed: seed)
        let s = problem.inputShape, o = problem.outputShape
        input = Tensor(nchw: rng.signedArray(s.n * s.c * s.h * s.w), n: s.n, c: s.c, h: s.h, w: s.w)
        residual = epilogue.residual ? Tensor(nchw: rng.signedArray(o.n * o.c * o.h * o.w), n: o.n, c: o.c, h: o.h, w: o.w) : nil
        inputs[.nchw] = input
        if let residual { residuals[.nchw] = residual }
    }

    /// The input in `layout` (converted on first use).
    public func input(in layout: Layout) -> Tensor {
        if let t = inputs[layout] { return t }
        let t = input.converted(to: layout)
        inputs[layout] = t
        return t
    }

    func residual(in layout: Layout) -> Tensor? {
        guard let residual else { return nil }
        if let t = residuals[layout] { return t }
        let t = residual.converted(to: layout)
        residuals[layout] = t
        return t
    }

    /// The layouts the input has been converted to so far (NCHW included).
    public var convertedLayouts: [Layout] { Layout.allCases.filter { inputs[$0] != nil } }

    func outputTensor(_ layout: Layout) -> Tensor {
        let o = problem.outputShape
        return Tensor(n: o.n, c: o.c, h: o.h, w: o.w, layout: layout)
    }
}

extension ConvolutionAlgorithm {
    /// Direct summation in another order: 1e-5 (a transform-based algorithm declares its own).
    public var errorBound: Double { 1e-5 }
    public var isReference: Bool { false }
    public var arithmetic: Precision { .fp32 }
}

extension DepthwiseAlgorithm {
    public var kind: ProblemKind { .depthwise }

    public func supports(_ problem: ConvProblem) -> String? {
        guard let p = problem.depthwise else { return "not a depthwise problem" }
        return supports(p)
    }

    public func workEstimate(_ problem: ConvProblem) -> WorkEstimate {
        guard let p = problem.depthwise else { return WorkEstimate(flops: problem.flops, bytes: problem.bytes) }
        return workEstimate(p)
    }

    public func trial(_ data: TrialData, executor: any Executor) throws -> Trial {
        guard let p = data.problem.depthwise, let weights = data.depthwiseWeights else {
            throw AlgorithmError.unsupported(algorithm: name, problem: data.problem, reason: "not a depthwise problem")
        }
        let plan = try prepare(p, weights: weights, executor: executor)
        let x = data.input(in: plan.layout), y = data.outputTensor(plan.layout)
        return Trial(layout: plan.layout, run: { plan.execute(input: x.pointer, output: y.pointer) },
                     output: { y.nchwValues() })
    }
}

extension PointwiseAlgorithm {
    public var kind: ProblemKind { .pointwise }

    public func supports(_ problem: ConvProblem) -> String? {
        guard let p = problem.pointwise else { return "not a pointwise problem" }
        return supports(p)
    }

    public func workEstimate(_ problem: ConvProblem) -> WorkEstimate {
        guard let p = problem.pointwise else { return WorkEstimate(flops: problem.flops, bytes: problem.bytes) }
        return workEstimate(p)
    }

    public func trial(_ data: TrialData, executor: any Executor) throws -> Trial {
        guard let p = data.problem.pointwise, let weights = data.pointwiseWeights else {
            throw AlgorithmError.unsupported(algorithm: name, problem: data.problem, reason: "not a pointwise problem")
        }
        let plan = try prepare(p, weights: weights, epilogue: data.epilogue, executor: executor)
        let x = data.input(in: plan.layout), y = data.outputTensor(plan.layout)
        let r = data.residual(in: plan.layout)
        return Trial(layout: plan.layout,
                     run: { plan.execute(input: x.pointer, output: y.pointer, residual: r.map { UnsafePointer($0.pointer) }) },
                     output: { y.nchwValues() })
    }
}
