import DWCore
import DWKernels
import Foundation

/// Picks the fastest registered algorithm (its parameters are in its name) for each problem on this
/// machine at one thread count, and records the evidence in a `Plan`.
///
/// - measure: all candidates are timed interleaved (one repetition of each in turn, so drifts in machine
///   speed hit all alike) in a quick round; those slower than `slowdownFactor` × the best are dropped;
///   the finalists are re-measured interleaved with longer repetitions. The margin over the runner-up
///   and whether the top two's ranges overlap (not confident) are recorded.
/// - exhaustive: the same without dropping anyone.
/// - estimate: no timing; the roofline `CostModel` with the calibration's efficiencies.
/// Only algorithms of the problem's kind compete; the reference is never a candidate. A time budget, when given, turns the remaining problems
/// to estimate mode once it is spent (each entry records its mode).
public struct Tuner {
    public typealias Mode = Plan.Mode

    /// Where the candidates run; the plan is tuned for its thread count.
    public var executor: any Executor
    public var threads: Int { executor.threads }
    public var mode: Mode
    public var budgetSeconds: Double?
    public var slowdownFactor = 1.5
    public var quick = TimingPolicy(warmup: 1, minRepetitionSeconds: 0.004, repetitions: 3, capSeconds: 0.5)
    public var final = TimingPolicy(warmup: 0, minRepetitionSeconds: 0.03, repetitions: 7, capSeconds: 0.5)
    public var model: CostModel
    public var algorithms: [any ConvolutionAlgorithm] = Registry.all

    public init(executor: any Executor, mode: Mode, model: CostModel, budgetSeconds: Double? = nil) {
        self.executor = executor
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
                    if let a = algorithms.first(where: { $0.name == c.algorithm }), let ms = c.median_ms {
                        let b = model.bounds(a, problem)
                        if b.compute >= b.memory {
                            computeRatios[c.algorithm, default: []].append(b.compute / (ms / 1e3))
                        } else {
                            memoryRatios[c.algorithm, default: []].append(b.memory / (ms / 1e3))
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
        let predicted = candidates.map { a in
            Plan.Candidate(algorithm: a.name, median_ms: model.predict(a, problem) * 1e3, spread: nil, status: .estimated)
        }.sorted { $0.median_ms! < $1.median_ms! }
        return entry(problem, predicted, refused, mode: .estimate, confident: false)
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
        let first = InterleavedTimer.run(runs.map(\.run), policy: quick)
        var dropped: [Plan.Candidate] = []
        var finalists: [(name: String, run: () -> Void)] = []
        let best = first.map(\.median).min() ?? 0
        for (i, r) in runs.enumerated() {
            if mode == .measure && first[i].median > slowdownFactor * best {
                dropped.append(Plan.Candidate(algorithm: r.name, median_ms: first[i].median * 1e3, spread: first[i].spread,
                                              status: .dropped, reason: "slower than \(slowdownFactor)× the best in the quick round"))
            } else {
                finalists.append(r)
            }
        }
        let ranked = zip(finalists.map(\.name), InterleavedTimer.run(finalists.map(\.run), policy: final))
            .sorted { $0.1.median < $1.1.median }
        let measured = ranked.map { name, t in
            Plan.Candidate(algorithm: name, median_ms: t.median * 1e3, spread: t.spread, status: .measured)
        }
        // Confident when the runner-up's fastest repetition is slower than the winner's slowest.
        let confident = ranked.count < 2 || ranked[1].1.min > ranked[0].1.max
        return entry(problem, measured + dropped.sorted { $0.median_ms! < $1.median_ms! }, refused + failed,
                     mode: mode, confident: confident)
    }

    func entry(_ problem: ConvProblem, _ ranked: [Plan.Candidate], _ refused: [Plan.Candidate], mode: Plan.Mode, confident: Bool) -> Plan.Entry {
        let chosen = ranked.first
        let margin = ranked.count > 1 ? (ranked[1].median_ms! / chosen!.median_ms! - 1) : 0
        return Plan.Entry(problem: "\(problem)", precision: problem.precision, algorithm: chosen?.algorithm ?? Registry.reference(for: problem).name, mode: mode, threads: threads,
                          margin: margin, confident: confident, candidates: ranked + refused)
    }
}
