import DWCore
import DWKernels

/// The one place an algorithm is chosen (FFTW's planner; oneDNN's implementation list walked in one place), and
/// the only code that reads a plan's entries. Given a problem and how the caller holds its tensors, `choose`
/// returns a typed `Choice`: the algorithm itself (not a name to look up again), where the choice came from, and
/// the layout conversions it implies with their estimated cost. The CLI, the model, libdwconv and plan
/// verification all call it, so two callers cannot choose differently for the same problem and plan.
///
/// The rules, in order:
/// 1. Import (`open`): a plan tuned on another machine, by another build or for another thread count is not used
///    (a warning, and the heuristic), or is an error with `planOnly`. Malformed plans are errors.
/// 2. A problem the plan holds: the plan's algorithm, when the caller's layout policy allows it and no other
///    candidate of the entry is cheaper once the conversions the policy counts are added. Candidates compete on
///    comparable times only: those timed to the end or predicted (`measured`, `estimated`), never the quick-round
///    times of `dropped` ones.
/// 3. A problem the plan lacks (or no plan): an error with `planOnly`, otherwise the kernels' heuristic
///    (`DepthwiseConvolution.automaticChoice`, `PointwiseConvolution.automaticChoice`), or, where the policy
///    rules the heuristic's layout out, the first registry candidate in an allowed layout.
public struct Planner: Sendable {
    /// The plan in force: nil without one, or when it does not apply here (see `warning`).
    public let plan: Plan?
    /// Why a given plan is not used, if so.
    public let warning: String?
    /// A problem the plan lacks is an error instead of a heuristic choice.
    public let planOnly: Bool

    /// How the caller holds its tensors, which decides what a layout conversion costs it.
    public enum LayoutPolicy: Sendable, Equatable {
        /// Any algorithm: the caller converts to its layout and pays for that itself (the CLI, benchmarks).
        case any
        /// Only algorithms that work in this layout: the caller runs end to end in it (the model, NCHW16c).
        case only(Layout)
        /// The caller's tensors are in this layout; an algorithm in another layout costs a conversion of the input
        /// (and the residual, when `residual`) and the output, counted at the plan's measured bandwidth
        /// (libdwconv inside PyTorch, whose tensors are NCHW).
        case convertingFrom(Layout, residual: Bool)
    }

    public init(plan: Plan?, warning: String? = nil, planOnly: Bool = false) {
        self.plan = plan
        self.warning = warning
        self.planOnly = planOnly && plan != nil
    }

    /// No plan: every choice is the heuristic's.
    public static let heuristic = Planner(plan: nil)

    /// Reads a plan file and applies the import rules for a run at `threads` threads.
    public static func open(path: String, threads: Int, planOnly: Bool) throws -> Planner {
        let plan = try Plan.load(path: path, registry: Registry.names)
        if let why = plan.mismatch(machine: MachineFingerprint.current(), build: BuildSignature.current(registryNames: Registry.names),
                                   threads: threads) {
            if planOnly { throw PlanError.inconsistent(path, "refusing the plan (--plan-only): \(why)") }
            return Planner(plan: nil, warning: "\(path): not using the plan: \(why); choosing by heuristic")
        }
        return Planner(plan: plan, planOnly: planOnly)
    }

    /// The algorithm for `problem` under `layout`, and why.
    public func choose(_ problem: ConvProblem, layout policy: LayoutPolicy = .any) throws -> Choice {
        if let entry = plan?.entries["\(problem)"] { return try fromPlan(problem, entry, policy) }
        if planOnly { throw PlanError.inconsistent("plan", "\(problem) is not in the plan (--plan-only)") }
        return try heuristic(problem, policy, plan == nil ? .noPlan : .notInPlan)
    }

    /// Rule 2.
    private func fromPlan(_ problem: ConvProblem, _ entry: Plan.Entry, _ policy: LayoutPolicy) throws -> Choice {
        guard let chosen = try? Registry.anyAlgorithm(named: entry.algorithm), chosen.kind == problem.kind else {
            throw PlanError.inconsistent("plan", "entry \(problem) names '\(entry.algorithm)', not a \(problem.kind) algorithm")
        }
        func allowed(_ a: any ConvolutionAlgorithm) -> Bool {
            if case let .only(layout) = policy { return a.layout == layout }
            return true
        }
        func cost(_ a: any ConvolutionAlgorithm, _ ms: Double) -> Double {
            ms + 1e3 * Planner.conversions(problem, to: a.layout, policy, bandwidth: bandwidth).reduce(0) { $0 + ($1.estimatedSeconds ?? 0) }
        }
        if policy == .any {
            return Choice(algorithm: chosen, source: .plan(mode: entry.mode, margin: entry.margin), conversions: [])
        }
        var best: (algorithm: any ConvolutionAlgorithm, ms: Double, cost: Double)?
        for c in entry.candidates where c.status == .measured || c.status == .estimated {
            guard let ms = c.median_ms, let a = try? Registry.anyAlgorithm(named: c.algorithm), a.kind == problem.kind,
                  allowed(a), a.supports(problem) == nil else { continue }
            let total = cost(a, ms)
            // The plan's own choice wins ties.
            if best == nil || total < best!.cost || (total == best!.cost && a.name == chosen.name) { best = (a, ms, total) }
        }
        guard let best else {
            if planOnly { throw PlanError.inconsistent("plan", "no candidate of \(problem) in the plan runs in \(policy.layoutText) (--plan-only)") }
            return try heuristic(problem, policy, .planUnusable("no candidate of the plan works in \(policy.layoutText)"))
        }
        let conversions = Planner.conversions(problem, to: best.algorithm.layout, policy, bandwidth: bandwidth)
        if best.algorithm.name == chosen.name {
            return Choice(algorithm: chosen, source: .plan(mode: entry.mode, margin: entry.margin), conversions: conversions)
        }
        let chosenMs = entry.candidates.first { $0.algorithm == chosen.name }?.median_ms
        let why = allowed(chosen) ? "\(chosen.name) needs a layout conversion; \(best.algorithm.name) is faster overall"
                                  : "\(chosen.name) works in \(chosen.layout.rawValue), the caller only runs \(policy.layoutText)"
        return Choice(algorithm: best.algorithm,
                      source: .planCandidate(planChoice: chosen.name, mode: entry.mode, slowerBy: chosenMs.map { best.ms / $0 - 1 }, why: why),
                      conversions: conversions)
    }

    /// The plan's measured bandwidth in bytes/s, what layout conversions are costed at (nil without a plan).
    private var bandwidth: Double? { plan.map { $0.calibration.bandwidth_gbs * 1e9 } }

    /// Rule 3.
    private func heuristic(_ problem: ConvProblem, _ policy: LayoutPolicy, _ why: Choice.HeuristicReason) throws -> Choice {
        var algorithm: any ConvolutionAlgorithm
        switch problem {
        case let .depthwise(p): algorithm = DepthwiseConvolution.automaticChoice(for: p)
        case let .pointwise(p): algorithm = PointwiseConvolution.automaticChoice(for: p)
        }
        if case let .only(layout) = policy, algorithm.layout != layout {
            guard let other = Registry.candidates(for: problem).supported.first(where: { $0.layout == layout }) else {
                throw AlgorithmError.unsupported(algorithm: algorithm.name, problem: problem, reason: "no algorithm runs it in \(layout.rawValue)")
            }
            algorithm = other
        }
        return Choice(algorithm: algorithm, source: .heuristic(why),
                      conversions: Planner.conversions(problem, to: algorithm.layout, policy, bandwidth: bandwidth))
    }

    /// The conversions an algorithm in `native` costs a caller under `policy`: none unless the caller converts from
    /// another layout; each estimated as its bytes (read and written) over `bandwidth` bytes/s, when known.
    static func conversions(_ problem: ConvProblem, to native: Layout, _ policy: LayoutPolicy, bandwidth: Double?) -> [Choice.Conversion] {
        guard case let .convertingFrom(caller, residual) = policy, caller != native else { return [] }
        let i = problem.inputShape, o = problem.outputShape
        func seconds(_ s: (n: Int, c: Int, h: Int, w: Int)) -> Double? {
            let floats = native.storageCount(n: s.n, c: s.c, h: s.h, w: s.w) + caller.storageCount(n: s.n, c: s.c, h: s.h, w: s.w)
            return bandwidth.map { 4 * Double(floats) / $0 }
        }
        var list = [Choice.Conversion(tensor: "input", from: caller, to: native, estimatedSeconds: seconds(i))]
        if residual { list.append(Choice.Conversion(tensor: "residual", from: caller, to: native, estimatedSeconds: seconds(o))) }
        list.append(Choice.Conversion(tensor: "output", from: native, to: caller, estimatedSeconds: seconds(o)))
        return list
    }
}

extension Planner.LayoutPolicy {
    var layoutText: String {
        switch self {
        case .any: return "any layout"
        case let .only(l), let .convertingFrom(l, _): return l.rawValue
        }
    }
}

/// What the planner chose: the algorithm, where the choice came from, and the conversions it implies.
public struct Choice: @unchecked Sendable {
    public let algorithm: any ConvolutionAlgorithm
    public let source: Source
    /// The layout conversions the caller's policy implies (empty when the algorithm works in the caller's layout).
    public let conversions: [Conversion]

    public enum HeuristicReason: Sendable, Equatable {
        case noPlan, notInPlan
        /// The plan holds the problem, but none of its candidates meets the caller's layout policy.
        case planUnusable(String)
    }

    public enum Source: Sendable, Equatable {
        /// The plan's own choice (its mode and recorded margin over the runner-up).
        case plan(mode: Plan.Mode, margin: Double)
        /// Another candidate of the plan's entry: the plan's choice is ruled out or costlier under the caller's layout.
        case planCandidate(planChoice: String, mode: Plan.Mode, slowerBy: Double?, why: String)
        case heuristic(HeuristicReason)
    }

    public struct Conversion: Sendable, Equatable {
        /// "input", "residual" or "output".
        public let tensor: String
        public let from: Layout
        public let to: Layout
        /// Bytes moved over the plan's bandwidth; nil without a plan.
        public let estimatedSeconds: Double?
    }

    public var depthwise: (any DepthwiseAlgorithm)? { algorithm as? any DepthwiseAlgorithm }
    public var pointwise: (any PointwiseAlgorithm)? { algorithm as? any PointwiseAlgorithm }

    /// One line for people: "plan (measure, margin 12%)", "heuristic (not in the plan)", …
    public var sourceText: String {
        switch source {
        case let .plan(mode, margin): return "plan (\(mode), margin \(Plan.percentText(margin)))"
        case let .planCandidate(planChoice, mode, slowerBy, why):
            return "plan (\(mode)): \(why)" + (slowerBy.map { " (\(Plan.percentText($0)) slower than \(planChoice) in isolation)" } ?? "")
        case .heuristic(.noPlan): return "heuristic"
        case .heuristic(.notInPlan): return "heuristic (not in the plan)"
        case let .heuristic(.planUnusable(why)): return "heuristic (\(why))"
        }
    }
}
