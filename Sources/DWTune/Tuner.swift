import DWCore
import DWKernels
import Foundation

/// Picks the fastest registered algorithm (its parameters are in its name) for each problem on this
/// machine at one thread count, and records the evidence in a `Plan`.
///
/// - measure: all candidates are timed interleaved (one repetition of each in turn, so drifts in machine
///   speed hit all alike) in a quick round; those slower than `slowdownFactor` × the best are dropped;
///   the finalists are re-measured interleaved with longer repetitions. A dropped candidate whose quick
///   time beats the winner's final time (the machine got busier between the rounds) joins the finalists and
///   the final round runs again. The margin over the runner-up compares times of one round only, and whether
///   the top two's ranges overlap (not confident) is recorded.
/// Every number written is within `Plan.Limits`: a timing outside them (a clock gone wrong) refuses its
/// candidate with the value, and a margin beyond the bound is recorded as the bound.
/// - exhaustive: the same without dropping anyone.
/// - estimate: no timing; the roofline `CostModel` with the calibration's efficiencies.
/// Only algorithms of the problem's kind compete; the reference is never a candidate. A time budget, when given, turns the remaining problems
/// to estimate mode once it is spent (each entry records its mode).
public struct Tuner {
    public typealias Mode = Plan.Mode

    /// Where the candidates run; the plan is tuned for its thread count.
    public var executor: any Executor
    /// The thread count the plan is tuned for: the executor's. The estimate mode, which runs nothing, may name
    /// another (`tune --calibration` for a plan of another thread count).
    public var threads: Int
    public var mode: Mode
    public var budgetSeconds: Double?
    public var slowdownFactor = 1.5
    public var quick = TimingPolicy(warmup: 1, minRepetitionSeconds: 0.004, repetitions: 3, capSeconds: 0.5)
    public var final = TimingPolicy(warmup: 0, minRepetitionSeconds: 0.03, repetitions: 7, capSeconds: 0.5)
    public var model: CostModel
    public var algorithms: [any ConvolutionAlgorithm] = Registry.all
    /// Times the named candidates of one round, interleaved, in the order given. nil: `InterleavedTimer` with
    /// the round's policy (`quick` or `final`). Tests inject timings here; the candidates then do not run.
    public var timer: ((Round, [String]) -> [Timing])?

    /// The two timing rounds of measure mode.
    public enum Round: Sendable { case quick, final }

    public init(executor: any Executor, mode: Mode, model: CostModel, budgetSeconds: Double? = nil) {
        self.executor = executor
        threads = executor.threads
        self.mode = mode
        self.model = model
        self.budgetSeconds = budgetSeconds
    }

    /// Tunes every problem; `progress(done, total, problem)` is called before each.
    public func tune(_ problems: [ConvProblem], progress: (Int, Int, ConvProblem) -> Void = { _, _, _ in }) -> Plan {
        let start = monotonicSeconds()
        var entries: [String: Plan.Entry] = [:]
        var computeRatios: [String: [Double]] = [:], memoryRatios: [String: [Double]] = [:]
        for (i, problem) in problems.enumerated() {
            progress(i, problems.count, problem)
            let overBudget = budgetSeconds.map { monotonicSeconds() - start > $0 } ?? false
            let entry: Plan.Entry
            if mode == .estimate || overBudget {
                entry = estimate(problem)
            } else {
                entry = measure(problem)
                // Dropped candidates were timed too (the quick round): they calibrate their own slowness.
                for c in entry.candidates where c.status == .measured || c.status == .dropped {
                    // Each measurement calibrates the bound that dominates it.
                    // (A ratio outside the plan's range of efficiencies is not evidence of one.)
                    if let a = algorithms.first(where: { $0.name == c.algorithm }), let ms = c.median_ms {
                        let b = model.bounds(a, problem)
                        let ratio = max(b.compute, b.memory) / (ms / 1e3)
                        guard Plan.Limits.efficiency.contains(ratio) else { continue }
                        if b.compute >= b.memory {
                            computeRatios[c.algorithm, default: []].append(ratio)
                        } else {
                            memoryRatios[c.algorithm, default: []].append(ratio)
                        }
                    }
                }
            }
            entries["\(problem)"] = entry
        }
        var efficiency = model.efficiency, memoryEfficiency = model.memoryEfficiency
        for (name, r) in computeRatios { efficiency[name] = r.sorted()[r.count / 2] }
        for (name, r) in memoryRatios { memoryEfficiency[name] = r.sorted()[r.count / 2] }
        let formatter = ISO8601DateFormatter()
        return Plan(generator: "dwbench \(BuildSignature.packageVersion)", created: formatter.string(from: Date()),
                    machine: MachineFingerprint.current(), build: BuildSignature.current(registryNames: Registry.names),
                    threads: threads,
                    calibration: Plan.Calibration(peak_gflops: model.peakGflops, bf16_peak_gflops: model.bf16PeakGflops, bandwidth_gbs: model.bandwidthGBs,
                                                  efficiency: efficiency, memory_efficiency: memoryEfficiency),
                    entries: entries)
    }

    /// Candidates and refusals for a problem (`Registry.candidates` over this tuner's algorithms; the
    /// reference is listed as refused, so that a plan names every algorithm of the kind).
    func split(_ problem: ConvProblem) -> ([any ConvolutionAlgorithm], [Plan.Candidate]) {
        let (yes, no) = Registry.candidates(for: problem, among: algorithms)
        let reference = algorithms.filter { $0.kind == problem.kind && $0.isReference }.map {
            Plan.Candidate(algorithm: $0.name, status: .refused, reason: "the reference implementation is not a tuning candidate")
        }
        return (yes, no.map { Plan.Candidate(algorithm: $0.name, status: .refused, reason: $0.reason) } + reference)
    }

    func estimate(_ problem: ConvProblem) -> Plan.Entry {
        let (candidates, refused) = split(problem)
        var predicted: [Plan.Candidate] = [], outOfRange: [Plan.Candidate] = []
        for a in candidates {
            let ms = model.predict(a, problem) * 1e3
            if Plan.Limits.milliseconds.contains(ms) {
                predicted.append(Plan.Candidate(algorithm: a.name, median_ms: ms, spread: nil, status: .estimated))
            } else {
                outOfRange.append(Tuner.outOfRange(a.name, "predicted \(ms) ms"))
            }
        }
        predicted.sort { $0.median_ms! < $1.median_ms! }
        let margin = predicted.count > 1 ? Tuner.margin(predicted[1].median_ms!, over: predicted[0].median_ms!) : 0
        return entry(problem, predicted, refused + outOfRange, mode: .estimate, margin: margin, confident: false)
    }

    /// Times the candidates of one round (`timer`, or the real clock).
    func time(_ round: Round, _ runs: [(name: String, run: () -> Void)]) -> [Timing] {
        if let timer { return timer(round, runs.map(\.name)) }
        return InterleavedTimer.run(runs.map(\.run), policy: round == .quick ? quick : final)
    }

    func measure(_ problem: ConvProblem) -> Plan.Entry {
        let (candidates, refused) = split(problem)
        // A problem whose tensors do not fit in memory cannot be measured; its entry is the cost model's.
        guard let data = try? TrialData(problem, seed: 11) else { return estimate(problem) }
        var runs: [(name: String, run: () -> Void)] = []
        var failed: [Plan.Candidate] = []
        for a in candidates {
            do {
                runs.append((a.name, try a.trial(data, executor: executor).run))
            } catch {
                failed.append(Plan.Candidate(algorithm: a.name, status: .refused, reason: "\(error)"))
            }
        }
        let first = time(.quick, runs)
        let best = first.map(\.median).min() ?? 0
        var finalists = runs.indices.filter { mode != .measure || first[$0].median <= slowdownFactor * best }
        // The final round may run on a busier machine than the quick one: a dropped candidate whose quick time
        // beats the winner's final time is timed again with the finalists, so that the choice and the margin
        // come from one round. (Each pass adds a candidate, so this ends.)
        var last: [Timing]
        while true {
            last = time(.final, finalists.map { runs[$0] })
            let winner = last.map(\.median).min() ?? 0
            let recalled = runs.indices.filter { !finalists.contains($0) && first[$0].median < winner }
            if recalled.isEmpty { break }
            finalists = (finalists + recalled).sorted()
        }
        // A timing outside a plan's range is not a measurement: its candidate is refused, with the value.
        func recordable(_ t: Timing) -> Bool { Plan.Limits.milliseconds.contains(t.median * 1e3) && Plan.Limits.spread.contains(t.spread) }
        func unrecordable(_ i: Int, _ t: Timing) -> Plan.Candidate { Tuner.outOfRange(runs[i].name, "timed \(t.median * 1e3) ms, spread \(t.spread)") }
        let finalRound = zip(finalists, last).sorted { $0.1.median < $1.1.median }
        let ranked = finalRound.filter { recordable($0.1) }
        let dropped = runs.indices.filter { !finalists.contains($0) }.sorted { first[$0].median < first[$1].median }
        let droppedTimed = dropped.filter { recordable(first[$0]) }
        let measured = ranked.map { i, t in Plan.Candidate(algorithm: runs[i].name, median_ms: t.median * 1e3, spread: t.spread, status: .measured) }
        let slower = droppedTimed.map { i in
            Plan.Candidate(algorithm: runs[i].name, median_ms: first[i].median * 1e3, spread: first[i].spread, status: .dropped,
                           reason: "slower than \(slowdownFactor)× the best in the quick round")
        }
        let unrecorded = finalRound.filter { !recordable($0.1) }.map(unrecordable) + dropped.filter { !recordable(first[$0]) }.map { unrecordable($0, first[$0]) }
        // The margin over the runner-up of the final round; with a single finalist, over the fastest dropped
        // candidate in the quick round (where the winner was timed too).
        var margin = 0.0
        if ranked.count > 1 {
            margin = Tuner.margin(ranked[1].1.median, over: ranked[0].1.median)
        } else if let winner = ranked.first, let runnerUp = droppedTimed.first {
            margin = Tuner.margin(first[runnerUp].median, over: first[winner.0].median)
        }
        // Confident when the runner-up's fastest repetition is slower than the winner's slowest.
        let confident = ranked.count < 2 || ranked[1].1.min > ranked[0].1.max
        return entry(problem, measured + slower, refused + failed + unrecorded, mode: mode, margin: margin, confident: confident)
    }

    /// A candidate refused because its time (`what`) cannot be written in a plan.
    static func outOfRange(_ name: String, _ what: String) -> Plan.Candidate {
        Plan.Candidate(algorithm: name, status: .refused,
                       reason: "\(what): outside a plan's ranges (\(Plan.Limits.milliseconds.text) ms, spread \(Plan.Limits.spread.text))")
    }

    /// runner-up / chosen − 1, within `Plan.Limits.margin` (never negative; a larger one is recorded as the bound).
    static func margin(_ runnerUp: Double, over chosen: Double) -> Double {
        let m = runnerUp / chosen - 1
        return m.isNaN ? 0 : min(max(m, Plan.Limits.margin.lower), Plan.Limits.margin.upper)
    }

    func entry(_ problem: ConvProblem, _ ranked: [Plan.Candidate], _ refused: [Plan.Candidate], mode: Plan.Mode, margin: Double,
               confident: Bool) -> Plan.Entry {
        Plan.Entry(problem: "\(problem)", precision: problem.precision, algorithm: ranked.first?.algorithm ?? Registry.reference(for: problem).name,
                   mode: mode, threads: threads, margin: margin, confident: confident, candidates: ranked + refused)
    }
}
