import DWCore
import DWKernels
import DWTune

/// Picks each layer's algorithm for the model: the plan's choice when it runs in NCHW16c (the model's
/// layout, so no layer pays a reorder), otherwise the plan's fastest candidate that does; problems missing
/// from the plan (or no plan) get the heuristic. The plan's import rules (machine, build, threads,
/// `--plan-only`) are `PlanChooser`'s.
public struct ModelChooser {
    public let plans: PlanChooser

    public init(_ plans: PlanChooser) { self.plans = plans }

    public func choose(_ problem: ConvProblem) throws -> (name: String, source: String) {
        if let entry = plans.plan?.entries["\(problem)"] {
            let ranked = entry.candidates.filter { $0.median_ms != nil }.sorted { $0.median_ms! < $1.median_ms! }
            for c in ranked {
                guard let a = try? Registry.anyAlgorithm(named: c.algorithm), a.kind == problem.kind, a.layout == .nchw16c else { continue }
                if c.algorithm == entry.algorithm { return (c.algorithm, "plan (\(entry.mode))") }
                let chosen = (try? Registry.anyAlgorithm(named: entry.algorithm))?.layout.rawValue ?? "?"
                return (c.algorithm, "plan: fastest NCHW16c candidate (\(entry.algorithm) runs in \(chosen), \(Plan.percentText(c.median_ms! / ranked[0].median_ms! - 1)) slower)")
            }
        }
        return try plans.chooseName(problem)
    }
}
