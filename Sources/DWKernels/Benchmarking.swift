import DWCore

/// Times algorithms on one problem with shared, seeded data, and checks each output against the
/// naive reference when it is among them. Used by `dwbench bench` (and later by the tuner).
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

    public let problem: Problem
    public let cases: [Case]
    public let conversions: [Conversion]

    /// Runs every algorithm in `algorithms` on `problem` (random input and weights from `seed`).
    /// The naive reference, if present, runs first so every other case can be checked against it.
    public static func run(_ problem: Problem, algorithms: [any DepthwiseAlgorithm], threads: Int,
                           policy: TimingPolicy, seed: UInt64 = 1) -> ProblemBenchmark {
        var rng = SeededGenerator(seed: seed)
        let input = Tensor(nchw: rng.signedArray(problem.inputCount), n: problem.n, c: problem.c, h: problem.h, w: problem.w)
        let weights = DepthwiseWeights.random(for: problem, seed: seed &+ 1)
        let ordered = algorithms.sorted { ($0 is Naive ? 0 : 1) < ($1 is Naive ? 0 : 1) }
        var reference: [Float]?
        var cases: [String: Case] = [:]
        var inputs: [Layout: Tensor] = [.nchw: input]
        for algorithm in ordered {
            if let why = algorithm.supports(problem) {
                cases[algorithm.name] = Case(algorithm: algorithm.name, layout: algorithm.layout, timing: nil, refusal: why, relativeError: nil)
                continue
            }
            do {
                let plan = try algorithm.prepare(problem, weights: weights, threads: threads)
                let native = inputs[plan.layout] ?? input.converted(to: plan.layout)
                inputs[plan.layout] = native
                let out = Tensor(n: problem.n, c: problem.c, h: problem.oh, w: problem.ow, layout: plan.layout)
                let timing = Timing.measure(policy) { plan.execute(input: native.pointer, output: out.pointer) }
                let values = out.nchwValues()
                var error: Double?
                if algorithm is Naive { reference = values } else if let reference { error = relativeError(values, reference) }
                cases[algorithm.name] = Case(algorithm: algorithm.name, layout: plan.layout, timing: timing, refusal: nil, relativeError: error)
            } catch {
                cases[algorithm.name] = Case(algorithm: algorithm.name, layout: algorithm.layout, timing: nil, refusal: "\(error)", relativeError: nil)
            }
        }
        var conversions: [Conversion] = []
        let quick = TimingPolicy(warmup: 1, minRepetitionSeconds: 0.02, repetitions: 3, capSeconds: policy.capSeconds)
        for layout in Layout.allCases where layout != .nchw && inputs[layout] != nil {
            let into = Tensor(n: problem.n, c: problem.c, h: problem.h, w: problem.w, layout: layout)
            let tIn = Timing.measure(quick) {
                LayoutConversion.convert(input.pointer, from: .nchw, into.pointer, to: layout, n: problem.n, c: problem.c, h: problem.h, w: problem.w)
            }
            let outNative = Tensor(n: problem.n, c: problem.c, h: problem.oh, w: problem.ow, layout: layout)
            let outNCHW = Tensor(n: problem.n, c: problem.c, h: problem.oh, w: problem.ow, layout: .nchw)
            let tOut = Timing.measure(quick) {
                LayoutConversion.convert(outNative.pointer, from: layout, outNCHW.pointer, to: .nchw, n: problem.n, c: problem.c, h: problem.oh, w: problem.ow)
            }
            conversions.append(Conversion(layout: layout, input: tIn, output: tOut))
        }
        return ProblemBenchmark(problem: problem, cases: algorithms.compactMap { cases[$0.name] }, conversions: conversions)
    }
}

/// max |a − b| / max |b| (0 when b is all zeros and a equals it).
public func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var maxDiff = 0.0, maxRef = 0.0
    for i in 0..<a.count {
        maxDiff = max(maxDiff, abs(Double(a[i]) - Double(b[i])))
        maxRef = max(maxRef, abs(Double(b[i])))
    }
    return maxRef > 0 ? maxDiff / maxRef : maxDiff
}
