import ArgumentParser
import DWCore
import DWKernels
import DWTune
import Foundation

extension PlanCommand {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check plans' choices against a fresh exhaustive re-measurement.",
            discussion: """
            Re-times every candidate of every problem in the first plan (interleaved, longer repetitions than \
            tuning) and reports, per plan, how often its choice is within --tolerance of the best re-measured \
            time. Plans must share the thread count. Writes a Markdown report (stdout or --output).
            """)
        @Argument(help: "Plans to verify (e.g. a measured and an estimated plan of the same problems).") var plans: [String]
        @Option(help: "A choice within this fraction of the best counts as right.") var tolerance: Double = 0.05
        @Option(help: "Write the Markdown report here (atomically).") var output: String?
        @Option(help: "Tuning seconds to quote per plan, comma separated, in order (from the tune runs).") var tuningSeconds: String?
        @Flag(help: "Run even in a debug build.") var allowDebug = false

        func run() throws {
            try refuseDebugBuild(allowDebug)
            guard !plans.isEmpty else { throw CLIError("give at least one plan") }
            let loaded = try plans.map(PlanCommand.load)
            let threads = loaded[0].threads
            guard loaded.allSatisfy({ $0.threads == threads }) else { throw CLIError("the plans were tuned for different thread counts") }
            let keys = loaded[0].entries.keys.sorted()
            let policy = TimingPolicy(warmup: 1, minRepetitionSeconds: 0.03, repetitions: 7, capSeconds: 1)
            var md = ["# Tuning plans verified by re-measurement\n",
                      "Command: `dwbench \(CommandLine.arguments.dropFirst().joined(separator: " "))`. Every candidate re-timed interleaved (7 repetitions of ≥ 0.03 s), \(threads) thread\(threads == 1 ? "" : "s"); a choice is right when within \(fmt(tolerance * 100, 0))% of the best re-measured median.\n"]
            let seconds = tuningSeconds?.split(separator: ",").map { Double($0) }
            var header = "| problem | best (re-measured) | ms |"
            var rule = "|---|---|---|"
            for (i, p) in plans.enumerated() {
                let name = URL(fileURLWithPath: p).lastPathComponent
                header += " \(name): choice (\(loaded[i].entries.values.first?.mode ?? "?")) | slower by | runner-up, margin |"
                rule += "---|---|---|"
            }
            md += [header, rule]
            var right = [Int](repeating: 0, count: plans.count)
            var within15 = [Int](repeating: 0, count: plans.count)
            for (n, key) in keys.enumerated() {
                FileHandle.standardError.write(Data("verify: \(n + 1)/\(keys.count) \(key)\n".utf8))
                let problem = try parseConvProblem(key)
                let candidates = Registry.all.filter { !$0.isReference && $0.kind == problem.kind && $0.supports(problem) == nil }
                let data = try TrialData(problem, seed: 5)
                let ops = try candidates.map { try $0.trial(data, threads: threads).run }
                let times = InterleavedTimer.run(ops, policy: policy).map(\.median)
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
                let mode = loaded[i].entries.values.first?.mode ?? "?"
                let time = seconds.flatMap { i < $0.count ? $0[i] : nil }.map { ", tuning took \(fmt($0, 1)) s" } ?? ""
                md.append("- `\(URL(fileURLWithPath: p).lastPathComponent)` (\(mode)\(time)): \(right[i]) of \(keys.count) choices within \(fmt(tolerance * 100, 0))% of the best (\(fmt(100 * Double(right[i]) / Double(max(1, keys.count)), 0))%); \(within15[i]) of \(keys.count) within 15% (\(fmt(100 * Double(within15[i]) / Double(max(1, keys.count)), 0))%).")
            }
            let text = md.joined(separator: "\n") + "\n"
            if let output {
                do { try AtomicFile.write(Data(text.utf8), to: output) } catch { throw CLIError("\(error)") }
            } else {
                print(text, terminator: "")
            }
        }
    }
}
