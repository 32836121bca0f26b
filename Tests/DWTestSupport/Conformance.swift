import DWCore
import DWKernels

/// The checks every algorithm gets from being in a list: the registry's lists in the kernel tests, the
/// registry plus a test-only algorithm in the add-an-algorithm walk-through. Each returns what it checked
/// and a failure line per violation, so a test asserts `failures` is empty. Tolerances are the algorithms'
/// own `errorBound`.
public enum Conformance {
    public struct Outcome {
        /// algorithm × problem (× epilogue) cases run.
        public var checked = 0
        /// Worst relative error against the fp64 reference, per algorithm.
        public var worst: [String: Double] = [:]
        public var failures: [String] = []

        public var summary: String {
            "\(checked) cases; worst relative error: " + worst.sorted { $0.key < $1.key }
                .map { "\($0.key) \(String(format: "%.1e", $0.value))" }.joined(separator: ", ")
        }
    }

    /// Every depthwise algorithm against the fp64 reference over the labelled sweep (`sweepProblems`), with
    /// and without bias, at 2 threads. A refusal must give a reason; an algorithm that ran on no problem fails.
    public static func depthwiseSweep(_ algorithms: [any DepthwiseAlgorithm]) throws -> Outcome {
        var o = Outcome()
        for (index, problem) in sweepProblems().enumerated() {
            let input = randomInput(problem, seed: UInt64(index))
            let weights = DepthwiseWeights.random(for: problem, bias: index % 2 == 0, seed: UInt64(1000 + index))
            let reference = referenceDepthwise(problem, input: input, weight: weights.weight, bias: weights.bias)
            let tensor = Tensor(nchw: input, n: problem.n, c: problem.c, h: problem.h, w: problem.w)
            for algorithm in algorithms {
                if let why = algorithm.supports(problem) {
                    if why.isEmpty { o.failures.append("\(algorithm.name) refused \(problem) without a reason") }
                    continue
                }
                let out = try DepthwiseConvolution.run(algorithm, problem: problem, weights: weights, input: tensor, threads: 2)
                let error = relativeError(out.nchwValues(), reference)
                if !(error <= algorithm.errorBound) {
                    o.failures.append("\(algorithm.name) on \(problem): relative error \(error) > its bound \(algorithm.errorBound)")
                }
                o.worst[algorithm.name] = max(o.worst[algorithm.name] ?? 0, error)
                o.checked += 1
            }
        }
        for algorithm in algorithms where o.worst[algorithm.name] == nil {
            o.failures.append("\(algorithm.name) ran on no problem of the sweep")
        }
        return o
    }

    /// Whether a refusal is the CPU's, not the algorithm's: a native bf16 algorithm on a CPU without
    /// avx512_bf16 (its emulation is checked in its place there).
    static func cpuLacks(_ reason: String?) -> Bool { reason == BF16Kernels.missingInstruction && !BF16Kernels.native }

    /// Every pointwise algorithm against the fp64 reference over `pointwiseSweep` × every epilogue (with and
    /// without a folded pre-BatchNorm); channel-blocked outputs must keep their padding lanes zero. Each
    /// algorithm runs the problems at its own arithmetic (bf16 algorithms on the `.bf16` twin).
    public static func pointwiseSweep(_ algorithms: [any PointwiseAlgorithm]) throws -> Outcome {
        var o = Outcome()
        for (index, fp32Problem) in DWTestSupport.pointwiseSweep().enumerated() {
            for (e, (epilogue, preBN)) in pointwiseEpilogues.enumerated() {
                let seed = UInt64(100 * index + e)
                var rng = SeededGenerator(seed: seed)
                let input = rng.signedArray(fp32Problem.inputCount).map { 3 * $0 }
                let residual = epilogue.residual ? rng.signedArray(fp32Problem.outputCount) : nil
                let weights = PointwiseWeights.random(for: fp32Problem, bias: e % 3 != 2, preBatchNorm: preBN, seed: seed + 7)
                let reference = referencePointwise(fp32Problem, input: input, weights: weights, epilogue: epilogue, residual: residual)
                for algorithm in algorithms {
                    let problem = fp32Problem.with(precision: algorithm.arithmetic)
                    let label = "\(problem) epilogue \(epilogue)\(preBN ? " with pre-BN" : "")"
                    if let why = algorithm.supports(problem) {
                        if !cpuLacks(why) { o.failures.append("\(algorithm.name) refused \(label): \(why)") }
                        continue
                    }
                    let plan = try algorithm.prepare(problem, weights: weights, epilogue: epilogue, threads: 2)
                    let x = Tensor(nchw: input, n: problem.n, c: problem.c, h: problem.h, w: problem.w).converted(to: plan.layout)
                    let r = residual.map { Tensor(nchw: $0, n: problem.n, c: problem.o, h: problem.h, w: problem.w).converted(to: plan.layout) }
                    let y = Tensor(n: problem.n, c: problem.o, h: problem.h, w: problem.w, layout: plan.layout)
                    plan.execute(input: x.pointer, output: y.pointer, residual: r.map { UnsafePointer($0.pointer) })
                    let error = relativeError(y.nchwValues(), reference)
                    if !(error <= algorithm.errorBound) {
                        o.failures.append("\(algorithm.name) on \(label): relative error \(error) > its bound \(algorithm.errorBound)")
                    }
                    if plan.layout == .nchw16c, problem.o % 16 != 0 {
                        // Padding lanes of the channel-blocked output stay zero (the next layer relies on it).
                        let blocks = Layout.blocks(problem.o), hw = problem.pixels
                        var padding: Float = 0
                        for b in 0..<problem.n {
                            for px in 0..<hw {
                                for lane in (problem.o % 16)..<16 {
                                    padding = max(padding, abs(y.pointer[((b * blocks + blocks - 1) * hw + px) * 16 + lane]))
                                }
                            }
                        }
                        if padding != 0 { o.failures.append("\(algorithm.name) on \(label): nonzero padding lanes") }
                    }
                    o.worst[algorithm.name] = max(o.worst[algorithm.name] ?? 0, error)
                    o.checked += 1
                }
            }
        }
        return o
    }

    /// Problems of both kinds for the determinism check: odd channel counts, stride 2, a kernel larger than
    /// the map's share, small maps wholly inside the kernel's window, 1×1 layers with partial tiles (fp32 and bf16).
    public static let invarianceProblems = [
        "n2c40h23w19k7s1p3", "n1c33h30w30k31s1p15", "n1c20h16w16k3s2p1", "n1c64h40w40k13s1p6", "n1c48h20w20k13s1p6",
        "n1c4h100w100k61s1p30", "n1c600h3w5o70", "n2c100h20w20o48", "n1c1024h7w7o96", "n1c24h40w40o300",
        "n1c40h11w9k9s1p4", "n2c20h7w7k13s1p6",
        "n1c600h3w5o70.bf16", "n2c100h20w20o48.bf16", "n1c24h40w40o300.bf16",
    ]

    /// Determinism: the same prepared plan gives bitwise-identical outputs run after run, and 1, 2 and 3
    /// threads give bitwise-identical outputs. Pointwise cases use the full epilogue (GELU and residual).
    /// An algorithm that supports none of the problems fails.
    public static func invariance(_ algorithms: [any ConvolutionAlgorithm], problems texts: [String] = invarianceProblems) throws -> Outcome {
        var o = Outcome()
        let problems = try texts.map { try ConvProblem(parsing: $0) }
        for problem in problems {
            let data = try TrialData(problem, seed: 7, epilogue: problem.pointwise == nil ? .none : PointwiseEpilogue(activation: .gelu, residual: true))
            for algorithm in algorithms where algorithm.supports(problem) == nil {
                var outputs: [[UInt32]] = []
                for threads in [1, 2, 3] {
                    let trial = try algorithm.trial(data, threads: threads)
                    trial.run()
                    let first = trial.output().map(\.bitPattern)
                    trial.run()
                    if first != trial.output().map(\.bitPattern) {
                        o.failures.append("\(algorithm.name) on \(problem), \(threads) threads: two runs of one plan differ")
                    }
                    outputs.append(first)
                }
                if outputs[0] != outputs[1] { o.failures.append("\(algorithm.name) on \(problem): 1 vs 2 threads differ") }
                if outputs[0] != outputs[2] { o.failures.append("\(algorithm.name) on \(problem): 1 vs 3 threads differ") }
                o.worst[algorithm.name] = 0
                o.checked += 1
            }
        }
        for algorithm in algorithms where o.worst[algorithm.name] == nil && !problems.contains(where: { cpuLacks(algorithm.supports($0)) }) {
            o.failures.append("\(algorithm.name) supports none of the determinism problems")
        }
        return o
    }
}
