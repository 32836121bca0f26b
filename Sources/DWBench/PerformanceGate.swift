import DWCore
import DWKernels
import DWTune
import Foundation

/// The CI performance-regression gate (`dwbench check`). Each checked kernel is timed interleaved with a
/// fixed calibration workload on the same threads and expressed as the ratio kernel time / calibration
/// time, so that a slower or busier machine cancels out. The calibration mixes the three things the kernels
/// are bound by: register FMAs (the peak loop), FMAs fed by loads from an L2-resident buffer (like the
/// direct kernels), and a triad streaming an L3-sized working set (like the FFT tiles and cold weights) —
/// a pure FMA loop did not cancel a busy sibling core, which slowed the kernels by 30–50% and it not at all. Rounds alternate one
/// kernel repetition and one calibration repetition; the ratios of all rounds are kept, and a baseline is
/// compared with a one-sided Mann–Whitney rank test plus a minimum change (the tolerance): a regression
/// is a median ratio more than `tolerance` above the baseline's that the rank test also calls significant.
public struct PerformanceGate {
    /// The fixed suite: RepLKNet-31B's large depthwise layers, the K = 3/13/31 sweep on 384×32×32, and two
    /// 1×1 layers.
    public static let suite = [
        "n1c128h56w56k31s1p15", "n1c256h28w28k29s1p14", "n1c512h14w14k27s1p13", "n1c1024h7w7k13s1p6",
        "n1c384h32w32k3s1p1", "n1c384h32w32k13s1p6", "n1c384h32w32k31s1p15",
        "n1c512h14w14o512", "n1c1024h7w7o4096",
    ]

    public var threads: Int
    /// Alternating (kernel, calibration) rounds per kernel.
    public var rounds: Int
    /// Minimum seconds of one repetition of either workload.
    public var repetitionSeconds: Double

    public init(threads: Int, rounds: Int = 15, repetitionSeconds: Double = 0.004) {
        self.threads = threads
        self.rounds = rounds
        self.repetitionSeconds = repetitionSeconds
    }

    public struct Measurement: Sendable {
        public var ratios: [Double]
        public var kernelSeconds: Double
        /// max |out − reference| / max |reference| against the reference of the problem's kind.
        public var relativeError: Double
    }

    /// The calibration workload on every thread, a fixed amount of work (about 3 ms on one core here): 2^19
    /// iterations of the FMA loop, 2^10 sweeps of load-fed FMAs over 128 KiB, 8 triads over 3 × 2 MiB.
    /// Fixed, not grown to a time: a count chosen per run would make ratios of different runs incomparable.
    static func calibrate(_ pool: any Executor) {
        let scratch = CalibrationScratch.shared(threads: pool.threads)
        pool.parallelFor(count: pool.threads) { t, _ in
            blackHole(fmaThroughputLoop(iterations: 1 << 19, seed: 1))
            blackHole(loadFMALoop(scratch.l2(t), floats: CalibrationScratch.l2Floats, sweeps: 1 << 10))
            for _ in 0..<8 { scratch.triad(t) }
        }
    }

    /// Times `algorithm` on `problem` against the calibration, and checks its output.
    public func measure(_ problem: ConvProblem, _ algorithm: any ConvolutionAlgorithm) throws -> Measurement {
        try ThreadPool.with(threads: threads) { pool in try measure(problem, algorithm, on: pool) }
    }

    private func measure(_ problem: ConvProblem, _ algorithm: any ConvolutionAlgorithm, on pool: ThreadPool) throws -> Measurement {
        let data = try TrialData(problem, seed: 3)
        let trial = try algorithm.trial(data, executor: pool)
        trial.run()
        let output = trial.output()
        let reference = Registry.reference(for: problem)
        let refTrial = try reference.trial(data, executor: pool)
        refTrial.run()
        let error = relativeError(output, refTrial.output())

        let policy = TimingPolicy(warmup: 1, minRepetitionSeconds: repetitionSeconds, repetitions: 1, capSeconds: 1)
        let kernelIterations = Timing.iterationCount(policy, firstRunSeconds: time(trial.run), trial.run)
        PerformanceGate.calibrate(pool)  // warm-up (first touch of its buffers)
        var ratios: [Double] = []
        var kernelTimes: [Double] = []
        for _ in 0..<rounds {
            let k = time { for _ in 0..<kernelIterations { trial.run() } } / Double(kernelIterations)
            let c = time { PerformanceGate.calibrate(pool) }
            ratios.append(k / c)
            kernelTimes.append(k)
        }
        return Measurement(ratios: ratios, kernelSeconds: median(kernelTimes), relativeError: error)
    }

    func time(_ body: () -> Void) -> Double {
        let t0 = monotonicSeconds()
        body()
        return monotonicSeconds() - t0
    }

    /// The comparison of one kernel: relative change of the median ratio, the one-sided rank-test p-value
    /// (now > baseline), and the verdict.
    public struct Verdict: Sendable, Equatable {
        public var change: Double
        public var p: Double
        public var regression: Bool
        public var improvement: Bool
    }

    public static func compare(baseline: [Double], now: [Double], tolerance: Double, alpha: Double = 0.01) -> Verdict {
        let change = median(now) / median(baseline) - 1
        let pSlower = mannWhitneyGreater(now, baseline)
        let pFaster = mannWhitneyGreater(baseline, now)
        return Verdict(change: change, p: pSlower, regression: change > tolerance && pSlower < alpha,
                       improvement: change < -tolerance && pFaster < alpha)
    }

    /// One-sided Mann–Whitney U test that `a` tends to be larger than `b`: the p-value from the normal
    /// approximation with tie correction and continuity correction (fine for 10+ samples per side).
    public static func mannWhitneyGreater(_ a: [Double], _ b: [Double]) -> Double {
        let n1 = Double(a.count), n2 = Double(b.count)
        guard n1 > 0, n2 > 0 else { return 1 }
        let all = (a.map { ($0, 0) } + b.map { ($0, 1) }).sorted { $0.0 < $1.0 }
        var ranks = [Double](repeating: 0, count: all.count)
        var tieTerm = 0.0
        var i = 0
        while i < all.count {
            var j = i
            while j + 1 < all.count && all[j + 1].0 == all[i].0 { j += 1 }
            let rank = Double(i + j + 2) / 2
            for k in i...j { ranks[k] = rank }
            let t = Double(j - i + 1)
            tieTerm += t * t * t - t
            i = j + 1
        }
        let rankSumA = zip(all, ranks).filter { $0.0.1 == 0 }.reduce(0) { $0 + $1.1 }
        let u = rankSumA - n1 * (n1 + 1) / 2
        let mean = n1 * n2 / 2
        let n = n1 + n2
        let variance = n1 * n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
        guard variance > 0 else { return u > mean ? 0 : 1 }
        let z = (u - mean - 0.5) / variance.squareRoot()
        return 0.5 * erfc(z / 2.0.squareRoot())
    }
}

/// FMAs whose operand comes from memory, sweeping an L2-resident buffer: load-bound like the direct kernels.
@inline(never)
func loadFMALoop(_ x: UnsafePointer<Float>, floats: Int, sweeps: Int) -> Float {
    let w = SIMD16<Float>(repeating: 0.999)
    var a0 = SIMD16<Float>(), a1 = a0, a2 = a0, a3 = a0
    for _ in 0..<sweeps {
        var i = 0
        while i + 64 <= floats {
            let raw = UnsafeRawPointer(x + i)
            a0.addProduct(raw.loadUnaligned(as: SIMD16<Float>.self), w)
            a1.addProduct(raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self), w)
            a2.addProduct(raw.loadUnaligned(fromByteOffset: 128, as: SIMD16<Float>.self), w)
            a3.addProduct(raw.loadUnaligned(fromByteOffset: 192, as: SIMD16<Float>.self), w)
            i += 64
        }
    }
    return (a0 + a1 + a2 + a3).sum()
}

/// Per-thread buffers of the calibration: 128 KiB for the load-fed FMAs, 3 × 2 MiB for the triad.
final class CalibrationScratch: @unchecked Sendable {
    static let l2Floats = 32 << 10
    static let l3Floats = 512 << 10
    let buffers: [AlignedBuffer]

    init(threads: Int) {
        buffers = (0..<threads).map { _ in
            let b = AlignedBuffer(count: CalibrationScratch.l2Floats + 3 * CalibrationScratch.l3Floats)
            b.pointer.update(repeating: 1, count: b.count)
            return b
        }
    }

    func l2(_ t: Int) -> UnsafePointer<Float> { UnsafePointer(buffers[t].pointer) }

    func triad(_ t: Int) {
        let base = buffers[t].pointer + CalibrationScratch.l2Floats, n = CalibrationScratch.l3Floats
        DWCore.triad(base, base + n, base + 2 * n, count: n)
    }

    nonisolated(unsafe) private static var cache: [Int: CalibrationScratch] = [:]
    private static let lock = NSLock()

    static func shared(threads: Int) -> CalibrationScratch {
        lock.lock()
        defer { lock.unlock() }
        if let s = cache[threads] { return s }
        let s = CalibrationScratch(threads: threads)
        cache[threads] = s
        return s
    }
}

extension PerformanceGate {
    /// What one gate run found: baseline entries, a table row per problem, notes, and the failures.
    public struct Outcome {
        public var entries: [GateBaseline.Entry] = []
        public var rows = [["problem", "algorithm", "baseline ratio", "now ratio", "change", "p", "verdict"]]
        public var notes: [String] = []
        public var regressions = 0
        public var wrong = 0
    }

    /// Measures every problem with the baseline's algorithm (or `choices`, the tuner's, when recording or
    /// for a problem the baseline lacks), checks its output against the reference, and compares with
    /// `baseline` when one is given (nil: recording; `previous` is then the old baseline, for the notes).
    /// A regression must survive a second, independent measurement: a burst of other work on a shared
    /// machine can slow one kernel's rounds for a moment; a real slowdown stays. Regressions count only on
    /// the baseline's machine (`sameMachine`).
    public func run(_ problems: [ConvProblem], choices: [String: String], baseline: GateBaseline?, previous: GateBaseline?,
                    tolerance: Double, sameMachine: Bool, log: (String) -> Void = { _ in }) throws -> Outcome {
        var out = Outcome()
        let recording = baseline == nil
        for problem in problems {
            let key = "\(problem)"
            let choice = choices[key] ?? Registry.reference(for: problem).name
            let old = previous?.entries.first { $0.problem == key }
            let compared = baseline?.entries.first { $0.problem == key }
            let name = compared?.algorithm ?? choice
            if let old, old.algorithm != choice {
                out.notes.append("tuner choice changed for \(key): \(old.algorithm) → \(choice)\(recording ? "" : " (the baseline's algorithm is checked)")")
            }
            let algorithm = try Registry.anyAlgorithm(named: name)
            log("check: \(key) \(name)")
            let m = try measure(problem, algorithm)
            let correct = m.relativeError <= algorithm.errorBound
            if !correct { out.wrong += 1 }
            let entry = GateBaseline.Entry(problem: key, algorithm: name, ratios: m.ratios, kernel_ms: m.kernelSeconds * 1e3,
                                           relative_error: m.relativeError)
            out.entries.append(entry)
            var verdict = correct ? "ok" : "WRONG OUTPUT (rel. error \(String(format: "%.1e", m.relativeError)))"
            guard let compared else {
                out.rows.append([key, name, "—", fmt(entry.median_ratio, 4), "", "", recording ? "recorded, \(verdict)" : verdict])
                continue
            }
            var v = PerformanceGate.compare(baseline: compared.ratios, now: m.ratios, tolerance: tolerance)
            if v.regression {
                log("check: \(key) looks slower; measuring again to confirm")
                let again = try measure(problem, algorithm)
                let second = PerformanceGate.compare(baseline: compared.ratios, now: again.ratios, tolerance: tolerance)
                if !second.regression {
                    out.notes.append("\(key): +\(fmt(v.change * 100, 0))% in the first measurement, \(second.change >= 0 ? "+" : "")\(fmt(second.change * 100, 0))% in the confirming one: transient, not a regression")
                    v = second
                }
            }
            if v.regression {
                verdict = (correct ? "" : verdict + ", ") + (sameMachine ? "REGRESSION" : "slower (other machine)")
                if sameMachine { out.regressions += 1 }
            } else if v.improvement, correct {
                verdict = "faster"
            }
            out.rows.append([key, name, fmt(compared.median_ratio, 4), fmt(entry.median_ratio, 4),
                             "\(v.change >= 0 ? "+" : "")\(fmt(v.change * 100, 1))%", String(format: "%.3f", v.p), verdict])
        }
        return out
    }
}

extension PerformanceGate {
    /// The algorithm both gates check for each problem, keyed by its text form: the tuner's choice (a quick
    /// measure-mode tune at `threads`), or the reference of its kind when the tuner chose none.
    public static func tunedChoices(_ problems: [ConvProblem], threads: Int, among: [any ConvolutionAlgorithm] = Registry.all) -> [String: String] {
        let model = CostModel(speed: MachineSpeed.measure(threads: threads), threads: threads)
        let plan = ThreadPool.with(threads: threads) { pool in
            var tuner = Tuner(executor: pool, mode: .measure, model: model)
            tuner.algorithms = among
            return tuner.tune(problems)
        }
        return Dictionary(problems.map { ("\($0)", plan.entries["\($0)"]?.algorithm ?? Registry.reference(for: $0).name) },
                          uniquingKeysWith: { a, _ in a })
    }

    /// `check --baseline FILE`: the tuner's choices for `problems` (measure mode, quick), measured against
    /// `baseline` (or recorded into `path` with three times the rounds when `update`, so that a baseline
    /// averages over more of the machine's moods); the table, the notes and the verdict.
    public func check(_ problems: [ConvProblem], baseline old: GateBaseline?, path: String, update: Bool, tolerance: Double,
                      sameMachine: Bool, log: (String) -> Void) throws -> (text: String, failed: Bool) {
        let choices = PerformanceGate.tunedChoices(problems, threads: threads)
        var gate = self
        if update { gate.rounds = 3 * rounds }
        let outcome: Outcome
        do {
            outcome = try gate.run(problems, choices: choices, baseline: update ? nil : old, previous: old,
                                   tolerance: tolerance, sameMachine: sameMachine, log: log)
        } catch { throw PlanError.inconsistent(path, "\(error)") }
        var lines = [formatColumns(outcome.rows, rightAligned: [2, 3, 4, 5]),
                     "ratio = kernel time / calibration-loop time (median of \(rounds) alternating rounds, \(threadsText(threads))); regression: change > \(fmt(tolerance * 100, 0))% and one-sided Mann–Whitney p < 0.01"]
        lines += outcome.notes
        if update {
            let record = GateBaseline(created: ISO8601DateFormatter().string(from: Date()), machine: MachineFingerprint.current(),
                                      build: BuildSignature.current(registryNames: Registry.names), threads: threads, entries: outcome.entries)
            try AtomicFile.write(try record.encoded(), to: path)
            lines.append("wrote \(path)")
        }
        let failed = outcome.wrong > 0 || outcome.regressions > 0
        if failed {
            lines.append("FAILED: \(outcome.regressions) regression\(outcome.regressions == 1 ? "" : "s"), \(outcome.wrong) wrong output\(outcome.wrong == 1 ? "" : "s")")
        } else {
            lines.append(update ? "baseline recorded" : "passed: no regression beyond \(fmt(tolerance * 100, 0))%, all outputs correct")
        }
        return (lines.joined(separator: "\n"), failed)
    }
}
