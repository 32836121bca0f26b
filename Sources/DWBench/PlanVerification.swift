import DWCore
import DWKernels
import DWTune
import Foundation

/// `dwbench plan verify`: re-times every candidate of every problem in the first plan, interleaved and with
/// longer repetitions than tuning, and reports how often each plan's choice is within `tolerance` of the
/// best re-measured time. The candidates are the tuner's (`Registry.candidates(for:)`).
public enum PlanVerification {
    /// The policy of the re-measurement: 7 interleaved repetitions of at least 0.03 s.
    public static let policy = TimingPolicy(warmup: 1, minRepetitionSeconds: 0.03, repetitions: 7, capSeconds: 1)

    /// The Markdown report. `plans` are (file name, plan) pairs of one thread count; `tuningSeconds` are quoted
    /// per plan when given.
    public static func report(plans named: [(String, Plan)], tolerance: Double, tuningSeconds seconds: [Double?]?, command: String,
                              log: (String) -> Void = { _ in }) throws -> String {
        let plans = named.map(\.0), loaded = named.map(\.1)
        let threads = loaded[0].threads
        let keys = loaded[0].entries.keys.sorted()
        var md = ["# Tuning plans verified by re-measurement\n",
                  "Command: `\(command)`. Every candidate re-timed interleaved (7 repetitions of ≥ 0.03 s), \(threadsText(threads)); a choice is right when within \(fmt(tolerance * 100, 0))% of the best re-measured median.\n"]
        var header = "| problem | best (re-measured) | ms |"
        var rule = "|---|---|---|"
        for (i, p) in plans.enumerated() {
            header += " \(p): choice (\(loaded[i].entries.values.first.map { "\($0.mode)" } ?? "?")) | slower by | runner-up, margin |"
            rule += "---|---|---|"
        }
        md += [header, rule]
        var right = [Int](repeating: 0, count: plans.count)
        var within15 = [Int](repeating: 0, count: plans.count)
        for (n, key) in keys.enumerated() {
            log("verify: \(n + 1)/\(keys.count) \(key)")
            let problem = try ConvProblem(parsing: key)
            let candidates = Registry.candidates(for: problem).supported
            let data = try TrialData(problem, seed: 5)
            let times = try ThreadPool.with(threads: threads) { pool in
                InterleavedTimer.run(try candidates.map { try $0.trial(data, executor: pool).run }, policy: policy).map(\.median)
            }
            let bestIndex = times.indices.min { times[$0] < times[$1] }!
            var row = "| `\(key)` | \(candidates[bestIndex].name) | \(fmt(times[bestIndex] * 1e3, 3)) |"
            for (i, plan) in loaded.enumerated() {
                guard let e = plan.entries[key], let j = candidates.firstIndex(where: { $0.name == e.algorithm }) else {
                    row += " — | — | — |"
                    continue
                }
                let slower = times[j] / times[bestIndex] - 1
                if slower <= tolerance { right[i] += 1 }
                if slower <= 0.15 { within15[i] += 1 }
                let ranked = e.candidates.filter { $0.median_ms != nil }
                let runner = ranked.count > 1 ? "\(ranked[1].algorithm), \(fmt(e.margin * 100, 1))%" : "—"
                row += " \(e.algorithm) | \(fmt(slower * 100, 1))%\(slower <= tolerance ? "" : " ✗") | \(runner) |"
            }
            md.append(row)
        }
        md.append("")
        for (i, p) in plans.enumerated() {
            let mode = loaded[i].entries.values.first.map { "\($0.mode)" } ?? "?"
            let time = seconds.flatMap { i < $0.count ? $0[i] : nil }.map { ", tuning took \(fmt($0, 1)) s" } ?? ""
            md.append("- `\(p)` (\(mode)\(time)): \(right[i]) of \(keys.count) choices within \(fmt(tolerance * 100, 0))% of the best (\(fmt(100 * Double(right[i]) / Double(max(1, keys.count)), 0))%); \(within15[i]) of \(keys.count) within 15% (\(fmt(100 * Double(within15[i]) / Double(max(1, keys.count)), 0))%).")
        }
        return md.joined(separator: "\n") + "\n"
    }
}

/// `dwbench replknet --plan`: the plan file's planner, after tuning `problems` into it when it does not exist
/// yet or `retune` is set (with `mode`, `budget` seconds of measuring, the cost model of `speed`). Returns the
/// planner and, when it tuned, one line saying what it wrote. A file that exists but cannot be used throws
/// `UnusablePlanFile`, which says how to tune again.
public func openOrTunePlan(path: String, problems: [ConvProblem], threads: Int, planOnly: Bool, retune: Bool = false, mode: Plan.Mode,
                           budget: Double?, speed: MachineSpeed, progress: (Int, ConvProblem) -> Void) throws -> (planner: Planner, tuned: String?) {
    var tuned: String?
    if retune || !FileManager.default.fileExists(atPath: path) {
        try AtomicFile.requireDirectory(of: path)
        let t0 = monotonicSeconds()
        let plan = ThreadPool.with(threads: threads) { pool in
            Tuner(executor: pool, mode: mode, model: CostModel(speed: speed, threads: threads), budgetSeconds: budget)
                .tune(problems) { done, _, p in progress(done, p) }
        }
        try plan.write(path: path)
        tuned = "tuned \(problems.count) problems in \(fmt(monotonicSeconds() - t0, 1)) s; wrote \(path)"
    }
    do {
        return (try Planner.open(path: path, threads: threads, planOnly: planOnly), tuned)
    } catch where tuned == nil {
        throw UnusablePlanFile(description: "\(error); delete \(path) or pass --retune to tune it again")
    }
}

/// A plan file that exists but cannot be used (it does not read, or --plan-only refuses it), and the way out.
public struct UnusablePlanFile: Error, CustomStringConvertible {
    public let description: String
}
