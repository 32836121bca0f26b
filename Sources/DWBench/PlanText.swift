import DWCore
import DWTune

/// What `dwbench plan show` and `plan explain` print, as functions of the plan alone (the fuzzer formats every
/// plan it reads through them).
public enum PlanText {
    /// The plan as a table: a header, then one row per problem.
    public static func show(_ plan: Plan, file: String) -> String {
        var lines = ["\(file): \(plan.entries.count) problems, \(threadsText(plan.threads)), \(plan.generator), \(plan.created)",
                     "machine: \(plan.machine.cpuModel), \(plan.machine.cores) cores; build: registry \(plan.build.registry_hash), \(plan.build.compiler)"]
        var rows = [["problem", "algorithm", "mode", "median ms", "runner-up", "margin", "confident"]]
        for key in plan.entries.keys.sorted() {
            let e = plan.entries[key]!
            let ranked = e.candidates.filter { $0.median_ms != nil }
            rows.append([key, e.algorithm, e.mode.rawValue, ranked.first?.median_ms.map { fmt($0, 3) } ?? "—",
                         ranked.count > 1 ? ranked[1].algorithm : "—", "\(fmt(e.margin * 100, 1))%", e.confident ? "yes" : "no"])
        }
        lines.append(formatColumns(rows, rightAligned: [3, 5]))
        return lines.joined(separator: "\n")
    }

    /// Why the entry for `problem` chose what it chose: a sentence, then every candidate against the fastest.
    public static func explain(_ e: Plan.Entry, problem: ConvProblem) -> String {
        let caveat = e.mode == .estimate ? " (predicted, not measured)" : e.confident ? "" : " (within noise: not confident)"
        let best = e.candidates.compactMap(\.median_ms).min() ?? 0
        var rows = [["candidate", "status", "median ms", "spread", "vs chosen", "note"]]
        for c in e.candidates {
            rows.append([c.algorithm, c.status.rawValue, c.median_ms.map { fmt($0, 3) } ?? "—", c.spread.map { "\(fmt($0 * 100, 1))%" } ?? "—",
                         c.median_ms.map { "\(fmt($0 / best, 2))×" } ?? "—", c.reason ?? ""])
        }
        return "\(problem): \(e.algorithm), chosen by \(e.mode) on \(threadsText(e.threads)), margin \(fmt(e.margin * 100, 1))% over the runner-up\(caveat)\n"
            + formatColumns(rows, rightAligned: [2, 3, 4])
    }
}
