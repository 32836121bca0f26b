import DWCore
import DWKernels

/// Times algorithms on one problem with shared, seeded data, and checks each output against the
/// reference of the problem's kind when it is among them. Used by `dwbench bench` and `report`; the tuner times its candidates interleaved instead (`InterleavedTimer`).
public struct ProblemBenchmark {
    public struct Case {
        public let algorithm: String
        public let layout: Layout
        /// `nil` when the algorithm refused the problem.
        public let timing: Timing?
        /// Why the algorithm refused, if it did.
        public let refusal: String?
        /// max |out − naive| / max |naive|, when the naive reference was run.
        public let relativeError: Double?
    }

    /// Time of one layout conversion of this problem's input (NCHW → layout) and output (layout → NCHW).
    public struct Conversion {
        public let layout: Layout
        public let input: Timing
        public let output: Timing
    }

    public let problem: ConvProblem
    public let cases: [Case]
    public let conversions: [Conversion]

    /// Runs every algorithm in `algorithms` on `problem` (random input and weights from `seed`; pointwise
    /// problems apply `epilogue`). The reference of the problem's kind, if present, runs first so every
    /// other case can be checked against it.
    public static func run(_ problem: ConvProblem, algorithms: [any ConvolutionAlgorithm], executor: any Executor,
                           policy: TimingPolicy, seed: UInt64 = 1, epilogue: PointwiseEpilogue = .none) throws -> ProblemBenchmark {
        let data = try TrialData(problem, seed: seed, epilogue: epilogue)
        let ordered = algorithms.sorted { ($0.isReference ? 0 : 1) < ($1.isReference ? 0 : 1) }
        var reference: [Float]?
        var cases: [String: Case] = [:]
        for algorithm in ordered {
            if let why = algorithm.supports(problem) {
                cases[algorithm.name] = Case(algorithm: algorithm.name, layout: algorithm.layout, timing: nil, refusal: why, relativeError: nil)
                continue
            }
            do {
                let trial = try algorithm.trial(data, executor: executor)
                let timing = Timing.measure(policy, trial.run)
                let values = trial.output()
                var error: Double?
                if algorithm.isReference { reference = values } else if let reference { error = relativeError(values, reference) }
                cases[algorithm.name] = Case(algorithm: algorithm.name, layout: trial.layout, timing: timing, refusal: nil, relativeError: error)
            } catch {
                cases[algorithm.name] = Case(algorithm: algorithm.name, layout: algorithm.layout, timing: nil, refusal: "\(error)", relativeError: nil)
            }
        }
        var conversions: [Conversion] = []
        let quick = TimingPolicy(warmup: 1, minRepetitionSeconds: 0.02, repetitions: 3, capSeconds: policy.capSeconds)
        let i = problem.inputShape, o = problem.outputShape
        let input = data.input(in: .nchw)
        for layout in data.convertedLayouts where layout != .nchw {
            let into = Tensor(n: i.n, c: i.c, h: i.h, w: i.w, layout: layout)
            let tIn = Timing.measure(quick) {
                LayoutConversion.convert(input.pointer, from: .nchw, into.pointer, to: layout, n: i.n, c: i.c, h: i.h, w: i.w)
            }
            let outNative = Tensor(n: o.n, c: o.c, h: o.h, w: o.w, layout: layout)
            let outNCHW = Tensor(n: o.n, c: o.c, h: o.h, w: o.w, layout: .nchw)
            let tOut = Timing.measure(quick) {
                LayoutConversion.convert(outNative.pointer, from: layout, outNCHW.pointer, to: .nchw, n: o.n, c: o.c, h: o.h, w: o.w)
            }
            conversions.append(Conversion(layout: layout, input: tIn, output: tOut))
        }
        return ProblemBenchmark(problem: problem, cases: algorithms.compactMap { cases[$0.name] }, conversions: conversions)
    }
}
