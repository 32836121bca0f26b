import DWCore
import DWKernels

/// Applies a plan's import rules. A plan from another machine, build or thread count is not used: a
/// warning and the heuristic instead, or with `planOnly` an error. A problem missing from the plan gets
/// the heuristic choice, noted (an error with `planOnly`). Malformed plans, unknown schema versions
/// and unknown algorithm names are errors in `open`.
public struct PlanChooser {
    public let plan: Plan?
    /// Why the plan is not used (foreign), if so.
    public let warning: String?
    public let planOnly: Bool

    public static func open(path: String, threads: Int, planOnly: Bool) throws -> PlanChooser {
        let plan = try Plan.load(path: path, registry: Registry.names)
        if let why = plan.mismatch(machine: MachineFingerprint.current(), build: BuildSignature.current(registryNames: Registry.names),
                                   threads: threads) {
            if planOnly { throw PlanError.inconsistent(path, "refusing the plan (--plan-only): \(why)") }
            return PlanChooser(plan: nil, warning: "\(path): not using the plan: \(why); choosing by heuristic", planOnly: false)
        }
        return PlanChooser(plan: plan, warning: nil, planOnly: planOnly)
    }

    public init(plan: Plan?, warning: String?, planOnly: Bool) {
        self.plan = plan
        self.warning = warning
        self.planOnly = planOnly
    }

    /// The depthwise algorithm for `problem` and where the choice came from.
    public func choose(_ problem: Problem) throws -> (algorithm: any DepthwiseAlgorithm, source: String) {
        let (name, source) = try chooseName(.depthwise(problem))
        return (try Registry.algorithm(named: name), source)
    }

    /// The pointwise algorithm for `problem` and where the choice came from.
    public func choose(_ problem: PointwiseProblem) throws -> (algorithm: any PointwiseAlgorithm, source: String) {
        let (name, source) = try chooseName(.pointwise(problem))
        return (try Registry.pointwiseAlgorithm(named: name), source)
    }

    /// The registry name chosen for a problem of either kind, and where the choice came from.
    public func chooseName(_ problem: ConvProblem) throws -> (name: String, source: String) {
        if let entry = plan?.entries["\(problem)"] {
            guard (try? Registry.anyAlgorithm(named: entry.algorithm))?.kind == problem.kind else {
                throw PlanError.inconsistent("plan", "entry \(problem) names '\(entry.algorithm)', not a \(problem.kind) algorithm")
            }
            return (entry.algorithm, "plan (\(entry.mode), margin \(Plan.percentText(entry.margin)))")
        }
        if planOnly, plan != nil { throw PlanError.inconsistent("plan", "\(problem) is not in the plan (--plan-only)") }
        let source = plan == nil ? "heuristic" : "heuristic (not in the plan)"
        switch problem {
        case let .depthwise(p): return (DepthwiseConvolution.automaticChoice(for: p).name, source)
        case let .pointwise(p): return (PointwiseConvolution.automaticChoice(for: p).name, source)
        }
    }
}
