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

    /// Every depthwise algorithm against the fp64 reference over a labelled sweep (`sweepProblems`, or
    /// `familySweepProblems` for rectangles, dilations and per-axis strides), with and without bias, at 2 threads.
    /// A refusal must give a reason; an algorithm that ran on no problem fails.
    public static func depthwiseSweep(_ algorithms: [any DepthwiseAlgorithm], problems: [Problem] = sweepProblems()) throws -> Outcome {
        var o = Outcome()
        for (index, problem) in problems.enumerated() {
            let input = randomInput(problem, seed: UInt64(index))
            let weights = DepthwiseWeights.random(for: problem, bias: index % 2 == 0, seed: UInt64(1000 + index))
            let reference = referenceDepthwise(problem, input: input, weight: weights.weight, bias: weights.bias)
            let tensor = Tensor(nchw: input, n: problem.n, c: problem.c, h: problem.h, w: problem.w)
            for algorithm in algorithms {
                if let why = algorithm.supports(problem) {
                    if why.isEmpty { o.failures.append("\(algorithm.name) refused \(problem) without a reason") }
                    continue
                }
                let out = try DepthwiseConvolution.run(algorithm, problem: problem, weights: weights, input: tensor, executor: TestExecutors.pool(2))
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

    /// Problems for the non-finite check, one per kernel path: 3×3 on 20×20 (the two-row direct blocks), a
    /// 27×27 kernel over a 14×14 map (input-stationary direct blocks, Toeplitz rows, single-tile FFT), stride 2,
    /// a map large enough for overlapping FFT tiles, a kernel larger than the map, odd channel counts throughout.
    public static let nonFiniteProblems = [
        "n1c20h20w20k3s1p1", "n1c17h14w14k27s1p13", "n1c33h21w18k5s2p2", "n1c18h70w75k13s1p6", "n2c19h9w11k31s1p15",
        "n1c24h12w12k7s1p3", "n1c20h7w7k13s1p6", "n1c20h10w10k13s1p6", "n1c17h16w16k27s1p13", "n1c16h13w13k9s2p4",
        // The large-kernel family: a SLaK stripe, a dilated LSKNet kernel, strided bands (one on a Toeplitz-sized map),
        // a transposed stripe over overlapping FFT tiles.
        "n1c19h23w29k51x5s1p25x2", "n1c17h20w20k7s1p9d3", "n1c33h21w18k1x11s2x1p0x5", "n1c20h14w14k11x1s1p5x0",
        "n1c18h70w75k5x51s1p2x25",
    ]
    /// 1×1 problems for the same check: partial panels and tiles, several cache blocks of input channels.
    public static let nonFinitePointwiseProblems = ["n1c40h9w7o36", "n1c600h3w5o70", "n2c17h7w7o33"]

    /// Where the non-finite values go in a (c, h, w) map: an interior pixel, an edge, two corners, and a +Inf/−Inf
    /// pair two pixels apart (their windows overlap, so the reference has NaN where both reach).
    static func nonFiniteCases(c: Int, h: Int, w: Int) -> [(label: String, values: [(ch: Int, y: Int, x: Int, v: Float)])] {
        var cases: [(String, [(Int, Int, Int, Float)])] = []
        let last = c - 1
        for (name, v) in [("NaN", Float.nan), ("+Inf", Float.infinity), ("-Inf", -Float.infinity)] {
            cases.append(("\(name) interior", [(1 % c, h / 2, w / 2, v)]))
            cases.append(("\(name) top edge", [(last, 0, w / 2, v)]))
            cases.append(("\(name) bottom-right corner", [(last, h - 1, w - 1, v)]))
            cases.append(("\(name) top-left corner", [(0, 0, 0, v)]))
        }
        cases.append(("+Inf/-Inf pair", [(1 % c, h / 2, max(0, w / 2 - 1), .infinity), (1 % c, h / 2, min(w - 1, w / 2 + 1), -.infinity)]))
        return cases.map { (label: $0.0, values: $0.1.map { (ch: $0.0, y: $0.1, x: $0.2, v: $0.3) }) }
    }

    /// Why `output` does not have its non-finite values exactly where `reference` has them, or nil: the same
    /// NaN positions, the same signed infinities, and elsewhere finite values within `bound` of the largest
    /// finite reference magnitude.
    public static func nonFiniteMismatch(_ output: [Float], _ reference: [Double], bound: Double) -> String? {
        let scale = reference.lazy.filter(\.isFinite).map(abs).max() ?? 1
        var wrong = 0, first = ""
        for (i, r) in reference.enumerated() {
            let y = output[i]
            let ok: Bool
            if r.isNaN { ok = y.isNaN } else if r.isInfinite { ok = Double(y) == r } else { ok = y.isFinite && abs(Double(y) - r) <= bound * max(scale, 1e-30) }
            if !ok {
                if wrong == 0 { first = "output \(i) is \(y), the reference \(r)" }
                wrong += 1
            }
        }
        return wrong == 0 ? nil : "\(wrong) of \(reference.count) outputs differ from the reference in kind or value; first: \(first)"
    }

    /// Non-finite inputs (NaN, ±Inf at interior, edge and corner pixels): every depthwise and pointwise algorithm
    /// gives NaN and ±Inf exactly where the fp64 reference does, at 2 threads, or refuses the problem. The
    /// weights are finite, so no 0 × NaN from zero padding is involved.
    public static func nonFiniteSweep(depthwise: [any DepthwiseAlgorithm], pointwise: [any PointwiseAlgorithm]) throws -> Outcome {
        var o = Outcome()
        func poisoned(_ clean: [Float], c: Int, h: Int, w: Int, n: Int, _ values: [(ch: Int, y: Int, x: Int, v: Float)]) -> [Float] {
            var x = clean
            for v in values { x[(((n - 1) * c + v.ch) * h + v.y) * w + v.x] = v.v }
            return x
        }
        for (index, text) in nonFiniteProblems.enumerated() {
            guard case let .depthwise(problem) = try ConvProblem(parsing: text) else { continue }
            let clean = randomInput(problem, seed: UInt64(500 + index))
            let weights = DepthwiseWeights.random(for: problem, bias: true, seed: UInt64(600 + index))
            for (label, values) in nonFiniteCases(c: problem.c, h: problem.h, w: problem.w) {
                let input = poisoned(clean, c: problem.c, h: problem.h, w: problem.w, n: problem.n, values)
                let reference = referenceDepthwise(problem, input: input, weight: weights.weight, bias: weights.bias)
                let tensor = Tensor(nchw: input, n: problem.n, c: problem.c, h: problem.h, w: problem.w)
                for algorithm in depthwise where algorithm.supports(problem) == nil {
                    let out = try DepthwiseConvolution.run(algorithm, problem: problem, weights: weights, input: tensor, executor: TestExecutors.pool(2))
                    if let why = nonFiniteMismatch(out.nchwValues(), reference, bound: algorithm.errorBound) {
                        o.failures.append("\(algorithm.name) on \(problem), \(label): \(why)")
                    }
                    o.worst[algorithm.name] = 0
                    o.checked += 1
                }
            }
        }
        for (index, text) in nonFinitePointwiseProblems.enumerated() {
            guard case let .pointwise(fp32Problem) = try ConvProblem(parsing: text) else { continue }
            var rng = SeededGenerator(seed: UInt64(700 + index))
            let clean = rng.signedArray(fp32Problem.inputCount)
            let residual = rng.signedArray(fp32Problem.outputCount)
            let weights = PointwiseWeights.random(for: fp32Problem, bias: true, preBatchNorm: false, seed: UInt64(800 + index))
            for (label, values) in nonFiniteCases(c: fp32Problem.c, h: fp32Problem.h, w: fp32Problem.w) {
                let input = poisoned(clean, c: fp32Problem.c, h: fp32Problem.h, w: fp32Problem.w, n: fp32Problem.n, values)
                for epilogue in [PointwiseEpilogue.none, PointwiseEpilogue(activation: .relu, residual: true)] {
                    let reference = referencePointwise(fp32Problem, input: input, weights: weights, epilogue: epilogue,
                                                       residual: epilogue.residual ? residual : nil)
                    for algorithm in pointwise {
                        let problem = fp32Problem.with(precision: algorithm.arithmetic)
                        guard algorithm.supports(problem) == nil else { continue }
                        let plan = try algorithm.prepare(problem, weights: weights, epilogue: epilogue, executor: TestExecutors.pool(2))
                        let x = Tensor(nchw: input, n: problem.n, c: problem.c, h: problem.h, w: problem.w).converted(to: plan.layout)
                        let r = epilogue.residual
                            ? Tensor(nchw: residual, n: problem.n, c: problem.o, h: problem.h, w: problem.w).converted(to: plan.layout) : nil
                        let y = Tensor(n: problem.n, c: problem.o, h: problem.h, w: problem.w, layout: plan.layout)
                        plan.execute(input: x.pointer, output: y.pointer, residual: r.map { UnsafePointer($0.pointer) })
                        if let why = nonFiniteMismatch(y.nchwValues(), reference, bound: algorithm.errorBound) {
                            o.failures.append("\(algorithm.name) on \(problem) epilogue \(epilogue), \(label): \(why)")
                        }
                        o.worst[algorithm.name] = 0
                        o.checked += 1
                    }
                }
            }
        }
        let bf16Problem = try ConvProblem(parsing: "n1c40h9w7o36.bf16")
        for algorithm in depthwise.map({ $0 as any ConvolutionAlgorithm }) + pointwise.map({ $0 as any ConvolutionAlgorithm })
            where o.worst[algorithm.name] == nil && !cpuLacks(algorithm.supports(bf16Problem)) {
            o.failures.append("\(algorithm.name) ran on none of the non-finite problems")
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
                    let plan = try algorithm.prepare(problem, weights: weights, epilogue: epilogue, executor: TestExecutors.pool(2))
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
        "n1c33h30w30k51x5s1p25x2", "n1c20h28w28k7s1p9d3", "n1c24h14w14k1x11s1p0x5", "n2c17h19w23k3x5s2x1p1x2d2x1",
        "n1c600h3w5o70.bf16", "n2c100h20w20o48.bf16", "n1c24h40w40o300.bf16",
    ]

    /// Determinism: the same prepared plan gives bitwise-identical outputs run after run, and every executor gives
    /// bitwise-identical outputs: pools of 1, 2 and 3 threads, the inline executor, and host executors of 2 and 3
    /// threads (tasks run through a C callback, as on a host program's own threads). Pointwise cases use the full
    /// epilogue (GELU and residual). An algorithm that supports none of the problems fails.
    public static func invariance(_ algorithms: [any ConvolutionAlgorithm], problems texts: [String] = invarianceProblems) throws -> Outcome {
        var o = Outcome()
        let problems = try texts.map { try ConvProblem(parsing: $0) }
        let executors: [(String, any Executor)] = [("1-thread pool", TestExecutors.pool(1)), ("2-thread pool", TestExecutors.pool(2)),
                                                   ("3-thread pool", TestExecutors.pool(3)), ("inline executor", InlineExecutor()),
                                                   ("2-thread host executor", TestExecutors.host(2)),
                                                   ("3-thread host executor", TestExecutors.host(3))]
        for problem in problems {
            let data = try TrialData(problem, seed: 7, epilogue: problem.pointwise == nil ? .none : PointwiseEpilogue(activation: .gelu, residual: true))
            for algorithm in algorithms where algorithm.supports(problem) == nil {
                var outputs: [[UInt32]] = []
                for (label, executor) in executors {
                    let trial = try algorithm.trial(data, executor: executor)
                    trial.run()
                    let first = trial.output().map(\.bitPattern)
                    trial.run()
                    if first != trial.output().map(\.bitPattern) {
                        o.failures.append("\(algorithm.name) on \(problem), \(label): two runs of one plan differ")
                    }
                    if let reference = outputs.first, reference != first {
                        o.failures.append("\(algorithm.name) on \(problem): \(executors[0].0) and \(label) differ")
                    }
                    outputs.append(first)
                }
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
